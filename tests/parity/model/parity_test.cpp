// cotrain's decoder against transformers on the random models of
// scripts/reference/model_fixtures.py: log-probs, packing and gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "cotrain/model/loss.h"
#include "parity/model/fixture.h"

namespace cotrain {
namespace {

using test::Fixture;
using test::max_abs_diff;
using test::packed_logprobs;

Fixture load_fixture(const std::string& name) { return test::load_fixture("model_fixtures", name); }

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, Fp32LogprobsMatchTransformersAloneAndPacked) {
  auto f = load_fixture(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto worst = test::logprob_agreement(model, f, "logprobs.");
  EXPECT_LE(worst.alone, 1e-4);
  EXPECT_LE(worst.packed, 1e-4);
  EXPECT_LE(worst.packed_vs_alone, 1e-5);  // packing changes nothing but float summation order
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", worst.alone));
}

// Through the training loss (fused chunked NLL) on one packed row of all sequences.
TEST_P(Parity, GradientsOfSummedNllMatchTransformers) {
  auto f = load_fixture(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  auto row = pack_documents(f.sequences);
  auto nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build, /*chunk=*/37);
  torch::Tensor reference_nll;
  {
    torch::NoGradGuard no_grad;
    packed_logprobs(model, f.sequences, &reference_nll);
  }
  EXPECT_NEAR(nll.item<double>(), reference_nll.item<double>(), 1e-6 * std::abs(reference_nll.item<double>()));
  nll.backward();
  double worst = 0;
  std::string worst_name;
  for (auto& item : model->named_parameters()) {
    auto ref = f.get("grad." + item.key());
    auto got = item.value().grad();
    ASSERT_TRUE(got.defined()) << item.key();
    double rel = test::rel_diff(got, ref);
    if (rel > worst) {
      worst = rel;
      worst_name = item.key();
    }
  }
  EXPECT_LE(worst, 1e-3) << "worst parameter: " << worst_name;
}

// bf16 against transformers in bf16: both round every activation to 8 bits of mantissa in
// slightly different places, so agreement is bounded by bf16 resolution, not 1e-4.
TEST_P(Parity, Bf16LogprobsWithinBf16Resolution) {
  auto f = load_fixture(GetParam());
  auto model = load_model(f.dir, torch::kBFloat16, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto [worst_vs_hf_bf16, mean] = test::bf16_agreement(packed_logprobs(model, f.sequences), f, "logprobs_bf16.");
  EXPECT_LE(worst_vs_hf_bf16, 0.05);
  EXPECT_LE(mean, 0.005);
  RecordProperty("bf16_max_abs_diff", fmt::format("{:.3g}", worst_vs_hf_bf16));
}

INSTANTIATE_TEST_SUITE_P(Transformers, Parity,
                         ::testing::Values("qwen2_gqa_untied", "qwen2_tied", "qwen3_head_dim", "llama3_rope_scaling"));

}  // namespace
}  // namespace cotrain
