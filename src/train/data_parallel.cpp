#include "cotrain/train/data_parallel.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>

#include "cotrain/model/weights.h"
#include "cotrain/train/launch.h"

namespace cotrain {
namespace {

// Whether this process may run on every online CPU: no launcher (srun's CPU binding, taskset,
// numactl) has given it cores of its own, which torch's default thread count would already count.
bool runs_on_every_cpu() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return true;
  return CPU_COUNT(&allowed) >= sysconf(_SC_NPROCESSORS_ONLN);
}

}  // namespace

ProcessGroup join_training_job(const TrainConfig& config) {
  const LaunchInfo launch = launch_info_from_env();
  const torch::Device device = parse_device(config.model.device);
  if (launch.world_size == 1) return ProcessGroup(device);  // exactly the device asked for, cuda:N included
  if (launch.rank != 0 && spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  spdlog::set_pattern(fmt::format("%^[%H:%M:%S %l]%$ rank {}/{}: %v", launch.rank, launch.world_size));  // core/log.cpp's, with the rank
  // CPU ranks on one node would each start a thread per core: the oversubscribed cores slow every
  // rank and let them drift apart, past dist.timeout_s. Like torchrun, split the cores unless
  // OMP_NUM_THREADS says otherwise or the launcher has already pinned each rank to its own.
  if (device.is_cpu() && launch.local_world_size > 1 && !process_env("OMP_NUM_THREADS") && runs_on_every_cpu()) {
    const int threads = std::max(1, torch::get_num_threads() / launch.local_world_size);
    torch::set_num_threads(threads);
    spdlog::info("{} CPU thread(s) per rank: {} ranks share this node's cores (OMP_NUM_THREADS overrides)", threads,
                 launch.local_world_size);
  }
  return ProcessGroup::join(launch, device.type(), config.dist.timeout_s);
}

std::vector<std::size_t> rank_documents(const ProcessGroup& pg, std::span<const std::size_t> step_docs) {
  std::vector<std::size_t> mine;
  for (std::int64_t i : rank_share(static_cast<std::int64_t>(step_docs.size()), pg.rank(), pg.world_size())) {
    mine.push_back(step_docs[static_cast<std::size_t>(i)]);
  }
  return mine;
}

std::vector<double> per_rank(ProcessGroup& pg, double value, const std::string& what) {
  auto values = torch::zeros({pg.world_size()}, torch::TensorOptions().dtype(torch::kFloat64).device(pg.device()));
  values[pg.rank()] = value;
  pg.all_reduce_sum(values, what);
  values = values.cpu();
  return {values.data_ptr<double>(), values.data_ptr<double>() + pg.world_size()};
}

std::int64_t micro_batches(ProcessGroup& pg, std::int64_t rows) {
  double most = 0;
  for (double n : per_rank(pg, static_cast<double>(rows), "micro-batch counts")) most = std::max(most, n);
  return static_cast<std::int64_t>(most);
}

const PackedRow& filler_row() {
  static const PackedRow row = pack_documents(std::vector<std::vector<std::int64_t>>{{0, 0}});
  return row;
}

NamedTensors job_rng_states(ProcessGroup& pg, CausalLM& model) {
  NamedTensors mine = rng_states(model);
  if (pg.world_size() == 1) return mine;
  NamedTensors all;
  for (const auto& [name, state] : mine) {  // the same generators, of the same sizes, on every rank
    const torch::Tensor in = state.contiguous().to(pg.device());
    torch::Tensor gathered = torch::empty({pg.world_size() * in.numel()}, in.options());
    pg.all_gather_flat(gathered, in, "random generator states");
    gathered = gathered.cpu().view({pg.world_size(), in.numel()});
    for (int r = 0; r < pg.world_size(); ++r) all[r == 0 ? name : fmt::format("rank {}/{}", r, name)] = gathered[r].clone();
  }
  return all;
}

NamedTensors rank_rng_states(const ProcessGroup& pg, const NamedTensors& saved) {
  const std::string prefix = fmt::format("rank {}/", pg.rank());
  NamedTensors mine;
  for (const auto& [name, state] : saved) {
    if (name.starts_with("rank ")) continue;
    auto own = saved.find(prefix + name);
    mine[name] = pg.rank() != 0 && own != saved.end() ? own->second : state;
  }
  return mine;
}

void gather_for_export(ProcessGroup& pg, CausalLM& model, ShardedModel& sharded) {
  if (sharded.options().mode != ShardMode::Params) return;
  auto params = model->named_parameters();
  sharded.for_each_full(StateKind::Param, [&](const std::string& name, const torch::Tensor& full) {
    if (pg.is_main()) params[name].set_data(full.clone());  // FULL is a view of the gathered group
  });
}

}  // namespace cotrain
