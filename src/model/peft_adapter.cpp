#include "cotrain/model/peft_adapter.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/model/weights.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

// Keys of peft's LoraConfig that change what the adapter computes in ways cotrain does not
// implement. Each must be absent, null, false or empty.
const std::vector<std::pair<const char*, const char*>> kUnsupported = {
    {"use_dora", "DoRA"},
    {"modules_to_save", "modules_to_save (fully trained copies of other modules)"},
    {"fan_in_fan_out", "fan_in_fan_out (Conv1D-style weights)"},
    {"lora_bias", "a LoRA bias"},
    {"layers_to_transform", "layers_to_transform"},
    {"rank_pattern", "per-module ranks (rank_pattern)"},
    {"alpha_pattern", "per-module alphas (alpha_pattern)"},
    {"exclude_modules", "exclude_modules"},
    {"target_parameters", "target_parameters"},
    {"trainable_token_indices", "trainable_token_indices"},
    {"layer_replication", "layer_replication"},
    {"use_qalora", "QALoRA"},
    {"use_bdlora", "BD-LoRA"},
    {"alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)"},
    {"arrow_config", "Arrow"},
    {"velora_config", "VeLoRA"},
    {"monteclora_config", "MonteCLoRA"},
    {"kasa_config", "KaSA"},
};

bool unset(const nlohmann::json& v) { return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_structured() && v.empty()); }

LoraSettings parse_adapter_config(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) fail_input("{}: not a JSON object", file);
  auto get = [&](const char* key) -> const nlohmann::json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  const auto* peft_type = get("peft_type");
  if (!peft_type || *peft_type != "LORA") fail_input("{}: peft_type: expected \"LORA\" (got {})", file, peft_type ? peft_type->dump() : "nothing");
  if (const auto* task = get("task_type"); task && *task != "CAUSAL_LM") {
    fail_input("{}: task_type: {} is not supported (CAUSAL_LM)", file, task->dump());
  }
  for (const auto& [key, what] : kUnsupported) {
    if (const auto* v = get(key); v && !unset(*v)) fail_input("{}: {}: {} is not supported (got {})", file, key, what, v->dump());
  }
  if (const auto* bias = get("bias"); bias && *bias != "none") fail_input("{}: bias: {} is not supported (\"none\")", file, bias->dump());

  LoraSettings s;
  const auto* r = get("r");
  if (!r) fail_input("{}: r: missing", file);
  if (!r->is_number_integer() || r->get<std::int64_t>() <= 0) fail_input("{}: r: must be a positive integer (got {})", file, r->dump());
  s.rank = r->get<std::int64_t>();
  auto number = [&](const char* key, double fallback) {  // peft's default when absent
    const auto* v = get(key);
    if (!v) return fallback;
    if (!v->is_number()) fail_input("{}: {}: expected a number (got {})", file, key, v->dump());
    return v->get<double>();
  };
  s.alpha = number("lora_alpha", 8);
  if (!(s.alpha > 0)) fail_input("{}: lora_alpha: must be > 0 (got {})", file, s.alpha);
  s.dropout = number("lora_dropout", 0);
  if (!(s.dropout >= 0 && s.dropout < 1)) fail_input("{}: lora_dropout: must be in [0, 1) (got {})", file, s.dropout);
  if (const auto* v = get("use_rslora")) {
    if (!v->is_boolean()) fail_input("{}: use_rslora: expected true or false (got {})", file, v->dump());
    s.rslora = v->get<bool>();
  }
  const auto* targets = get("target_modules");
  if (!targets) fail_input("{}: target_modules: missing", file);
  if (targets->is_string()) {
    if (*targets != "all-linear") {
      fail_input("{}: target_modules: {} is a regular expression, which is not supported (list the module names)", file, targets->dump());
    }
    s.targets = {"all-linear"};
  } else if (targets->is_array()) {
    s.targets.clear();
    for (const auto& t : *targets) {
      if (!t.is_string()) fail_input("{}: target_modules: {} is not a module name", file, t.dump());
      s.targets.push_back(t.get<std::string>());
    }
  } else {
    fail_input("{}: target_modules: expected a list of module names (got {})", file, targets->dump());
  }
  return s;
}

