// Tiny random models for the model unit tests (all three architectures; milliseconds to run).
#pragma once
#include <torch/torch.h>

#include "cotrain/model/causal_lm.h"
#include "cotrain/model/lora.h"

namespace cotrain::test {

// Qwen2: q/k/v biases; Qwen3: q/k norms and head_dim 16 != hidden / heads; Llama: attention
// and MLP biases. Vocabulary 97, hidden 32, 2 layers, GQA 4/2.
inline ModelConfig tiny_config(Arch arch = Arch::Qwen2, bool tied = false) {
  const char* type = arch == Arch::Qwen2 ? "qwen2" : arch == Arch::Qwen3 ? "qwen3" : "llama";
  nlohmann::json j = {{"model_type", type}, {"vocab_size", 97}, {"hidden_size", 32}, {"intermediate_size", 48},
                      {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"tie_word_embeddings", tied}};
  if (arch == Arch::Qwen3) j["head_dim"] = 16;
  if (arch == Arch::Llama) {
    j["attention_bias"] = true;
    j["mlp_bias"] = true;
  }
  return ModelConfig::from_json(j, "test");
}

// Weights with std 0.3 (O(1) logits at hidden 32), biases and norms made non-trivial.
inline CausalLM random_model(Arch arch = Arch::Qwen2, bool tied = false, std::uint64_t seed = 0,
                             torch::ScalarType dtype = torch::kFloat32) {
  CausalLM model(tiny_config(arch, tied), torch::TensorOptions().dtype(dtype));
  init_weights(model, 0.3, seed);
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1000);
  for (auto& item : model->named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    if (name.find("bias") != std::string::npos || name.find("norm") != std::string::npos) {
      p.add_(at::normal(0.0, 0.2, p.sizes(), gen, torch::kFloat32).to(dtype));
    }
  }
  return model;
}

inline LoraSettings lora_settings(std::vector<std::string> targets = {"all-linear"}, std::int64_t rank = 4, double alpha = 8,
                                  bool rslora = false, double dropout = 0) {
  LoraSettings s;
  s.rank = rank;
  s.alpha = alpha;
  s.rslora = rslora;
  s.dropout = dropout;
  s.targets = std::move(targets);
  return s;
}

// A fresh adapter has B = 0 and changes nothing; tests draw B from normal(0, STD).
inline void randomize_lora_b(CausalLM& model, std::uint64_t seed, double std = 0.5) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& item : lora_parameters(model)) {
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0, std, gen);
  }
}

}  // namespace cotrain::test
