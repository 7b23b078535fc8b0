// cotrain's LoRA against peft on the random models and adapters of
// scripts/reference/lora_fixtures.py: log-probs through an adapter peft saved, gradients of the
// adapter, bf16 bases, merging, and an adapter saved by cotrain read back by peft.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "common/shared_data.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/loss.h"
#include "cotrain/model/peft_adapter.h"
#include "parity/model/fixture.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

using test::Fixture;
using test::max_abs_diff;
using test::packed_logprobs;

Fixture load_fixture(const std::string& name) { return test::load_fixture("lora_fixtures", name); }

CausalLM model_with_adapter(const Fixture& f, torch::ScalarType dtype) {
  auto model = load_model(f.dir / "base", dtype, torch::kCPU);
  load_peft_adapter(model, f.dir / "adapter");
  model->eval();  // no dropout, as the reference
  return model;
}

class LoraParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraParity, Fp32LogprobsMatchPeftAloneAndPacked) {
  auto f = load_fixture(GetParam());
  auto model = model_with_adapter(f, torch::kFloat32);
  EXPECT_EQ(model->lora->rank, f.inputs["r"].get<std::int64_t>());
  EXPECT_EQ(model->lora->rslora, f.inputs["rslora"].get<bool>());
  torch::NoGradGuard no_grad;
  auto worst = test::logprob_agreement(model, f, "logprobs.");
  EXPECT_LE(worst.alone, 1e-4);
  EXPECT_LE(worst.packed, 1e-4);
  double adapter_effect = 0;
  for (std::size_t i = 0; i < f.sequences.size(); ++i) {
    const auto n = std::to_string(i);
    adapter_effect = std::max(adapter_effect, max_abs_diff(f.get("logprobs." + n), f.get("base_logprobs." + n)));
  }
  EXPECT_GE(adapter_effect, 0.3);  // the adapter moves log-probs far beyond the tolerance
  RecordProperty("max_abs_diff", fmt::format("{:.3g}", worst.alone));
}

TEST_P(LoraParity, AdapterGradientsMatchPeftAndTheBaseGetsNone) {
  auto f = load_fixture(GetParam());
  auto model = model_with_adapter(f, torch::kFloat32);
  auto row = pack_documents(f.sequences);
  summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build, 37).backward();
  auto adapter = lora_parameters(model);
  double worst = 0;
  std::string worst_name;
  for (const auto& item : model->named_parameters()) {
    const auto& grad = item.value().grad();
    if (!adapter.contains(item.key())) {
      EXPECT_FALSE(grad.defined()) << item.key() << " is frozen but got a gradient";
      continue;
    }
    ASSERT_TRUE(grad.defined()) << item.key();
    double rel = test::rel_diff(grad, f.get("grad." + peft_tensor_name(item.key())));
    if (rel > worst) {
      worst = rel;
      worst_name = item.key();
    }
  }
  EXPECT_LE(worst, 1e-4) << "worst tensor: " << worst_name;
  RecordProperty("max_rel_diff", fmt::format("{:.3g}", worst));
}

// peft keeps the adapter in fp32 over a bf16 base and adds its update in fp32 before rounding
// to bf16; so does cotrain. The rest of the model rounds activations to bf16 in slightly
// different places than transformers, so agreement is bounded by bf16 resolution (the same
// bound as the base model's bf16 parity test), not 1e-4.
TEST_P(LoraParity, Bf16BaseWithinBf16ResolutionOfPeft) {
  auto f = load_fixture(GetParam());
  auto model = model_with_adapter(f, torch::kBFloat16);
  for (const auto& item : lora_parameters(model)) {
    ASSERT_EQ(item.value().scalar_type(), torch::kFloat32) << item.key();
  }
  torch::NoGradGuard no_grad;
  auto [worst, mean] = test::bf16_agreement(packed_logprobs(model, f.sequences), f, "logprobs_bf16.");
  EXPECT_LE(worst, 0.05);
  EXPECT_LE(mean, 0.005);
  RecordProperty("bf16_max_abs_diff", fmt::format("{:.3g}", worst));
}

// A bf16 training step against peft under the Trainer's bf16 autocast (train mode, dropout 0): the
// summed NLL and the fp32 adapter gradients. Both sides round activations to bf16, in places that
// differ outside the adapter, so the bound is bf16 resolution: the gradients within 2% (their
// relative L2 distance; 0.4-1.4% here, and 2.2-11% when the adapter runs its products in fp32 as
// at inference), the NLL within 0.5%.
TEST_P(LoraParity, Bf16TrainingStepWithinBf16ResolutionOfPeftUnderAutocast) {
  auto f = load_fixture(GetParam());
  auto model = model_with_adapter(f, torch::kBFloat16);
  model->train();
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<LinearImpl>()) linear->lora_dropout = 0;
  }
  auto row = pack_documents(f.sequences);
  auto nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build, 37);
  nll.backward();
  double ref_nll = 0;
  for (std::size_t i = 0; i < f.sequences.size(); ++i) ref_nll -= f.get("train_bf16_logprobs." + std::to_string(i)).sum().item<double>();
  EXPECT_NEAR(nll.item<double>(), ref_nll, 5e-3 * ref_nll);
  double worst = 0;
  std::string worst_name;
  for (const auto& item : lora_parameters(model)) {
    const auto& grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    EXPECT_EQ(grad.scalar_type(), torch::kFloat32) << item.key();
    double rel = test::rel_diff(grad, f.get("train_bf16_grad." + peft_tensor_name(item.key())));
    if (rel > worst) {
      worst = rel;
      worst_name = item.key();
    }
  }
  EXPECT_LE(worst, 0.02) << "worst tensor: " << worst_name;
  RecordProperty("max_rel_diff", fmt::format("{:.3g}", worst));
}

