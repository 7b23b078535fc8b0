// Per-layer activation checkpointing: a decoder layer's forward pass keeps only its input, and
// the backward pass runs the layer again with gradients on. Peak activation memory becomes one
// hidden state per layer plus one layer's intermediates, for about one extra forward pass.
#pragma once
#include <ATen/core/Generator.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cotrain/model/layers.h"

namespace cotrain {

// LAYER(X) computed without recording a graph. Its backward recomputes LAYER with DROPOUT_GENERATOR
// (if defined) put back to the state it had here, so LoRA dropout draws identical masks, then puts
// the generator back where it was; it returns the gradients of X and of the layer's parameters
// that require them (given to the autograd function as a TensorList).
torch::Tensor checkpointed_forward(const std::shared_ptr<DecoderLayerImpl>& layer, const torch::Tensor& x, const RopeTables& rope,
                                   const std::vector<std::int64_t>& cu_seqlens, const at::Generator& dropout_generator);

}  // namespace cotrain
