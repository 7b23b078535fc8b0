// cotrain init-model: a randomly initialised model directory that transformers loads unchanged.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/model/presets.h"
#include "cotrain/model/weights.h"

namespace cotrain::cli {
namespace {

struct InitModelOptions {
  std::string arch = "qwen2", preset = "tiny", out, dtype = "float32", tokenizer;
  std::uint64_t seed = 0;
  double init_std = 0.02;
  bool force = false;
};

void run(const InitModelOptions& o) {
  refuse_existing_output(o.out, o.force, kModelDirKind);
  auto config = preset_config(parse_arch(o.arch), o.preset);
  CausalLM model(config, torch::TensorOptions().dtype(parse_hf_dtype(o.dtype, "--dtype")));
  init_weights(model, o.init_std, o.seed);
  write_model_dir(model, o.out, {.copy_from = o.tokenizer, .require_tokenizer = true});
  spdlog::info("wrote {} ({} {}, {:.1f}M parameters, {}, seed {})", o.out, o.arch, o.preset,
               static_cast<double>(config.num_parameters()) / 1e6, o.dtype, o.seed);
}

}  // namespace

void add_init_model_command(CLI::App& app) {
  auto o = std::make_shared<InitModelOptions>();
  auto* cmd = app.add_subcommand("init-model", "Write a randomly initialised model directory (config.json + model.safetensors)");
  cmd->add_option("--arch", o->arch, "qwen2, qwen3 or llama")->check(CLI::IsMember({"qwen2", "qwen3", "llama"}))->capture_default_str();
  cmd->add_option("--preset", o->preset, "tiny or small")->check(CLI::IsMember(preset_names()))->capture_default_str();
  cmd->add_option("--out", o->out, "output model directory")->required();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "float32, bfloat16 or float16")->check(CLI::IsMember({"float32", "bfloat16", "float16"}))->capture_default_str();
  cmd->add_option("--init-std", o->init_std, "standard deviation of the normal init, in (0, 1]")
      ->check(CLI::PositiveNumber & CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer,
                  "copy the tokenizer files (and generation_config.json) from this directory, or from this file's directory");
  cmd->add_flag("--force", o->force, "replace --out if it exists");
  cmd->callback([o] { run(*o); });
}

}  // namespace cotrain::cli
