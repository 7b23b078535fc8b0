// One rank of the multi-process tests (tests/unit/train/distributed_test.cpp starts several of
// it, through plain environment variables or torchrun). Every scenario checks its own results
// against a single-process computation and prints "rank R/N: ok SCENARIO"; exit codes: 0 ok,
// 3 a result differs, 1/2 a cotrain error (printed as "error: ..." like the CLI does).
//
//   collectives                      every ProcessGroup collective and a sharded flat group
//   train [--modes m,...] [--tied] [--freeze] [--checkpoint] [--bucket BYTES] [--overlap 0|1]
//         [--offload] [--steps N]                each mode's steps equal torch::optim::AdamW on one process
//                                    with the whole global batch
//   resume MODE IN|- STEPS OUT [--verify]   load a checkpoint (any world size), train STEPS more,
//                                    save; --verify: compare with an uninterrupted run
//   die VICTIM | hang VICTIM         VICTIM exits or stalls; the others' collective must fail
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "cotrain/core/error.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/loss.h"
#include "cotrain/model/weights.h"
#include "cotrain/train/distributed.h"
#include "cotrain/train/flat_params.h"
#include "cotrain/train/launch.h"
#include "cotrain/train/optimizer.h"
#include "cotrain/train/sharding.h"
#include "cotrain/train/unit_forward.h"
#include "unit/train/tiny_model.h"

namespace {

using namespace cotrain;
using torch::Tensor;

struct Mismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Args>
void expect(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) throw Mismatch(fmt::format(format, std::forward<Args>(args)...));
}

struct Flags {
  std::vector<ShardMode> modes{ShardMode::None, ShardMode::Optimizer, ShardMode::Grads, ShardMode::Params};
  bool tied = false, freeze = false, checkpoint = false, overlap = true, offload = false, verify = false, bf16 = false;
  std::int64_t bucket = 25 << 20;
  int steps = 3;
};

// Optimizer settings shared by the runs and the reference; max_norm is small enough to clip.
constexpr double kLr = 2e-3, kWeightDecay = 0.1, kMaxNorm = 0.5;
const AdamWSettings kAdam{0.9, 0.95, 1e-8, kWeightDecay};

CausalLM make_model(const Flags& flags) {
  CausalLM model = tiny_model(flags.tied);
  model->activation_checkpointing = flags.checkpoint;  // the reference's hidden_states checkpoints too
  if (flags.freeze) {  // frozen and trainable parameters in one unit, as with LoRA
    for (auto& item : model->named_parameters()) {
      if (item.key().find("q_proj.weight") != std::string::npos || item.key().find("k_proj.weight") != std::string::npos) {
        item.value().requires_grad_(false);
      }
    }
  }
  return model;
}

// The global batch of optimizer step STEP (from 1): six documents of 4..16 tokens.
std::vector<std::vector<std::int64_t>> global_batch(int step) {
  std::vector<std::vector<std::int64_t>> docs;
  std::uint64_t state = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(step);
  for (int d = 0; d < 6; ++d) {
    std::vector<std::int64_t> doc(static_cast<std::size_t>(4 + (step * 7 + d * 5) % 13));
    for (auto& token : doc) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      token = static_cast<std::int64_t>((state >> 33) % 64);
    }
    docs.push_back(doc);
  }
  return docs;
}

std::int64_t target_tokens(const std::vector<std::vector<std::int64_t>>& docs) {
  std::int64_t n = 0;
  for (const auto& d : docs) n += static_cast<std::int64_t>(d.size()) - 1;
  return n;
}

struct RunResult {
  std::vector<double> losses, norms;
  std::map<std::string, Tensor> params;
};

std::map<std::string, Tensor> full_state(ShardedModel& sharded, StateKind kind) {
  std::map<std::string, Tensor> out;
  sharded.for_each_full(kind, [&](const std::string& name, const Tensor& t) { out[name] = t.clone(); });
  return out;
}

