// Element-type names in one place: safetensors' DType, torch's ScalarType, and the names Hugging
// Face configs and our flags use ("float32", "bfloat16", "float16"; also fp32, bf16, fp16).
#pragma once
#include <torch/types.h>

#include <string>

#include "cotrain/io/dtype.h"

namespace cotrain {

torch::ScalarType to_scalar_type(DType dtype);
DType to_dtype(torch::ScalarType type);  // InputError for a type safetensors cannot store

// "float32" | "bfloat16" | "float16" (config.json's dtype / torch_dtype); InputError otherwise.
std::string hf_dtype_name(torch::ScalarType type);
// The inverse, also accepting fp32, bf16, fp16. WHERE names the source in the one-line error.
torch::ScalarType parse_hf_dtype(const std::string& name, const std::string& where);

// --dtype: a name as above or "auto" (bfloat16 on CUDA, float32 on CPU).
torch::ScalarType parse_scalar_type(const std::string& name, const torch::Device& device);

}  // namespace cotrain
