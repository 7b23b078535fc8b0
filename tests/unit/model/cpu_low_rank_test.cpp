// The one-pass LoRA sum against its composite (the product rounded to bf16, then cpu_add's sum),
// and the adapters' gradient products against exact sums and oneDNN's.
#include "cotrain/model/cpu_low_rank.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cotrain/model/cpu_elementwise.h"

namespace cotrain {
namespace {

TEST(CpuLowRank, SumEqualsTheCompositeBitForBit) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  if (!cpu_low_rank_sum_applies(torch::zeros({16, 32}, bf16), torch::zeros({16, 32}, bf16), torch::zeros({32, 32}, bf16))) {
    GTEST_SKIP() << "this CPU has no AMX tile unit";
  }
  // Ranks 32 and 64 (one and two contraction steps); rows below, at and past a 16-row strip with a
  // ragged end; B as a LoRA layer passes it (B^T, a transposed view) and contiguous.
  for (std::int64_t rank : {32, 64}) {
    for (std::int64_t rows : {1, 16, 37, 300}) {
      for (std::int64_t out : {32, 160}) {
        for (bool transposed : {true, false}) {
          SCOPED_TRACE("rank " + std::to_string(rank) + " rows " + std::to_string(rows) + " out " + std::to_string(out) +
                       (transposed ? " B^T" : " B"));
          torch::manual_seed(rows + out);
          const auto r = torch::randn({rows, rank}, bf16);
          const auto b = transposed ? torch::randn({out, rank}, bf16).t() : torch::randn({rank, out}, bf16);
          const auto sum = (torch::randn({rows, out}) * 4).to(torch::kBFloat16);
          ASSERT_TRUE(cpu_low_rank_sum_applies(sum, r, b));
          const auto expected = cpu_add(sum, r.mm(b));
          auto got = sum.clone();
          cpu_add_low_rank_product_(got, r, b);
          EXPECT_TRUE(got.equal(expected)) << (got.to(torch::kFloat32) - expected.to(torch::kFloat32)).abs().max().item<double>();
          EXPECT_FALSE(got.equal(sum));
        }
      }
    }
  }
}

TEST(CpuLowRank, DeclinesWhatItDoesNotCompute) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  const auto sum = torch::zeros({8, 64}, bf16), r = torch::zeros({8, 64}, bf16), b = torch::zeros({64, 64}, bf16);
  EXPECT_FALSE(cpu_low_rank_sum_applies(sum, torch::zeros({8, 16}, bf16), torch::zeros({16, 64}, bf16)));  // rank 16
  EXPECT_FALSE(cpu_low_rank_sum_applies(torch::zeros({8, 48}, bf16), r, torch::zeros({64, 48}, bf16)));    // out not a multiple of 32
  EXPECT_FALSE(cpu_low_rank_sum_applies(sum.to(torch::kFloat32), r, b));                                   // fp32
  EXPECT_FALSE(cpu_low_rank_sum_applies(torch::zeros({64, 8}, bf16).t(), r, b));                           // a sum not contiguous
}

// X W^T for a LoRA layer's rank-r W, given as A [r, K] and as B^T (B [K, r]), X's rows further
// apart than K, rows below, at and past a 16-row strip, at the 0.5B's widths: the exact product
// rounded to bf16 once (within the fp32 sums' rounding); oneDNN's bf16 product bit for bit up to
// K = 896, where oneDNN sums over K in the same order (at 4,864 it blocks K otherwise, and the two
// differ where a sum lies within fp32 rounding of a bf16 midpoint).
TEST(CpuLowRank, RankProductIsTheExactProductRoundedOnce) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  if (!cpu_rank_product_applies(torch::zeros({4, 32}, bf16), torch::zeros({32, 32}, bf16))) GTEST_SKIP() << "this CPU has no AMX tile unit";
  for (std::int64_t r : {32, 64}) {
    for (std::int64_t k : {64, 896, 4864}) {
      for (std::int64_t rows : {1, 37, 300}) {
        for (bool transposed : {false, true}) {
          SCOPED_TRACE("r " + std::to_string(r) + " k " + std::to_string(k) + " rows " + std::to_string(rows) + (transposed ? " B^T" : " A"));
          torch::manual_seed(r + k + rows);
          const auto x = torch::randn({rows, k + 32}, bf16).narrow(1, 0, k);
          const auto w = transposed ? (torch::randn({k, r}) * 0.1).to(torch::kBFloat16).t() : (torch::randn({r, k}) * 0.1).to(torch::kBFloat16);
          ASSERT_TRUE(cpu_rank_product_applies(x, w));
          const auto got = cpu_rank_product(x, w);
          ASSERT_EQ(got.sizes(), torch::IntArrayRef({rows, r}));
          const auto x64 = x.to(torch::kFloat64), w64 = w.to(torch::kFloat64);
          const auto exact = x64.mm(w64.t()), magnitude = x64.abs().mm(w64.abs().t());
          const auto half_step = exact.abs() * std::ldexp(1.0, -8);  // half a bf16 step, at most
          EXPECT_TRUE((got.to(torch::kFloat64) - exact).abs().le(half_step + magnitude * 1e-6).all().item<bool>());
          if (k <= 896) {
            EXPECT_TRUE(got.equal(x.mm(w.t())));
          }
        }
      }
    }
  }
  EXPECT_FALSE(cpu_rank_product_applies(torch::zeros({4, 32}, bf16), torch::zeros({16, 32}, bf16)));  // rank 16
  EXPECT_FALSE(cpu_rank_product_applies(torch::zeros({4, 48}, bf16), torch::zeros({32, 48}, bf16)));  // K not a multiple of 32
  EXPECT_FALSE(cpu_rank_product_applies(torch::zeros({32, 4}, bf16).t(), torch::zeros({32, 32}, bf16)));  // X's rows strided
}

