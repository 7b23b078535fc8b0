// For kernels that compute in fp32 and round each output once, where a composite rounds an
// intermediate first (the GPU's fused norm, SwiGLU and LoRA sum).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

namespace cotrain::test {

// GOT is EXACT (fp64) rounded once to GOT's dtype: within one step of that dtype (one bf16 step,
// 1e-5 in fp32) at the exact value, or at a thousandth of the largest exact value near zero, where
// an output is a difference of larger terms; and in bf16 no further from it in sum than PLAIN.
inline void expect_rounded_once(const torch::Tensor& got, const torch::Tensor& plain, const torch::Tensor& exact, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  const auto exact64 = exact.to(torch::kCPU, torch::kFloat64);
  const double step = got.scalar_type() == torch::kBFloat16 ? std::pow(2.0, -7) : 1e-5;
  auto tolerance = exact64.abs().clamp_min(1e-3 * exact64.abs().max().item<double>()) * step;
  auto error = (got.to(torch::kCPU, torch::kFloat64) - exact64).abs(), plain_error = (plain.to(torch::kCPU, torch::kFloat64) - exact64).abs();
  EXPECT_TRUE((error <= tolerance).all().item<bool>()) << what << ": max error in steps " << (error / tolerance).max().item<double>();
  if (got.scalar_type() == torch::kBFloat16) {
    EXPECT_LE(error.sum().item<double>(), plain_error.sum().item<double>()) << what;
  }
}

}  // namespace cotrain::test
