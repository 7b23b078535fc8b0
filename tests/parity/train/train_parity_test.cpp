// cotrain's training recipe against a plain PyTorch loop, and for LoRA a peft loop starting from
// the same saved adapter (scripts/reference/train_reference.py), on the same models, token ids,
// masks and settings: per-step loss, gradient norm and learning rate, and each trained tensor's
// total update. Then invariances of cotrain's own steps: packing on or off and micro-batch 1 or 4
// give the same steps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/io/checkpoint.h"
#include "cotrain/model/weights.h"
#include "cotrain/train/recipe.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

fs::path case_dir(const std::string& name) { return fs::path(COTRAIN_BINARY_DIR) / "reference" / "train_reference" / name; }

// Runs the case's config (with OVERRIDES) into a scratch run directory; returns that directory.
fs::path train_case(const std::string& name, TrainMode mode, std::vector<std::string> overrides, const std::string& run = "run") {
  const fs::path out = test::scratch_dir() / run;
  std::vector<ConfigOverride> o = {{"output.dir", out.string(), "test"}};
  for (const auto& s : overrides) o.push_back(parse_config_override(s));
  TrainConfig config = load_train_config(mode, (case_dir(name) / "config.json").string(), o);
  TrainResult result = run_training(config);
  EXPECT_EQ(result.status, "completed");
  return out;
}

std::vector<nlohmann::json> step_lines(const fs::path& run) {
  std::vector<nlohmann::json> steps;
  for (auto& line : read_jsonl(run / "metrics.jsonl")) {
    if (line.contains("loss")) steps.push_back(line);
  }
  return steps;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

// ‖ΔW_cotrain − ΔW_ref‖ / ‖ΔW_ref‖ for every trained tensor (named as in update.safetensors:
// the model's names for SFT, peft's for LoRA); the worst one.
std::pair<double, std::string> worst_update(const fs::path& initial_dir, const fs::path& final_dir, const fs::path& update_file) {
  CheckpointFiles initial(initial_dir), trained(final_dir), expected(update_file);
  double worst = 0;
  std::string worst_name;
  for (const auto& name : expected.names()) {
    // A key bias shifts every attention score of a query by the same amount, which softmax
    // ignores: its gradient is zero in exact arithmetic, so its update is Adam normalising
    // rounding noise, which no two implementations share.
    if (name.ends_with("k_proj.bias")) continue;
    auto view = [&](const CheckpointFiles& files) {
      const auto* t = files.find(name);
      if (!t) throw std::runtime_error("no tensor " + name);
      return tensor_view(*t->file, *t->info, nullptr).to(torch::kFloat64);
    };
    auto ref = view(expected);
    auto got = view(trained) - view(initial);
    double r = (got - ref).norm().item<double>() / std::max(ref.norm().item<double>(), 1e-30);
    if (r > worst) {
      worst = r;
      worst_name = name;
    }
  }
  return {worst, worst_name};
}

class TrainParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainParity, StepsAndUpdatesEqualThePeer) {
  const std::string name = GetParam();
  const bool lora = name.ends_with("_lora");
  auto expected = read_json_file(case_dir(name) / "expected.json")["steps"];
  const fs::path run = train_case(name, lora ? TrainMode::lora : TrainMode::sft, {});
  auto steps = step_lines(run);
  ASSERT_EQ(steps.size(), expected.size());
  double worst_loss = 0, worst_norm = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i]["step"], i + 1);
    EXPECT_EQ(steps[i]["target_tokens"], expected[i]["target_tokens"]) << "step " << i + 1;
    EXPECT_NEAR(steps[i]["lr"].get<double>(), expected[i]["lr"].get<double>(), 1e-12) << "step " << i + 1;
    worst_loss = std::max(worst_loss, rel(steps[i]["loss"], expected[i]["loss"]));
    worst_norm = std::max(worst_norm, rel(steps[i]["grad_norm"], expected[i]["grad_norm"]));
  }
  EXPECT_LE(worst_loss, 1e-5);
  EXPECT_LE(worst_norm, 1e-4);
  const fs::path adapter = "adapter_model.safetensors";
  auto [worst, where] = lora ? worst_update(case_dir(name) / "adapter" / adapter, run / "final" / adapter, case_dir(name) / "update.safetensors")
                             : worst_update(case_dir(name) / "model", run / "final", case_dir(name) / "update.safetensors");
  EXPECT_LE(worst, 1e-3) << "worst parameter: " << where;
  RecordProperty("loss_rel", fmt::format("{:.3g}", worst_loss));
  RecordProperty("grad_norm_rel", fmt::format("{:.3g}", worst_norm));
  RecordProperty("update_rel", fmt::format("{:.3g}", worst));
}

INSTANTIATE_TEST_SUITE_P(PyTorchAndPeft, TrainParity, ::testing::Values("qwen2_sft", "llama_sft", "qwen2_lora", "llama_lora"));

// How documents are grouped into forward passes changes nothing but float summation order.
TEST(TrainInvariance, PackingAndMicroBatchSizeGiveTheSameSteps) {
  const std::string name = "qwen2_sft";
  auto base = step_lines(train_case(name, TrainMode::sft, {"train.micro_batch=1"}, "micro1"));
  auto micro4 = step_lines(train_case(name, TrainMode::sft, {"train.micro_batch=4"}, "micro4"));
  auto packed = step_lines(train_case(name, TrainMode::sft, {"data.pack=true"}, "packed"));
  ASSERT_EQ(base.size(), micro4.size());
  ASSERT_EQ(base.size(), packed.size());
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (const auto* other : {&micro4, &packed}) {
      EXPECT_LE(rel((*other)[i]["loss"], base[i]["loss"]), 1e-5) << "step " << i + 1;
      EXPECT_LE(rel((*other)[i]["grad_norm"], base[i]["grad_norm"]), 1e-5) << "step " << i + 1;
      EXPECT_EQ((*other)[i]["target_tokens"], base[i]["target_tokens"]);
    }
  }
}

}  // namespace
}  // namespace cotrain
