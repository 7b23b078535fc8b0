// cotrain's decoder against transformers on the random models of
// scripts/reference/model_fixtures.py: log-probs, packing and gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/loss.h"
#include "cotrain/model/weights.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  fs::path dir;
  std::vector<std::vector<std::int64_t>> sequences;
  std::shared_ptr<const SafetensorsFile> expected;

  torch::Tensor get(const std::string& name) const {
    const auto* info = expected->find(name);
    if (!info) throw std::runtime_error("fixture has no " + name);
    return tensor_view(*expected, *info, expected).clone();
  }
};

Fixture load_fixture(const std::string& name) {
  Fixture f;
  f.dir = fs::path(COTRAIN_BINARY_DIR) / "reference" / "model_fixtures" / name;
  auto inputs = read_json_file(f.dir / "inputs.json");
  f.sequences = inputs["sequences"].get<std::vector<std::vector<std::int64_t>>>();
  f.expected = SafetensorsFile::open(f.dir / "expected.safetensors");
  return f;
}

// Log-probs of each sequence from one packed row holding all of them.
std::vector<torch::Tensor> packed_logprobs(CausalLM& model, const std::vector<std::vector<std::int64_t>>& seqs, torch::Tensor* total_nll = nullptr) {
  auto row = pack_documents(seqs);
  auto lp = row_logprobs(model, row, /*chunk=*/37);  // a chunk size that splits documents
  if (total_nll) *total_nll = -lp.sum();
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    out.push_back(lp.narrow(0, row.cu_seqlens[i], static_cast<std::int64_t>(seqs[i].size()) - 1));
  }
  return out;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, Fp32LogprobsMatchTransformersAloneAndPacked) {
  auto f = load_fixture(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto packed = packed_logprobs(model, f.sequences);
  double worst_alone = 0, worst_packed = 0, worst_packed_vs_alone = 0;
  for (std::size_t i = 0; i < f.sequences.size(); ++i) {
    auto ref = f.get("logprobs." + std::to_string(i));
    auto alone = packed_logprobs(model, {f.sequences[i]})[0];
    ASSERT_EQ(alone.numel(), ref.numel());
    worst_alone = std::max(worst_alone, max_abs_diff(alone, ref));
    worst_packed = std::max(worst_packed, max_abs_diff(packed[i], ref));
    worst_packed_vs_alone = std::max(worst_packed_vs_alone, max_abs_diff(packed[i], alone));
  }
  EXPECT_LE(worst_alone, 1e-4);
  EXPECT_LE(worst_packed, 1e-4);
  EXPECT_LE(worst_packed_vs_alone, 1e-5);  // packing changes nothing but float summation order
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", worst_alone));
}

// Through the training loss (fused chunked NLL) on one packed row of all sequences.
TEST_P(Parity, GradientsOfSummedNllMatchTransformers) {
  auto f = load_fixture(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  auto row = pack_documents(f.sequences);
  auto nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, /*chunk=*/37);
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
    double rel = (got - ref).norm().item<double>() / std::max(ref.norm().item<double>(), 1e-12);
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
  auto packed = packed_logprobs(model, f.sequences);
  double worst_vs_hf_bf16 = 0, sum_abs = 0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < f.sequences.size(); ++i) {
    auto ref = f.get("logprobs_bf16." + std::to_string(i));
    worst_vs_hf_bf16 = std::max(worst_vs_hf_bf16, max_abs_diff(packed[i], ref));
    sum_abs += (packed[i].to(torch::kFloat64) - ref.to(torch::kFloat64)).abs().sum().item<double>();
    count += ref.numel();
  }
  EXPECT_LE(worst_vs_hf_bf16, 0.05);
  EXPECT_LE(sum_abs / static_cast<double>(count), 0.005);
  RecordProperty("bf16_max_abs_diff", fmt::format("{:.3g}", worst_vs_hf_bf16));
}

INSTANTIATE_TEST_SUITE_P(Transformers, Parity,
                         ::testing::Values("qwen2_gqa_untied", "qwen2_tied", "qwen3_head_dim", "llama3_rope_scaling"));

}  // namespace
}  // namespace cotrain
