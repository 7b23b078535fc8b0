// The unbiased pass@k estimator every benchmark shares, and its mean over problems.
#include "cotrain/eval/pass_at_k.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cotrain {
namespace {

// 1 - C(n-c, k) / C(n, k) by the definition, with exact binomials (small n only).
double by_definition(int n, int c, int k) {
  auto choose = [](int a, int b) {
    if (b < 0 || b > a) return 0.0;
    double r = 1;
    for (int i = 1; i <= b; ++i) r = r * (a - b + i) / i;
    return r;
  };
  return 1.0 - choose(n - c, k) / choose(n, k);
}

TEST(PassAtK, MatchesTheClosedForm) {
  EXPECT_DOUBLE_EQ(pass_at_k(10, 0, 1), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 3, 1), 0.3);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 10, 5), 1.0);
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);  // 1 - C(7,5)/C(10,5)
  EXPECT_DOUBLE_EQ(pass_at_k(4, 2, 3), 1.0);  // fewer failures than k: some draw must pass
  for (int n = 1; n <= 20; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k) ASSERT_NEAR(pass_at_k(n, c, k), by_definition(n, c, k), 1e-12) << n << " " << c << " " << k;
}

TEST(PassAtK, MeanOverProblemsCountsProblemsWithoutSamplesAsZero) {
  // Three problems with 4 samples each (1, 4 and 0 correct) and a fourth without samples.
  auto rates = mean_pass_at_k({{4, 1}, {4, 4}, {4, 0}}, 4);
  ASSERT_EQ(rates.size(), 3u);  // k = 1, 2, 4: up to the smallest n
  EXPECT_EQ(rates[0].first, 1);
  EXPECT_NEAR(rates[0].second, (0.25 + 1.0 + 0.0) / 4, 1e-12);
  EXPECT_EQ(rates[1].first, 2);
  EXPECT_NEAR(rates[1].second, (by_definition(4, 1, 2) + 1.0 + 0.0) / 4, 1e-12);
  EXPECT_EQ(rates[2].first, 4);
  EXPECT_NEAR(rates[2].second, (1.0 + 1.0 + 0.0) / 4, 1e-12);
}

TEST(PassAtK, MeanStopsAtTheSmallestSampleCount) {
  auto rates = mean_pass_at_k({{16, 8}, {5, 1}}, 2);
  std::vector<int> ks;
  for (auto [k, value] : rates) ks.push_back(k);
  EXPECT_EQ(ks, (std::vector<int>{1, 2, 4, 5}));
  EXPECT_NEAR(rates.back().second, (by_definition(16, 8, 5) + by_definition(5, 1, 5)) / 2, 1e-12);
  EXPECT_TRUE(mean_pass_at_k({}, 3).empty());
  EXPECT_TRUE(mean_pass_at_k({{2, 1}}, 0).empty());
}

}  // namespace
}  // namespace cotrain
