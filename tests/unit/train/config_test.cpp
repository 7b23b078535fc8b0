// The training config: defaults, shorthands, the checks on values, and the schedule's formulas
// (transformers' *_with_warmup; exact values for the steps that matter).
#include "cotrain/train/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/train/optimizer.h"
#include "cotrain/train/schedule.h"

namespace cotrain {
namespace {

std::string error_of(TrainMode mode, const std::vector<std::string>& sets) {
  std::vector<ConfigOverride> o = {{"model.path", "m", "--model"}, {"data.path", "d", "--data"}, {"output.dir", "o", "--out"}};
  try {
    for (const auto& s : sets) o.push_back(parse_config_override(s));
    load_train_config(mode, "", o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainConfig, DefaultsAreTheSkyT1RecipeAndEveryKeyIsWritten) {
  auto dir = test::scratch_dir();
  std::ofstream(dir / "c.json") << R"({"model": {"path": "m"}, "data": {"path": ["a.jsonl", "b.jsonl"]}, "output": {"dir": "o"}})";
  auto sft = load_train_config(TrainMode::sft, (dir / "c.json").string(), {});
  EXPECT_EQ(sft.train.lr, 1e-5);
  EXPECT_EQ(sft.train.global_batch, 96);
  EXPECT_EQ(sft.train.schedule, "cosine");
  EXPECT_EQ(sft.data.cutoff, 16384);
  EXPECT_EQ(sft.data.paths, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  EXPECT_FALSE(sft.resolved.contains("lora"));
  EXPECT_EQ(sft.resolved["train"]["adam_betas"], nlohmann::json::array({0.9, 0.999}));
  auto lora = load_train_config(TrainMode::lora, (dir / "c.json").string(), {{"lora.rank", 64, "--rank"}});
  EXPECT_EQ(lora.train.lr, 1e-4);
  EXPECT_EQ(lora.lora.rank, 64);
  EXPECT_EQ(lora.lora.alpha, 128);  // 2 x rank unless given
  EXPECT_EQ(lora.resolved["lora"]["alpha"], 128);
  EXPECT_EQ(lora.lora.targets, std::vector<std::string>{"all-linear"});
}

TEST(TrainConfig, BadValuesAreOneLineErrorsNamingTheKey) {
  EXPECT_EQ(error_of(TrainMode::sft, {}), "");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.lr=x"}), "--set: train.lr: expected a number (got \"x\")");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.lr=0"}), "train.lr: must be > 0 (got 0)");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.micro_batch=8", "train.global_batch=4"}),
            "train.micro_batch: must be at most train.global_batch (8 > 4)");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.adam_betas=[0.9]"}), "train.adam_betas: expected two numbers [beta1, beta2] (got [0.9])");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.schedule=step"}),
            "--set: train.schedule: expected one of cosine, linear, constant (got \"step\")");
  EXPECT_EQ(error_of(TrainMode::sft, {"train.warmup=0.1"}), "--set: train.warmup: unknown key (did you mean train.warmup_ratio?)");
  EXPECT_EQ(error_of(TrainMode::sft, {"lora.rank=8"}), "config: lora: LoRA settings are for `cotrain lora`, not `cotrain sft`");
  EXPECT_EQ(error_of(TrainMode::lora, {"lora.targets=[\"q_proj\",\"qkv\"]"}),
            "lora.targets: unknown module \"qkv\" (all-linear or a list of: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  EXPECT_EQ(error_of(TrainMode::sft, {"data.val_fraction=1.5"}), "data.val_fraction: must be in [0, 1) (got 1.5)");
  try {
    load_train_config(TrainMode::sft, "", {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "config: model.path is required (set it in the config or with --model)");
  }
}

TEST(Schedule, WarmupThenDecayAsTransformers) {
  // 10 steps, warm-up ceil(0.25 * 10) = 3: 0, 1/3, 2/3 of lr, then the decay from step 3.
  auto cosine = make_schedule("cosine", 1.0, 10, 0.25, 0.0);
  EXPECT_EQ(cosine.warmup_steps, 3);
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(cosine.lr_at(1), 1.0 / 3);
  EXPECT_DOUBLE_EQ(cosine.lr_at(3), 1.0);
  EXPECT_NEAR(cosine.lr_at(9), 0.5 * (1 + std::cos(M_PI * 6.0 / 7.0)), 1e-15);
  auto floor = make_schedule("cosine", 1.0, 10, 0.0, 0.1);
  EXPECT_NEAR(floor.lr_at(10), 0.1, 1e-15);
  auto linear = make_schedule("linear", 2.0, 10, 0.1, 0.0);
  EXPECT_EQ(linear.warmup_steps, 1);
  EXPECT_DOUBLE_EQ(linear.lr_at(1), 2.0);
  EXPECT_DOUBLE_EQ(linear.lr_at(5), 2.0 * 5 / 9);
  auto constant = make_schedule("constant", 3.0, 10, 0.2, 0.0);
  EXPECT_DOUBLE_EQ(constant.lr_at(1), 1.5);
  EXPECT_DOUBLE_EQ(constant.lr_at(9), 3.0);
}

TEST(AdamW, DecayGroupsAreTheTrainers) {
  EXPECT_TRUE(decays("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(decays("model.embed_tokens.weight"));
  EXPECT_FALSE(decays("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(decays("model.layers.0.input_layernorm.weight"));
  EXPECT_FALSE(decays("model.norm.weight"));
  EXPECT_FALSE(decays("model.layers.0.self_attn.q_norm.weight"));
}

}  // namespace
}  // namespace cotrain
