#include "cotrain/model/cuda_elementwise.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "cotrain/model/layers.h"
#include "cotrain/model/lean_ops.h"
#include "unit/model/rounded_once.h"

namespace cotrain {
namespace {

using test::expect_rounded_once;

// The exact (fp64) value of silu(gate) * up and its gradients for the upstream GRAD.
SwigluBackward exact(const torch::Tensor& grad, const torch::Tensor& gate, const torch::Tensor& up) {
  auto g = gate.to(torch::kCPU, torch::kFloat64).requires_grad_(true), u = up.to(torch::kCPU, torch::kFloat64).requires_grad_(true);
  auto product = torch::silu(g) * u;
  (product * grad.to(torch::kCPU, torch::kFloat64)).sum().backward();
  return {product.detach(), g.grad(), u.grad()};
}

// ATen's composite on the same device, as autograd sees it.
SwigluBackward composite(const torch::Tensor& grad, const torch::Tensor& gate, const torch::Tensor& up) {
  auto g = gate.detach().clone().requires_grad_(true), u = up.detach().clone().requires_grad_(true);
  auto product = torch::silu(g) * u;
  (product * grad).sum().backward();
  return {product.detach(), g.grad(), u.grad()};
}

TEST(CudaSwiglu, IsTheExactProductRoundedOnceOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  torch::manual_seed(12);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (bool transposed : {false, true}) {  // a strided view takes the jiterator's offset calculator
      const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
      auto gate = (torch::randn({97, 300}) * 4).to(options), up = torch::randn({97, 300}).to(options);
      auto grad = torch::randn({97, 300}).to(options);
      if (transposed) gate = gate.t().contiguous().t();
      const auto what = std::string(c10::toString(dtype)) + (transposed ? " strided" : "");
      ASSERT_TRUE(cuda_swiglu_applies(gate, up)) << what;
      auto product = cuda_swiglu(gate, up);
      auto with_product = cuda_swiglu_backward(grad, gate, up, /*need_product=*/true);
      auto without = cuda_swiglu_backward(grad, gate, up, /*need_product=*/false);
      ASSERT_TRUE(product && with_product && without) << what << ": the jiterator refused";
      EXPECT_EQ(product->scalar_type(), dtype);
      EXPECT_TRUE(with_product->product.equal(*product)) << what << ": the backward's product is not the forward's";
      EXPECT_TRUE(without->grad_gate.equal(with_product->grad_gate) && without->grad_up.equal(with_product->grad_up)) << what;
      const auto want = exact(grad, gate, up), plain = composite(grad, gate, up);
      expect_rounded_once(*product, plain.product, want.product, what + " product");
      expect_rounded_once(without->grad_gate, plain.grad_gate, want.grad_gate, what + " gradient of gate");
      expect_rounded_once(without->grad_up, plain.grad_up, want.grad_up, what + " gradient of up");

      // swiglu() on a GPU is these kernels, forward and backward.
      auto g = gate.detach().clone().requires_grad_(true), u = up.detach().clone().requires_grad_(true);
      auto out = swiglu(g, u);
      (out * grad).sum().backward();
      EXPECT_TRUE(out.detach().equal(*product)) << what;
      EXPECT_TRUE(g.grad().equal(without->grad_gate) && u.grad().equal(without->grad_up)) << what;
    }
  }
}

// The GPU's rotary function where its kernel does not run (the jiterator refused; here, a CPU):
// the pairs' formula in ATen ops, forward and backward, is autograd through transformers'
// composite bit for bit, in fp32 and bf16.
TEST(RotaryPairs, AtenFormulaIsTheCompositeBitForBit) {
  torch::manual_seed(15);
  const std::int64_t tokens = 37, heads = 3, d = 64;
  auto inv_freq = 1.0 / torch::pow(1e6, torch::arange(0, d, 2, torch::kFloat64) / d);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto rope = rope_tables(inv_freq.to(torch::kFloat32), torch::arange(tokens, torch::kInt64) * 37, dtype);
    auto x = (torch::randn({1, tokens, heads, d}) * 3).to(dtype).transpose(1, 2).requires_grad_(true);
    auto grad = torch::randn({1, tokens, heads, d}).to(dtype).transpose(1, 2);
    auto halves = x.chunk(2, -1);
    auto composite = x * rope.cos + torch::cat({-halves[1], halves[0]}, -1) * rope.sin;
    (composite * grad).sum().backward();
    const auto what = std::string(c10::toString(dtype));
    EXPECT_TRUE(rotary_pairs(x.detach(), rope.cos, rope.sin, /*backward=*/false).equal(composite.detach())) << what;
    EXPECT_TRUE(rotary_pairs(grad, rope.cos, rope.sin, /*backward=*/true).equal(x.grad())) << what;
  }
}

// The rotary embedding of queries laid out as the decoder makes them (the projection's
// [1, tokens, heads, d] seen head-major), with rope_tables' tables: the kernel's value and gradient
// against the exact ones and ATen's composite, in X's layout, and rotary() running it both ways.
TEST(CudaRotary, IsTheExactValueRoundedOnceOnCudaInTheInputsLayout) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  torch::manual_seed(14);
  const std::int64_t tokens = 301, heads = 14, d = 64;
  auto inv_freq = 1.0 / torch::pow(1e6, torch::arange(0, d, 2, torch::kFloat64) / d);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
    const auto rope = rope_tables(inv_freq.to(torch::kFloat32).cuda(), torch::arange(tokens, torch::kInt64).cuda() * 37, dtype);
    auto x = (torch::randn({1, tokens, heads, d}) * 3).to(options).transpose(1, 2);
    auto grad = torch::randn({1, tokens, heads, d}).to(options).transpose(1, 2);
    const auto what = std::string(c10::toString(dtype));
    ASSERT_TRUE(cuda_rotary_applies(x, rope.cos, rope.sin)) << what;
    auto out = cuda_rotary(x, rope.cos, rope.sin, /*backward=*/false), grad_x = cuda_rotary(grad, rope.cos, rope.sin, /*backward=*/true);
    ASSERT_TRUE(out && grad_x) << what << ": the jiterator refused";
    EXPECT_EQ(out->strides(), x.strides()) << what << ": not the input's layout";
    EXPECT_EQ(out->scalar_type(), dtype);

    auto exact_x = x.to(torch::kCPU, torch::kFloat64).requires_grad_(true);
    auto c = rope.cos.to(torch::kCPU, torch::kFloat64), s = rope.sin.to(torch::kCPU, torch::kFloat64);
    auto halves = exact_x.chunk(2, -1);
    auto exact = exact_x * c + torch::cat({-halves[1], halves[0]}, -1) * s;
    (exact * grad.to(torch::kCPU, torch::kFloat64)).sum().backward();
    auto plain_x = x.detach().clone().requires_grad_(true);
    auto plain_halves = plain_x.chunk(2, -1);
    auto plain = plain_x * rope.cos + torch::cat({-plain_halves[1], plain_halves[0]}, -1) * rope.sin;
    (plain * grad).sum().backward();
    expect_rounded_once(*out, plain.detach(), exact.detach(), what + " rotary");
    expect_rounded_once(*grad_x, plain_x.grad(), exact_x.grad(), what + " gradient");

    auto y = x.detach().clone().requires_grad_(true);
    auto through = rotary(y, rope.cos, rope.sin);
    (through * grad).sum().backward();
    EXPECT_TRUE(through.detach().equal(*out)) << what;
    EXPECT_TRUE(y.grad().equal(*grad_x)) << what;
  }
}

}  // namespace
}  // namespace cotrain
