#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/weights.h"

namespace cotrain {
namespace {

ModelConfig tiny_config(bool tied) {
  return ModelConfig::from_json({{"model_type", "qwen2"}, {"vocab_size", 97}, {"hidden_size", 32}, {"intermediate_size", 48},
                                 {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                                 {"tie_word_embeddings", tied}},
                                "test");
}

std::filesystem::path save_model(CausalLM& model, const std::filesystem::path& dir) {
  std::ofstream(dir / "config.json") << model->config.to_hf_json().dump();
  save_weights(model, dir / "model.safetensors");
  return dir;
}

TEST(LoadModel, SaveLoadRoundTripIsExactAndInitIsSeeded) {
  auto dir = test::scratch_dir();
  CausalLM a(tiny_config(false), torch::kFloat32);
  init_weights(a, 0.02, 7);
  save_model(a, dir);
  auto b = load_model(dir, torch::kFloat32, torch::kCPU);
  CausalLM c(tiny_config(false), torch::kFloat32);
  init_weights(c, 0.02, 7);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), pc[item.key()])) << item.key();
  }
  EXPECT_TRUE(torch::all(pa["model.layers.0.input_layernorm.weight"] == 1).item<bool>());
  EXPECT_TRUE(torch::all(pa["model.layers.1.self_attn.q_proj.bias"] == 0).item<bool>());
}

TEST(LoadModel, MissingAndMisshapedTensorsAreNamed) {
  auto dir = test::scratch_dir();
  CausalLM untied(tiny_config(false), torch::kFloat32);
  init_weights(untied, 0.02, 1);
  CausalLM tied(tiny_config(true), torch::kFloat32);
  init_weights(tied, 0.02, 1);
  save_model(tied, dir);  // has no lm_head.weight
  std::ofstream(dir / "config.json") << untied->config.to_hf_json().dump();
  try {
    load_model(dir, torch::kFloat32, torch::kCPU);
    FAIL() << "expected a missing-tensor error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing 1 tensor(s): lm_head.weight"), std::string::npos) << e.what();
  }
  auto cfg = tiny_config(true);
  cfg.intermediate_size = 40;
  std::ofstream(dir / "config.json") << cfg.to_hf_json().dump();
  try {
    load_model(dir, torch::kFloat32, torch::kCPU);
    FAIL() << "expected a shape error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.down_proj.weight (checkpoint 32x48 vs model 32x40)"), std::string::npos) << e.what();
  }
}

TEST(LoadModel, TruncatedCheckpointIsAnInputError) {
  auto dir = test::scratch_dir();
  CausalLM m(tiny_config(true), torch::kFloat32);
  init_weights(m, 0.02, 1);
  save_model(m, dir);
  auto size = std::filesystem::file_size(dir / "model.safetensors");
  std::filesystem::resize_file(dir / "model.safetensors", size - 100);
  EXPECT_THROW(load_model(dir, torch::kFloat32, torch::kCPU), InputError);
}

TEST(PackDocuments, PositionsRestartAndTargetsStayInsideDocuments) {
  auto row = pack_documents({{5, 6, 7}, {8}, {9, 10}});
  EXPECT_EQ(row.cu_seqlens, (std::vector<std::int64_t>{0, 3, 4, 6}));
  EXPECT_TRUE(torch::equal(row.position_ids, torch::tensor({0, 1, 2, 0, 0, 1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(row.targets, torch::tensor({6, 7, -100, -100, 10, -100}, torch::kInt64)));
  EXPECT_EQ(row.target_tokens, 3);
  EXPECT_THROW(pack_documents({{1}, {}}), InputError);
}

TEST(PackDocuments, MasksChooseTargetsAndNoDocumentPredictsTheNext) {
  std::vector<std::int32_t> ids_a = {10, 11, 12, 13}, ids_b = {20, 21, 22};
  std::vector<std::uint8_t> mask_a = {0, 0, 1, 1}, mask_b = {1, 1, 0};  // b as with --train-on-prompt
  auto row = pack_documents({ids_a, ids_b}, {mask_a, mask_b});
  EXPECT_TRUE(torch::equal(row.input_ids, torch::tensor({10, 11, 12, 13, 20, 21, 22}, torch::kInt64)));
  // Position t predicts token t + 1 of its own document where the mask marks it; b's first token
  // is marked, but nothing predicts it.
  EXPECT_TRUE(torch::equal(row.targets, torch::tensor({-100, 12, 13, -100, 21, -100, -100}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(row.position_ids, torch::tensor({0, 1, 2, 3, 0, 1, 2}, torch::kInt64)));
  EXPECT_EQ(row.cu_seqlens, (std::vector<std::int64_t>{0, 4, 7}));
  EXPECT_EQ(row.target_tokens, 3);
}

}  // namespace
}  // namespace cotrain
