#include "cotrain/model/causal_lm.h"

#include <torch/torch.h>

#include "cotrain/core/error.h"
#include "cotrain/model/activation_checkpoint.h"

namespace cotrain {

PackedRow pack_documents(const std::vector<std::vector<std::int64_t>>& documents) {
  std::vector<std::int64_t> ids, positions, cu{0};
  for (const auto& doc : documents) {
    if (doc.empty()) fail_input("cannot pack an empty document");
    for (std::size_t i = 0; i < doc.size(); ++i) {
      ids.push_back(doc[i]);
      positions.push_back(static_cast<std::int64_t>(i));
    }
    cu.push_back(static_cast<std::int64_t>(ids.size()));
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  return {torch::tensor(ids, i64), torch::tensor(positions, i64), std::move(cu)};
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
  return at::linear(hidden, head_weight()).to(torch::kFloat32);
}

torch::Tensor CausalLMImpl::head_weight() const { return lm_head ? lm_head->weight : model->embed_tokens->weight; }

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
