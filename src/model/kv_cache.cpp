#include "cotrain/model/kv_cache.h"

#include <torch/torch.h>

#include <algorithm>

#include "cotrain/core/error.h"

namespace cotrain {

// Positions past a row's length are masked out, but a masked score is the dot product plus -inf,
// so they must hold finite numbers: the cache starts zeroed, never uninitialised.
KVCache::KVCache(const ModelConfig& config, std::int64_t rows, std::int64_t capacity, const torch::TensorOptions& options)
    : lengths_(static_cast<std::size_t>(rows), 0), capacity_(std::max<std::int64_t>(capacity, 1)) {
  if (rows < 1) fail_input("a KV cache needs at least one row (got {})", rows);
  for (std::int64_t i = 0; i < config.num_layers; ++i) {
    keys_.push_back(torch::zeros({rows, config.num_kv_heads, capacity_, config.head_dim}, options));
    values_.push_back(torch::zeros({rows, config.num_kv_heads, capacity_, config.head_dim}, options));
  }
}

void KVCache::clear_row(std::int64_t row) { lengths_.at(static_cast<std::size_t>(row)) = 0; }

void KVCache::copy_row(std::int64_t from, std::int64_t to) {
  const auto n = length(from);
  lengths_.at(static_cast<std::size_t>(to)) = n;
  if (from == to || n == 0) return;
  for (std::size_t l = 0; l < keys_.size(); ++l) {
    keys_[l][to].narrow(1, 0, n).copy_(keys_[l][from].narrow(1, 0, n));
    values_[l][to].narrow(1, 0, n).copy_(values_[l][from].narrow(1, 0, n));
  }
}

void KVCache::grow(std::int64_t capacity) {
  for (auto* tensors : {&keys_, &values_}) {
    for (auto& t : *tensors) {
      auto sizes = t.sizes().vec();
      sizes[2] = capacity;
      auto bigger = torch::zeros(sizes, t.options());
      bigger.narrow(2, 0, capacity_).copy_(t);
      t = bigger;
    }
  }
  capacity_ = capacity;
}

CacheStep KVCache::plan(const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& counts) {
  if (rows.empty() || rows.size() != counts.size()) fail_input("a cache step needs one count per row");
  CacheStep step;
  step.rows = rows;
  step.counts = counts;
  std::int64_t needed = 0;
  bool all_single = true, same_start = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= this->rows()) fail_input("cache row {} out of range (0..{})", rows[i], this->rows() - 1);
    if (counts[i] < 1) fail_input("a cache step adds at least one token to each row");
    step.starts.push_back(length(rows[i]));
    needed = std::max(needed, step.starts.back() + counts[i]);
    all_single = all_single && counts[i] == 1;
    same_start = same_start && step.starts[i] == step.starts[0];
  }
  if (needed > capacity_) grow(std::max(needed, 2 * capacity_));
  step.decode = all_single;
  if (!step.decode) return step;

  const auto device = keys_.empty() ? torch::Device(torch::kCPU) : keys_[0].device();
  const auto n = static_cast<std::int64_t>(rows.size());
  step.first_row = rows[0];
  step.contiguous_rows = true;
  for (std::int64_t i = 0; i < n; ++i) step.contiguous_rows = step.contiguous_rows && rows[i] == rows[0] + i;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  step.row_index = torch::tensor(rows, i64).to(device);
  step.start_index = torch::tensor(step.starts, i64).to(device);
  step.key_length = needed;
  if (!same_start) {  // row i sees keys 0..starts[i] (its past and the new token)
    auto positions = torch::arange(needed, i64.device(device)).view({1, 1, 1, needed});
    step.key_mask = positions.le(step.start_index.view({n, 1, 1, 1}));
  }
  return step;
}

void KVCache::commit(const CacheStep& step) {
  for (std::size_t i = 0; i < step.rows.size(); ++i) lengths_[static_cast<std::size_t>(step.rows[i])] = step.starts[i] + step.counts[i];
}

}  // namespace cotrain
