// The training recipe, top to bottom: processes -> run directory and resume point -> model ->
// data -> schedule -> restored checkpoint -> step loop (checkpoints) -> validation -> export.
// Numerics are those of a plain PyTorch loop (and peft for
// LoRA) as LLaMA-Factory and TRL run it:
//   loss of a step  = sum of target-token NLL over all its micro-batches / target tokens of the step
//   gradients       = of that loss, accumulated in fp32 over the micro-batches
//   grad_norm       = global L2 norm before clipping; clipped to max_grad_norm (clip_grad_norm_)
//   update          = torch.optim.AdamW at lr = schedule(step) (transformers' *_with_warmup)
// Data parallel (torchrun, srun or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT; docs/distributed.md):
// each rank trains a strided share of every step's documents, the target-token count and the
// gradients are summed over the ranks, so N ranks take the same step as one with the whole global
// batch; dist.shard splits the optimizer state, gradients and parameters ZeRO-1/2/3-style. Rank 0
// alone writes the run directory. A process started without launcher variables is a job of one.
// A resumed run continues bit for bit: the checkpoint holds every tensor and generator a step
// reads (full and unsharded, so any number of ranks resumes it), and everything else is a pure
// function of the config and the run state.
#include "cotrain/train/recipe.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/loss.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/model/peft_adapter.h"
#include "cotrain/model/weights.h"
#include "cotrain/train/batches.h"
#include "cotrain/train/checkpoint.h"
#include "cotrain/train/data_parallel.h"
#include "cotrain/train/run_files.h"
#include "cotrain/train/schedule.h"
#include "cotrain/train/sharding.h"
#include "cotrain/train/unit_forward.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

// Everything that changes as the run goes besides tensors and generators: the data order is a pure
// function of (seed, epoch), packing of (seed, epoch, position).
struct RunState {
  std::int64_t step = 0;      // optimizer steps done (the next step's schedule index)
  std::int64_t epoch = 0;     // the epoch being trained
  std::int64_t position = 0;  // documents of this epoch's order already trained on
};

