// The training recipe, top to bottom: run directory and resume point -> model -> data ->
// optimizer and schedule -> restored checkpoint -> step loop (checkpoints) -> validation -> export.
// Numerics are those of a plain PyTorch loop (and peft for LoRA) as LLaMA-Factory and TRL run it:
//   loss of a step  = sum of target-token NLL over all its micro-batches / target tokens of the step
//   gradients       = of that loss, accumulated in fp32 over the micro-batches
//   grad_norm       = global L2 norm before clipping; clipped to max_grad_norm (clip_grad_norm_)
//   update          = torch.optim.AdamW at lr = schedule(step) (transformers' *_with_warmup)
// Seams for data parallelism are marked DIST: where the step's target-token count and the
// gradients become global, the optimizer step, and the outputs only rank 0 writes.
// A resumed run continues bit for bit: the checkpoint holds every tensor and generator a step
// reads, and everything else is a pure function of the config and the run state.
#include "cotrain/train/recipe.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
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
#include "cotrain/train/optimizer.h"
#include "cotrain/train/run_files.h"
#include "cotrain/train/schedule.h"

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

// Mean target-token NLL of SET under the model, without building gradients.
double validation_loss(CausalLM& model, const DocumentSet& set, std::int64_t max_tokens) {
  torch::NoGradGuard no_grad;
  model->eval();
  double nll = 0;
  std::int64_t targets = 0;
  for (const PackedRow& row : evaluation_rows(set, max_tokens)) {
    nll += summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::skip).item<double>();
    targets += row.target_tokens;
  }
  model->train();
  return nll / static_cast<double>(targets);
}

// The parameters this run trains: all of them for full fine-tuning; for LoRA a fresh adapter
// (A drawn from train.seed) or the one in lora.init, with the base frozen. An adapter loaded from
// lora.init brings its own settings, which replace the config's in RESOLVED.
std::vector<std::pair<std::string, torch::Tensor>> trainable_parameters(CausalLM& model, const TrainConfig& config, Json& resolved) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (config.mode == TrainMode::sft) {
    for (auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value());
    return out;
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
  for (auto& item : lora_parameters(model)) out.emplace_back(item.key(), item.value());
  return out;
}

