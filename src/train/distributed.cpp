// The only file that includes c10d's headers (they pull in Gloo's and, for CUDA, NCCL's).
#include "cotrain/train/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/cuda.h>
#ifdef COTRAIN_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cotrain/core/error.h"

namespace cotrain {

struct C10dGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::string name;
  bool broken = false;  // a collective failed
};

struct C10dWork {
  c10::intrusive_ptr<c10d::Work> work;
  C10dGroup* group = nullptr;
  std::string description;  // "rank 0/3: all_reduce (token count, 8 B)"
  double timeout_s = 0;
};

namespace {

// The informative part of a c10d/Gloo message: its first line without the source location and
// the advice ("[.../pair.cc:537] Read error ...: Connection reset by peer. This is typically ...").
std::string essential(std::string text) {
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find("] ");
    if (close != std::string::npos) text = text.substr(close + 2);
  }
  std::size_t advice = text.find(" This is typically");
  if (advice != std::string::npos) text = text.substr(0, advice);
  return text;
}

// Where a collective or the rendezvous failed: the wording of the likely cause differs.
enum class Stage { Rendezvous, Collective };

std::string likely_cause(const std::string& message, double timeout_s, Stage stage) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto has = [&](const char* s) { return lower.find(s) != std::string::npos; };
  if (has("timed out") || has("timeout")) {
    return stage == Stage::Rendezvous
               ? fmt::format("not every rank joined within dist.timeout_s={:g} (one did not start, or was given "
                             "another MASTER_ADDR:MASTER_PORT): ", timeout_s)
               : fmt::format("no answer from a peer within dist.timeout_s={:g} (a rank hangs or died): ", timeout_s);
  }
  if (has("closed") || has("reset by peer") || has("broken pipe")) {
    return "a peer closed its connection (a rank died or failed): ";
  }
  return "";
}

// Runs F, turning c10d's and Gloo's exceptions into one-line RuntimeFailures; after a failure
// the group is marked broken.
template <class F>
auto checked(C10dGroup* group, const std::string& description, double timeout_s, Stage stage, F&& f) {
  std::string message;
  try {
    return f();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (group) group->broken = true;
  fail_runtime("{} failed: {}{}", description, likely_cause(message, timeout_s, stage), essential(message));
}

std::string human_bytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < (1 << 20)) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < (1 << 30)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

std::int64_t byte_size(const torch::Tensor& t) { return t.numel() * static_cast<std::int64_t>(t.element_size()); }

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

c10::intrusive_ptr<c10d::Backend> gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                               double timeout_s) {
  auto options = c10d::ProcessGroupGloo::Options::create(to_ms(timeout_s));
  // Like torch.distributed: the interfaces named by GLOO_SOCKET_IFNAME, else this host's address.
  if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names && *names) {
    std::string list = names;
    for (std::size_t pos = 0; pos <= list.size();) {
      std::size_t comma = std::min(list.find(',', pos), list.size());
      if (comma > pos) options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(pos, comma - pos)));
      pos = comma + 1;
    }
  }
  if (options->devices.empty()) options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
}

c10::intrusive_ptr<c10d::Backend> nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                               int device, double timeout_s) {
#ifdef COTRAIN_WITH_NCCL
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = to_ms(timeout_s);
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
#else
  fail_input("rank {}/{}: training on CUDA with several processes needs a libtorch with NCCL; this cotrain was "
             "built without it (see third_party/README.md)", rank, world);
#endif
}

}  // namespace

PendingCollective::PendingCollective() = default;
PendingCollective::PendingCollective(std::unique_ptr<C10dWork> work) : work_(std::move(work)) {}
PendingCollective::~PendingCollective() = default;
PendingCollective::PendingCollective(PendingCollective&&) noexcept = default;
PendingCollective& PendingCollective::operator=(PendingCollective&&) noexcept = default;

void PendingCollective::wait() {
  if (!work_) return;
  std::unique_ptr<C10dWork> work = std::move(work_);
  checked(work->group, work->description, work->timeout_s, Stage::Collective, [&] { return work->work->wait(); });
}

ProcessGroup::ProcessGroup(torch::Device device) : device_(device) {}

ProcessGroup::~ProcessGroup() {
  // Destroying a c10d group waits for its queued collectives, each of which would wait out the
  // timeout against a dead peer: after a failure the group is left to the process's exit.
  if (group_ && group_->broken) (void)group_.release();
}

ProcessGroup::ProcessGroup(ProcessGroup&&) noexcept = default;
ProcessGroup& ProcessGroup::operator=(ProcessGroup&&) noexcept = default;

