// The decoder's element-wise pieces on a GPU as one kernel each way (gpu_formulas.h, compiled by
// torch's jiterator), where ATen's composites make several passes over the same tensors: SwiGLU
// (two forward and five backward over [tokens, intermediate], the H200 profile's ~20 ms of silu
// and mul in a 0.27 s step, docs/performance.md) and the rotary embedding (five forward and about
// six backward over the queries and keys). Each output is the fp32 arithmetic rounded once: the
// composites round intermediates (silu(gate), x * cos, rotate_half(x) * sin) to bf16 first, so the
// values differ from theirs within a bf16 rounding (and are closer to the exact ones); in fp32 they
// agree to the order of the operations.
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

// Whether the rotary kernel runs for X [batch, heads, tokens, head_dim] (head_dim even) and tables
// COS and SIN of X's dtype that broadcast to it, on X's device: as cuda_swiglu_applies.
bool cuda_rotary_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) (transformers' rotary embedding,
// halves not interleaved), in a tensor of X's layout; with BACKWARD, the gradient of that for the
// output's gradient X: x * cos + rotate_half^T(x * sin), rotate_half^T(g) = cat(g2, -g1). Nothing
// where the kernel refused.
std::optional<at::Tensor> cuda_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool backward);

// cuda_rotary's value where its kernel runs; elsewhere (the jiterator refused, or any other
// device) the same pairs' formula in ATen ops, which gives the composite's values bit for bit:
// the forward and backward of rotary() wherever the CPU kernel does not run (lean_ops.cpp).
at::Tensor rotary_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool backward);

}  // namespace cotrain
