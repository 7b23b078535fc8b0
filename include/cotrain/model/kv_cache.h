// The keys and values of the positions a sequence has already seen, kept per layer so that each new
// token costs one forward step. As in CTranslate2, the cache is an optional argument of attention:
// without it the model runs packed rows for scoring and training; with it, generation steps.
//
// Layout: per layer one [rows, kv_heads, capacity, head_dim] tensor for keys and one for values.
// Each row holds one sequence and has its own length, so prompts of different lengths need no
// padding: a row's next token sits at position lengths[row] (the rotary offset), and in a step
// where rows have different lengths each row attends only to its own filled positions.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "cotrain/model/config.h"

namespace cotrain {

// One forward pass over cached sequences: sequence i of the pass extends row rows[i] by counts[i]
// tokens, the first at position starts[i] (the row's length before the pass).
struct CacheStep {
  std::vector<std::int64_t> rows, starts, counts;
  // Every sequence adds one token: attention runs once for all rows (a decode step).
  bool decode = false;
  // Decode steps: the rows as a device tensor, whether they are first_row..first_row+n-1 (then the
  // cache is read in place, without a gather), the keys to attend over (max start + 1), and a
  // [n, 1, 1, key_length] mask of each row's filled positions when the rows' lengths differ
  // (undefined when they are all equal: a one-token step needs no mask).
  torch::Tensor row_index, start_index, key_mask;
  bool contiguous_rows = false;
  std::int64_t first_row = 0, key_length = 0;
};

// One layer's share of the cache during a pass; given to AttentionImpl::forward.
struct LayerCache {
  torch::Tensor keys, values;  // [rows, kv_heads, capacity, head_dim]
  const CacheStep& step;
};

class KVCache {
 public:
  // CAPACITY positions per row to start with; steps that need more grow it (doubling, copying what
  // is cached), so a caller that knows the longest sequence allocates once.
  KVCache(const ModelConfig& config, std::int64_t rows, std::int64_t capacity, const torch::TensorOptions& options);

  std::int64_t rows() const { return static_cast<std::int64_t>(lengths_.size()); }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t length(std::int64_t row) const { return lengths_.at(static_cast<std::size_t>(row)); }
  std::size_t num_layers() const { return keys_.size(); }

  void clear_row(std::int64_t row);
  // Makes row TO hold what row FROM holds (samples of one prompt share its prefill).
  void copy_row(std::int64_t from, std::int64_t to);

  // Plans a pass that extends ROWS[i] by COUNTS[i] tokens (growing the capacity if needed);
  // commit() then records the new lengths once the pass has run.
  CacheStep plan(const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& counts);
  void commit(const CacheStep& step);

  LayerCache layer(std::size_t index, const CacheStep& step) { return {keys_[index], values_[index], step}; }

 private:
  void grow(std::int64_t capacity);
  std::vector<torch::Tensor> keys_, values_;
  std::vector<std::int64_t> lengths_;
  std::int64_t capacity_ = 0;
};

}  // namespace cotrain
