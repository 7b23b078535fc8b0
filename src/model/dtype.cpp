#include "cotrain/model/dtype.h"

#include "cotrain/core/error.h"

namespace cotrain {

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

std::string hf_dtype_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: fail_input("tensor type {} is not a model dtype (float32, bfloat16, float16)", c10::toString(type));
  }
}

torch::ScalarType parse_hf_dtype(const std::string& name, const std::string& where) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  fail_input("{}: '{}' is not a dtype (float32, bfloat16, float16)", where, name);
}

torch::ScalarType parse_scalar_type(const std::string& name, const torch::Device& device) {
  if (name == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  return parse_hf_dtype(name, "--dtype");
}

}  // namespace cotrain