TEST_P(LoraParity, MergeEqualsPeftMergeAndUnload) {
  auto f = load_fixture(GetParam());
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto model = model_with_adapter(f, dtype);
    merge_lora(model);
    EXPECT_FALSE(model->lora.has_value());
    EXPECT_EQ(lora_parameters(model).size(), 0u);
    auto params = model->named_parameters();
    const std::string prefix = dtype == torch::kFloat32 ? "merged." : "merged_bf16.";
    int merged = 0;
    for (const auto& info : f.expected->header().tensors) {
      if (info.name.rfind(prefix, 0) != 0) continue;
      auto ref = f.get(info.name);
      auto got = params[info.name.substr(prefix.size())];
      if (dtype == torch::kFloat32) {
        EXPECT_LE(max_abs_diff(got, ref), 1e-6) << info.name;
      } else {  // the fp32 sum rounded once to bf16, as peft; a value near a rounding tie may
                // round the other way when the two fp32 matmuls differ in their last bit
        EXPECT_LE(got.ne(ref).sum().item<std::int64_t>(), std::max<std::int64_t>(1, ref.numel() / 1000)) << info.name;
        EXPECT_LE(test::rel_diff(got, ref), 1e-3) << info.name;
      }
      ++merged;
    }
    EXPECT_GT(merged, 0);
    if (dtype != torch::kFloat32) continue;
    torch::NoGradGuard no_grad;
    EXPECT_LE(test::logprob_agreement(model, f, "merged_logprobs.").packed, 1e-4);  // peft's merged model
    EXPECT_LE(test::logprob_agreement(model, f, "logprobs.").packed, 1e-4);         // peft's unmerged adapter
  }
}

INSTANTIATE_TEST_SUITE_P(Peft, LoraParity, ::testing::Values("qwen2_tied_all_linear", "qwen3_subset", "llama_rslora"));

// For each fixture's base model, a fresh cotrain adapter with non-zero B and another rank, alpha
// and scaling rule than the fixture's, saved by cotrain and read by peft (PeftModel.from_pretrained
// in scripts/reference/transformers_score.py, one Python start for all): peft gives cotrain's
// log-probs within 1e-4.
TEST(LoraFiles, AdaptersSavedByCotrainLoadInPeft) {
  auto dir = test::scratch_dir();
  std::string cases;
  for (const std::string name : {"qwen2_tied_all_linear", "qwen3_subset", "llama_rslora"}) {
    auto f = load_fixture(name);
    auto model = load_model(f.dir / "base", torch::kFloat32, torch::kCPU);
    auto settings = test::lora_settings(f.inputs["targets"].get<std::vector<std::string>>(), 4, 12, !f.inputs["rslora"].get<bool>());
    add_lora(model, settings, 11);
    test::randomize_lora_b(model, 12, 0.3);
    model->eval();
    const auto adapter = dir / name / "adapter";
    save_peft_adapter(model, adapter, "tiny-base");
    {  // and back into cotrain, bit for bit
      auto reloaded = load_model(f.dir / "base", torch::kFloat32, torch::kCPU);
      EXPECT_EQ(load_peft_adapter(reloaded, adapter).rank, settings.rank);
      auto mine = lora_parameters(model), theirs = lora_parameters(reloaded);
      ASSERT_EQ(mine.size(), theirs.size());
      for (const auto& item : mine) {
        EXPECT_TRUE(torch::equal(item.value(), theirs[item.key()])) << item.key();
      }
    }
    std::ofstream ids(dir / name / "ids.jsonl"), scores(dir / name / "scores.jsonl");
    torch::NoGradGuard no_grad;
    auto packed = packed_logprobs(model, f.sequences);
    for (std::size_t i = 0; i < f.sequences.size(); ++i) {
      auto lp = packed[i].to(torch::kFloat64).contiguous();
      std::vector<double> values(lp.data_ptr<double>(), lp.data_ptr<double>() + lp.numel());
      double nll = 0;
      for (double v : values) nll -= v;
      ids << nlohmann::json({{"input_ids", f.sequences[i]}}).dump() << "\n";
      scores << nlohmann::json({{"logprobs", values}, {"nll", nll}, {"tokens", f.sequences[i].size()}}).dump() << "\n";
    }
    cases += fmt::format(" --case {} {} {} {}", (f.dir / "base").string(), adapter.string(), (dir / name / "ids.jsonl").string(),
                         (dir / name / "scores.jsonl").string());
  }
  auto command = fmt::format("python3 {}/scripts/reference/transformers_score.py --tol 1e-4{}", COTRAIN_SOURCE_DIR, cases);
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace cotrain