// Steps FIRST..LAST of the distributed loop.
void train_steps(ProcessGroup& pg, CausalLM& model, ShardedModel& sharded, const DecoderUnits& units,
                 const Flags& flags, int first, int last, RunResult& result) {
  for (int step = first; step <= last; ++step) {
    auto docs = global_batch(step);
    std::vector<std::vector<std::int64_t>> mine;
    for (std::int64_t i : rank_share(static_cast<std::int64_t>(docs.size()), pg.rank(), pg.world_size())) {
      mine.push_back(docs[static_cast<std::size_t>(i)]);
    }
    double total = pg.all_reduce_sum(static_cast<double>(target_tokens(mine)), "target tokens");
    double loss_sum = 0;
    for (std::size_t m = 0; m < mine.size(); m += 2) {  // micro-batches of two documents packed in a row
      std::vector<std::vector<std::int64_t>> micro(mine.begin() + static_cast<long>(m),
                                                   mine.begin() + static_cast<long>(std::min(m + 2, mine.size())));
      Tensor nll = unit_summed_nll(model, sharded, units, pack_documents(micro), LossGradients::build);  // the trainer's forward
      sharded.begin_backward(m + 2 >= mine.size());
      (nll / total).backward();
      sharded.finish_backward();
      loss_sum += nll.item<double>();
    }
    result.losses.push_back(pg.all_reduce_sum(loss_sum, "loss") / total);
    double norm = sharded.grad_norm();
    result.norms.push_back(norm);
    sharded.step(kLr, std::min(1.0, kMaxNorm / (norm + 1e-6)));
    sharded.zero_grad();
  }
}

// The peer: one process, the whole global batch in one row, torch::optim::AdamW (a decay and a
// no-decay group, as the transformers Trainer) and torch's clip_grad_norm_.
RunResult reference_run(const Flags& flags, int steps) {
  CausalLM model = make_model(flags);
  std::vector<Tensor> params, decayed, others;
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    params.push_back(item.value());
    (decays(item.key()) ? decayed : others).push_back(item.value());
  }
  auto adamw = [](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(kLr).betas({kAdam.beta1, kAdam.beta2}).eps(kAdam.eps).weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, adamw(kAdam.weight_decay));
  groups.emplace_back(others, adamw(0));
  torch::optim::AdamW optimizer(groups, *adamw(kAdam.weight_decay));
  RunResult result;
  for (int step = 1; step <= steps; ++step) {
    auto docs = global_batch(step);
    PackedRow row = pack_documents(docs);
    Tensor hidden = model->hidden_states(row).view({-1, model->config.hidden_size});
    Tensor nll = summed_nll(hidden, model->head_weight(), row.targets, LossGradients::build);
    double total = static_cast<double>(target_tokens(docs));
    (nll / total).backward();
    result.losses.push_back(nll.item<double>() / total);
    result.norms.push_back(torch::nn::utils::clip_grad_norm_(params, kMaxNorm));
    optimizer.step();
    optimizer.zero_grad();
  }
  for (const auto& item : model->named_parameters()) result.params[item.key()] = item.value().detach().clone();
  return result;
}

// Per-step loss and gradient norm within 1e-5 relative, final weights within 1e-5; prints the
// largest differences seen.
void compare(const std::string& what, const RunResult& got, const RunResult& want, std::size_t first_step = 0) {
  double worst_loss = 0, worst_norm = 0;
  for (std::size_t i = 0; i < got.losses.size(); ++i) {
    double w = want.losses[first_step + i], g = got.losses[i];
    worst_loss = std::max(worst_loss, std::abs(g - w) / std::abs(w));
    expect(std::abs(g - w) <= 1e-5 * std::abs(w), "{}: step {} loss {} vs single process {}", what, first_step + i + 1, g, w);
  }
  for (std::size_t i = 0; i < got.norms.size(); ++i) {
    double w = want.norms[first_step + i], g = got.norms[i];
    worst_norm = std::max(worst_norm, std::abs(g - w) / w);
    expect(std::abs(g - w) <= 1e-5 * w, "{}: step {} grad norm {} vs single process {}", what, first_step + i + 1, g, w);
  }
  double worst = 0;
  std::string worst_name;
  for (const auto& [name, tensor] : want.params) {
    auto it = got.params.find(name);
    expect(it != got.params.end(), "{}: no parameter {}", what, name);
    double diff = (it->second - tensor).abs().max().item<double>();
    if (diff >= worst) worst = diff, worst_name = name;
  }
  expect(worst <= 1e-5, "{}: {} differs from the single-process run by {}", what, worst_name, worst);
  std::printf("%s: steps %zu-%zu, loss rel. diff <= %.1e, grad norm rel. diff <= %.1e, weights abs. diff <= %.1e\n",
              what.c_str(), first_step + 1, first_step + got.losses.size(), worst_loss, worst_norm, worst);
}

