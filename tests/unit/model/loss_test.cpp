#include "cotrain/model/loss.h"

#include <gtest/gtest.h>
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

// The plain autograd path the fused loss replaces.
torch::Tensor reference_nll(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets) {
  auto logp = torch::log_softmax(at::linear(hidden, head).to(torch::kFloat32), -1);
  auto valid = targets.ge(0);
  auto picked = logp.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1);
  return -(picked * valid).sum();
}

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).norm().item<double>() / b.to(torch::kFloat64).norm().item<double>();
}

TEST(SummedNll, ValueAndGradientsEqualAutogradForEveryChunking) {
  torch::manual_seed(0);
  const std::int64_t T = 29, H = 16, V = 50;
  auto hidden0 = torch::randn({T, H}), head0 = torch::randn({V, H}) * 0.5;
  auto targets = torch::randint(0, V, {T}, torch::kInt64);
  targets.index_put_({torch::tensor({0, 7, 28})}, -1);  // positions without a target
  auto h_ref = hidden0.clone().requires_grad_(), w_ref = head0.clone().requires_grad_();
  auto expected = reference_nll(h_ref, w_ref, targets);
  expected.backward();
  for (std::int64_t chunk : {1, 3, 8, 29, 1000}) {
    auto h = hidden0.clone().requires_grad_(), w = head0.clone().requires_grad_();
    auto got = summed_nll(h, w, targets, LossGradients::build, chunk);
    (got * 0.5).backward();  // the backward scales the gradients it computed in the forward pass
    EXPECT_NEAR(got.item<double>(), expected.item<double>(), 1e-4) << "chunk " << chunk;
    EXPECT_LT(rel_err(h.grad() * 2, h_ref.grad()), 1e-5) << "chunk " << chunk;
    EXPECT_LT(rel_err(w.grad() * 2, w_ref.grad()), 1e-5) << "chunk " << chunk;
  }
}

TEST(SummedNll, EqualsAutogradAtQwensVocabulary) {  // the kernels' paths for long rows (log-softmax in place)
  torch::manual_seed(1);
  const std::int64_t T = 6, H = 8, V = 151936;
  auto hidden0 = torch::randn({T, H}) * 2, head0 = torch::randn({V, H});
  auto targets = torch::randint(0, V, {T}, torch::kInt64);
  targets[3] = -1;
  auto h_ref = hidden0.clone().requires_grad_(), w_ref = head0.clone().requires_grad_();
  auto expected = reference_nll(h_ref, w_ref, targets);
  expected.backward();
  for (bool head_gradient : {true, false}) {  // a frozen head takes the one pass with rescaled sums
    auto h = hidden0.clone().requires_grad_(), w = head0.clone().requires_grad_(head_gradient);
    auto got = summed_nll(h, w, targets, LossGradients::build, 4);
    got.backward();
    EXPECT_NEAR(got.item<double>(), expected.item<double>(), 1e-5 * expected.item<double>()) << "head gradient " << head_gradient;
    EXPECT_LT(rel_err(h.grad(), h_ref.grad()), 1e-5) << "head gradient " << head_gradient;
    if (head_gradient) {
      EXPECT_LT(rel_err(w.grad(), w_ref.grad()), 1e-5);
    }
  }
}

TEST(SummedNll, SharedMatrixGetsBothGradients) {  // tied embeddings: the head is also an input
  torch::manual_seed(1);
  auto w = torch::randn({40, 8}).requires_grad_();
  auto ids = torch::randint(0, 40, {12}, torch::kInt64);
  auto targets = torch::randint(0, 40, {12}, torch::kInt64);
  summed_nll(at::embedding(w, ids) * 1.5, w, targets, LossGradients::build, 5).backward();
  auto fused = w.grad().clone();
  w.mutable_grad().reset();
  reference_nll(at::embedding(w, ids) * 1.5, w, targets).backward();
  EXPECT_LT(rel_err(fused, w.grad()), 1e-5);
}

