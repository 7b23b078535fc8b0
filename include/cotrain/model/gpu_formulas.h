// Element-wise formulas that run on a GPU as one kernel each, written once for two compilers: as
// C++ here (the CPU tests hold them to autograd's composites in fp64) and as the source text the
// same macro makes of them, which torch's jiterator compiles with NVRTC at first use
// (model/cuda_elementwise.cpp). T is the arithmetic's type: the jiterator's opmath type, fp32 for bf16
// and fp32 tensors, so inputs are widened when loaded and each output is rounded once when stored.
// Comments cannot go inside a formula (the preprocessor drops them from the text).
#pragma once

#include <cmath>

#define COTRAIN_GPU_FORMULA(text, ...) \
  __VA_ARGS__                          \
  inline constexpr const char* text = #__VA_ARGS__;

namespace cotrain::gpu_formulas {

// silu(gate) * up.
COTRAIN_GPU_FORMULA(kSwigluText, template <typename T> T cotrain_swiglu(T gate, T up) {
  return gate / (T(1) + std::exp(-gate)) * up;
})

// From GRAD of the product: the gradients of gate and up.
COTRAIN_GPU_FORMULA(kSwigluBackwardText,
                    template <typename T> void cotrain_swiglu_backward(T grad, T gate, T up, T& grad_gate, T& grad_up) {
                      const T sigmoid = T(1) / (T(1) + std::exp(-gate));
                      grad_up = grad * gate * sigmoid;
                      grad_gate = grad * up * sigmoid * (T(1) + gate * (T(1) - sigmoid));
                    })

// Both of the above in one kernel: the gradients and the product again (the forward's bits) for a
// weight gradient downstream. Its text calls theirs, so the jiterator gets all three.
COTRAIN_GPU_FORMULA(kSwigluBackwardAndProductText,
                    template <typename T> void cotrain_swiglu_backward_and_product(T grad, T gate, T up, T& product, T& grad_gate,
                                                                                   T& grad_up) {
                      product = cotrain_swiglu(gate, up);
                      cotrain_swiglu_backward(grad, gate, up, grad_gate, grad_up);
                    })

// The rotary embedding of one pair of features, x1 in a head's first half and x2 in its second:
// x * cos + rotate_half(x) * sin there, with cos and sin at each half's position.
COTRAIN_GPU_FORMULA(kRotaryText, template <typename T> void cotrain_rotary(T x1, T x2, T cos1, T sin1, T cos2, T sin2, T& out1, T& out2) {
  out1 = x1 * cos1 - x2 * sin1;
  out2 = x2 * cos2 + x1 * sin2;
})

}  // namespace cotrain::gpu_formulas
