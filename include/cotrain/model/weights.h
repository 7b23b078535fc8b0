// Moving weights between safetensors files and a CausalLM.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/io/checkpoint.h"
#include "cotrain/model/causal_lm.h"

namespace cotrain {

// A tensor viewing the file's memory (no copy); the file stays mapped while the tensor lives.
torch::Tensor tensor_view(const SafetensorsFile& file, const TensorInfo& info,
                          std::shared_ptr<const SafetensorsFile> keep_alive);
torch::ScalarType to_scalar_type(DType dtype);
DType to_dtype(torch::ScalarType type);

// Fills every parameter from the checkpoint, converting dtype and moving to the model's device
// as needed (parameters that already match take the mapped memory without a copy). Missing or
// mis-shaped tensors are an InputError naming them; unexpected ones are logged as warnings.
void load_weights(CausalLM& model, const CheckpointFiles& checkpoint);

// The parameters as one safetensors file (name -> tensor, in the model's dtype).
void save_weights(CausalLM& model, const std::filesystem::path& path);

// Parses "float32|bfloat16|float16|auto" and "cpu|cuda|cuda:N|auto". auto: CUDA when
// available, else CPU; bfloat16 on CUDA, float32 on CPU.
torch::Device parse_device(const std::string& name);
torch::ScalarType parse_scalar_type(const std::string& name, const torch::Device& device);

// config.json + weights of DIR on DEVICE in DTYPE.
CausalLM load_model(const std::filesystem::path& dir, torch::ScalarType dtype, const torch::Device& device);

}  // namespace cotrain
