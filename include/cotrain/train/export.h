// The final model of a full fine-tuning run as a Hugging Face model directory that transformers
// (and vLLM) load: config.json, model.safetensors in the training dtype, and the tokenizer and
// generation files of the model it started from.
#pragma once
#include <filesystem>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

// Written to a temporary directory and renamed to OUT when complete.
void export_hf_model(CausalLM& model, const std::filesystem::path& source_dir, const std::filesystem::path& out);

}  // namespace cotrain
