// Moving weights between safetensors files and a CausalLM.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/io/checkpoint.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/model/dtype.h"

namespace cotrain {

// A tensor viewing the file's memory (no copy); the file stays mapped while the tensor lives.
torch::Tensor tensor_view(const SafetensorsFile& file, const TensorInfo& info,
                          std::shared_ptr<const SafetensorsFile> keep_alive);

// Fills every base parameter from the checkpoint, converting dtype and moving to the model's
// device as needed. Missing or mis-shaped tensors are an InputError naming them; unexpected ones
// are logged as warnings. LoRA adapters are not part of a checkpoint (see model/peft_adapter.h).
void load_weights(CausalLM& model, const CheckpointFiles& checkpoint);

// Parses "cpu|cuda|cuda:N|auto". auto: CUDA when available, else CPU.
torch::Device parse_device(const std::string& name);

// config.json + weights of DIR on DEVICE in DTYPE.
CausalLM load_model(const std::filesystem::path& dir, torch::ScalarType dtype, const torch::Device& device);

}  // namespace cotrain