// The checkpoint to continue from: the newest one of OUT that reads back, trained with the math of
// CONFIG (or any, with --resume-force). None: the run starts over, and whatever an earlier attempt
// left is removed.
std::optional<TrainingCheckpoint> resume_point(const fs::path& out, const TrainConfig& config, const ResumeOptions& options) {
  std::optional<TrainingCheckpoint> checkpoint = read_latest_checkpoint(out / "checkpoints");
  if (!checkpoint) {
    if (options.required || options.force) fail_input("--resume: {}: no usable checkpoint to resume from", (out / "checkpoints").string());
    for (const char* leftover : {"metrics.jsonl", "checkpoints"}) {
      if (!fs::exists(out / leftover)) continue;
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

  // --- Run directory: the checkpoint to resume from, the resolved config, then run.json saying
  // the run has started.
  const fs::path out = config.output_dir;
  if (fs::exists(out / "final")) {
    fail_input("output.dir: {} already holds a finished run ({}); choose another --out", out.string(), (out / "final").string());
  }
  std::optional<TrainingCheckpoint> resume = resume_point(out, config, resume_options);
  fs::create_directories(out);
  Json resolved = config.resolved;
  write_config(out, resolved);
  RunInfo info;
  info.command = train_mode_name(config.mode);
  info.started_at = utc_timestamp();
  info.dtype = config.model.dtype;
  const torch::Device device = parse_device(config.model.device);
  info.device = device.str();
  write_run_json(out, info);

  TrainResult result;
  try {
    torch::manual_seed(config.train.seed);

    // --- Model: the base weights in the run's dtype, then the parameters that train.
    const auto dtype = config.model.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    CausalLM model = load_model(config.model.path, dtype, device);
    model->train();
    model->activation_checkpointing = config.train.activation_checkpointing;
    auto trainable = trainable_parameters(model, config, resolved);
    if (resolved != config.resolved) write_config(out, resolved);  // the adapter's settings

    // --- Data: the token cache, the held-out documents, the steps.
    TrainingData data = load_training_data(config, model->config.vocab_size, out);
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
                 config.train.global_batch, steps_per_epoch, [&] {
                   std::int64_t n = 0;
                   for (auto& [name, p] : trainable) n += p.numel();
                   return n;
                 }());

    // --- Optimizer and schedule.
    AdamW optimizer(trainable, {config.train.beta1, config.train.beta2, config.train.adam_eps, config.train.weight_decay});
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
      copy_named_tensors(trainable, resume->weights, (dir / "model.safetensors").string());
      optimizer.load_state(resume->optimizer, saved.step, (dir / "optimizer.safetensors").string());
      restore_rng_states(model, resume->rng, (dir / "rng.safetensors").string());
      state = {saved.step, saved.epoch, saved.position};
      earlier_s = saved.elapsed_s;
      resume.reset();  // unmaps its files
      for (const auto& line : rewind_metrics(out / "metrics.jsonl", state.step)) {
        if (line.contains("val_loss") && line["step"] == state.step) validated_step = state.step;
      }
      result.resumed_from = info.steps_done = result.steps_done = state.step;
    }

    MetricsLog metrics(out / "metrics.jsonl");  // DIST: rank 0 writes the run's files
    auto validate = [&](const RunState& state) {
      if (data.validation.docs.empty()) return;
      validated_step = state.step;
      result.val_loss = validation_loss(model, data.validation, eval_tokens);
      metrics.write({{"step", state.step},
                     {"epoch", static_cast<double>(state.epoch) + static_cast<double>(state.position) / static_cast<double>(documents)},
                     {"val_loss", result.val_loss},
                     {"val_target_tokens", data.validation.target_tokens()},
                     {"elapsed_s", elapsed()}});
      spdlog::info("step {}/{}: validation loss {:.4f}", state.step, total_steps, result.val_loss);
    };

    auto validation_due = [&](std::int64_t step) {
      return config.train.eval_every > 0 && step > 0 && step % config.train.eval_every == 0 && step < total_steps && validated_step != step;
    };
    // DIST: the sharded state is gathered into these full tensors, rank 0 saves them.
    auto save = [&](const RunState& state) {
      TrainingCheckpoint c;
      c.info = {state.step, state.epoch, state.position, elapsed(), run_hash, data_hash, config.resolved};
      for (const auto& [name, p] : trainable) c.weights[name] = p;
      for (const auto& [name, t] : optimizer.state()) c.optimizer[name] = t;
      c.rng = rng_states(model);
      save_checkpoint(out / "checkpoints" / fmt::format("step-{}", state.step), c);
      prune_checkpoints(out / "checkpoints", config.train.keep_checkpoints);
      info.elapsed_s = elapsed();
      write_run_json(out, info);
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
      const auto plan_index = (static_cast<std::uint64_t>(state.epoch) << 32) | static_cast<std::uint64_t>(state.position);
      std::vector<PackedRow> rows = step_rows(data.train, step_docs, batch, plan_index);

      // The loss is normalised by the target tokens of the whole step, not per micro-batch.
      std::int64_t target_tokens = 0, tokens = 0;
      for (const auto& row : rows) {
        target_tokens += row.target_tokens;
        tokens += row.cu_seqlens.back();
      }
      // DIST: all-reduce target_tokens here.
      double nll_sum = 0;
      for (const PackedRow& row : rows) {
        torch::Tensor nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build);
        (nll / static_cast<double>(target_tokens)).backward();
        nll_sum += nll.item<double>();
        optimizer.accumulate_gradients();
      }
      const double loss = nll_sum / static_cast<double>(target_tokens);
      if (!std::isfinite(loss)) {
        fail_runtime("step {}: the loss is {} (not finite); stopped before its update (lower train.lr, or check the data)", state.step + 1,
                     loss);
      }
      // DIST: all-reduce the gradients here; from here on they are final.
      const double grad_norm = optimizer.clip_grad_norm(config.train.max_grad_norm);
      if (!std::isfinite(grad_norm)) {
        fail_runtime("step {}: the gradient norm is {} (not finite); stopped before its update", state.step + 1, grad_norm);
      }
      const double lr = schedule.lr_at(state.step);
      optimizer.step(lr);  // DIST: sharded over ranks
      ++state.step;
      state.position += count;
      result.steps_done = info.steps_done = state.step;
      result.last_loss = loss;

      const double step_s = std::chrono::duration<double>(Clock::now() - step_start).count();
      const double epoch = static_cast<double>(state.epoch) + static_cast<double>(state.position) / static_cast<double>(documents);
      metrics.write({{"step", state.step},
                     {"epoch", epoch},
                     {"loss", loss},
                     {"lr", lr},
                     {"grad_norm", grad_norm},
                     {"tokens", tokens},
                     {"target_tokens", target_tokens},
                     {"tokens_per_s", static_cast<double>(tokens) / step_s},
                     {"elapsed_s", elapsed()},
                     {"peak_rss_mib", peak_rss_mib()}});
      if (state.step % config.train.log_every == 0 || state.step == total_steps) {
        const double per_step =
            std::chrono::duration<double>(Clock::now() - loop_start).count() / static_cast<double>(state.step - first_step);
        spdlog::info("step {}/{} epoch {:.2f}: loss {:.4f}, lr {:.3g}, grad_norm {:.3f}, {:.0f} tokens/s, ETA {}", state.step,
                     total_steps, epoch, loss, lr, grad_norm, static_cast<double>(tokens) / step_s,
                     duration_text(per_step * static_cast<double>(total_steps - state.step)));
      }
      // A stop (SIGTERM from a scheduler, Ctrl-C) skips the validation and saves a checkpoint.
      bool stopping = stop_requested();
      if (!stopping && validation_due(state.step)) {
        validate(state);
        stopping = stop_requested();
      }
      if (stopping || state.step == total_steps || (config.train.save_every > 0 && state.step % config.train.save_every == 0)) save(state);
      if (stopping) break;
    }

    // --- The end: a stopped run says so; a finished one validates and exports.
    info.elapsed_s = elapsed();
    if (state.step < total_steps) {
      info.status = result.status = "stopped";
      info.finished_at = utc_timestamp();
      result.stop_signal = stop_signal();
      write_run_json(out, info);
      return result;
    }
    if (validated_step != state.step) validate(state);
    result.final_dir = out / "final";
    if (config.mode == TrainMode::lora) {
      save_peft_adapter(model, result.final_dir, config.model.path);
    } else {
      write_model_dir(model, result.final_dir, {.copy_from = config.model.path});
    }
    info.status = result.status = "completed";
    info.elapsed_s = elapsed();
    info.finished_at = utc_timestamp();
    write_run_json(out, info);
    return result;
  } catch (const c10::Error& e) {
    info.status = "failed";
    const std::string what = e.what_without_backtrace();
    info.error = what.substr(0, what.find('\n'));
    info.finished_at = utc_timestamp();
    info.elapsed_s = elapsed();
    write_run_json(out, info);
    throw RuntimeFailure(info.error);
  } catch (const std::exception& e) {
    info.status = "failed";
    info.error = e.what();
    info.finished_at = utc_timestamp();
    info.elapsed_s = elapsed();
    write_run_json(out, info);
    throw;
  }
}

}  // namespace cotrain
