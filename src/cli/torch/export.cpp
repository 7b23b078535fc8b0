// cotrain export: a base model with a PEFT LoRA adapter merged into it, as a Hugging Face model
// directory (transformers and vLLM load it without peft).
#include "commands.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/model/peft_adapter.h"
#include "cotrain/model/weights.h"

namespace cotrain::cli {
namespace {

struct ExportOptions {
  std::string model, adapter, out, dtype = "auto", device = "cpu";
  bool force = false;
};

void run(const ExportOptions& o) {
  refuse_existing_output(o.out, o.force, kModelDirKind);
  std::optional<torch::ScalarType> dtype;
  if (o.dtype != "auto") dtype = parse_hf_dtype(o.dtype, "--dtype");
  export_merged_model(o.model, o.adapter, o.out, dtype, parse_device(o.device));
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export", "Merge a PEFT LoRA adapter into its base model and write a Hugging Face model directory");
  cmd->add_option("--model", o->model, "base model directory")->required();
  cmd->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)")->required();
  cmd->add_option("--out", o->out, "output model directory")->required();
  cmd->add_option("--dtype", o->dtype, "float32, bfloat16, float16 or auto (the base model's dtype)")->capture_default_str();
  cmd->add_option("--device", o->device, "where to merge: cpu, cuda, cuda:N or auto")->capture_default_str();
  cmd->add_flag("--force", o->force, "replace --out if it exists");
  cmd->callback([o] { run(*o); });
}

}  // namespace cotrain::cli
