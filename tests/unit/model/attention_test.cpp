// The packed-row attention paths: variable-length flash attention (CUDA) against one SDPA call per
// document, which is what every other device runs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cotrain/model/layers.h"

namespace cotrain {
namespace {

// Per-document causal SDPA of Q [1, heads, T, d], K/V [1, kv_heads, T, d] -> [1, T, heads, d].
torch::Tensor per_document(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const std::vector<std::int64_t>& cu) {
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i + 1 < cu.size(); ++i) {
    const auto start = cu[i], n = cu[i + 1] - cu[i];
    parts.push_back(at::scaled_dot_product_attention(q.narrow(2, start, n), k.narrow(2, start, n), v.narrow(2, start, n), std::nullopt,
                                                     0.0, /*is_causal=*/true, std::nullopt, /*enable_gqa=*/true));
  }
  return torch::cat(parts, 2).transpose(1, 2);
}

TEST(VarlenFlashAttention, NotUsedOnTheCpu) {
  auto q = torch::randn({1, 4, 10, 16}, torch::kBFloat16), kv = torch::randn({1, 2, 10, 16}, torch::kBFloat16);
  EXPECT_FALSE(varlen_flash_attention(q, kv, kv, {0, 4, 10}).has_value());
}

TEST(VarlenFlashAttention, EqualsPerDocumentSdpaOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device (the kernel exists only there)";
  torch::manual_seed(0);
  const auto opts = torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA);
  const std::vector<std::int64_t> cu{0, 37, 38, 200, 333};  // a one-token document among longer ones
  auto q = torch::randn({1, 14, 333, 64}, opts).requires_grad_(), k = torch::randn({1, 2, 333, 64}, opts).requires_grad_(),
       v = torch::randn({1, 2, 333, 64}, opts).requires_grad_();
  auto flash = varlen_flash_attention(q, k, v, cu);
  ASSERT_TRUE(flash.has_value()) << "no flash kernel on this GPU (needs sm_80+)";
  auto reference = per_document(q, k, v, cu);
  EXPECT_LE((*flash - reference).abs().max().item<double>(), 2e-2);
  auto g = torch::randn_like(reference);
  auto grads = torch::autograd::grad({*flash}, {q, k, v}, {g});
  auto want = torch::autograd::grad({reference}, {q, k, v}, {g});
  for (int i = 0; i < 3; ++i) EXPECT_LE((grads[i] - want[i]).abs().max().item<double>(), 5e-2) << "gradient " << i;
}

}  // namespace
}  // namespace cotrain
