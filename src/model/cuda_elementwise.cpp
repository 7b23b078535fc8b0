#include "cotrain/model/cuda_elementwise.h"

#include <ATen/record_function.h>

#include <atomic>
#include <string>
#include <vector>

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

bool cuda_rotary_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
#ifdef COTRAIN_WITH_CUDA
  if (!x.is_cuda() || x.dim() != 4 || x.size(-1) % 2 != 0 || !at::isFloatingType(x.scalar_type()) || refused) return false;
  // rope_tables' [1, 1, tokens, head_dim] (a shape the kernel would reject must not turn it off).
  const std::vector<std::int64_t> table{1, 1, x.size(2), x.size(3)};
  for (const auto* t : {&cos, &sin}) {
    if (t->device() != x.device() || t->scalar_type() != x.scalar_type() || t->sizes() != table) return false;
  }
  return true;
#else
  (void)x, (void)cos, (void)sin;
  return false;
#endif
}

std::optional<at::Tensor> cuda_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool backward) {
  RECORD_FUNCTION(backward ? "cotrain::cuda_rotary_backward" : "cotrain::cuda_rotary", std::vector<c10::IValue>{x});
  const auto half = x.size(-1) / 2;
  auto first = [&](const at::Tensor& t) { return t.narrow(-1, 0, half); };
  auto second = [&](const at::Tensor& t) { return t.narrow(-1, half, half); };
  // The backward is the same pairs' formula with the sines swapped and negated (tables of [tokens,
  // head_dim]: nothing next to the activations).
  const auto sin1 = backward ? second(sin).neg() : first(sin), sin2 = backward ? first(sin).neg() : second(sin);
  auto halves = launch(gpu_formulas::kRotaryText, "cotrain_rotary", 2, {first(x), second(x), first(cos), sin1, second(cos), sin2});
  if (!halves) return std::nullopt;
  // X's layout: the projection's output seen head-major, which the flash kernel reads token-major
  // without a copy.
  auto out = at::empty_like(x);
  first(out).copy_((*halves)[0]);
  second(out).copy_((*halves)[1]);
  return out;
}

at::Tensor rotary_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool backward) {
  if (cuda_rotary_applies(x, cos, sin)) {
    if (auto out = cuda_rotary(x, cos, sin, backward)) return *out;
  }
  const auto halves = x.chunk(2, -1), cos_halves = cos.chunk(2, -1), sin_halves = sin.chunk(2, -1);
  const auto sin1 = backward ? -sin_halves[1] : sin_halves[0], sin2 = backward ? -sin_halves[0] : sin_halves[1];
  return at::cat({halves[0] * cos_halves[0] - halves[1] * sin1, halves[1] * cos_halves[1] + halves[0] * sin2}, -1);
}

}  // namespace cotrain
