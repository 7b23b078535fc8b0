// Weights packed for oneDNN (inference on the CPU): the same products as at::linear (bf16 bit for
// bit, fp32 within rounding), the same decode-step logits, and a packed model refuses what it can
// no longer do.
#include <gtest/gtest.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include "cotrain/model/kv_cache.h"
#include "cotrain/model/layers.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

// Only a libtorch built without oneDNN may skip; with it, packing that does not happen is a failure.
bool packing_applies() {
  const bool packs = pack_linear_weight(torch::zeros({4, 4}), 1).defined();
  EXPECT_EQ(packs, at::hasMKLDNN());
  return packs;
}

TEST(PackedLinear, EqualsAtLinearForDecodeAndPrefillShapes) {
  if (!packing_applies()) GTEST_SKIP() << "this libtorch has no oneDNN";
  torch::manual_seed(0);
  for (auto dtype : {torch::kBFloat16, torch::kFloat32}) {
    auto w = torch::randn({320, 96}).to(dtype), b = torch::randn({320}).to(dtype);
    auto packed = pack_linear_weight(w, 8);
    ASSERT_TRUE(packed.defined());
    for (auto shape : {std::vector<std::int64_t>{1, 8, 96}, {1, 1, 96}, {1, 300, 96}, {5, 96}}) {
      auto x = torch::randn(shape).to(dtype);
      auto want = at::linear(x, w, b), got = packed_linear(x, packed, b);
      ASSERT_EQ(got.sizes(), want.sizes());
      if (dtype == torch::kBFloat16) {
        EXPECT_TRUE(torch::equal(got, want)) << shape;
      } else {  // other fp32 kernels: sums of 96 products of O(1) values, rounded differently
        EXPECT_LE((got - want).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>()) << shape;
      }
    }
  }
  EXPECT_FALSE(pack_linear_weight(torch::zeros({4, 4}, torch::kFloat16), 1).defined());  // no oneDNN fp16 path taken
}

// The decode loop's logits: a prompt prefilled, then one-token steps for 3 rows, packed against plain.
torch::Tensor decode_logits(CausalLM& model) {
  torch::NoGradGuard no_grad;
  KVCache cache(model->config, 3, 32, torch::TensorOptions().dtype(model->dtype()));
  std::vector<torch::Tensor> out;
  out.push_back(model->next_token_logits({{5, 9, 20, 31}, {7}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}, {0, 1, 2}, cache));
  for (std::int64_t step = 0; step < 4; ++step) out.push_back(model->next_token_logits({{11 + step}, {40}, {60 + step}}, {0, 1, 2}, cache));
  return torch::cat(out);
}

TEST(PackedLinear, APackedModelDecodesAsThePlainOne) {
  if (!packing_applies()) GTEST_SKIP() << "this libtorch has no oneDNN";
  for (auto dtype : {torch::kBFloat16, torch::kFloat32}) {
    for (bool tied : {false, true}) {
      auto plain = test::random_model(Arch::Qwen2, tied, 3, dtype);
      auto packed = test::random_model(Arch::Qwen2, tied, 3, dtype);
      plain->eval();
      packed->eval();
      ASSERT_TRUE(packed->pack_for_inference(3));
      auto want = decode_logits(plain), got = decode_logits(packed);
      if (dtype == torch::kBFloat16) {
        EXPECT_TRUE(torch::equal(got, want)) << tied;
      } else {
        EXPECT_LE((got - want).abs().max().item<double>(), 1e-5) << tied;
      }
      // The plain decoder weights are gone (held once); a tied head keeps its embedding matrix.
      EXPECT_EQ(packed->model->layers[0]->as<DecoderLayer>()->mlp->up_proj->weight.numel(), 0);
      EXPECT_EQ(packed->model->embed_tokens->weight.numel(), 97 * 32);
    }
  }
}

TEST(PackedLinear, ServesInferenceOnlyAndLeavesAdaptedLayersAlone) {
  if (!packing_applies()) GTEST_SKIP() << "this libtorch has no oneDNN";
  Linear linear(16, 8, true, torch::TensorOptions());
  ASSERT_TRUE(linear->pack_for_inference(4));
  auto x = torch::randn({2, 16}, torch::requires_grad());
  EXPECT_THROW(linear->forward(x), c10::Error);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(linear->forward(x).sizes(), (std::vector<std::int64_t>{2, 8}));

  auto adapted = test::random_model();
  add_lora(adapted, test::lora_settings({"q_proj"}), 0);
  ASSERT_TRUE(adapted->pack_for_inference(4));  // the others are packed; q_proj keeps its plain weight and adapter
  auto q = adapted->model->layers[0]->as<DecoderLayer>()->self_attn->q_proj;
  EXPECT_FALSE(q->packed.defined());
  EXPECT_GT(q->weight.numel(), 0);
}

}  // namespace
}  // namespace cotrain
