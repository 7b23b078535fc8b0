// JSONL inputs that are token sequences: {"input_ids": [...]} or {"text": "..."} per line (what
// `cotrain score` reads).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

// Every line's ids, in order. "text" lines go through TOKENIZER() (called on the first one, so a
// file of ids needs no tokenizer). Ids must lie in [0, vocab_size); a malformed line, an empty
// sequence or an id outside the vocabulary is an InputError naming the file and line.
std::vector<std::vector<std::int64_t>> read_token_sequences(const std::filesystem::path& path, std::int64_t vocab_size,
                                                            const std::function<const Tokenizer&()>& tokenizer);

}  // namespace cotrain
