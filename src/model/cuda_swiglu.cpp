#include "cotrain/model/cuda_swiglu.h"

#include <ATen/record_function.h>

#include <atomic>
#include <string>

#include "cotrain/model/gpu_formulas.h"
#include "cotrain/model/optional_kernel.h"

#ifdef COTRAIN_WITH_CUDA
#include <ATen/cuda/jiterator.h>
#endif

namespace cotrain {
namespace {

std::atomic<bool> refused{false};

// The formula's outputs for INPUTS, in the inputs' dtype; nothing where the jiterator refused.
std::optional<c10::SmallVector<at::Tensor>> launch(const std::string& text, const char* name, int outputs,
                                                   const c10::SmallVector<at::Tensor>& inputs) {
#ifdef COTRAIN_WITH_CUDA
  return unless_refused(refused, [&] {
    return at::cuda::CompileAndLaunchKernel(text, name, outputs, inputs, /*extra_args=*/{}, /*return_by_ref=*/outputs > 1);
  });
#else
  (void)text, (void)name, (void)outputs, (void)inputs;
  return std::nullopt;
#endif
}

}  // namespace

bool cuda_swiglu_applies(const at::Tensor& gate, const at::Tensor& up) {
#ifdef COTRAIN_WITH_CUDA
  return gate.is_cuda() && up.is_cuda() && gate.scalar_type() == up.scalar_type() && at::isFloatingType(gate.scalar_type()) &&
         gate.sizes() == up.sizes() && !refused;
#else
  (void)gate, (void)up;
  return false;
#endif
}

std::optional<at::Tensor> cuda_swiglu(const at::Tensor& gate, const at::Tensor& up) {
  RECORD_FUNCTION("cotrain::cuda_swiglu", std::vector<c10::IValue>{gate});  // named in the GPU check's profile
  auto out = launch(gpu_formulas::kSwigluText, "cotrain_swiglu", 1, {gate, up});
  if (!out) return std::nullopt;
  return (*out)[0];
}

std::optional<SwigluBackward> cuda_swiglu_backward(const at::Tensor& grad, const at::Tensor& gate, const at::Tensor& up, bool need_product) {
  RECORD_FUNCTION("cotrain::cuda_swiglu_backward", std::vector<c10::IValue>{gate});
  if (need_product) {
    static const std::string text =
        std::string(gpu_formulas::kSwigluText) + gpu_formulas::kSwigluBackwardText + gpu_formulas::kSwigluBackwardAndProductText;
    auto out = launch(text, "cotrain_swiglu_backward_and_product", 3, {grad, gate, up});
    if (!out) return std::nullopt;
    return SwigluBackward{(*out)[0], (*out)[1], (*out)[2]};
  }
  auto out = launch(gpu_formulas::kSwigluBackwardText, "cotrain_swiglu_backward", 2, {grad, gate, up});
  if (!out) return std::nullopt;
  return SwigluBackward{at::Tensor(), (*out)[0], (*out)[1]};
}

}  // namespace cotrain