std::string duration_text(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

// Mean target-token NLL of SET under the model, without building gradients; the ranks share the
// rows (and run as many forward passes each, which ZeRO-3's gathers need).
double validation_loss(ProcessGroup& pg, CausalLM& model, ShardedModel& sharded, const DecoderUnits& units, const DocumentSet& set,
                       std::int64_t max_tokens) {
  torch::NoGradGuard no_grad;
  model->eval();
  const std::vector<PackedRow> rows = evaluation_rows(set, max_tokens);
  const std::vector<std::int64_t> mine = rank_share(static_cast<std::int64_t>(rows.size()), pg.rank(), pg.world_size());
  const std::int64_t passes = micro_batches(pg, static_cast<std::int64_t>(mine.size()));
  double nll = 0;
  for (std::int64_t m = 0; m < passes; ++m) {
    const bool filler = m >= static_cast<std::int64_t>(mine.size());
    const PackedRow& row = filler ? filler_row() : rows[static_cast<std::size_t>(mine[static_cast<std::size_t>(m)])];
    const double row_nll = unit_summed_nll(model, sharded, units, row, LossGradients::skip).item<double>();
    if (!filler) nll += row_nll;
  }
  model->train();
  return pg.all_reduce_sum(nll, "validation loss") / static_cast<double>(set.target_tokens());
}

// Makes the parameters this run trains the ones that require a gradient, and counts them: all of
// them for full fine-tuning; for LoRA a fresh adapter (A drawn from train.seed) or the one in
// lora.init, with the base frozen. An adapter loaded from lora.init brings its own settings, which
// replace the config's in RESOLVED.
std::int64_t trainable_parameters(CausalLM& model, const TrainConfig& config, Json& resolved) {
  std::int64_t count = 0;
  if (config.mode == TrainMode::sft) {
    for (auto& p : model->parameters()) count += p.numel();
    return count;
  }
  if (config.lora.init.empty()) {
    add_lora(model, LoraSettings{config.lora.rank, config.lora.alpha, config.lora.dropout, config.lora.rslora, config.lora.targets},
             config.train.seed);
  } else {
    LoraSettings s = load_peft_adapter(model, config.lora.init);
    model->lora_dropout_generator.set_current_seed(config.train.seed + 1);
    Json& l = resolved["lora"];
    l["rank"] = s.rank;
    l["alpha"] = s.alpha;
    l["dropout"] = s.dropout;
    l["rslora"] = s.rslora;
    l["targets"] = s.targets;
  }
  for (auto& item : lora_parameters(model)) count += item.value().numel();
  return count;
}

ShardOptions shard_options(const TrainConfig& config) {
  ShardOptions o;
  o.mode = parse_shard_mode(config.dist.shard);
  o.offload = config.dist.offload;
  o.adamw = {config.train.beta1, config.train.beta2, config.train.adam_eps, config.train.weight_decay};
  return o;
}

// The checkpoint to continue from: the newest one of OUT that reads back, trained with the math of
// CONFIG (or any, with --resume-force). None: the run starts over, and whatever an earlier attempt
// left is removed (by rank 0, which alone writes OUT). Every rank reads it; they must agree.
std::optional<TrainingCheckpoint> resume_point(ProcessGroup& pg, const fs::path& out, const TrainConfig& config,
                                               const ResumeOptions& options) {
  std::optional<TrainingCheckpoint> checkpoint = read_latest_checkpoint(out / "checkpoints");
  const double step = checkpoint ? static_cast<double>(checkpoint->info.step) : -1;
  if (pg.all_reduce_sum(step, "checkpoint step") != step * pg.world_size()) {
    fail_input("--resume: {}: the ranks see different checkpoints (OUT must be on a file system every rank shares)",
               (out / "checkpoints").string());
  }
  if (!checkpoint) {
    if (options.required || options.force) fail_input("--resume: {}: no usable checkpoint to resume from", (out / "checkpoints").string());
    for (const char* leftover : {"metrics.jsonl", "checkpoints"}) {
      if (!pg.is_main() || !fs::exists(out / leftover)) continue;
      spdlog::warn("output.dir: {} holds an unfinished run without a usable checkpoint; starting it over (removing {})", out.string(), leftover);
      fs::remove_all(out / leftover);
    }
    return checkpoint;
  }
  const std::string where = (out / "checkpoints" / fmt::format("step-{}", checkpoint->info.step)).string();
  if (checkpoint->info.config_hash != config_hash(config.resolved)) {
    std::string keys = fmt::format("{}", fmt::join(math_config_differences(checkpoint->info.config, config.resolved), ", "));
    if (keys.empty()) keys = "its config hash";
    if (!options.force) {
      fail_input("{}: trained with other settings ({}); resume with --resume-force, or choose another --out", where, keys);
    }
    spdlog::warn("{}: trained with other settings ({}); resuming anyway (--resume-force)", where, keys);
  }
  spdlog::info("resuming from {} (epoch {}, {} documents into it)", where, checkpoint->info.epoch, checkpoint->info.position);
  return checkpoint;
}

// Weights kept in fp32 are their own masters, which a checkpoint then does not store twice.
bool saves_masters(const ShardedModel& sharded) {
  const auto weights = sharded.full_specs(StateKind::Param, /*trainable_only=*/true);
  return !std::all_of(weights.begin(), weights.end(), [](const TensorSpec& w) { return w.dtype == torch::kFloat32; });
}

// The trainable state of SHARDED as a checkpoint's tensor files, each gathered group by group as
// it is written: the weights by parameter name; the optimizer's "master.NAME" (only for weights not
// stored in fp32, whose masters they are), "exp_avg.NAME" and "exp_avg_sq.NAME". Every rank runs
// the fills (they gather); the writing rank hands the tensors to the file, the others drop them.
struct TrainableState {
  TensorStream weights, optimizer;
};

TrainableState trainable_state(ShardedModel& sharded) {
  TrainableState s;
  s.weights = {sharded.full_specs(StateKind::Param, /*trainable_only=*/true),
               [&sharded](const TensorSink& sink) { sharded.for_each_full(StateKind::Param, sink, /*trainable_only=*/true); }};
  std::vector<std::pair<StateKind, std::string>> kinds = {{StateKind::ExpAvg, "exp_avg."}, {StateKind::ExpAvgSq, "exp_avg_sq."}};
  if (saves_masters(sharded)) kinds.insert(kinds.begin(), {StateKind::Master, "master."});
  for (const auto& [kind, prefix] : kinds) {
    for (auto spec : sharded.full_specs(kind)) {
      spec.name = prefix + spec.name;
      s.optimizer.specs.push_back(std::move(spec));
    }
  }
  s.optimizer.fill = [&sharded, kinds](const TensorSink& sink) {
    for (const auto& [kind, prefix] : kinds) {
      sharded.for_each_full(kind, [&](const std::string& name, const torch::Tensor& t) { sink(prefix + name, t); });
    }
  };
  return s;
}

// Puts back what trainable_state saved in checkpoint DIR, after STEPS optimizer steps;
// this rank keeps its share. A tensor missing, extra, or of another shape or dtype is an
// InputError naming the file and the tensor.
void load_trainable_state(ShardedModel& sharded, const TrainingCheckpoint& c, const fs::path& dir, std::int64_t steps) {
  auto from = [&](const NamedTensors& tensors, const std::string& file, const std::string& prefix, std::size_t& used) {
    return [&tensors, &used, file = (dir / file).string(), prefix](const std::string& name) {
      auto it = tensors.find(prefix + name);
      if (it == tensors.end()) fail_input("{}: tensor {} is missing", file, prefix + name);
      ++used;
      return it->second;
    };
  };
  auto load = [&](StateKind kind, const NamedTensors& tensors, const std::string& file, const std::string& prefix, std::size_t& used) {
    try {
      sharded.load_full(kind, from(tensors, file, prefix, used), /*trainable_only=*/true);
    } catch (const InputError& e) {
      if (std::string_view(e.what()).starts_with((dir / file).string())) throw;
      fail_input("{}: {}", (dir / file).string(), e.what());
    }
  };
  std::size_t weights = 0, state = 0;
  load(StateKind::Param, c.weights, "model.safetensors", "", weights);  // also sets the masters from them
  if (saves_masters(sharded)) load(StateKind::Master, c.optimizer, "optimizer.safetensors", "master.", state);
  load(StateKind::ExpAvg, c.optimizer, "optimizer.safetensors", "exp_avg.", state);
  load(StateKind::ExpAvgSq, c.optimizer, "optimizer.safetensors", "exp_avg_sq.", state);
  if (weights != c.weights.size()) fail_input("{}: holds tensors this run does not train", (dir / "model.safetensors").string());
  if (state != c.optimizer.size()) fail_input("{}: holds tensors this run does not train", (dir / "optimizer.safetensors").string());
  sharded.set_steps_done(steps);
}

void record_failure(bool writes, const fs::path& out, RunInfo& info, double elapsed_s) {
  info.status = "failed";
  info.finished_at = utc_timestamp();
  info.elapsed_s = elapsed_s;
  if (writes) write_run_json(out, info);
}

void write_config(const fs::path& out, const Json& resolved) {
  AtomicFile file(out / "config.json");
  file.stream() << resolved.dump(2) << "\n";
  file.commit();
}

}  // namespace

