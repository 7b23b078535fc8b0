// What a LoRA adapter is, as peft's LoraConfig says it (torch-free, so config parsing can use it).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace cotrain {

// The seven linear layers of a decoder layer, the modules LoRA can adapt.
inline const std::vector<std::string>& lora_module_names() {
  static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return names;
}

struct LoraSettings {
  std::int64_t rank = 8;
  double alpha = 16;
  double dropout = 0;  // on the adapter's input, training mode only; in [0, 1)
  bool rslora = false;  // scaling alpha / sqrt(rank) instead of alpha / rank
  // Module names as peft matches them: a module is adapted when its path (e.g.
  // "model.layers.3.self_attn.q_proj") equals an entry or ends with "." + the entry. So "q_proj"
  // adapts every layer's, "model.layers.0.mlp.up_proj" one. {"all-linear"}: all seven names
  // (every decoder linear; never lm_head).
  std::vector<std::string> targets = {"all-linear"};

  // The factor s of y = W x + s B A x, exactly as peft computes it.
  double scaling() const { return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank); }
};

}  // namespace cotrain