ShardOptions options_for(ShardMode mode, const Flags& flags) {
  ShardOptions options;
  options.mode = mode;
  options.bucket_bytes = flags.bucket;
  options.overlap = flags.overlap;
  options.offload = flags.offload;
  options.adamw = kAdam;
  return options;
}

// bf16 parameters, whose masters are split beside them (train/optimizer.h) unless offloaded: after
// the steps, every rank's parameters are the rounding of the masters every rank's slices make up,
// in every mode. Across modes the steps agree within bf16 resolution only: ZeRO-2/3 reduce bf16
// buckets, `none`/ZeRO-1 fp32 sums.
void scenario_train_bf16(ProcessGroup& pg, const Flags& flags) {
  std::vector<RunResult> runs;
  for (ShardMode mode : flags.modes) {
    CausalLM model = make_model(flags);
    model->to(torch::kBFloat16);
    DecoderUnits units = decoder_units(*model);
    ShardedModel sharded(pg, units.units, options_for(mode, flags));
    RunResult got;
    train_steps(pg, model, sharded, units, flags, 1, flags.steps, got);
    const std::string what = fmt::format("rank {}/{} {} bf16", pg.rank(), pg.world_size(), shard_mode_name(mode));
    const auto masters = full_state(sharded, StateKind::Master);
    got.params = full_state(sharded, StateKind::Param);  // this rank's own parameters but under ZeRO-3
    for (const auto& [name, master] : masters) {
      expect(torch::equal(got.params.at(name), bf16_of_master(master)), "{}: {} is not its master rounded", what, name);
      expect(!torch::equal(master, got.params.at(name).to(torch::kFloat32)), "{}: {}'s master has no rest", what, name);
    }
    for (std::size_t i = 0; i < got.losses.size() && !runs.empty(); ++i) {
      const double want = runs.front().losses[i], norm = runs.front().norms[i];
      expect(std::abs(got.losses[i] - want) <= 1e-2 * want && std::abs(got.norms[i] - norm) <= 5e-2 * norm,
             "{}: step {} loss {} norm {} vs {} {}", what, i + 1, got.losses[i], got.norms[i], want, norm);
    }
    runs.push_back(got);
  }
}

void scenario_train(ProcessGroup& pg, const Flags& flags) {
  if (flags.bf16) return scenario_train_bf16(pg, flags);
  RunResult want = reference_run(flags, flags.steps);
  bool clipped = false;
  for (double n : want.norms) clipped = clipped || n > kMaxNorm;
  expect(clipped, "the reference never clips (norms {}): the test would not check clipping", fmt::join(want.norms, ", "));
  for (ShardMode mode : flags.modes) {
    CausalLM model = make_model(flags);
    std::int64_t param_bytes = 0;
    for (const auto& p : model->parameters()) param_bytes += p.numel() * 4;
    DecoderUnits units = decoder_units(*model);
    ShardedModel sharded(pg, units.units, options_for(mode, flags));
    RunResult got;
    train_steps(pg, model, sharded, units, flags, 1, flags.steps, got);
    // What this rank holds between steps: ZeRO-3 only its slices (plus padding), ZeRO-1/2/3
    // a slice of the optimizer state.
    ShardMemory memory = sharded.memory();
    std::int64_t slack = static_cast<std::int64_t>(sharded.num_groups()) * pg.world_size() * 4;
    if (mode == ShardMode::Params) {
      expect(memory.params <= param_bytes / pg.world_size() + slack, "params mode holds {} of {} parameter bytes",
             memory.params, param_bytes);
    }
    if (mode != ShardMode::None) {
      expect(memory.optimizer <= 3 * (param_bytes / pg.world_size() + slack), "{} mode holds {} optimizer bytes",
             shard_mode_name(mode), memory.optimizer);
    }
    expect(memory.offloaded == (flags.offload ? memory.optimizer + (mode >= ShardMode::Grads ? memory.grads : 0) : 0),
           "{} mode reports {} offloaded bytes", shard_mode_name(mode), memory.offloaded);
    got.params = full_state(sharded, StateKind::Param);
    compare(fmt::format("rank {}/{} {}", pg.rank(), pg.world_size(), shard_mode_name(mode)), got, want);
  }
}

