#include "cotrain/core/config.h"

#include <gtest/gtest.h>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

using Json = nlohmann::ordered_json;

std::vector<ConfigKey> schema() {
  return {{"model.path", ConfigType::string, nullptr, {}, true},
          {"model.dtype", ConfigType::string, "bf16", {"fp32", "bf16"}},
          {"train.lr", ConfigType::number, 1e-5},
          {"train.epochs", ConfigType::integer, 3},
          {"train.adam_betas", ConfigType::numbers, Json::array({0.9, 0.999})},
          {"data.pack", ConfigType::boolean, false},
          {"lora.targets", ConfigType::strings, "all-linear"}};
}

std::string error_of(const Json& file, const std::vector<std::string>& sets = {}) {
  std::vector<ConfigOverride> overrides;
  try {
    for (const auto& s : sets) overrides.push_back(parse_config_override(s));
    resolve_config(schema(), file, "config.json", overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsFillEveryKeyAndOverridesApplyInOrder) {
  Json file = {{"train", {{"lr", 2e-5}}}, {"model", {{"path", "m"}}}};
  auto tree = resolve_config(schema(), file, "config.json",
                             {parse_config_override("train.lr=1e-4"), parse_config_override("model.dtype=fp32"),
                              parse_config_override("lora.targets=[\"q_proj\",\"v_proj\"]"), parse_config_override("train.epochs=2.0")});
  EXPECT_EQ(tree["train"]["lr"].get<double>(), 1e-4);
  EXPECT_EQ(tree["model"]["dtype"], "fp32");          // not JSON: taken as a string
  EXPECT_EQ(tree["model"]["path"], "m");
  EXPECT_EQ(tree["lora"]["targets"], Json::array({"q_proj", "v_proj"}));
  EXPECT_TRUE(tree["train"]["epochs"].is_number_integer());  // 2.0 becomes the integer 2
  EXPECT_EQ(tree["train"]["epochs"], 2);
  EXPECT_EQ(tree["data"]["pack"], false);              // default
  EXPECT_EQ(config_value(tree, "train.adam_betas")[1].get<double>(), 0.999);
  // A section may be given whole through --set.
  tree = resolve_config(schema(), nullptr, "config.json", {parse_config_override("train={\"lr\": 3, \"epochs\": 1}")});
  EXPECT_EQ(tree["train"]["lr"], 3);
  EXPECT_EQ(tree["train"]["epochs"], 1);
}

TEST(Config, ErrorsNameTheSourceTheKeyAndTheValue) {
  EXPECT_EQ(error_of({{"train", {{"lr", "x"}}}}), "config.json: train.lr: expected a number (got \"x\")");
  EXPECT_EQ(error_of(nullptr, {"train.lr=x"}), "--set: train.lr: expected a number (got \"x\")");
  EXPECT_EQ(error_of({{"train", {{"epochs", 1.5}}}}), "config.json: train.epochs: expected an integer (got 1.5)");
  EXPECT_EQ(error_of({{"data", {{"pack", "yes"}}}}), "config.json: data.pack: expected true or false (got \"yes\")");
  EXPECT_EQ(error_of({{"model", {{"dtype", "fp16"}}}}), "config.json: model.dtype: expected one of fp32, bf16 (got \"fp16\")");
  EXPECT_EQ(error_of({{"train", {{"adam_betas", {0.9, "a"}}}}}),
            "config.json: train.adam_betas: expected a list of numbers (got [0.9,\"a\"])");
  EXPECT_EQ(error_of({{"model", {{"dtype", nullptr}}}}), "config.json: model.dtype: expected a string (got null)");
  EXPECT_EQ(error_of({{"train", 3}}), "config.json: train: expected an object of keys (got 3)");
  EXPECT_EQ(error_of(Json::array({1})), "config.json: expected a JSON object of settings");
  EXPECT_EQ(error_of(nullptr, {"train.lr"}), "--set train.lr: expected key=value (e.g. --set train.lr=1e-5)");
}

TEST(Config, UnknownKeysNameTheNearestKnownOne) {
  EXPECT_EQ(error_of({{"train", {{"lrr", 1}}}}), "config.json: train.lrr: unknown key (did you mean train.lr?)");
  EXPECT_EQ(error_of({{"trian", {{"lr", 1}}}}), "config.json: trian: unknown key (did you mean train?)");
  EXPECT_EQ(error_of(nullptr, {"lr=1"}), "--set: lr: unknown key (did you mean train.lr?)");
  EXPECT_EQ(error_of(nullptr, {"model.dtpye=fp32"}), "--set: model.dtpye: unknown key (did you mean model.dtype?)");
  EXPECT_EQ(error_of(nullptr, {"zzzzzzzzzzzz=1"}), "--set: zzzzzzzzzzzz: unknown key");
}

TEST(Config, NearestNameIsEditDistance) {
  EXPECT_EQ(nearest_name("warmup_ration", {"train.warmup_ratio", "warmup_ratio", "lr"}), "warmup_ratio");
  EXPECT_EQ(nearest_name("qqqqqqqqqq", {"lr", "epochs"}), "");
}

}  // namespace
}  // namespace cotrain
