// Packing documents into fixed-capacity rows for training: best-fit decreasing bins of up to
// `capacity` tokens, no padding, deterministic for a seed and reshuffled every epoch. A bin becomes
// the model's packed row (model/causal_lm.h: PackedRow), which keeps document boundaries and
// restarts positions per document, so a packed-attention model sees every document on its own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

struct PackingPlan {
  std::int64_t capacity = 0;
  std::vector<std::vector<std::size_t>> bins;  // document indices per bin, in training order
  std::vector<std::int64_t> bin_tokens;        // tokens in each bin (<= capacity)
  std::int64_t tokens = 0;                     // all documents' tokens

  // tokens / (bins * capacity): the share of the bins' slots that hold tokens (1.0 = no waste).
  double efficiency() const;
};

// Packs documents of the given LENGTHS into bins of at most CAPACITY tokens, best fit decreasing:
// longest first, each into the fullest bin that still has room. Ties between equal lengths, and
// the order of the bins, are drawn from Rng(seed, epoch), so every epoch trains on a new order
// while the same (seed, epoch) always gives the same plan. A document longer than CAPACITY, or
// an empty one, throws InputError (apply the cutoff when preparing the data).
PackingPlan plan_packing(std::span<const std::int64_t> lengths, std::int64_t capacity, std::uint64_t seed,
                           std::uint64_t epoch);

// One document's tokens and loss mask (1 = a training target).
struct DocumentView {
  std::span<const TokenId> ids;
  std::span<const std::uint8_t> mask;
};


}  // namespace cotrain
