// cotrain sft / cotrain lora: a training run from a JSON config (configs/*.json) with overrides.
//   cotrain sft  --config FILE [--model DIR] [--data PATH] [--out DIR] [--set key=value ...]
//   cotrain lora --config FILE [--rank N] [...]
// Both continue an unfinished run in --out from its newest checkpoint (--resume insists on one).
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include "commands.h"
#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/train/recipe.h"

namespace cotrain::cli {
namespace {

struct TrainOptions {
  std::string config, model, data, out;
  std::int64_t rank = 0;
  std::vector<std::string> sets;
  ResumeOptions resume;
};

void run(TrainMode mode, const TrainOptions& o) {
  std::vector<ConfigOverride> overrides;
  auto shorthand = [&](const std::string& value, const char* key, const char* flag) {
    if (!value.empty()) overrides.push_back({key, value, flag});
  };
  shorthand(o.model, "model.path", "--model");
  shorthand(o.data, "data.path", "--data");
  shorthand(o.out, "output.dir", "--out");
  if (o.rank > 0) overrides.push_back({"lora.rank", o.rank, "--rank"});
  for (const auto& s : o.sets) overrides.push_back(parse_config_override(s));
  TrainConfig config = load_train_config(mode, o.config, overrides);

  TrainResult result = run_training(config, o.resume);
  if (result.status == "stopped") {
    const auto checkpoint = std::filesystem::path(config.output_dir) / "checkpoints" / fmt::format("step-{}", result.steps_done);
    throw Interrupted(result.stop_signal, fmt::format("interrupted by {} after step {}/{}; saved {} (the same command resumes)",
                                                      result.stop_signal == SIGTERM ? "SIGTERM" : "SIGINT", result.steps_done,
                                                      result.total_steps, checkpoint.string()));
  }
  if (!result.writes_outputs) return;  // another rank of the job reports
  if (result.resumed_from > 0) std::cout << fmt::format("resumed from step {}; ", result.resumed_from);
  std::cout << fmt::format("trained {} steps: loss {:.4f}", result.steps_done, result.last_loss);
  if (result.val_loss >= 0) std::cout << fmt::format(", validation loss {:.4f}", result.val_loss);
  std::cout << fmt::format("\nfinal model: {}\n", result.final_dir.string());
}

void add(CLI::App& app, TrainMode mode) {
  auto o = std::make_shared<TrainOptions>();
  const bool lora = mode == TrainMode::lora;
  auto* cmd = app.add_subcommand(train_mode_name(mode), lora ? "LoRA fine-tuning (peft adapter in OUT/final)"
                                                             : "Full fine-tuning (Hugging Face model in OUT/final)");
  cmd->add_option("--config", o->config, "JSON config (configs/*.json); keys in docs/training.md");
  cmd->add_option("--model", o->model, "model directory (model.path)");
  cmd->add_option("--data", o->data, "token cache directory or JSONL traces (data.path)");
  cmd->add_option("--out", o->out, "run directory (output.dir)");
  if (lora) cmd->add_option("--rank", o->rank, "LoRA rank (lora.rank)")->check(CLI::PositiveNumber);
  cmd->add_option("--set", o->sets, "override a key: --set train.lr=1e-5 (value as JSON, else a string); repeatable");
  cmd->add_flag("--resume", o->resume.required, "continue from the newest valid checkpoint in --out (error when there is none)");
  cmd->add_flag("--resume-force", o->resume.force, "resume even when settings that change the math differ from the checkpoint's");
  cmd->callback([mode, o] { run(mode, *o); });
}

}  // namespace

void add_train_commands(CLI::App& app) {
  add(app, TrainMode::sft);
  add(app, TrainMode::lora);
}

}  // namespace cotrain::cli
