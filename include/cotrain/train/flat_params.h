// Flat parameter groups, the unit of sharding: a group's tensors laid end to end in one buffer,
// padded to a multiple of the world size so that rank r owns the contiguous slice
// [r * shard_numel, (r + 1) * shard_numel). The parameter tensors themselves (the modules' own)
// become views of that buffer, so modules, autograd and checkpointing see nothing new.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cotrain/train/distributed.h"

namespace cotrain {

struct FlatLayout {
  FlatLayout(std::vector<std::string> names, const std::vector<torch::Tensor>& tensors, int world_size);

  std::vector<std::string> names;
  std::vector<std::vector<std::int64_t>> shapes;
  std::vector<std::int64_t> offsets;  // first element of each tensor in the flat buffer
  std::int64_t numel = 0;             // the tensors' elements, end to end
  std::int64_t shard_numel = 0;       // each rank's slice: ceil(numel / world_size)
  int world_size = 1;

  std::int64_t padded_numel() const { return shard_numel * world_size; }
  std::int64_t shard_begin(int rank) const { return rank * shard_numel; }
};

// The named tensors as views of FLAT (at least layout.numel elements).
std::vector<torch::Tensor> unflatten(const FlatLayout& layout, const torch::Tensor& flat);
// A new [padded_numel] tensor holding TENSORS end to end (an undefined one reads as zeros) and
// zeros in the padding.
torch::Tensor flatten_padded(const FlatLayout& layout, const std::vector<torch::Tensor>& tensors,
                             const torch::TensorOptions& options);
// Elements [BEGIN, BEGIN + N) of what flatten_padded would return, without the rest.
torch::Tensor flatten_range(const FlatLayout& layout, const std::vector<torch::Tensor>& tensors, std::int64_t begin,
                            std::int64_t n, const torch::TensorOptions& options);

// One group's parameters in one flat buffer, `full()`. Replicated: the buffer always exists.
// Sharded (ZeRO-3): the rank keeps only its slice, `shard()`, and the buffer's memory exists only
// between gather() and release(): release() frees the storage under every view of it (also the
// views autograd saved for backward), gather() refills the same storage, so saved views are
// valid again. Reading a parameter while released is a bug (its data pointer is null).
class FlatParams {
 public:
  // PARAMS must live on one device with one dtype; they become views of the flat buffer.
  FlatParams(std::vector<std::string> names, std::vector<torch::Tensor> params, int world_size, int rank,
             bool sharded);

  const FlatLayout& layout() const { return layout_; }
  const std::vector<torch::Tensor>& params() const { return params_; }
  const torch::Tensor& full() const { return full_; }
  // Sharded: this rank's slice (its own memory). Replicated: a view of the slice in full().
  const torch::Tensor& shard() const { return shard_; }
  bool sharded() const { return sharded_; }
  bool gathered() const { return gathered_; }
  torch::ScalarType dtype() const { return full_.scalar_type(); }

  // Sharded only: allocates the buffer and starts filling it from every rank's shard (the caller
  // waits). The parameters' autograd versions do not change, so the backward pass accepts the
  // views it saved before a release().
  PendingCollective gather(ProcessGroup& group, const std::string& what);
  void release();
  std::int64_t resident_bytes() const;

 private:
  FlatLayout layout_;
  std::vector<torch::Tensor> params_;
  torch::Tensor full_, shard_;
  bool sharded_ = false, gathered_ = true;
};

}  // namespace cotrain
