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

// The rotary pairs' formula at T over X [..., d] and tables of its shape: the output's halves,
// with the sines swapped and negated for the backward (cuda_elementwise.cpp passes them so).
template <typename T>
torch::Tensor rotary_pairs(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool backward) {
  const auto half = x.size(-1) / 2;
  auto x2d = x.reshape({-1, x.size(-1)}), c = cos.reshape({-1, x.size(-1)}), s = sin.reshape({-1, x.size(-1)});
  auto out = torch::empty_like(x2d);
  auto xa = x2d.accessor<double, 2>(), ca = c.accessor<double, 2>(), sa = s.accessor<double, 2>(), oa = out.accessor<double, 2>();
  for (std::int64_t r = 0; r < x2d.size(0); ++r) {
    for (std::int64_t i = 0; i < half; ++i) {
      const T s1 = static_cast<T>(backward ? -sa[r][half + i] : sa[r][i]), s2 = static_cast<T>(backward ? -sa[r][i] : sa[r][half + i]);
      T out1, out2;
      cotrain_rotary<T>(static_cast<T>(xa[r][i]), static_cast<T>(xa[r][half + i]), static_cast<T>(ca[r][i]), s1, static_cast<T>(ca[r][half + i]),
                        s2, out1, out2);
      oa[r][i] = out1;
      oa[r][half + i] = out2;
    }
  }
  return out.view(x.sizes());
}

// transformers' x * cos + rotate_half(x) * sin through autograd in fp64 (tables of any values, the
// two halves' different), against the formula forward and, for an upstream gradient, backward.
TEST(GpuFormulas, RotaryIsAutogradsCompositeInFp64) {
  torch::manual_seed(13);
  auto x = torch::randn({3, 5, 64}, torch::kFloat64).requires_grad_(true);
  const auto cos = torch::randn({3, 5, 64}, torch::kFloat64), sin = torch::randn({3, 5, 64}, torch::kFloat64);
  const auto grad = torch::randn({3, 5, 64}, torch::kFloat64);
  auto halves = x.chunk(2, -1);
  auto out = x * cos + torch::cat({-halves[1], halves[0]}, -1) * sin;
  (out * grad).sum().backward();
  expect_close(rotary_pairs<double>(x.detach(), cos, sin, /*backward=*/false), out.detach(), 1e-15, "rotary");
  expect_close(rotary_pairs<double>(grad, cos, sin, /*backward=*/true), x.grad(), 1e-15, "rotary's gradient");
  // Not a formula that merely ignores the partner: with the halves' sines exchanged it fails.
  auto swapped = torch::cat({sin.chunk(2, -1)[1], sin.chunk(2, -1)[0]}, -1);
  EXPECT_GT((rotary_pairs<double>(x.detach(), cos, swapped, false) - out.detach()).abs().max().item<double>(), 0.1);
}

// The texts the jiterator compiles are the formulas above, with the names cuda_elementwise.cpp launches.
TEST(GpuFormulas, TextsAreTheFormulas) {
  EXPECT_NE(std::string(kSwigluText).find("T cotrain_swiglu(T gate, T up)"), std::string::npos) << kSwigluText;
  EXPECT_NE(std::string(kSwigluBackwardText).find("void cotrain_swiglu_backward(T grad, T gate, T up, T& grad_gate, T& grad_up)"),
            std::string::npos)
      << kSwigluBackwardText;
  EXPECT_NE(std::string(kSwigluBackwardAndProductText).find("void cotrain_swiglu_backward_and_product(T grad, T gate, T up, T& product,"),
            std::string::npos)
      << kSwigluBackwardAndProductText;
  EXPECT_NE(std::string(kRotaryText).find("void cotrain_rotary(T x1, T x2, T cos1, T sin1, T cos2, T sin2, T& out1, T& out2)"),
            std::string::npos)
      << kRotaryText;
}

}  // namespace
}  // namespace cotrain
