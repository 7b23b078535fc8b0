// Choosing tokens: greedy ties, the sampled distribution, top-k and top-p, and the seeded streams.
#include "cotrain/generate/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

SamplingParams sampled(double temperature, double top_p = 1.0, std::int64_t top_k = 0) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  return p;
}

// How often each token is picked over COUNT evenly spread uniforms.
std::map<std::int64_t, double> frequencies(const std::vector<float>& logits, const SamplingParams& p, int count = 20000) {
  std::map<std::int64_t, double> f;
  for (int i = 0; i < count; ++i) f[choose_token(logits, p, (i + 0.5) / count)] += 1.0 / count;
  return f;
}

TEST(Sampling, GreedyTakesTheFirstMaximum) {
  EXPECT_EQ(choose_token(std::vector<float>{0.5f, 2.0f, -1.0f, 2.0f}, SamplingParams{}, 0.99), 1);
}

TEST(Sampling, FrequenciesFollowSoftmaxOfLogitsOverTemperature) {
  std::vector<float> logits = {1.0f, 2.0f, 0.0f, 3.0f};
  for (double t : {1.0, 0.5, 2.0}) {
    auto f = frequencies(logits, sampled(t));
    double z = 0;
    for (float l : logits) z += std::exp(l / t);
    for (std::int64_t i = 0; i < 4; ++i) EXPECT_NEAR(f[i], std::exp(logits[i] / t) / z, 1e-3) << "t " << t << " token " << i;
  }
}

TEST(Sampling, TopKKeepsTheKLargestAndTheirTies) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 2.0f, 0.0f};
  auto f = frequencies(logits, sampled(1.0, 1.0, 2));
  EXPECT_EQ(f.count(0), 0u);
  EXPECT_EQ(f.count(4), 0u);
  EXPECT_EQ(f.size(), 3u);  // 3.0 and both 2.0s
  double z = std::exp(3.0) + 2 * std::exp(2.0);
  EXPECT_NEAR(f[1], std::exp(3.0) / z, 1e-3);
  EXPECT_EQ(frequencies(logits, sampled(5.0, 1.0, 1)).size(), 1u);
}

TEST(Sampling, TopPKeepsTheSmallestHeadReachingTheMass) {
  // probabilities 0.5, 0.3, 0.15, 0.05 (as logits of their logs)
  std::vector<float> logits = {std::log(0.3f), std::log(0.05f), std::log(0.5f), std::log(0.15f)};
  auto f = frequencies(logits, sampled(1.0, 0.8));  // 0.5 + 0.3 reaches 0.8: tokens 2 and 0
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[2], 0.5 / 0.8, 1e-3);
  EXPECT_NEAR(f[0], 0.3 / 0.8, 1e-3);
  EXPECT_EQ(frequencies(logits, sampled(1.0, 0.81)).size(), 3u);  // 0.8 < 0.81: one more
  EXPECT_EQ(frequencies(logits, sampled(1.0, 0.1)).size(), 1u);   // always the most probable
}

TEST(Sampling, TopPOverALargeVocabularyWidensItsHead) {
  std::vector<float> logits(6000, 0.0f);  // flat: top-p 0.5 keeps half of them
  auto f = frequencies(logits, sampled(1.0, 0.5), 2000);
  std::int64_t highest = 0;
  for (auto& [token, _] : f) highest = std::max(highest, token);
  EXPECT_LT(highest, 3000);  // ties broken by lower id first
  EXPECT_GT(highest, 2900);
  EXPECT_GT(f.size(), 1800u);
}

TEST(Sampling, UniformStreamsDependOnlyOnTheirKeys) {
  double u = sample_uniform(1, 2, 3, 4);
  EXPECT_EQ(u, sample_uniform(1, 2, 3, 4));
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_NE(u, sample_uniform(1, 2, 3, 5));
  EXPECT_NE(u, sample_uniform(1, 2, 4, 4));
  EXPECT_NE(u, sample_uniform(1, 3, 3, 4));
  EXPECT_NE(u, sample_uniform(2, 2, 3, 4));
  double sum = 0;
  for (int i = 0; i < 10000; ++i) sum += sample_uniform(9, 0, 0, static_cast<std::uint64_t>(i));
  EXPECT_NEAR(sum / 10000, 0.5, 0.01);
}

TEST(Sampling, BadParametersNameTheirFlag) {
  EXPECT_THROW(check_sampling_params(sampled(-1)), InputError);
  EXPECT_THROW(check_sampling_params(sampled(1, 0.0)), InputError);
  EXPECT_THROW(check_sampling_params(sampled(1, 1.5)), InputError);
  EXPECT_THROW(check_sampling_params(sampled(1, 1, -2)), InputError);
  try {
    check_sampling_params(sampled(1, 2.0));
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--top-p:", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace cotrain