// Module names adapted in every layer, full paths for the others (sorted, as a stable file).
std::vector<std::string> describe_targets(const std::vector<std::string>& paths, std::int64_t num_layers) {
  std::map<std::string, std::vector<std::string>> by_name;
  for (const auto& path : paths) by_name[path.substr(path.rfind('.') + 1)].push_back(path);
  std::vector<std::string> out;
  for (const auto& [name, list] : by_name) {
    if (static_cast<std::int64_t>(list.size()) == num_layers) {
      out.push_back(name);
    } else {
      out.insert(out.end(), list.begin(), list.end());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string shape_string(const std::vector<std::int64_t>& shape) { return fmt::format("{}", fmt::join(shape, "x")); }

}  // namespace

void save_peft_adapter(CausalLM& model, const fs::path& dir, const std::string& base_model_name) {
  if (!model->lora) fail_runtime("save_peft_adapter: the model has no LoRA adapter");
  const LoraSettings& s = *model->lora;
  const std::string suffix = ".lora_A.weight";
  std::vector<std::string> paths;
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& item : lora_parameters(model)) {
    const std::string& name = item.key();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      paths.push_back(name.substr(0, name.size() - suffix.size()));
    }
    auto t = item.value().detach().to(torch::kCPU).contiguous();
    keep.push_back(t);
    tensors.push_back({peft_tensor_name(name), to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  nlohmann::json alpha = s.alpha == std::floor(s.alpha) ? nlohmann::json(static_cast<std::int64_t>(s.alpha)) : nlohmann::json(s.alpha);
  nlohmann::json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", base_model_name},
      {"r", s.rank},
      {"lora_alpha", alpha},
      {"lora_dropout", s.dropout},
      {"use_rslora", s.rslora},
      {"target_modules", describe_targets(paths, model->config.num_layers)},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"modules_to_save", nullptr},
      {"use_dora", false},
      {"init_lora_weights", true},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"inference_mode", true},
      {"revision", nullptr},
  };
  AtomicDir out(dir, kPeftAdapterKind);
  {
    AtomicFile file(out.path() / kConfigFile);
    file.stream() << config.dump(2) << "\n";
    file.commit();
  }
  write_safetensors(out.path() / kWeightsFile, tensors);
  out.commit();
}

LoraSettings load_peft_adapter(CausalLM& model, const fs::path& dir) {
  if (model->lora) fail_input("{}: the model already has a LoRA adapter", dir.string());
  if (!fs::is_directory(dir)) fail_input("{}: no such adapter directory", dir.string());
  const fs::path config_path = dir / kConfigFile, weights_path = dir / kWeightsFile;
  if (!fs::exists(config_path)) fail_input("{}: no {}", dir.string(), kConfigFile);
  auto settings = parse_adapter_config(read_json_file(config_path), config_path.string());
  if (!fs::exists(weights_path)) {
    if (fs::exists(dir / "adapter_model.bin")) {
      fail_input("{}: adapter_model.bin (a pickle) is not read; save the adapter with safetensors", dir.string());
    }
    fail_input("{}: no {}", dir.string(), kWeightsFile);
  }
  const auto paths = lora_target_paths(model, settings, config_path.string() + ": target_modules");
  const auto file = SafetensorsFile::open(weights_path);
  const std::string where = weights_path.string();

  // Every expected tensor present, floating point, and of the model's shape, in model order.
  const auto modules = model->named_modules(/*name_prefix=*/"", /*include_self=*/false);
  std::set<std::string> expected;
  for (const auto& path : paths) {
    const auto& weight = modules[path]->as<LinearImpl>()->weight;
    const std::vector<std::int64_t> a_shape = {settings.rank, weight.size(1)}, b_shape = {weight.size(0), settings.rank};
    for (const auto& [suffix, shape] : {std::pair{".lora_A.weight", a_shape}, {".lora_B.weight", b_shape}}) {
      const auto name = peft_tensor_name(path + suffix);
      expected.insert(name);
      const auto* info = file->find(name);
      if (!info) fail_input("{}: missing tensor {}", where, name);
      if (info->dtype != DType::F32 && info->dtype != DType::BF16 && info->dtype != DType::F16) {
        fail_input("{}: tensor {}: dtype {} is not a float type", where, name, dtype_name(info->dtype));
      }
      if (info->shape != shape) {
        fail_input("{}: tensor {}: shape {} vs {} (r = {} in {})", where, name, shape_string(info->shape), shape_string(shape),
                   settings.rank, kConfigFile);
      }
    }
  }
  for (const auto& info : file->header().tensors) {
    if (!expected.count(info.name)) {
      fail_input("{}: unexpected tensor {} (not a LoRA matrix of a module in target_modules)", where, info.name);
    }
  }

  add_lora(model, settings, /*seed=*/0);
  torch::NoGradGuard no_grad;
  for (auto& item : lora_parameters(model)) {
    const auto* info = file->find(peft_tensor_name(item.key()));
    item.value().copy_(tensor_view(*file, *info, nullptr));
  }
  return settings;
}

void export_merged_model(const fs::path& base_dir, const fs::path& adapter_dir, const fs::path& out_dir,
                         std::optional<torch::ScalarType> dtype, const torch::Device& device) {
  check_output_dir(out_dir, kModelDirKind);  // before the long work
  const auto config = ModelConfig::load(base_dir);
  const auto base_dtype = parse_hf_dtype(config.dtype, (base_dir / "config.json").string() + ": dtype");
  const auto out_dtype = dtype.value_or(base_dtype);
  // Merge in the base's own dtype when it is also the output's (W.add_ sums in fp32 and rounds
  // once); otherwise in fp32, which holds either exactly, and round once at the end.
  auto model = load_model(base_dir, out_dtype == base_dtype ? base_dtype : torch::kFloat32, device);
  const auto settings = load_peft_adapter(model, adapter_dir);
  merge_lora(model);
  model->to(out_dtype);
  write_model_dir(model, out_dir, {.copy_from = base_dir});
  spdlog::info("merged {} (r={}, alpha={:g}{}) into {} as {}", adapter_dir.string(), settings.rank, settings.alpha,
               settings.rslora ? ", rsLoRA" : "", out_dir.string(), hf_dtype_name(out_dtype));
}

}  // namespace cotrain
