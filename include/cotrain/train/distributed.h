// The process group the trainer talks through: c10d (NCCL for CUDA, Gloo for CPU) behind a small
// explicit interface, with rendezvous through c10d's TCPStore at the launcher's
// MASTER_ADDR:MASTER_PORT. A job of one process has no c10d objects at all, and its collectives
// leave their inputs as they are.
//
// Every rank must call the same collectives in the same order (c10d matches them by order). A
// collective that fails because a peer died (its connection closes) or that waits longer than the
// timeout (a peer hangs) throws RuntimeFailure naming this rank, the collective and the cause:
//   rank 0/3: all_reduce (token count, 8 B) failed: no answer from a peer within
//   dist.timeout_s=30 (a rank hangs or died): Timed out waiting 30000ms for recv operation to complete
// The c10d headers are included by distributed.cpp only.
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "cotrain/train/launch.h"

namespace cotrain {

struct C10dGroup;  // the store and the c10d backend (distributed.cpp)
struct C10dWork;   // one collective in flight

// A collective started without waiting for it, so communication overlaps the backward pass.
class PendingCollective {
 public:
  PendingCollective();
  explicit PendingCollective(std::unique_ptr<C10dWork> work);
  ~PendingCollective();
  PendingCollective(PendingCollective&&) noexcept;
  PendingCollective& operator=(PendingCollective&&) noexcept;
  // Blocks until the collective is done; throws as the blocking form would. No-op when empty.
  void wait();
  bool empty() const { return work_ == nullptr; }

 private:
  std::unique_ptr<C10dWork> work_;
};

class ProcessGroup {
 public:
  // A job of one process on DEVICE.
  explicit ProcessGroup(torch::Device device = torch::kCPU);
  // Joins the job LAUNCH describes: TCPStore rendezvous (rank 0 serves the store unless
  // torchrun's agent already does), then NCCL on cuda:LOCAL_RANK for DEVICE_TYPE CUDA, or Gloo
  // (devices from GLOO_SOCKET_IFNAME, else this host's address). Every store and collective wait
  // is bounded by TIMEOUT_S. A launch of world size 1 creates no c10d objects.
  static ProcessGroup join(const LaunchInfo& launch, torch::DeviceType device_type, double timeout_s);
  ~ProcessGroup();
  ProcessGroup(ProcessGroup&&) noexcept;
  ProcessGroup& operator=(ProcessGroup&&) noexcept;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  torch::Device device() const { return device_; }
  std::string backend() const;  // none | gloo | nccl
  double timeout_s() const { return timeout_s_; }

  // WHAT names the data in error messages ("grads of model.layers.3", "token count").
  void barrier(const std::string& what);
  void broadcast(const torch::Tensor& tensor, int root, const std::string& what);
  void all_reduce_sum(const torch::Tensor& tensor, const std::string& what);  // in place
  double all_reduce_sum(double value, const std::string& what);
  bool any_rank(bool flag, const std::string& what);  // FLAG is true on at least one rank
  // OUT (contiguous, world_size * IN's numel elements) receives every rank's IN in rank order.
  void all_gather_flat(const torch::Tensor& out, const torch::Tensor& in, const std::string& what);
  // OUT (IN's numel / world_size elements) receives this rank's slice of the sum of every IN.
  void reduce_scatter_flat(const torch::Tensor& out, const torch::Tensor& in, const std::string& what);

  PendingCollective all_reduce_sum_async(const torch::Tensor& tensor, const std::string& what);
  PendingCollective all_gather_flat_async(const torch::Tensor& out, const torch::Tensor& in, const std::string& what);
  PendingCollective reduce_scatter_flat_async(const torch::Tensor& out, const torch::Tensor& in,
                                              const std::string& what);

 private:
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  torch::Device device_ = torch::kCPU;
  double timeout_s_ = 0;
  std::unique_ptr<C10dGroup> group_;  // null in a job of one
};

// This rank's share of a global batch of COUNT items: items rank, rank + world, rank + 2 world...
// (disjoint, together all of them; striding keeps a length-sorted batch balanced across ranks).
std::vector<std::int64_t> rank_share(std::int64_t count, int rank, int world_size);

}  // namespace cotrain