TrainResult run_training(const TrainConfig& config, const ResumeOptions& resume_options) {
  const auto started = Clock::now();
  double earlier_s = 0;  // a resumed run's time before this process
  auto elapsed = [&] { return earlier_s + std::chrono::duration<double>(Clock::now() - started).count(); };

  // --- Processes: a job of one, or this rank of a torchrun/SLURM job. Rank 0 writes OUT.
  ProcessGroup pg = join_training_job(config);
  const bool writes = pg.is_main();
  const torch::Device device = pg.device();

  // --- Run directory: the checkpoint to resume from, the resolved config, then run.json saying
  // the run has started.
  const fs::path out = config.output_dir;
  if (fs::exists(out / "final")) {
    fail_input("output.dir: {} already holds a finished run ({}); choose another --out", out.string(), (out / "final").string());
  }
  std::optional<TrainingCheckpoint> resume = resume_point(pg, out, config, resume_options);
  Json resolved = config.resolved;
  RunInfo info;
  info.command = train_mode_name(config.mode);
  info.started_at = utc_timestamp();
  info.dtype = config.model.dtype;
  info.device = device.str();
  info.world_size = pg.world_size();
  if (writes) {
    fs::create_directories(out);
    write_config(out, resolved);
    write_run_json(out, info);
  }

  TrainResult result;
  result.writes_outputs = writes;
  try {
    torch::manual_seed(config.train.seed);

    // --- Model: the base weights in the run's dtype, then the parameters that train, laid out in
    // flat groups (sharded over the ranks as dist.shard says).
    const auto dtype = config.model.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    CausalLM model = load_model(config.model.path, dtype, device);
    model->train();
    model->activation_checkpointing = config.train.activation_checkpointing;
    const std::int64_t trainable = trainable_parameters(model, config, resolved);
    if (writes && resolved != config.resolved) write_config(out, resolved);  // the adapter's settings
    DecoderUnits units = decoder_units(*model);
    ShardedModel sharded(pg, units.units, shard_options(config));

    // --- Data: the token cache (rank 0 makes it when data.path is JSONL), the held-out
    // documents, the steps.
    if (!writes) pg.barrier("token cache");
    TrainingData data = load_training_data(config, model->config.vocab_size, out);
    if (writes) pg.barrier("token cache");
    const auto documents = static_cast<std::int64_t>(data.train.docs.size());
    const std::int64_t steps_per_epoch = (documents + config.train.global_batch - 1) / config.train.global_batch;
    const std::int64_t total_steps = config.train.max_steps > 0
                                         ? config.train.max_steps
                                         : static_cast<std::int64_t>(std::ceil(config.train.epochs * static_cast<double>(steps_per_epoch)));
    std::int64_t longest = 0;
    for (auto d : data.train.docs) longest = std::max(longest, data.train.cache->length(d));
    BatchSettings batch{config.train.micro_batch, config.data.pack, std::max(config.data.cutoff, longest), config.train.seed};
    const std::int64_t eval_tokens = std::max<std::int64_t>(batch.capacity, 4096);
    info.total_steps = result.total_steps = total_steps;
    spdlog::info("{}: {} documents ({} tokens, {} targets), {} held out; {} steps of {} documents ({} per epoch), {} trainable parameters",
                 info.command, documents, data.train.tokens(), data.train.target_tokens(), data.validation.docs.size(), total_steps,
                 config.train.global_batch, steps_per_epoch, trainable);
    if (pg.world_size() > 1) {
      spdlog::info("{} ranks ({}), dist.shard {}{}", pg.world_size(), pg.backend(), config.dist.shard,
                   config.dist.offload ? ", optimizer state offloaded to CPU memory" : "");
    }

    const Schedule schedule =
        make_schedule(config.train.schedule, config.train.lr, total_steps, config.train.warmup_ratio, config.train.min_lr_ratio);

    // --- The checkpoint, when resuming: weights, optimizer state, generators, place in the data;
    // metrics.jsonl back to what the run had written at that step.
    const std::string run_hash = config_hash(config.resolved), data_hash = training_data_hash(data);
    RunState state;
    std::int64_t validated_step = -1;  // the step of the last validation line
    if (resume) {
      const CheckpointInfo& saved = resume->info;
      const fs::path dir = out / "checkpoints" / fmt::format("step-{}", saved.step);
      if (saved.data_hash != data_hash && !resume_options.force) {
        fail_input("{}: trained on other data (token cache hash {}, now {}); resume with --resume-force, or choose another --out",
                   dir.string(), saved.data_hash, data_hash);
      }
      load_trainable_state(sharded, *resume, dir, saved.step);
      restore_rng_states(model, rank_rng_states(pg, resume->rng), (dir / "rng.safetensors").string());
      state = {saved.step, saved.epoch, saved.position};
      earlier_s = saved.elapsed_s;
      resume.reset();  // unmaps its files
      if (writes) {
        for (const auto& line : rewind_metrics(out / "metrics.jsonl", state.step)) {
          if (line.contains("val_loss") && line["step"] == state.step) validated_step = state.step;
        }
      }
      validated_step = static_cast<std::int64_t>(pg.all_reduce_sum(writes ? static_cast<double>(validated_step) : 0, "validated step"));
      result.resumed_from = info.steps_done = result.steps_done = state.step;
    }

    std::optional<MetricsLog> metrics;
    if (writes) metrics.emplace(out / "metrics.jsonl");
    auto validate = [&](const RunState& state) {
      if (data.validation.docs.empty()) return;
      validated_step = state.step;
      result.val_loss = validation_loss(pg, model, sharded, units, data.validation, eval_tokens);
      if (metrics) {
        metrics->write({{"step", state.step},
                        {"epoch", static_cast<double>(state.epoch) + static_cast<double>(state.position) / static_cast<double>(documents)},
                        {"val_loss", result.val_loss},
                        {"val_target_tokens", data.validation.target_tokens()},
                        {"elapsed_s", elapsed()}});
      }
      spdlog::info("step {}/{}: validation loss {:.4f}", state.step, total_steps, result.val_loss);
    };

    auto validation_due = [&](std::int64_t step) {
      return config.train.eval_every > 0 && step > 0 && step % config.train.eval_every == 0 && step < total_steps && validated_step != step;
    };
    // Every rank gathers the state group by group (collectives); rank 0 writes each group as it comes.
    auto save = [&](const RunState& state) {
      const CheckpointInfo checkpoint{state.step, state.epoch, state.position, elapsed(), run_hash, data_hash, config.resolved};
      const NamedTensors rng = job_rng_states(pg, model);
      const TrainableState trainable = trainable_state(sharded);
      if (!writes) {
        const TensorSink drop = [](const std::string&, const torch::Tensor&) {};
        trainable.weights.fill(drop);
        trainable.optimizer.fill(drop);
      } else {
        save_checkpoint(out / "checkpoints" / fmt::format("step-{}", state.step), checkpoint, trainable.weights, trainable.optimizer, rng);
        prune_checkpoints(out / "checkpoints", config.train.keep_checkpoints);
        info.elapsed_s = elapsed();
        write_run_json(out, info);
      }
      pg.barrier("checkpoint");  // the others wait for rank 0's write here, not inside the next step's collectives
    };

    // --- The step loop. A run stopped at a step owes that step's validation, if any.
    if (validation_due(state.step)) validate(state);
    std::vector<std::size_t> order = epoch_order(data.train.docs.size(), config.train.seed, static_cast<std::uint64_t>(state.epoch));
    const auto loop_start = Clock::now();
    const std::int64_t first_step = state.step;
    while (state.step < total_steps) {
      if (state.position >= documents) {  // next epoch: a new order
        ++state.epoch;
        state.position = 0;
        order = epoch_order(data.train.docs.size(), config.train.seed, static_cast<std::uint64_t>(state.epoch));
      }
      const auto step_start = Clock::now();
      const std::int64_t count = std::min(config.train.global_batch, documents - state.position);
      std::span<const std::size_t> step_docs(order.data() + state.position, static_cast<std::size_t>(count));
      const std::vector<std::size_t> my_docs = rank_documents(pg, step_docs);
      const auto plan_index = (static_cast<std::uint64_t>(state.epoch) << 32) | static_cast<std::uint64_t>(state.position);
      std::vector<PackedRow> rows = step_rows(data.train, my_docs, batch, plan_index);
      for (auto& row : rows) row = row_on_device(row, model->device());

      // The loss is normalised by the target tokens of the whole step on all ranks, not per
      // micro-batch: the gradients, summed over the ranks, are then those of the step's mean NLL.
      std::int64_t my_targets = 0, my_tokens = 0;
      for (const auto& row : rows) {
        my_targets += row.target_tokens;
        my_tokens += row.cu_seqlens.back();
      }
      const double target_tokens = pg.all_reduce_sum(static_cast<double>(my_targets), "target tokens");
      const std::int64_t passes = micro_batches(pg, static_cast<std::int64_t>(rows.size()));
      // Summed on the device: reading it after each micro-batch would make the host wait for the
      // GPU there; it is read once per step, for the log and the finite check.
      torch::Tensor nll_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(model->device()));
      for (std::int64_t m = 0; m < passes; ++m) {
        const bool filler = m >= static_cast<std::int64_t>(rows.size());
        torch::Tensor nll = unit_summed_nll(model, sharded, units, filler ? filler_row() : rows[static_cast<std::size_t>(m)],
                                            LossGradients::build);
        if (filler) nll = nll * 0;
        sharded.begin_backward(/*sync=*/m + 1 == passes);  // the gradients are summed over the ranks after the last
        (nll / target_tokens).backward();
        sharded.finish_backward();
        nll_sum += nll.detach().to(torch::kFloat64);
      }
      const double loss = pg.all_reduce_sum(nll_sum.item<double>(), "loss") / target_tokens;
      const double tokens = pg.all_reduce_sum(static_cast<double>(my_tokens), "tokens");
      if (!std::isfinite(loss)) {
        fail_runtime("step {}: the loss is {} (not finite); stopped before its update (lower train.lr, or check the data)", state.step + 1,
                     loss);
      }
      const double grad_norm = sharded.grad_norm();
      if (!std::isfinite(grad_norm)) {
        fail_runtime("step {}: the gradient norm is {} (not finite); stopped before its update", state.step + 1, grad_norm);
      }
      const double max_norm = config.train.max_grad_norm;  // clip_grad_norm_'s coefficient
      const double lr = schedule.lr_at(state.step);
      sharded.step(lr, max_norm > 0 ? std::min(1.0, max_norm / (grad_norm + 1e-6)) : 1.0);
      sharded.zero_grad();
      ++state.step;
      state.position += count;
      result.steps_done = info.steps_done = state.step;
      result.last_loss = loss;

      const double step_s = std::chrono::duration<double>(Clock::now() - step_start).count();
      const double epoch = static_cast<double>(state.epoch) + static_cast<double>(state.position) / static_cast<double>(documents);
      const ShardMemory memory = sharded.memory();
      const std::vector<double> state_mib =
          per_rank(pg, static_cast<double>(memory.params + memory.grads + memory.optimizer) / (1 << 20), "memory");
      const std::vector<double> rss_mib = per_rank(pg, peak_rss_mib(), "peak RSS");
      std::optional<std::vector<double>> device_mib;
      if (const auto mib = peak_device_memory_mib(info.device)) device_mib = per_rank(pg, *mib, "peak device memory");
      if (metrics) {
        nlohmann::ordered_json line = {{"step", state.step},
                                        {"epoch", epoch},
                                        {"loss", loss},
                                        {"lr", lr},
                                        {"grad_norm", grad_norm},
                                        {"tokens", static_cast<std::int64_t>(tokens)},
                                        {"target_tokens", static_cast<std::int64_t>(target_tokens)},
                                        {"tokens_per_s", tokens / step_s},
                                        {"elapsed_s", elapsed()},
                                        {"peak_rss_mib", *std::max_element(rss_mib.begin(), rss_mib.end())},
                                        {"mem_mib", *std::max_element(state_mib.begin(), state_mib.end())},
                                        {"rank_mem_mib", state_mib}};
        if (device_mib) line["peak_device_memory_mib"] = *std::max_element(device_mib->begin(), device_mib->end());
        metrics->write(line);
      }
      if (state.step % config.train.log_every == 0 || state.step == total_steps) {
        const double per_step =
            std::chrono::duration<double>(Clock::now() - loop_start).count() / static_cast<double>(state.step - first_step);
        spdlog::info("step {}/{} epoch {:.2f}: loss {:.4f}, lr {:.3g}, grad_norm {:.3f}, {:.0f} tokens/s, ETA {}", state.step,
                     total_steps, epoch, loss, lr, grad_norm, tokens / step_s,
                     duration_text(per_step * static_cast<double>(total_steps - state.step)));
      }
      // A stop (SIGTERM from a scheduler, Ctrl-C) skips the validation and saves a checkpoint; every
      // rank stops after the same step.
      bool stopping = pg.any_rank(stop_requested(), "stop request");
      if (!stopping && validation_due(state.step)) {
        validate(state);
        stopping = pg.any_rank(stop_requested(), "stop request");
      }
      if (stopping || state.step == total_steps || (config.train.save_every > 0 && state.step % config.train.save_every == 0)) save(state);
      if (stopping) break;
    }

    // --- The end: a stopped run says so; a finished one validates and exports.
    info.elapsed_s = elapsed();
    if (state.step < total_steps) {
      info.status = result.status = "stopped";
      info.finished_at = utc_timestamp();
      result.stop_signal = stop_signal() != 0 ? stop_signal() : SIGTERM;  // a rank the signal did not reach stops with the others
      if (writes) write_run_json(out, info);
      return result;
    }
    if (validated_step != state.step) validate(state);
    gather_for_export(pg, model, sharded);
    if (writes) {
      result.final_dir = out / "final";
      if (config.mode == TrainMode::lora) {
        save_peft_adapter(model, result.final_dir, config.model.path);
      } else {
        write_model_dir(model, result.final_dir, {.copy_from = config.model.path});
      }
    }
    pg.barrier("export");  // no rank reports success before the export is written
    info.status = result.status = "completed";
    info.elapsed_s = elapsed();
    info.finished_at = utc_timestamp();
    if (writes) write_run_json(out, info);
    return result;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    info.error = what.substr(0, what.find('\n'));
    record_failure(writes, out, info, elapsed());
    throw RuntimeFailure(info.error);
  } catch (const std::exception& e) {
    info.error = e.what();
    record_failure(writes, out, info, elapsed());
    throw;
  }
}

}  // namespace cotrain
