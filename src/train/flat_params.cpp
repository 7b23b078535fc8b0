#include "cotrain/train/flat_params.h"

#include <c10/core/StorageImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "cotrain/core/error.h"

namespace cotrain {

FlatLayout::FlatLayout(std::vector<std::string> names_in, const std::vector<torch::Tensor>& tensors, int world)
    : names(std::move(names_in)), world_size(world) {
  for (const auto& t : tensors) {
    offsets.push_back(numel);
    shapes.push_back(t.sizes().vec());
    numel += t.numel();
  }
  shard_numel = (numel + world - 1) / world;
}

std::vector<torch::Tensor> unflatten(const FlatLayout& layout, const torch::Tensor& flat) {
  std::vector<torch::Tensor> views;
  for (std::size_t i = 0; i < layout.names.size(); ++i) {
    std::int64_t n = c10::multiply_integers(layout.shapes[i]);
    views.push_back(flat.narrow(0, layout.offsets[i], n).view(layout.shapes[i]));
  }
  return views;
}

torch::Tensor flatten_padded(const FlatLayout& layout, const std::vector<torch::Tensor>& tensors,
                             const torch::TensorOptions& options) {
  return flatten_range(layout, tensors, 0, layout.padded_numel(), options);
}

torch::Tensor flatten_range(const FlatLayout& layout, const std::vector<torch::Tensor>& tensors, std::int64_t begin,
                            std::int64_t n, const torch::TensorOptions& options) {
  torch::NoGradGuard no_grad;
  // Zeros only where no tensor lies (padding, undefined tensors): the offsets ascend, so a cursor
  // finds the gaps. The optimizer reads its gradients 64 K elements at a time through this.
  auto flat = torch::empty({n}, options);
  std::int64_t filled = begin;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) continue;
    const std::int64_t first = std::max(begin, layout.offsets[i]);
    const std::int64_t last = std::min(begin + n, layout.offsets[i] + tensors[i].numel());
    if (first >= last) continue;
    if (first > filled) flat.narrow(0, filled - begin, first - filled).zero_();
    flat.narrow(0, first - begin, last - first).copy_(tensors[i].reshape(-1).narrow(0, first - layout.offsets[i], last - first));
    filled = last;
  }
  if (begin + n > filled) flat.narrow(0, filled - begin, begin + n - filled).zero_();
  return flat;
}

FlatParams::FlatParams(std::vector<std::string> names, std::vector<torch::Tensor> params, int world_size, int rank,
                       bool sharded)
    : layout_(std::move(names), params, world_size), params_(std::move(params)), sharded_(sharded) {
  const torch::Tensor& first = params_.front();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].device() != first.device() || params_[i].scalar_type() != first.scalar_type()) {
      fail_runtime("flat parameter group: {} is {} on {}, but {} is {} on {}", layout_.names[i],
                   c10::toString(params_[i].scalar_type()), params_[i].device().str(), layout_.names[0],
                   c10::toString(first.scalar_type()), first.device().str());
    }
  }
  torch::NoGradGuard no_grad;
  full_ = flatten_padded(layout_, params_, torch::TensorOptions().dtype(first.scalar_type()).device(first.device()));
  auto views = unflatten(layout_, full_);
  // set_data keeps each parameter's identity (module registration, autograd leaf, hooks) and
  // points it at the flat buffer's storage.
  for (std::size_t i = 0; i < params_.size(); ++i) params_[i].set_data(views[i]);
  shard_ = full_.narrow(0, layout_.shard_begin(rank), layout_.shard_numel);
  if (sharded_) {
    shard_ = shard_.clone();
    release();
  }
}

PendingCollective FlatParams::gather(ProcessGroup& group, const std::string& what) {
  if (!sharded_ || gathered_) return {};
  c10::StorageImpl* storage = full_.storage().unsafeGetStorageImpl();
  auto nbytes = static_cast<std::size_t>(layout_.padded_numel()) * full_.element_size();
  storage->set_data_ptr_noswap(storage->allocator()->allocate(nbytes));
  storage->set_nbytes(nbytes);
  gathered_ = true;
  // Writing into the buffer does not count as modifying the parameters for autograd: each keeps
  // its own version counter (set_data does not share the buffer's).
  return group.all_gather_flat_async(full_, shard_, what);
}

void FlatParams::release() {
  if (!sharded_ || !gathered_) return;
  full_.storage().unsafeGetStorageImpl()->reset();
  gathered_ = false;
}

std::int64_t FlatParams::resident_bytes() const {
  std::int64_t bytes = gathered_ ? full_.numel() * static_cast<std::int64_t>(full_.element_size()) : 0;
  if (sharded_) bytes += shard_.numel() * static_cast<std::int64_t>(shard_.element_size());
  return bytes;
}

}  // namespace cotrain
