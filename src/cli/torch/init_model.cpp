// cotrain init-model: a randomly initialised model directory that transformers loads unchanged.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fstream>

#include "commands.h"
#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
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

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  auto dir = std::filesystem::is_directory(from) ? from : from.parent_path();
  bool any = false;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
    if (std::filesystem::exists(dir / name)) {
      std::filesystem::copy_file(dir / name, to / name);
      any = true;
    }
  }
  if (!any) fail_input("--tokenizer {}: no tokenizer.json, tokenizer_config.json or tokenizer.model there", from.string());
}

void run(const InitModelOptions& o) {
  if (std::filesystem::exists(o.out) && !o.force) fail_input("--out {} exists (use --force to replace it)", o.out);
  auto config = preset_config(parse_arch(o.arch), o.preset);
  auto dtype = parse_scalar_type(o.dtype, torch::kCPU);
  config.dtype = dtype == torch::kFloat32 ? "float32" : dtype == torch::kBFloat16 ? "bfloat16" : "float16";
  CausalLM model(config, torch::TensorOptions().dtype(dtype));
  init_weights(model, o.init_std, o.seed);

  AtomicDir out(o.out, "model");
  std::ofstream(out.path() / "config.json") << config.to_hf_json().dump(2) << "\n";
  save_weights(model, out.path() / "model.safetensors");
  if (!o.tokenizer.empty()) copy_tokenizer_files(o.tokenizer, out.path());
  out.commit();
  spdlog::info("wrote {} ({} {}, {:.1f}M parameters, {}, seed {})", o.out, o.arch, o.preset,
               static_cast<double>(config.num_parameters()) / 1e6, config.dtype, o.seed);
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
  cmd->add_option("--tokenizer", o->tokenizer, "copy tokenizer.json/tokenizer_config.json from this file's directory or this directory");
  cmd->add_flag("--force", o->force, "replace --out if it exists");
  cmd->callback([o] { run(*o); });
}

}  // namespace cotrain::cli
