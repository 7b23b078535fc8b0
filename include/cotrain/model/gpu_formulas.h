// Element-wise formulas that run on a GPU as one kernel each, written once for two compilers: as
// C++ here (the CPU tests hold them to autograd's composites in fp64) and as the source text the
// same macro makes of them, which torch's jiterator compiles with NVRTC at first use
// (model/cuda_swiglu.cpp). T is the arithmetic's type: the jiterator's opmath type, fp32 for bf16
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

}  // namespace cotrain::gpu_formulas
