// The decoder-only language model: embeddings, N decoder layers, final norm, LM head (or the
// embedding matrix when tied). Inputs are packed rows: token ids, per-document position ids and
// document boundaries (see PackedRow).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cotrain/model/config.h"
#include "cotrain/model/kv_cache.h"
#include "cotrain/model/layers.h"
#include "cotrain/model/lora_settings.h"

namespace cotrain {

// A position with nothing to learn (Hugging Face's ignore_index).
inline constexpr std::int64_t kIgnoreIndex = -100;

// Several documents laid end to end in one row: the one form in which tokens reach the model, for
// training (from the token cache) and scoring alike. Positions restart at 0 for each document and
// attention never crosses a boundary, so a packed row gives each document exactly the result it
// would get alone. Targets are already shifted: position t learns to predict targets[t], so no
// document is ever asked to predict the first token of the next.
struct PackedRow {
  torch::Tensor input_ids;               // [T] int64
  torch::Tensor position_ids;            // [T] int64
  torch::Tensor targets;                 // [T] int64: the next token of the same document when that token is a training target, else kIgnoreIndex
  std::vector<std::int64_t> cu_seqlens;  // 0 = b0 < b1 < ... < bn = T
  std::int64_t target_tokens = 0;        // positions with a target
};

// Every next token a target (scoring).
PackedRow pack_documents(const std::vector<std::vector<std::int64_t>>& documents);
// Token ids with loss masks as the token cache stores them: mask[t] = 1 when token t is a training
// target (the first token of a document never is: nothing before it predicts it).
PackedRow pack_documents(const std::vector<std::span<const std::int32_t>>& ids,
                         const std::vector<std::span<const std::uint8_t>>& masks);

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
  // For a model that only generates, on the CPU: every Linear packed (layers.h; their plain
  // weights released, so scoring and training no longer work) and the LM head with them (a packed
  // copy when tied: the embeddings keep the matrix). BATCH_HINT: the rows of a decode step. Where
  // packing does not apply, the model is unchanged. Returns whether it packed.
  bool pack_for_inference(std::int64_t batch_hint);
  torch::Tensor packed_head;  // undefined unless packed
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  torch::ScalarType dtype() const { return model->embed_tokens->weight.scalar_type(); }

  // The rope frequencies stay fp32 whatever dtype the model is moved to (a bf16 inv_freq would
  // put positions thousands of tokens in visibly off); they follow the model's device.
  using torch::nn::Module::to;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;

  ModelConfig config;
  DecoderModel model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings
  torch::Tensor inv_freq;   // rope frequencies [head_dim / 2], fp32, a buffer (not a parameter)

  // Recompute each decoder layer in the backward pass instead of keeping its activations
  // (training only; see model/activation_checkpoint.h). Set by the trainer.
  bool activation_checkpointing = false;
  // The attached LoRA adapter (model/lora.h), if any, and the generator its dropout masks come
  // from. Save lora_dropout_generator.get_state() with the training state for a bit-exact resume.
  std::optional<LoraSettings> lora;
  at::Generator lora_dropout_generator;
};
TORCH_MODULE(CausalLM);

// Fills the base parameters the way transformers initialises a fresh model, module by module:
// normal(0, std) for Linear and Embedding weights, zeros for Linear biases, ones for RMSNorm.
// Deterministic for a seed (drawn on the CPU in fp32, so independent of device and dtype).
// A model with a LoRA adapter attached is refused: initialise the base first.
void init_weights(CausalLM& model, double std, std::uint64_t seed);

}  // namespace cotrain
