#include "cotrain/model/causal_lm.h"

#include <torch/torch.h>

#include <functional>

#include "cotrain/core/error.h"
#include "cotrain/model/activation_checkpoint.h"

namespace cotrain {

namespace {

// Lays out documents given by their lengths, token at (d, t) and whether it is a target.
template <class Id, class IsTarget>
PackedRow pack(std::size_t count, const std::function<std::size_t(std::size_t)>& length, Id id, IsTarget is_target) {
  std::size_t total = 0;
  for (std::size_t d = 0; d < count; ++d) total += length(d);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  PackedRow row;
  row.input_ids = torch::empty({static_cast<std::int64_t>(total)}, i64);
  row.position_ids = torch::empty_like(row.input_ids);
  row.targets = torch::empty_like(row.input_ids);
  auto* ids = row.input_ids.data_ptr<std::int64_t>();
  auto* positions = row.position_ids.data_ptr<std::int64_t>();
  auto* targets = row.targets.data_ptr<std::int64_t>();
  row.cu_seqlens = {0};
  std::size_t at = 0;
  for (std::size_t d = 0; d < count; ++d) {
    const std::size_t n = length(d);
    if (n == 0) fail_input("cannot pack an empty document");
    for (std::size_t t = 0; t < n; ++t, ++at) {
      ids[at] = id(d, t);
      positions[at] = static_cast<std::int64_t>(t);
      const bool target = t + 1 < n && is_target(d, t + 1);
      targets[at] = target ? id(d, t + 1) : kIgnoreIndex;
      row.target_tokens += target;
    }
    row.cu_seqlens.push_back(static_cast<std::int64_t>(at));
  }
  return row;
}

}  // namespace

PackedRow pack_documents(const std::vector<std::vector<std::int64_t>>& documents) {
  return pack(
      documents.size(), [&](std::size_t d) { return documents[d].size(); },
      [&](std::size_t d, std::size_t t) { return documents[d][t]; }, [](std::size_t, std::size_t) { return true; });
}

PackedRow pack_documents(const std::vector<std::span<const std::int32_t>>& ids, const std::vector<std::span<const std::uint8_t>>& masks) {
  if (ids.size() != masks.size()) fail_runtime("pack_documents: {} documents but {} masks", ids.size(), masks.size());
  for (std::size_t d = 0; d < ids.size(); ++d) {
    if (ids[d].size() != masks[d].size()) fail_runtime("document mask has {} entries for {} tokens", masks[d].size(), ids[d].size());
  }
  return pack(
      ids.size(), [&](std::size_t d) { return ids[d].size(); },
      [&](std::size_t d, std::size_t t) { return static_cast<std::int64_t>(ids[d][t]); },
      [&](std::size_t d, std::size_t t) { return masks[d][t] != 0; });
}

DecoderModelImpl::DecoderModelImpl(const ModelConfig& c, const torch::TensorOptions& options) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers->push_back(DecoderLayer(c, options));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

CausalLMImpl::CausalLMImpl(const ModelConfig& c, const torch::TensorOptions& options) : config(c) {
  model = register_module("model", DecoderModel(c, options));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false, options));
  model->embed_tokens->rows_gradient = c.tie_word_embeddings;  // the head's dense gradient comes first
  inv_freq = register_buffer("inv_freq", rope_inv_freq(c, options.device()));
}

void CausalLMImpl::to(torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(dtype, non_blocking);
  inv_freq.set_data(rope_inv_freq(config, inv_freq.device()));
}

void CausalLMImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  inv_freq.set_data(rope_inv_freq(config, device));
}

torch::Tensor CausalLMImpl::hidden_states(const PackedRow& row) {
  const auto dev = device();
  auto ids = row.input_ids.to(dev).reshape({1, -1});
  auto rope = rope_tables(inv_freq, row.position_ids.to(dev), dtype());
  auto x = model->embed_tokens(ids);
  const bool recompute = activation_checkpointing && is_training() && torch::GradMode::is_enabled();
  for (const auto& module : *model->layers) {
    auto layer = std::dynamic_pointer_cast<DecoderLayerImpl>(module);
    x = recompute ? checkpointed_forward(layer, x, rope, row.cu_seqlens, lora_dropout_generator)
                  : layer->forward(x, rope, row.cu_seqlens);
  }
  return model->norm(x);
}

torch::Tensor CausalLMImpl::next_token_logits(const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::int64_t>& rows,
                                              KVCache& cache) {
  std::vector<std::int64_t> counts, ids, positions, cu{0};
  for (const auto& t : tokens) counts.push_back(static_cast<std::int64_t>(t.size()));
  const CacheStep step = cache.plan(rows, counts);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    for (std::size_t j = 0; j < tokens[i].size(); ++j) {
      ids.push_back(tokens[i][j]);
      positions.push_back(step.starts[i] + static_cast<std::int64_t>(j));  // the rotary offset is the row's length
    }
    cu.push_back(static_cast<std::int64_t>(ids.size()));
  }
  const auto dev = device();
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto rope = rope_tables(inv_freq, torch::tensor(positions, i64).to(dev), dtype());
  auto x = model->embed_tokens(torch::tensor(ids, i64).to(dev).reshape({1, -1}));
  for (std::size_t l = 0; l < model->layers->size(); ++l) {
    const LayerCache layer_cache = cache.layer(l, step);
    x = model->layers[l]->as<DecoderLayer>()->forward(x, rope, cu, &layer_cache);
  }
  cache.commit(step);
  std::vector<std::int64_t> last(cu.begin() + 1, cu.end());
  for (auto& i : last) --i;
  auto hidden = model->norm(x.squeeze(0).index_select(0, torch::tensor(last, i64).to(dev)));
  auto logits = packed_head.defined() ? packed_linear(hidden, packed_head, {}) : at::linear(hidden, head_weight());
  return logits.to(torch::kFloat32);
}

torch::Tensor CausalLMImpl::head_weight() const { return lm_head ? lm_head->weight : model->embed_tokens->weight; }

bool CausalLMImpl::pack_for_inference(std::int64_t batch_hint) {
  torch::NoGradGuard no_grad;
  if (lm_head) {
    if (lm_head->pack_for_inference(batch_hint)) packed_head = lm_head->packed;
  } else {
    packed_head = pack_linear_weight(head_weight(), batch_hint);  // a copy: the embeddings keep the matrix
  }
  if (!packed_head.defined()) return false;
  for (auto& module : modules()) {
    if (auto* linear = module->as<LinearImpl>()) linear->pack_for_inference(batch_hint);
  }
  return true;
}

void init_weights(CausalLM& model, double std, std::uint64_t seed) {
  if (model->lora) fail_runtime("init_weights: the model has a LoRA adapter; initialise the base model before attaching it");
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto normal = [&](torch::Tensor& w) { w.copy_(at::normal(0.0, std, w.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32))); };
  for (const auto& module : model->modules()) {  // parents before children: the order of named_parameters()
    if (auto* linear = module->as<LinearImpl>()) {
      normal(linear->weight);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = module->as<EmbeddingImpl>()) {
      normal(embedding->weight);
    } else if (auto* norm = module->as<RMSNormImpl>()) {
      norm->weight.fill_(1.0);
    }
  }
}

}  // namespace cotrain
