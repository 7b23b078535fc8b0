#include "cotrain/model/gpu_formulas.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace cotrain {
namespace {

using namespace gpu_formulas;

// Gate values across silu's range (large negative ones, where exp(-gate) overflows to infinity in
// fp32 and the formula must still give -0 rather than NaN), up and the product's gradient.
struct Inputs {
  torch::Tensor gate, up, grad;
};

Inputs inputs() {
  torch::manual_seed(11);
  auto gate = torch::cat({torch::randn({4000}, torch::kFloat64) * 4, torch::linspace(-120, 120, 241, torch::kFloat64)});
  return {gate, torch::randn({gate.numel()}, torch::kFloat64), torch::randn({gate.numel()}, torch::kFloat64)};
}

// The formulas at T over every element, widened to fp64: product, grad_gate, grad_up, and the
// product the backward makes.
template <typename T>
std::vector<torch::Tensor> apply(const Inputs& in) {
  const auto n = in.gate.numel();
  std::vector<torch::Tensor> out(4);
  for (auto& t : out) t = torch::empty({n}, torch::kFloat64);
  auto gate = in.gate.accessor<double, 1>(), up = in.up.accessor<double, 1>(), grad = in.grad.accessor<double, 1>();
  auto product = out[0].accessor<double, 1>(), grad_gate = out[1].accessor<double, 1>(), grad_up = out[2].accessor<double, 1>(),
       again = out[3].accessor<double, 1>();
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = static_cast<T>(gate[i]), u = static_cast<T>(up[i]), d = static_cast<T>(grad[i]);
    product[i] = cotrain_swiglu<T>(g, u);
    T gg, gu, p, gg2, gu2;
    cotrain_swiglu_backward<T>(d, g, u, gg, gu);
    cotrain_swiglu_backward_and_product<T>(d, g, u, p, gg2, gu2);
    EXPECT_TRUE(gg == gg2 && gu == gu2) << "the two backward formulas differ at gate " << gate[i];
    grad_gate[i] = gg;
    grad_up[i] = gu;
    again[i] = p;
  }
  return out;
}

// silu(gate) * up through autograd in fp64: the value and the gradients of gate and up.
std::vector<torch::Tensor> composite(const Inputs& in) {
  auto gate = in.gate.clone().requires_grad_(true), up = in.up.clone().requires_grad_(true);
  auto product = torch::silu(gate) * up;
  (product * in.grad).sum().backward();
  return {product.detach(), gate.grad(), up.grad()};
}

// Within RELATIVE of the exact value, or of 1 where it is smaller (an output near zero is a
// difference of terms of about that size).
void expect_close(const torch::Tensor& got, const torch::Tensor& want, double relative, const std::string& what) {
  ASSERT_FALSE(got.isnan().any().item<bool>()) << what << ": NaN";
  auto tolerance = want.abs().clamp_min(1.0) * relative;
  auto error = (got - want).abs();
  EXPECT_TRUE((error <= tolerance).all().item<bool>()) << what << ": max error in tolerances " << (error / tolerance).max().item<double>();
}

// The formulas at T on IN against autograd's composite: the product and up's gradient within
// RELATIVE, gate's within GATE_RELATIVE, and the backward's product the forward's bits.
template <typename T>
void expect_composite(const Inputs& in, double relative, double gate_relative) {
  const auto want = composite(in);
  const auto got = apply<T>(in);
  expect_close(got[0], want[0], relative, "product");
  expect_close(got[1], want[1], gate_relative, "gradient of gate");
  expect_close(got[2], want[2], relative, "gradient of up");
  EXPECT_TRUE(got[3].equal(got[0])) << "the backward's product is not the forward's";
}

TEST(GpuFormulas, SwigluIsAutogradsCompositeInFp64) { expect_composite<double>(inputs(), 1e-14, 1e-13); }

// In fp32, the jiterator's arithmetic for bf16 and fp32 tensors: each output within a few fp32
// roundings of the exact value, far inside the one bf16 rounding that follows for bf16 tensors.
TEST(GpuFormulas, SwigluInFp32IsTheExactValueWithinFp32Roundings) {
  const auto in = inputs();
  Inputs narrowed{in.gate.to(torch::kFloat32).to(torch::kFloat64), in.up.to(torch::kFloat32).to(torch::kFloat64),
                  in.grad.to(torch::kFloat32).to(torch::kFloat64)};
  expect_composite<float>(narrowed, 1e-6, 1e-5);
}

// The texts the jiterator compiles are the formulas above, with the names cuda_swiglu.cpp launches.
TEST(GpuFormulas, TextsAreTheFormulas) {
  EXPECT_NE(std::string(kSwigluText).find("T cotrain_swiglu(T gate, T up)"), std::string::npos) << kSwigluText;
  EXPECT_NE(std::string(kSwigluBackwardText).find("void cotrain_swiglu_backward(T grad, T gate, T up, T& grad_gate, T& grad_up)"),
            std::string::npos)
      << kSwigluBackwardText;
  EXPECT_NE(std::string(kSwigluBackwardAndProductText).find("void cotrain_swiglu_backward_and_product(T grad, T gate, T up, T& product,"),
            std::string::npos)
      << kSwigluBackwardAndProductText;
}

}  // namespace
}  // namespace cotrain
