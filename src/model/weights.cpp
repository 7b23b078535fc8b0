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

torch::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::Bool: return torch::kBool;
    case DType::U8: return torch::kUInt8;
    case DType::I8: return torch::kInt8;
    case DType::I16: return torch::kInt16;
    case DType::U16: return torch::kUInt16;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I32: return torch::kInt32;
    case DType::U32: return torch::kUInt32;
    case DType::F32: return torch::kFloat32;
    case DType::F64: return torch::kFloat64;
    case DType::I64: return torch::kInt64;
    case DType::U64: return torch::kUInt64;
    case DType::F8_E5M2: return torch::kFloat8_e5m2;
    case DType::F8_E4M3: return torch::kFloat8_e4m3fn;
  }
  fail_input("unknown dtype");
}

DType to_dtype(torch::ScalarType type) {
  for (auto d : {DType::Bool, DType::U8, DType::I8, DType::I16, DType::U16, DType::F16, DType::BF16, DType::I32, DType::U32,
                 DType::F32, DType::F64, DType::I64, DType::U64, DType::F8_E5M2, DType::F8_E4M3}) {
    if (to_scalar_type(d) == type) return d;
  }
  fail_input("tensor type {} cannot be stored in safetensors", c10::toString(type));
}

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

void save_weights(CausalLM& model, const std::filesystem::path& path) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    auto t = param.detach().to(torch::kCPU).contiguous();
    keep.push_back(t);
    tensors.push_back({name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  write_safetensors(path, tensors);
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

torch::ScalarType parse_scalar_type(const std::string& name, const torch::Device& device) {
  if (name == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  fail_input("--dtype {}: not a dtype (float32, bfloat16, float16, auto)", name);
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
