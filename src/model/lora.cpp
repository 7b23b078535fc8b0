#include "cotrain/model/lora.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

// peft's rule for a list of target_modules: the whole path, or its tail after a dot.
bool target_matches(const std::string& path, const std::string& target) {
  if (path == target) return true;
  return path.size() > target.size() && path.compare(path.size() - target.size(), target.size(), target) == 0 &&
         path[path.size() - target.size() - 1] == '.';
}

std::string last_component(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// The decoder linears LoRA may adapt: model.layers.N.{self_attn,mlp}.<one of the seven>.
bool adaptable(const std::string& path, const torch::nn::Module& module) {
  const auto& names = lora_module_names();
  return path.rfind("model.layers.", 0) == 0 && module.as<LinearImpl>() != nullptr &&
         std::find(names.begin(), names.end(), last_component(path)) != names.end();
}

at::Generator generator_on(const torch::Device& device, std::uint64_t seed) {
  // A GPU's own generator: a copy of its default one, reseeded below.
  at::Generator gen = device.is_cpu() ? at::make_generator<at::CPUGeneratorImpl>(seed) : at::globalContext().defaultGenerator(device).clone();
  gen.set_current_seed(seed);
  return gen;
}

}  // namespace

std::vector<std::string> lora_target_paths(CausalLM& model, const LoraSettings& settings, const std::string& where) {
  const auto& names = lora_module_names();
  const bool all_linear = settings.targets.size() == 1 && settings.targets[0] == "all-linear";
  if (settings.targets.empty()) fail_input("{}: no target modules", where);
  std::vector<std::string> paths;
  std::vector<std::size_t> hits(settings.targets.size(), 0);
  for (const auto& item : model->named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::string& path = item.key();
    const bool can_adapt = adaptable(path, *item.value());
    bool selected = false;
    for (std::size_t i = 0; i < settings.targets.size(); ++i) {
      const auto& target = settings.targets[i];
      if (target == "all-linear" && !all_linear) fail_input("{}: 'all-linear' must be the only target", where);
      if (!(all_linear ? can_adapt : target_matches(path, target))) continue;
      if (!can_adapt) {
        fail_input("{}: '{}' names {}, which LoRA cannot adapt (decoder linears only: {})", where, target, path, fmt::join(names, ", "));
      }
      selected = true;
      ++hits[i];
    }
    if (selected) paths.push_back(path);
  }
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (hits[i] == 0) fail_input("{}: '{}' matches no module ({} or all-linear)", where, settings.targets[i], fmt::join(names, ", "));
  }
  return paths;
}

void add_lora(CausalLM& model, const LoraSettings& settings, std::uint64_t seed) {
  if (model->lora) fail_input("the model already has a LoRA adapter");
  if (settings.rank <= 0) fail_input("lora.rank: must be > 0 (got {})", settings.rank);
  if (!(settings.alpha > 0)) fail_input("lora.alpha: must be > 0 (got {})", settings.alpha);
  if (!(settings.dropout >= 0 && settings.dropout < 1)) fail_input("lora.dropout: must be in [0, 1) (got {})", settings.dropout);
  auto paths = lora_target_paths(model, settings, "lora.targets");
  const std::set<std::string> targets(paths.begin(), paths.end());

  for (auto& p : model->parameters()) p.requires_grad_(false);
  auto init = at::make_generator<at::CPUGeneratorImpl>(seed);
  model->lora_dropout_generator = generator_on(model->device(), seed + 1);
  for (const auto& item : model->named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (!targets.count(item.key())) continue;
    item.value()->as<LinearImpl>()->add_lora(settings.rank, settings.scaling(), settings.dropout, init, model->lora_dropout_generator);
  }
  model->lora = settings;
}

torch::OrderedDict<std::string, torch::Tensor> lora_parameters(CausalLM& model) {
  torch::OrderedDict<std::string, torch::Tensor> out;
  for (const auto& item : model->named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const auto* linear = item.value()->as<LinearImpl>();
    if (!linear || !linear->lora_A) continue;
    out.insert(item.key() + ".lora_A.weight", linear->lora_A->weight);
    out.insert(item.key() + ".lora_B.weight", linear->lora_B->weight);
  }
  return out;
}

std::string peft_tensor_name(const std::string& name) { return "base_model.model." + name; }

void merge_lora(CausalLM& model) {
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<LinearImpl>()) linear->merge_lora();
  }
  model->lora.reset();
  model->lora_dropout_generator = at::Generator();
}

}  // namespace cotrain
