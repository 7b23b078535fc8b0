// Small architectures for `cotrain init-model`: random models that transformers loads, for demos,
// tests and benchmarks. Shapes follow the real families (GQA, Qwen3's explicit head_dim,
// Llama-3's rope scaling) at toy sizes.
#pragma once
#include <string>
#include <vector>

#include "cotrain/model/config.h"

namespace cotrain {

// preset: tiny (about 10M parameters, mostly the Qwen-sized embedding) or small (about 50M).
ModelConfig preset_config(Arch arch, const std::string& preset);
std::vector<std::string> preset_names();

}  // namespace cotrain
