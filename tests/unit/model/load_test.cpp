#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/model/weights.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

ModelConfig tiny_config(bool tied) { return test::tiny_config(Arch::Qwen2, tied); }

TEST(LoadModel, SaveLoadRoundTripIsExactAndInitIsSeeded) {
  auto dir = test::scratch_dir() / "m";
  CausalLM a(tiny_config(false), torch::kFloat32);
  init_weights(a, 0.02, 7);
  write_model_dir(a, dir);
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
  auto dir = test::scratch_dir() / "m";
  CausalLM untied(tiny_config(false), torch::kFloat32);
  init_weights(untied, 0.02, 1);
  CausalLM tied(tiny_config(true), torch::kFloat32);
  init_weights(tied, 0.02, 1);
  write_model_dir(tied, dir);  // has no lm_head.weight
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
  auto dir = test::scratch_dir() / "m";
  CausalLM m(tiny_config(true), torch::kFloat32);
  init_weights(m, 0.02, 1);
  write_model_dir(m, dir);
  auto size = std::filesystem::file_size(dir / "model.safetensors");
  std::filesystem::resize_file(dir / "model.safetensors", size - 100);
  EXPECT_THROW(load_model(dir, torch::kFloat32, torch::kCPU), InputError);
}

TEST(CausalLM, RopeFrequenciesAreAnFp32BufferThatFollowsTheModel) {
  auto model = test::random_model(Arch::Llama);
  auto buffers = model->named_buffers();
  ASSERT_TRUE(buffers.contains("inv_freq"));
  const auto expected = rope_inv_freq(model->config, torch::kCPU);
  model->to(torch::kBFloat16);
  EXPECT_EQ(model->dtype(), torch::kBFloat16);
  EXPECT_EQ(model->inv_freq.scalar_type(), torch::kFloat32);  // a bf16 copy would move positions
  EXPECT_TRUE(torch::equal(model->inv_freq, expected));
  model->to(torch::kCPU, torch::kFloat32);
  EXPECT_TRUE(torch::equal(model->inv_freq, expected));
  // Module::to(device) moves every registered buffer; inv_freq is one (the same tensor, not a
  // copy). No accelerator here to watch it move: libtorch refuses set_data onto the meta device.
  EXPECT_TRUE(model->named_buffers()["inv_freq"].is_same(model->inv_freq));
}

TEST(CausalLM, InitWeightsGoesByModuleType) {
  auto model = test::random_model(Arch::Llama);  // biases on attention and MLP
  init_weights(model, 0.5, 3);
  int linears = 0, norms = 0;
  for (const auto& item : model->named_modules()) {
    if (auto* linear = item.value()->as<LinearImpl>()) {
      ++linears;
      EXPECT_NEAR(linear->weight.std().item<double>(), 0.5, 0.1) << item.key();
      if (linear->bias.defined()) {
        EXPECT_EQ(linear->bias.count_nonzero().item<std::int64_t>(), 0) << item.key();
      }
    } else if (auto* norm = item.value()->as<RMSNormImpl>()) {
      ++norms;
      EXPECT_TRUE(torch::all(norm->weight == 1).item<bool>()) << item.key();
    }
  }
  EXPECT_EQ(linears, 2 * 7 + 1);
  EXPECT_EQ(norms, 2 * 2 + 1);
  EXPECT_NEAR(model->model->embed_tokens->weight.std().item<double>(), 0.5, 0.05);
  auto qwen3 = test::random_model(Arch::Qwen3);
  init_weights(qwen3, 0.02, 3);
  EXPECT_TRUE(torch::all(qwen3->named_parameters()["model.layers.1.self_attn.k_norm.weight"] == 1).item<bool>());
  add_lora(qwen3, LoraSettings{}, 0);  // adapters are not base weights: initialise the base first
  EXPECT_THROW(init_weights(qwen3, 0.02, 3), RuntimeFailure);
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