// P^T Q in fp32 over 1, 37 (a ragged last step) and 2,048 tokens, Q a view of rows further apart:
// the exact sums within fp32 rounding, and rounded to bf16 oneDNN's bf16 product but for a few
// sums near a midpoint, by one unit in the last place.
TEST(CpuLowRank, GradientIsTheExactProductInFp32) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  if (!cpu_low_rank_gradient_applies(torch::zeros({4, 32}, bf16), torch::zeros({4, 32}, bf16))) GTEST_SKIP() << "this CPU has no AMX tile unit";
  for (std::int64_t rank : {32, 64}) {
    for (std::int64_t tokens : {1, 37, 2048}) {
      for (std::int64_t n : {32, 160}) {
        SCOPED_TRACE("rank " + std::to_string(rank) + " tokens " + std::to_string(tokens) + " n " + std::to_string(n));
        torch::manual_seed(tokens + n);
        const auto p = torch::randn({tokens, rank}, bf16), q = torch::randn({tokens, n + 64}, bf16).narrow(1, 32, n);
        ASSERT_TRUE(cpu_low_rank_gradient_applies(p, q));
        const auto got = cpu_low_rank_gradient(p, q);
        ASSERT_EQ(got.sizes(), torch::IntArrayRef({rank, n}));
        ASSERT_EQ(got.scalar_type(), torch::kFloat32);
        const auto p64 = p.to(torch::kFloat64), q64 = q.to(torch::kFloat64);
        const auto bound = torch::mm(p64.abs().t(), q64.abs()) * 1e-6;
        EXPECT_TRUE((got.to(torch::kFloat64) - torch::mm(p64.t(), q64)).abs().le(bound).all().item<bool>());
        const auto onednn = p.t().mm(q), ours = got.to(torch::kBFloat16);
        const auto ulp = onednn.to(torch::kFloat64).abs() * std::ldexp(1.0, -7);
        EXPECT_TRUE((ours.to(torch::kFloat64) - onednn.to(torch::kFloat64)).abs().le(ulp).all().item<bool>());
        EXPECT_GT(ours.eq(onednn).to(torch::kFloat64).mean().item<double>(), 0.99);
      }
    }
  }
  EXPECT_FALSE(cpu_low_rank_gradient_applies(torch::zeros({4, 16}, bf16), torch::zeros({4, 32}, bf16)));  // rank 16
  EXPECT_FALSE(cpu_low_rank_gradient_applies(torch::zeros({4, 32}, bf16), torch::zeros({4, 48}, bf16)));  // n not a multiple of 32
  EXPECT_FALSE(cpu_low_rank_gradient_applies(torch::zeros({4, 32}), torch::zeros({4, 32})));              // fp32
}

// The adapter's gradient as tokens_product (model/lean_ops.cpp) uses it: the fp32 sums times the
// scale rounded to bf16, as cpu_scaled_bf16 rounds them, bit for bit, in either layout.
TEST(CpuLowRank, RoundedGradientIsTheScaledBf16OfTheSumsInEitherLayout) {
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  if (!cpu_low_rank_gradient_applies(torch::zeros({4, 32}, bf16), torch::zeros({4, 32}, bf16))) GTEST_SKIP() << "this CPU has no AMX tile unit";
  for (std::int64_t rank : {32, 64}) {
    for (std::int64_t tokens : {0, 37, 300}) {
      for (std::int64_t n : {32, 160}) {
        for (float scale : {1.f, 0.5f, 4.f}) {
          SCOPED_TRACE("rank " + std::to_string(rank) + " tokens " + std::to_string(tokens) + " n " + std::to_string(n) + " scale " +
                       std::to_string(scale));
          torch::manual_seed(tokens + n + rank);
          const auto p = torch::randn({tokens, rank}, bf16), q = torch::randn({tokens, n + 64}, bf16).narrow(1, 32, n);
          const auto expected = cpu_scaled_bf16(cpu_low_rank_gradient(p, q), scale).to(torch::kFloat32);
          const auto got = cpu_low_rank_gradient_rounded(p, q, scale, /*transposed=*/false);
          const auto got_t = cpu_low_rank_gradient_rounded(p, q, scale, /*transposed=*/true);
          ASSERT_EQ(got.scalar_type(), torch::kFloat32);
          EXPECT_TRUE(got.equal(expected));
          ASSERT_EQ(got_t.sizes(), torch::IntArrayRef({n, rank}));
          EXPECT_TRUE(got_t.is_contiguous());
          EXPECT_TRUE(got_t.equal(expected.t()));
          if (tokens > 0) {
            EXPECT_FALSE(got.equal(cpu_low_rank_gradient(p, q) * scale));  // rounded, not the sums
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace cotrain
