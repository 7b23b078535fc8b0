// The decoder-only language model: embeddings, N decoder layers, final norm, LM head (or the
// embedding matrix when tied). Inputs are packed rows: token ids, per-document position ids and
// document boundaries (see PackedRow).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "cotrain/model/config.h"
#include "cotrain/model/kv_cache.h"
#include "cotrain/model/layers.h"

namespace cotrain {

// Several documents laid end to end in one row. Positions restart at 0 for each document and
// attention never crosses a boundary, so a packed row gives each document exactly the result it
// would get alone.
struct PackedRow {
  torch::Tensor input_ids;               // [T] int64
  torch::Tensor position_ids;            // [T] int64
  std::vector<std::int64_t> cu_seqlens;  // 0 = b0 < b1 < ... < bn = T
};

PackedRow pack_documents(const std::vector<std::vector<std::int64_t>>& documents);

struct DecoderModelImpl : torch::nn::Module {
  DecoderModelImpl(const ModelConfig& config, const torch::TensorOptions& options);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
};
TORCH_MODULE(DecoderModel);

struct CausalLMImpl : torch::nn::Module {
  CausalLMImpl(const ModelConfig& config, const torch::TensorOptions& options);

  // Final hidden states [1, T, hidden] for one packed row (on the model's device).
  torch::Tensor hidden_states(const PackedRow& row);
  // Generation: sequence i of the pass extends cache row rows[i] by tokens[i] (positions continue
  // from the row's length). Returns the fp32 logits of each sequence's last new token, [n, vocab].
  torch::Tensor next_token_logits(const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::int64_t>& rows,
                                  KVCache& cache);
  // The LM head matrix [vocab, hidden]: lm_head.weight, or the embeddings when tied.
  torch::Tensor head_weight() const;
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  torch::ScalarType dtype() const { return model->embed_tokens->weight.scalar_type(); }

  ModelConfig config;
  DecoderModel model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings
  torch::Tensor inv_freq;   // rope frequencies, fp32 (not a parameter)
};
TORCH_MODULE(CausalLM);

// Fills parameters the way transformers initialises a fresh model: normal(0, std) for
// linear and embedding weights, ones for norms, zeros for biases. Deterministic for a seed.
void init_weights(CausalLM& model, double std, std::uint64_t seed);

}  // namespace cotrain
