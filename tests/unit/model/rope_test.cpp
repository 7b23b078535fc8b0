// The rotary tables against the cosine and sine of their fp32 angles computed one at a time.
// ctest runs each test in a process of its own, so these tables are its first vector-math work,
// after a matrix product as in a model's forward: the case that sometimes came out wrong (layers.cpp;
// without its first one-element call this test failed in 10 of 160 runs, two at a time, on a 2-core
// Xeon VM).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "cotrain/model/layers.h"

namespace cotrain {
namespace {

TEST(RopeTables, AreTheCosineAndSineOfTheFp32AnglesInAFreshProcess) {
  ModelConfig config;
  config.head_dim = 128;
  config.rope_theta = 1e6;
  const auto inv_freq = rope_inv_freq(config, torch::kCPU);
  // A matrix product first, as a model's loading and forward do: MKL is running, threaded.
  auto product = torch::ones({256, 256}).mm(torch::ones({256, 256}));
  ASSERT_EQ(product[0][0].item<float>(), 256.0f);
  // A packed row of four documents, long enough for torch to split the tables over its threads.
  std::vector<std::int64_t> positions;
  for (std::int64_t length : {181, 1000, 7, 2000}) {
    for (std::int64_t p = 0; p < length; ++p) positions.push_back(p);
  }
  const auto rope = rope_tables(inv_freq, torch::tensor(positions), torch::kFloat32);
  ASSERT_EQ(rope.cos.sizes(), (std::vector<std::int64_t>{1, 1, static_cast<std::int64_t>(positions.size()), config.head_dim}));

  // The angle is the fp32 product, as transformers makes it; its cosine and sine in double are the
  // exact values the tables round. One ulp of a value below 1 is at most 6e-8.
  auto angles = (torch::tensor(positions).to(torch::kFloat32).reshape({-1, 1}) * inv_freq.reshape({1, -1})).contiguous();
  auto exact_cos = torch::empty(angles.sizes(), torch::kFloat64), exact_sin = torch::empty(angles.sizes(), torch::kFloat64);
  const auto* a = angles.data_ptr<float>();
  auto *c = exact_cos.data_ptr<double>(), *s = exact_sin.data_ptr<double>();
  for (std::int64_t i = 0; i < angles.numel(); ++i) {
    c[i] = std::cos(static_cast<double>(a[i]));
    s[i] = std::sin(static_cast<double>(a[i]));
  }
  const auto half = config.head_dim / 2;
  for (const auto& [table, exact, name] : {std::tuple{rope.cos, exact_cos, "cos"}, std::tuple{rope.sin, exact_sin, "sin"}}) {
    const auto t = table.squeeze(0).squeeze(0).to(torch::kFloat64);
    for (std::int64_t h = 0; h < 2; ++h) {  // both halves hold the same angles
      const auto error = (t.narrow(1, h * half, half) - exact).abs().max().item<double>();
      EXPECT_LE(error, 1.2e-7) << name << ", half " << h;
    }
  }
}

}  // namespace
}  // namespace cotrain