void scenario_collectives(ProcessGroup& pg) {
  const int r = pg.rank(), w = pg.world_size();
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  Tensor t = torch::full({5}, r + 1.0, f32);
  pg.all_reduce_sum(t, "test floats");
  expect(torch::equal(t, torch::full({5}, w * (w + 1) / 2.0, f32)), "all_reduce fp32: {}", t.sum().item<double>());
  Tensor b = torch::full({3}, 1.0, f32.dtype(torch::kBFloat16));
  pg.all_reduce_sum(b, "test bf16");
  expect(b.to(torch::kFloat32).eq(w).all().item<bool>(), "all_reduce bf16");
  Tensor i = torch::full({2}, static_cast<std::int64_t>(r), torch::kInt64);
  pg.all_reduce_sum(i, "test ints");
  expect(i[0].item<std::int64_t>() == w * (w - 1) / 2, "all_reduce int64");
  expect(pg.all_reduce_sum(0.5 * r, "test double") == 0.25 * w * (w - 1), "all_reduce double");
  expect(pg.any_rank(r == w - 1, "test flag") && !pg.any_rank(false, "test flag"), "any_rank");

  Tensor in = torch::arange(3, f32) + 10.0 * r;
  Tensor out = torch::empty({3 * w}, f32);
  pg.all_gather_flat(out, in, "test gather");
  for (int k = 0; k < 3 * w; ++k) expect(out[k].item<float>() == 10.0f * (k / 3) + k % 3, "all_gather at {}", k);

  Tensor big = torch::arange(2 * w, f32) + r;  // rank r: r, r + 1, ...
  Tensor mine = torch::empty({2}, f32);
  pg.reduce_scatter_flat(mine, big, "test scatter");
  for (int k = 0; k < 2; ++k) {
    expect(mine[k].item<float>() == static_cast<float>(w * (2 * r + k) + w * (w - 1) / 2), "reduce_scatter at {}", k);
  }
  Tensor root = torch::full({4}, r == w - 1 ? 42.0 : 0.0, f32);
  pg.broadcast(root, w - 1, "test broadcast");
  expect(root.eq(42).all().item<bool>(), "broadcast");
  pg.barrier("test barrier");

  // A sharded flat group of 7 elements: padded to a multiple of the world size, each rank keeps
  // one slice, gathering restores every parameter without touching its autograd version.
  Tensor a = torch::arange(4, f32).view({2, 2}).requires_grad_(true);
  Tensor c = (torch::arange(3, f32) + 100).requires_grad_(true);
  FlatParams flat({"a", "c"}, {a, c}, w, r, /*sharded=*/true);
  expect(flat.layout().shard_numel == (7 + w - 1) / w && flat.layout().padded_numel() % w == 0, "flat layout");
  expect(!flat.gathered() && flat.resident_bytes() == flat.layout().shard_numel * 4, "released flat group holds {} B",
         flat.resident_bytes());
  auto version = a._version();
  for (int round = 0; round < 2; ++round) {
    flat.gather(pg, "test flat").wait();
    expect(torch::equal(a, torch::arange(4, f32).view({2, 2})) && torch::equal(c, torch::arange(3, f32) + 100),
           "gathered flat group, round {}", round);
    flat.release();
  }
  expect(a._version() == version, "gathering bumped the parameter's version");

  auto share = rank_share(7, r, w);
  expect(!share.empty() && share[0] == r && (share.size() < 2 || share[1] == r + w), "rank_share");
}

