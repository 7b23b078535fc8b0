// The small Qwen2-shaped model the training tests run (GQA, q/k/v biases, 2 layers), random and
// deterministic; a larger VOCAB gives tensors longer than the optimizer's blocks.
#pragma once
#include <torch/torch.h>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

inline CausalLM tiny_model(bool tied_embeddings, std::int64_t vocab = 64) {
  ModelConfig c;
  c.arch = Arch::Qwen2;
  c.vocab_size = vocab;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.qkv_bias = true;
  c.rope_theta = 10000;
  c.tie_word_embeddings = tied_embeddings;
  CausalLM model(c, torch::TensorOptions().dtype(torch::kFloat32));
  init_weights(model, 0.05, 1234);
  return model;
}

}  // namespace cotrain
