#include "cotrain/report/config_diff.h"

#include <gtest/gtest.h>

namespace cotrain {
namespace {

TEST(FlattenConfig, DottedKeysAndValueText) {
  auto flat = flatten_config(nlohmann::json::parse(
      R"({"train": {"lr": 1e-05, "adam_betas": [0.9, 0.95], "activation_checkpointing": true},
          "model": {"path": "m/q", "extra": {}}, "data": {"system": null}})"));
  std::map<std::string, std::string> want = {{"train.lr", "1e-05"},
                                             {"train.adam_betas", "[0.9,0.95]"},
                                             {"train.activation_checkpointing", "true"},
                                             {"model.path", "m/q"},
                                             {"model.extra", "{}"},
                                             {"data.system", "null"}};
  EXPECT_EQ(flat, want);
  EXPECT_TRUE(flatten_config(nlohmann::json()).empty());
  EXPECT_TRUE(flatten_config(nlohmann::json::object()).empty());
}

TEST(DifferingKeys, OnlyKeysThatTellRunsApart) {
  std::map<std::string, std::string> a = {{"train.lr", "1e-05"}, {"lora.rank", "64"}, {"data.path", "x.jsonl"}};
  std::map<std::string, std::string> b = {{"train.lr", "0.0001"}, {"lora.rank", "64"}, {"data.path", "x.jsonl"}};
  std::map<std::string, std::string> c = {{"train.lr", "1e-05"}, {"data.path", "x.jsonl"}};
  EXPECT_EQ(differing_keys({a, b}), std::vector<std::string>{"train.lr"});
  EXPECT_EQ(differing_keys({a, c}), std::vector<std::string>{"lora.rank"});  // absent in one run
  EXPECT_EQ(differing_keys({a, b, c}), (std::vector<std::string>{"lora.rank", "train.lr"}));
  EXPECT_TRUE(differing_keys({a, a}).empty());
}

}  // namespace
}  // namespace cotrain