void save_checkpoint(ShardedModel& sharded, ProcessGroup& pg, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const std::pair<StateKind, const char*> kinds[] = {{StateKind::Param, "param."},
                                                      {StateKind::Master, "master."},
                                                      {StateKind::ExpAvg, "exp_avg."},
                                                      {StateKind::ExpAvgSq, "exp_avg_sq."}};
  for (const auto& [kind, prefix] : kinds) {
    sharded.for_each_full(kind, [&](const std::string& name, const Tensor& t) {
      tensors.emplace_back(prefix + name, t.contiguous());
    });
  }
  if (!pg.is_main()) return;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    out.push_back({name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  write_safetensors(path, out, {{"format", "pt"}, {"steps", std::to_string(sharded.steps_done())}});
}

void load_checkpoint(ShardedModel& sharded, const std::string& path) {
  auto file = SafetensorsFile::open(path);
  const std::pair<StateKind, const char*> kinds[] = {{StateKind::Param, "param."},
                                                      {StateKind::Master, "master."},
                                                      {StateKind::ExpAvg, "exp_avg."},
                                                      {StateKind::ExpAvgSq, "exp_avg_sq."}};
  for (const auto& [kind, prefix] : kinds) {
    sharded.load_full(kind, [&](const std::string& name) {
      const TensorInfo* info = file->find(std::string(prefix) + name);
      return info ? tensor_view(*file, *info, file) : Tensor();
    });
  }
  sharded.set_steps_done(std::stoll(file->header().metadata.at("steps")));
}

void scenario_resume(ProcessGroup& pg, const Flags& flags, ShardMode mode, const std::string& in, int steps,
                     const std::string& out) {
  CausalLM model = make_model(flags);
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(pg, units.units, options_for(mode, flags));
  if (in != "-") load_checkpoint(sharded, in);
  const int first = static_cast<int>(sharded.steps_done()) + 1, last = first + steps - 1;
  RunResult got;
  train_steps(pg, model, sharded, units, flags, first, last, got);
  save_checkpoint(sharded, pg, out);
  if (flags.verify) {
    got.params = full_state(sharded, StateKind::Param);
    compare(fmt::format("resumed at step {} on {} rank(s), {}", first, pg.world_size(), shard_mode_name(mode)), got,
            reference_run(flags, last), static_cast<std::size_t>(first - 1));
  }
}

void scenario_failure(ProcessGroup& pg, bool die, int victim) {
  pg.barrier("start");
  if (pg.rank() == victim) {
    if (die) std::_Exit(7);
    sleep(120);  // the test kills it
    std::_Exit(0);
  }
  for (int i = 0; i < 1000; ++i) pg.all_reduce_sum(1.0, "token count");
  throw Mismatch("collectives went on without the victim");
}

Flags parse_flags(std::vector<std::string>& args) {
  Flags flags;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) fail_input("{} needs a value", a);
      return args[++i];
    };
    if (a == "--modes") {
      flags.modes.clear();
      std::string list = value();
      for (std::size_t pos = 0; pos <= list.size();) {
        std::size_t comma = std::min(list.find(',', pos), list.size());
        flags.modes.push_back(parse_shard_mode(list.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (a == "--tied") {
      flags.tied = true;
    } else if (a == "--freeze") {
      flags.freeze = true;
    } else if (a == "--checkpoint") {
      flags.checkpoint = true;
    } else if (a == "--bf16") {
      flags.bf16 = true;
    } else if (a == "--offload") {
      flags.offload = true;
    } else if (a == "--verify") {
      flags.verify = true;
    } else if (a == "--bucket") {
      flags.bucket = std::stoll(value());
    } else if (a == "--overlap") {
      flags.overlap = value() == "1";
    } else if (a == "--steps") {
      flags.steps = std::stoi(value());
    } else {
      rest.push_back(a);
    }
  }
  args = rest;
  return flags;
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) fail_input("usage: train_dist_worker SCENARIO [ARGS]");
  std::string scenario = args[0];
  args.erase(args.begin());
  Flags flags = parse_flags(args);
  const char* timeout = std::getenv("COTRAIN_TEST_TIMEOUT_S");
  ProcessGroup pg = ProcessGroup::join(launch_info_from_env(), torch::kCPU, timeout ? std::atof(timeout) : 60.0);
  if (scenario == "collectives") {
    scenario_collectives(pg);
  } else if (scenario == "train") {
    scenario_train(pg, flags);
  } else if (scenario == "resume" && args.size() == 4) {
    scenario_resume(pg, flags, parse_shard_mode(args[0]), args[1], std::stoi(args[2]), args[3]);
  } else if ((scenario == "die" || scenario == "hang") && args.size() == 1) {
    scenario_failure(pg, scenario == "die", std::stoi(args[0]));
  } else {
    fail_input("unknown scenario or arguments: {}", scenario);
  }
  std::printf("rank %d/%d: ok %s\n", pg.rank(), pg.world_size(), scenario.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  try {
    return run(argc, argv);
  } catch (const Mismatch& e) {
    std::fprintf(stderr, "mismatch: %s\n", e.what());
    return 3;
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
