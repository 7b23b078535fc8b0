// What a model directory says about generation: its end-of-sequence ids.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace cotrain {

// eos_token_id (a number or a list) of DIR/generation_config.json, else of DIR/config.json;
// empty when neither has one. Malformed values are an InputError naming the file.
std::vector<std::int64_t> read_eos_token_ids(const std::filesystem::path& model_dir);

}  // namespace cotrain
