// A checkpoint's tensor files are written as their tensors come (the trainer gathers them group by
// group): what reads back is what the streams handed over, and a stream that breaks its own specs
// publishes nothing. The trainer's round trips are resume_test.cpp's.
#include "cotrain/train/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/shared_data.h"
#include "cotrain/core/error.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

// A stream that makes each tensor only when the writer asks for it, and counts its fills.
TensorStream generated(const std::vector<TensorSpec>& specs, int* fills) {
  return {specs, [specs, fills](const TensorSink& sink) {
            ++*fills;
            for (std::size_t i = 0; i < specs.size(); ++i) {
              sink(specs[i].name, torch::full(specs[i].shape, static_cast<double>(i) + 0.5, torch::TensorOptions().dtype(specs[i].dtype)));
            }
          }};
}

CheckpointInfo info_at(std::int64_t step) { return {step, 1, 3, 12.5, "c0ffee", "da7a", nlohmann::ordered_json{{"train", {{"lr", 1e-4}}}}}; }

TEST(Checkpoint, StreamedTensorsReadBackAsHandedOverInTheSpecsOrder) {
  const auto dir = test::scratch_dir() / "checkpoints" / "step-7";
  const std::vector<TensorSpec> weights = {{"z.weight", torch::kBFloat16, {3, 2}}, {"a.weight", torch::kBFloat16, {4}}};
  const std::vector<TensorSpec> optimizer = {{"master.z.weight", torch::kFloat32, {3, 2}}, {"exp_avg.z.weight", torch::kFloat32, {3, 2}}};
  int weight_fills = 0, optimizer_fills = 0;
  save_checkpoint(dir, info_at(7), generated(weights, &weight_fills), generated(optimizer, &optimizer_fills),
                  {{"torch.cpu", torch::arange(5, torch::kUInt8)}});
  EXPECT_EQ(weight_fills, 1);
  EXPECT_EQ(optimizer_fills, 1);

  const TrainingCheckpoint back = read_checkpoint(dir);
  EXPECT_EQ(back.info.step, 7);
  EXPECT_EQ(back.info.data_hash, "da7a");
  ASSERT_EQ(back.weights.size(), 2u);
  EXPECT_TRUE(torch::equal(back.weights.at("z.weight"), torch::full({3, 2}, 0.5, torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(back.weights.at("a.weight"), torch::full({4}, 1.5, torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(back.optimizer.at("exp_avg.z.weight"), torch::full({3, 2}, 1.5)));
  EXPECT_TRUE(torch::equal(back.rng.at("torch.cpu"), torch::arange(5, torch::kUInt8)));
}

// The writer keeps no tensor past its sink call: a gathered group is freed before the next one
// is gathered, so the writing rank never holds the whole state.
TEST(Checkpoint, TheWriterKeepsNoTensorItWasHanded) {
  const auto dir = test::scratch_dir() / "checkpoints" / "step-3";
  const std::vector<TensorSpec> specs = {{"a", torch::kFloat32, {64}}, {"b", torch::kBFloat16, {8, 8}}};
  std::size_t kept = 0;
  const TensorStream weights = {specs, [&](const TensorSink& sink) {
                                  for (const auto& spec : specs) {
                                    auto t = torch::ones(spec.shape, torch::TensorOptions().dtype(spec.dtype));
                                    const auto handed = t.storage().getWeakStorageImpl();  // a copy or a detached view would share it
                                    sink(spec.name, t);
                                    t.reset();
                                    if (!handed.expired()) ++kept;
                                  }
                                }};
  int fills = 0;
  save_checkpoint(dir, info_at(3), weights, generated({{"exp_avg.a", torch::kFloat32, {64}}}, &fills), {});
  EXPECT_EQ(kept, 0u);
  EXPECT_TRUE(torch::equal(read_checkpoint(dir).weights.at("b"), torch::ones({8, 8}, torch::kBFloat16)));
}

TEST(Checkpoint, ATensorUnlikeItsSpecIsAnInputErrorAndNothingIsPublished) {
  const auto root = test::scratch_dir() / "checkpoints";
  int fills = 0;
  const TensorStream optimizer = generated({{"exp_avg.w", torch::kFloat32, {2}}}, &fills);
  auto attempt = [&](const TensorSpec& handed) {
    const TensorStream weights = {{{"w", torch::kBFloat16, {2}}}, [handed](const TensorSink& sink) {
                                    sink(handed.name, torch::zeros(handed.shape, torch::TensorOptions().dtype(handed.dtype)));
                                  }};
    try {
      save_checkpoint(root / "step-1", info_at(1), weights, optimizer, {});
    } catch (const InputError& e) {
      EXPECT_FALSE(fs::exists(root / "step-1"));
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(attempt({"w", torch::kFloat32, {2}}).find("tensor 'w': Float 2 given where its spec is BFloat16 2"), std::string::npos);
  EXPECT_NE(attempt({"w", torch::kBFloat16, {3}}).find("tensor 'w': BFloat16 3 given where its spec is BFloat16 2"), std::string::npos);
  EXPECT_NE(attempt({"v", torch::kBFloat16, {2}}).find("tensor 'v' given where the header has 'w' next"), std::string::npos);
  EXPECT_TRUE(list_checkpoints(root).empty());
}

}  // namespace
}  // namespace cotrain
