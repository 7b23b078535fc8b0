#include "cotrain/model/weights.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <set>

#include "cotrain/core/error.h"
#include "cotrain/io/safetensors.h"

namespace cotrain {
namespace {

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += fmt::format(" and {} more", names.size() - 5);
  return out;
}

}  // namespace

torch::Tensor tensor_view(const SafetensorsFile& file, const TensorInfo& info, std::shared_ptr<const SafetensorsFile> keep_alive) {
  auto options = torch::TensorOptions().dtype(to_scalar_type(info.dtype));
  void* data = file.data(info);
  if (reinterpret_cast<std::uintptr_t>(data) % dtype_size(info.dtype) != 0) {  // unaligned: copy once
    auto out = torch::empty(info.shape, options);
    std::memcpy(out.data_ptr(), data, info.end - info.begin);
    return out;
  }
  return torch::from_blob(data, info.shape, [keep = std::move(keep_alive)](void*) {}, options);
}

void load_weights(CausalLM& model, const CheckpointFiles& checkpoint) {
  if (model->lora) fail_runtime("load_weights: load the base weights before attaching a LoRA adapter");
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    const auto* t = checkpoint.find(name);
    if (!t) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (t->info->shape != param.sizes().vec()) {
      mismatched.push_back(fmt::format("{} (checkpoint {} vs model {})", name, fmt::join(t->info->shape, "x"), fmt::join(param.sizes(), "x")));
      continue;
    }
    auto view = tensor_view(*t->file, *t->info, nullptr);  // the checkpoint outlives this copy
    param.copy_(view);
  }
  if (!missing.empty()) fail_input("{}: missing {} tensor(s): {}", checkpoint.dir().string(), missing.size(), list_names(missing));
  if (!mismatched.empty()) fail_input("{}: {} mis-shaped tensor(s): {}", checkpoint.dir().string(), mismatched.size(), list_names(mismatched));
  std::vector<std::string> unexpected;
  for (const auto& name : checkpoint.names()) {
    if (!used.count(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) spdlog::warn("ignoring {} unexpected tensor(s) in the checkpoint: {}", unexpected.size(), list_names(unexpected));
}

torch::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) fail_input("--device {}: CUDA is not available in this build or on this machine", name);
    torch::Device device(torch::kCPU);
    try {
      device = torch::Device(name);
    } catch (const c10::Error&) {
      fail_input("--device {}: not a device (cpu, cuda, cuda:N, auto)", name);
    }
    auto count = static_cast<int>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count) {
      fail_input("--device {}: this machine has {} CUDA device(s) (cuda:0..cuda:{})", name, count, count - 1);
    }
    return device;
  }
  fail_input("--device {}: not a device (cpu, cuda, cuda:N, auto)", name);
}

CausalLM load_model(const std::filesystem::path& dir, torch::ScalarType dtype, const torch::Device& device) {
  auto config = ModelConfig::load(dir);
  CheckpointFiles checkpoint(dir);
  // Before allocating anything: a config that asks for far more parameters than the checkpoint
  // holds (a vocabulary of 1e9) cannot match it. Smaller differences (a missing lm_head) are
  // named tensor by tensor by load_weights.
  std::int64_t stored = 0;
  for (const auto& name : checkpoint.names()) stored += checkpoint.find(name)->info->numel();
  if (config.num_parameters() > 2 * stored + (std::int64_t{1} << 20)) {
    fail_input("{}: config.json describes {} parameters but the checkpoint holds {}", dir.string(),
               config.num_parameters(), stored);
  }
  CausalLM model(config, torch::TensorOptions().dtype(dtype).device(device));
  load_weights(model, checkpoint);
  return model;
}

}  // namespace cotrain
