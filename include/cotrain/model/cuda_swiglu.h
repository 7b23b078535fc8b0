// SwiGLU on a GPU as one kernel forward and one backward (gpu_formulas.h, compiled by torch's
// jiterator), where ATen's composite makes two and five passes over [tokens, intermediate]
// (the H200 profile's ~20 ms of silu and mul in a 0.27 s step, docs/performance.md). Each output
// is the fp32 arithmetic rounded once: the composite rounds silu(gate) to bf16 before the product,
// so the values differ from it within a bf16 rounding (and are closer to the exact ones); in fp32
// they agree to the order of the operations.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "cotrain/model/cpu_elementwise.h"

namespace cotrain {

// Whether the kernels run for these tensors: a CUDA build of cotrain, CUDA tensors of one
// floating dtype and shape, and no earlier refusal (the first exception from the jiterator, such as
// a missing NVRTC, turns the kernels off for the process and the callers take the composite).
bool cuda_swiglu_applies(const at::Tensor& gate, const at::Tensor& up);

// silu(gate) * up, or nothing where the kernel refused.
std::optional<at::Tensor> cuda_swiglu(const at::Tensor& gate, const at::Tensor& up);

// From GRAD of the product: the gradients of gate and up and, where NEED_PRODUCT, the product;
// or nothing where the kernel refused.
std::optional<SwigluBackward> cuda_swiglu_backward(const at::Tensor& grad, const at::Tensor& gate, const at::Tensor& up, bool need_product);

}  // namespace cotrain
