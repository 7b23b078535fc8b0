#include "cotrain/model/cuda_swiglu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

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

}  // namespace
}  // namespace cotrain
