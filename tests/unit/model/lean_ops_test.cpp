#include "cotrain/model/lean_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace cotrain {
namespace {

// transformers' RMSNorm and the SwiGLU product as plain autograd sees them.
torch::Tensor composite_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto x32 = x.to(torch::kFloat32);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * x32.to(x.scalar_type());
}

torch::Tensor composite_swiglu(const torch::Tensor& gate, const torch::Tensor& up) { return torch::silu(gate) * up; }

struct Grads {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};

// OUT = FN(inputs), then backward of sum(OUT * upstream): the value and each input's gradient.
template <typename Fn>
Grads run(Fn fn, std::vector<torch::Tensor> inputs, const torch::Tensor& upstream) {
  for (auto& t : inputs) t = t.detach().clone().requires_grad_(true);
  auto out = fn(inputs);
  (out * upstream).sum().backward();
  Grads g{out.detach(), {}};
  for (auto& t : inputs) g.grads.push_back(t.grad());
  return g;
}

void expect_same_bits(const Grads& lean, const Grads& plain, const std::string& what) {
  EXPECT_TRUE(lean.out.equal(plain.out)) << what << ": value";
  ASSERT_EQ(lean.grads.size(), plain.grads.size());
  for (std::size_t i = 0; i < lean.grads.size(); ++i) {
    ASSERT_TRUE(lean.grads[i].defined()) << what << ": input " << i;
    EXPECT_EQ(lean.grads[i].scalar_type(), plain.grads[i].scalar_type()) << what << ": input " << i;
    EXPECT_TRUE(lean.grads[i].equal(plain.grads[i])) << what << ": gradient of input " << i << ", max diff "
                                                     << (lean.grads[i].to(torch::kFloat64) - plain.grads[i].to(torch::kFloat64)).abs().max().item<double>();
  }
}

TEST(LeanOps, RmsNormEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    // [batch, tokens, hidden] as the decoder's norms, [batch, tokens, heads, head_dim] as Qwen3's q/k norms
    for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{1, 37, 64}, std::vector<std::int64_t>{2, 9, 4, 32}}) {
      auto x = (torch::randn(shape) * 3).to(dtype);
      auto weight = (1 + 0.1 * torch::randn({shape.back()})).to(dtype);
      auto upstream = torch::randn(shape).to(dtype);
      const double eps = 1e-6;
      auto lean = run([&](const std::vector<torch::Tensor>& in) { return rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return composite_rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + " rank " + std::to_string(shape.size()));
    }
  }
}

TEST(LeanOps, SwigluEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(4);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto gate = (torch::randn({1, 41, 160}) * 4).to(dtype);
    auto up = torch::randn({1, 41, 160}).to(dtype);
    auto upstream = torch::randn({1, 41, 160}).to(dtype);
    auto lean = run([](const std::vector<torch::Tensor>& in) { return swiglu(in[0], in[1]); }, {gate, up}, upstream);
    auto plain = run([](const std::vector<torch::Tensor>& in) { return composite_swiglu(in[0], in[1]); }, {gate, up}, upstream);
    expect_same_bits(lean, plain, c10::toString(dtype));
  }
}

TEST(LeanOps, SwigluLinearEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(5);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (bool has_bias : {false, true}) {
      auto gate = (torch::randn({1, 41, 160}) * 4).to(dtype);
      auto up = torch::randn({1, 41, 160}).to(dtype);
      auto weight = (torch::randn({48, 160}) * 0.1).to(dtype);
      auto bias = torch::randn({48}).to(dtype);
      auto upstream = torch::randn({1, 41, 48}).to(dtype);
      std::vector<torch::Tensor> inputs = {gate, up, weight};
      if (has_bias) inputs.push_back(bias);
      auto b = [&](const std::vector<torch::Tensor>& in) { return has_bias ? in[3] : torch::Tensor(); };
      auto lean = run([&](const std::vector<torch::Tensor>& in) { return swiglu_linear(in[0], in[1], in[2], b(in)); }, inputs, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return at::linear(composite_swiglu(in[0], in[1]), in[2], b(in)); },
                       inputs, upstream);
      expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + (has_bias ? " with bias" : ""));
    }
  }
}

// Only the inputs that need a gradient get one, and a frozen weight costs no weight gradient.
TEST(LeanOps, GradientsOnlyWhereNeeded) {
  auto x = torch::randn({1, 5, 8}).requires_grad_(true);
  auto weight = torch::ones({8});  // frozen, as under LoRA
  rms_norm(x, weight, 1e-6).sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(weight.grad().defined());
  auto gate = torch::randn({1, 2, 6}).requires_grad_(true);
  auto down = torch::randn({4, 6});  // frozen
  swiglu_linear(gate, torch::randn({1, 2, 6}), down).sum().backward();
  EXPECT_TRUE(gate.grad().defined());
  EXPECT_FALSE(down.grad().defined());
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(swiglu(torch::randn({3}), torch::randn({3})).requires_grad());
}

}  // namespace
}  // namespace cotrain
