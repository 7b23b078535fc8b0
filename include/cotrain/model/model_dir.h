// Writing a Hugging Face model directory that transformers (and vLLM) load unchanged:
//   config.json                      the model's config, its dtype named as HF names it
//   model.safetensors                the weights; above max_shard_bytes instead
//   model-0000K-of-0000N.safetensors + model.safetensors.index.json (HF's split and index)
//   tokenizer and generation files   copied from a source directory when present there
// Used by init-model, export and the trainer's SFT export.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

inline constexpr const char* kModelDirKind = "model";  // its AtomicDir kind (core/atomic_file.h)

struct ModelDirOptions {
  // Where the tokenizer files and generation_config.json come from (a directory, or a file in
  // it); empty: none are written.
  std::filesystem::path copy_from;
  bool require_tokenizer = false;  // copy_from must hold at least one tokenizer file
  // HF's split rule (huggingface_hub): tensors in order, a new shard when the next one would pass
  // the limit. 5 GB is transformers 4.x's and the Hub's default (5.x writes up to 50 GB).
  std::uint64_t max_shard_bytes = 5'000'000'000;
};

// Writes MODEL (base weights only: merge or save a LoRA adapter separately) to OUT atomically:
// everything goes to a temporary directory renamed over OUT at the end, so OUT is complete or
// untouched. OUT must be absent, empty or an earlier model directory written by cotrain
// (AtomicDir's rule). Weights are written in the model's dtype.
void write_model_dir(CausalLM& model, const std::filesystem::path& out, const ModelDirOptions& options = {});

// The files write_model_dir copies, in order: tokenizer.json, tokenizer_config.json,
// tokenizer.model, special_tokens_map.json, added_tokens.json, vocab.json, merges.txt,
// chat_template.jinja, generation_config.json.
const std::vector<std::string>& model_dir_side_files();

}  // namespace cotrain