// Records the largest block the CPU allocator hands out while installed.
class LargestAllocation final : public c10::Allocator {
 public:
  LargestAllocation() : inner_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this); }
  ~LargestAllocation() override { c10::SetCPUAllocator(inner_); }
  c10::DataPtr allocate(std::size_t n) override {
    largest = std::max(largest, n);
    return inner_->allocate(n);
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
  std::size_t largest = 0;

 private:
  c10::Allocator* inner_;
};

TEST(SummedNll, ValidationLossAllocatesNoGradientBuffers) {
  torch::manual_seed(3);
  const std::int64_t T = 40, H = 64, V = 5000, chunk = 8;
  auto hidden = torch::randn({T, H}), head = (torch::randn({V, H}) * 0.1).requires_grad_();  // a trainable head (full SFT)
  auto targets = torch::randint(0, V, {T}, torch::kInt64);
  const std::size_t head_gradient = V * H * sizeof(float), chunk_logits = chunk * V * sizeof(float);
  double value = 0;
  {
    torch::NoGradGuard no_grad;
    LargestAllocation allocations;
    auto loss = summed_nll(hidden, head, targets, LossGradients::skip, chunk);
    value = loss.item<double>();
    EXPECT_FALSE(loss.requires_grad());
    EXPECT_LE(allocations.largest, chunk_logits);  // chunk-sized logits only, no [vocab, hidden] gradient
  }
  EXPECT_NEAR(value, reference_nll(hidden, head, targets).item<double>(), 1e-3);
  {
    LargestAllocation allocations;  // the same call building gradients does allocate one
    auto loss = summed_nll(hidden, head, targets, LossGradients::build, chunk);
    EXPECT_TRUE(loss.requires_grad());
    EXPECT_GE(allocations.largest, head_gradient);
  }
  torch::NoGradGuard no_grad;
  EXPECT_THROW(summed_nll(hidden, head, targets, LossGradients::build, chunk), RuntimeFailure);  // nothing could use them
}

// In bf16 (cpu_elementwise.h's kernels and MKL's fp32 sums where this CPU has them): over several
// vocabulary blocks and chunks of positions, and over a vocabulary of one block (a GPU's path:
// whole_vocabulary, its positions in slices of 512), the value and both gradients against fp64
// from the same bf16 logits, and no further from it than autograd in bf16; with the head frozen
// (the blocks' one pass, whose sums shrink where a later block holds a row's maximum), the hidden
// states' gradient alike.
void expect_bf16_gradients_exact_ones_rounded(std::int64_t T, std::int64_t V, std::int64_t H = 64) {
  auto hidden = (torch::randn({T, H}) * 2).to(torch::kBFloat16), head = (torch::randn({V, H}) * 0.3).to(torch::kBFloat16);
  auto targets = torch::randint(0, V, {T}, torch::kInt64);
  targets.index_put_({torch::tensor(std::vector<std::int64_t>{0, T / 2, T - 1})}, -1);
  auto logits = at::linear(hidden, head).to(torch::kFloat64);  // the bf16 logits the loss works from
  auto valid = targets.ge(0).to(torch::kFloat64).unsqueeze(1);
  auto logp = torch::log_softmax(logits, -1);
  auto exact_loss = -(logp.gather(1, targets.clamp_min(0).unsqueeze(1)) * valid).sum().item<double>();
  auto d_logits = (logp.exp() - torch::one_hot(targets.clamp_min(0), V).to(torch::kFloat64)) * valid;
  auto exact_hidden = d_logits.mm(head.to(torch::kFloat64)), exact_head = d_logits.t().mm(hidden.to(torch::kFloat64));

  auto h_ref = hidden.clone().requires_grad_(), w_ref = head.clone().requires_grad_();
  reference_nll(h_ref, w_ref, targets).backward();
  for (std::int64_t chunk : {128, 2048}) {
    for (bool head_gradient : {true, false}) {
      auto h = hidden.clone().requires_grad_(), w = head.clone().requires_grad_(head_gradient);
      auto loss = summed_nll(h, w, targets, LossGradients::build, chunk);
      loss.backward();
      SCOPED_TRACE("vocabulary " + std::to_string(V) + ", chunk " + std::to_string(chunk) + ", head gradient " + std::to_string(head_gradient));
      EXPECT_NEAR(loss.item<double>(), exact_loss, 1e-5 * exact_loss);
      // each gradient rounded to bf16 (2^-9 relative) from a sum of bf16-rounded softmax gradients
      EXPECT_LT(rel_err(h.grad(), exact_hidden), 4e-3);
      EXPECT_LE(rel_err(h.grad(), exact_hidden), 1.1 * rel_err(h_ref.grad(), exact_hidden));
      if (!head_gradient) continue;
      EXPECT_LT(rel_err(w.grad(), exact_head), 4e-3);
      EXPECT_LE(rel_err(w.grad(), exact_head), 1.1 * rel_err(w_ref.grad(), exact_head));
    }
  }
}