ProcessGroup ProcessGroup::join(const LaunchInfo& launch, torch::DeviceType device_type, double timeout_s) {
  if (!(timeout_s > 0)) fail_input("dist.timeout_s: must be > 0 (got {})", timeout_s);
  torch::Device device = torch::kCPU;
  if (device_type == torch::kCUDA) {
    auto count = static_cast<int>(torch::cuda::device_count());
    if (launch.local_rank >= count) {
      fail_input("rank {}/{}: local rank {} needs cuda:{}, but this node has {} CUDA device(s)", launch.rank,
                 launch.world_size, launch.local_rank, launch.local_rank, count);
    }
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank));
  }
  ProcessGroup pg(device);
  pg.rank_ = launch.rank;
  pg.world_size_ = launch.world_size;
  pg.local_rank_ = launch.local_rank;
  pg.timeout_s_ = timeout_s;
  if (launch.world_size == 1) return pg;

  auto group = std::make_unique<C10dGroup>();
  std::string where = fmt::format("rank {}/{}: rendezvous at {}:{}", launch.rank, launch.world_size,
                                  launch.master_addr, launch.master_port);
  checked(nullptr, where, timeout_s, Stage::Rendezvous, [&] {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(launch.master_port);
    options.isServer = launch.rank == 0 && !launch.agent_store;
    options.numWorkers = static_cast<std::size_t>(launch.world_size);
    options.waitWorkers = !launch.agent_store;
    options.timeout = to_ms(timeout_s);
    auto store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    group->store = c10::make_intrusive<c10d::PrefixStore>("cotrain", store);
    return 0;
  });
  group->name = device_type == torch::kCUDA ? "nccl" : "gloo";
  where = fmt::format("rank {}/{}: connecting the {} process group", launch.rank, launch.world_size, group->name);
  group->backend = checked(nullptr, where, timeout_s, Stage::Rendezvous, [&] {
    return device_type == torch::kCUDA
               ? nccl_backend(group->store, launch.rank, launch.world_size, launch.local_rank, timeout_s)
               : gloo_backend(group->store, launch.rank, launch.world_size, timeout_s);
  });
  pg.group_ = std::move(group);
  return pg;
}

std::string ProcessGroup::backend() const { return group_ ? group_->name : "none"; }

namespace {

template <class Launch>
PendingCollective start(const ProcessGroup& pg, C10dGroup* group, const char* collective, const std::string& what,
                        std::int64_t bytes, Launch&& launch) {
  auto work = std::make_unique<C10dWork>();
  work->group = group;
  work->timeout_s = pg.timeout_s();
  work->description = fmt::format("rank {}/{}: {} ({}, {})", pg.rank(), pg.world_size(), collective, what,
                                  human_bytes(bytes));
  work->work = checked(group, work->description, work->timeout_s, Stage::Collective, launch);
  return PendingCollective(std::move(work));
}

void check_flat(const ProcessGroup& pg, const char* collective, const std::string& what, const torch::Tensor& big,
                const torch::Tensor& small) {
  if (!big.is_contiguous() || !small.is_contiguous() || big.scalar_type() != small.scalar_type() ||
      big.numel() != small.numel() * pg.world_size()) {
    fail_runtime("rank {}/{}: {} ({}): needs contiguous tensors of one dtype with {} x {} = {} elements (got {})",
                 pg.rank(), pg.world_size(), collective, what, pg.world_size(), small.numel(),
                 small.numel() * pg.world_size(), big.numel());
  }
}

}  // namespace

PendingCollective ProcessGroup::all_reduce_sum_async(const torch::Tensor& tensor, const std::string& what) {
  if (!group_) return {};
  return start(*this, group_.get(), "all_reduce", what, byte_size(tensor), [&] {
    std::vector<at::Tensor> tensors{tensor};
    return group_->backend->allreduce(tensors);
  });
}

PendingCollective ProcessGroup::all_gather_flat_async(const torch::Tensor& out, const torch::Tensor& in,
                                                      const std::string& what) {
  check_flat(*this, "all_gather", what, out, in);
  if (!group_) {
    out.view(-1).copy_(in.view(-1));
    return {};
  }
  return start(*this, group_.get(), "all_gather", what, byte_size(out), [&] {
    at::Tensor output = out.view(-1), input = in.view(-1);
    return group_->backend->_allgather_base(output, input);
  });
}

PendingCollective ProcessGroup::reduce_scatter_flat_async(const torch::Tensor& out, const torch::Tensor& in,
                                                          const std::string& what) {
  check_flat(*this, "reduce_scatter", what, in, out);
  if (!group_) {
    out.view(-1).copy_(in.view(-1));
    return {};
  }
  return start(*this, group_.get(), "reduce_scatter", what, byte_size(in), [&] {
    at::Tensor output = out.view(-1), input = in.view(-1);
    return group_->backend->_reduce_scatter_base(output, input);
  });
}

void ProcessGroup::all_reduce_sum(const torch::Tensor& tensor, const std::string& what) {
  all_reduce_sum_async(tensor, what).wait();
}

double ProcessGroup::all_reduce_sum(double value, const std::string& what) {
  auto tensor = torch::full({1}, value, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  all_reduce_sum(tensor, what);
  return tensor.item<double>();
}

bool ProcessGroup::any_rank(bool flag, const std::string& what) { return all_reduce_sum(flag ? 1.0 : 0.0, what) > 0; }

void ProcessGroup::all_gather_flat(const torch::Tensor& out, const torch::Tensor& in, const std::string& what) {
  all_gather_flat_async(out, in, what).wait();
}

void ProcessGroup::reduce_scatter_flat(const torch::Tensor& out, const torch::Tensor& in, const std::string& what) {
  reduce_scatter_flat_async(out, in, what).wait();
}

void ProcessGroup::broadcast(const torch::Tensor& tensor, int root, const std::string& what) {
  if (!group_) return;
  start(*this, group_.get(), "broadcast", what, byte_size(tensor), [&] {
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return group_->backend->broadcast(tensors, options);
  }).wait();
}

void ProcessGroup::barrier(const std::string& what) {
  if (!group_) return;
  start(*this, group_.get(), "barrier", what, 0, [&] { return group_->backend->barrier(); }).wait();
}

std::vector<std::int64_t> rank_share(std::int64_t count, int rank, int world_size) {
  std::vector<std::int64_t> items;
  for (std::int64_t i = rank; i < count; i += world_size) items.push_back(i);
  return items;
}

}  // namespace cotrain
