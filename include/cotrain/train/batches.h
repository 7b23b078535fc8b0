// What a run trains on and in which order: the token cache (data.path, or one prepared from JSONL
// into OUT/cache and reused while it matches), the held-out validation documents, the order of
// each epoch (a pure function of seed and epoch, so a resumed run sees the same order), and the
// packed rows of one optimizer step.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cotrain/data/token_cache.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/train/config.h"

namespace cotrain {

struct DocumentSet {
  std::shared_ptr<const TokenCache> cache;
  std::vector<std::size_t> docs;  // document indices of `cache`, ascending
  std::int64_t tokens() const;
  std::int64_t target_tokens() const;  // positions with a next-token target
};

struct TrainingData {
  DocumentSet train, validation;  // validation is empty without data.val_fraction / data.val_path
  std::string template_name;      // the chat template the documents were rendered with
};

// Opens or prepares the data of CONFIG for the model directory MODEL_DIR (whose tokenizer must be
// the one the cache was made with, and whose vocabulary must hold every id), writing prepared
// caches under OUT_DIR. Documents without a target are left out (with a warning); no target at
// all is an InputError.
TrainingData load_training_data(const TrainConfig& config, std::int64_t vocab_size, const std::filesystem::path& out_dir);

// Identifies what DATA.train holds: the hashes of its cache's files and the documents it takes
// from them (16 hex digits). A checkpoint records it so a resume notices other data.
std::string training_data_hash(const TrainingData& data);

// The training order of epoch EPOCH over N documents: a permutation drawn from Rng(seed, epoch).
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch);

struct BatchSettings {
  std::int64_t micro_batch = 1;  // documents per row when not packing
  bool pack = false;             // rows of up to `capacity` tokens, best fit decreasing
  std::int64_t capacity = 0;
  std::uint64_t seed = 0;
};

// The rows (micro-batches) of one optimizer step over the documents SET.docs[i] for i in
// POSITIONS. Unpacked: consecutive groups of micro_batch documents, each one row (attention stays
// inside each document, so a row equals a padded batch without the padding). Packed: the
// documents planned into bins of `capacity` tokens by plan_packing(seed, PLAN_INDEX).
std::vector<PackedRow> step_rows(const DocumentSet& set, std::span<const std::size_t> positions, const BatchSettings& settings,
                                 std::uint64_t plan_index);

// Every document of SET in rows of up to MAX_TOKENS tokens (a longer document gets its own row).
std::vector<PackedRow> evaluation_rows(const DocumentSet& set, std::int64_t max_tokens);

}  // namespace cotrain