TEST(SummedNll, Bf16GradientsAreTheExactOnesRoundedAndNoWorseThanAutograds) {
  torch::manual_seed(4);
  expect_bf16_gradients_exact_ones_rounded(300, 10000);  // 3 blocks of the vocabulary, the last partial
  expect_bf16_gradients_exact_ones_rounded(300, 9001, 72);  // rows of logits and of sums that end inside a vector
  expect_bf16_gradients_exact_ones_rounded(1100, 3000);  // one block: whole_vocabulary, three slices
}

// The loss's gradient scale (a step's 1 / target tokens) reaches both bf16 gradients in fp32: the
// norms of the gradients of loss / 3 are a third of the exact ones but for rounding noise, where a
// scale rounded to bf16 (0.333984375) would make them 0.2% larger.
TEST(SummedNll, Bf16GradientsTakeTheLossScaleInFp32) {
  torch::manual_seed(5);
  for (std::int64_t V : {10000, 3000}) {  // blocks of the vocabulary, and one block
    const std::int64_t T = 300, H = 64;
    auto hidden = (torch::randn({T, H}) * 2).to(torch::kBFloat16), head = (torch::randn({V, H}) * 0.3).to(torch::kBFloat16);
    auto targets = torch::randint(0, V, {T}, torch::kInt64);
    auto logits = at::linear(hidden, head).to(torch::kFloat64);
    auto d_logits = torch::softmax(logits, -1) - torch::one_hot(targets, V).to(torch::kFloat64);
    const double scale = 1.0 / 3;
    auto exact_hidden = d_logits.mm(head.to(torch::kFloat64)) * scale, exact_head = d_logits.t().mm(hidden.to(torch::kFloat64)) * scale;
    auto h = hidden.clone().requires_grad_(), w = head.clone().requires_grad_();
    (summed_nll(h, w, targets, LossGradients::build) * scale).backward();
    auto norm = [](const torch::Tensor& t) { return t.to(torch::kFloat64).norm().item<double>(); };
    EXPECT_NEAR(norm(h.grad()) / norm(exact_hidden), 1.0, 5e-4) << "vocabulary " << V;
    EXPECT_NEAR(norm(w.grad()) / norm(exact_head), 1.0, 5e-4) << "vocabulary " << V;
  }
}

TEST(SummedNll, Bf16IsCloseToFp32AndKeepsGradientDtypes) {
  torch::manual_seed(2);
  auto hidden = torch::randn({20, 16}), head = torch::randn({30, 16}) * 0.3;
  auto targets = torch::randint(0, 30, {20}, torch::kInt64);
  auto fp32 = summed_nll(hidden, head, targets, LossGradients::skip, 7).item<double>();
  auto h = hidden.to(torch::kBFloat16).requires_grad_(), w = head.to(torch::kBFloat16).requires_grad_();
  auto bf16 = summed_nll(h, w, targets, LossGradients::build, 7);
  EXPECT_NEAR(bf16.item<double>(), fp32, 0.02 * std::abs(fp32));
  bf16.backward();
  EXPECT_EQ(h.grad().scalar_type(), torch::kBFloat16);
  EXPECT_EQ(w.grad().scalar_type(), torch::kBFloat16);
  EXPECT_NEAR(reference_nll(hidden, head, targets).item<double>(), fp32, 1e-4);
}

}  // namespace
}  // namespace cotrain
