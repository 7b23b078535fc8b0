// The packed-row attention paths: variable-length flash attention (CUDA) against one SDPA call per
// document, which is what every other device runs; inference's attention without cuDNN's plans.
#include <ATen/Context.h>
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "cotrain/model/causal_lm.h"
#include "cotrain/model/cpu_attention.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/layers.h"

namespace cotrain {
namespace {

// Per-document causal SDPA of Q [1, heads, T, d], K/V [1, kv_heads, T, d] -> [1, T, heads, d].
torch::Tensor per_document(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const std::vector<std::int64_t>& cu) {
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i + 1 < cu.size(); ++i) {
    const auto start = cu[i], n = cu[i + 1] - cu[i];
    parts.push_back(at::scaled_dot_product_attention(q.narrow(2, start, n), k.narrow(2, start, n), v.narrow(2, start, n), std::nullopt,
                                                     0.0, /*is_causal=*/true, std::nullopt, /*enable_gqa=*/true));
  }
  return torch::cat(parts, 2).transpose(1, 2);
}

TEST(VarlenFlashAttention, NotUsedOnTheCpu) {
  auto q = torch::randn({1, 4, 10, 16}, torch::kBFloat16), kv = torch::randn({1, 2, 10, 16}, torch::kBFloat16);
  EXPECT_FALSE(varlen_flash_attention(q, kv, kv, {0, 4, 10}).has_value());
}

TEST(VarlenFlashAttention, EqualsPerDocumentSdpaOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device (the kernel exists only there)";
  torch::manual_seed(0);
  const auto opts = torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA);
  // A one-token document among longer ones; a row of one document (which the decoder sends here too).
  for (const auto& cu : {std::vector<std::int64_t>{0, 37, 38, 200, 333}, std::vector<std::int64_t>{0, 333}}) {
    auto q = torch::randn({1, 14, 333, 64}, opts).requires_grad_(), k = torch::randn({1, 2, 333, 64}, opts).requires_grad_(),
         v = torch::randn({1, 2, 333, 64}, opts).requires_grad_();
    auto flash = varlen_flash_attention(q, k, v, cu);
    ASSERT_TRUE(flash.has_value()) << "no flash kernel on this GPU (needs sm_80+)";
    auto reference = per_document(q, k, v, cu);
    EXPECT_LE((*flash - reference).abs().max().item<double>(), 2e-2) << cu.size() - 1 << " documents";
    auto g = torch::randn_like(reference);
    auto grads = torch::autograd::grad({*flash}, {q, k, v}, {g});
    auto want = torch::autograd::grad({reference}, {q, k, v}, {g});
    for (int i = 0; i < 3; ++i) EXPECT_LE((grads[i] - want[i]).abs().max().item<double>(), 5e-2) << "gradient " << i << ", " << cu.size() - 1 << " documents";
  }
}

// The names of the operators this thread runs while it lives (the dispatcher's RecordFunction).
class OperatorNames {
 public:
  OperatorNames() {
    sink() = &names_;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(record));
  }
  ~OperatorNames() {
    at::removeCallback(handle_);
    sink() = nullptr;
  }
  bool saw(const std::string& part) const {
    return std::any_of(names_.begin(), names_.end(), [&](const std::string& n) { return n.find(part) != std::string::npos; });
  }
  std::int64_t count(const std::string& name) const { return std::count(names_.begin(), names_.end(), name); }

 private:
  static std::vector<std::string>*& sink() {
    thread_local std::vector<std::string>* names = nullptr;
    return names;
  }
  static std::unique_ptr<at::ObserverContext> record(const at::RecordFunction& fn) {
    if (sink()) sink()->emplace_back(fn.name());
    return nullptr;
  }
  std::vector<std::string> names_;
  at::CallbackHandle handle_;
};

TEST(AttentionWithoutCudnnPlans, TurnsCudnnAttentionOffForItsScopeOnly) {
  auto& ctx = at::globalContext();
  const bool before = ctx.userEnabledCuDNNSDP();
  ctx.setSDPUseCuDNN(true);
  {
    const AttentionWithoutCudnnPlans outer;
    EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
    {
      const AttentionWithoutCudnnPlans inner;  // found it off: leaves it off
      EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
    }
    EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
  }
  EXPECT_TRUE(ctx.userEnabledCuDNNSDP());
  ctx.setSDPUseCuDNN(false);  // a user's choice stays
  { const AttentionWithoutCudnnPlans guard; }
  EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
  ctx.setSDPUseCuDNN(before);

  // What the CUDA test below relies on: the recorder sees SDPA's operators.
  OperatorNames ops;
  auto x = torch::randn({1, 2, 4, 8});
  at::scaled_dot_product_attention(x, x, x);
  EXPECT_TRUE(ops.saw("scaled_dot_product_attention"));
}

// Decoding with a KV cache on CUDA, rows of different lengths (a masked step) and of equal lengths:
// under the guard no cuDNN attention runs, the logits are those of SDPA's own choice within bf16
// rounding, and the switch is as before. Head dim 64, bf16: shapes cuDNN takes on Hopper.
TEST(AttentionWithoutCudnnPlans, DecodesWithoutCudnnOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  torch::manual_seed(0);
  const auto config = ModelConfig::from_json({{"model_type", "qwen2"}, {"vocab_size", 97}, {"hidden_size", 256},
                                              {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                                              {"num_key_value_heads", 2}},
                                             "test");
  CausalLM model(config, torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA));
  init_weights(model, 0.05, 1);
  torch::NoGradGuard no_grad;
  auto decode = [&] {
    KVCache cache(config, 3, 64, torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA));
    std::vector<torch::Tensor> logits;
    logits.push_back(model->next_token_logits({{5, 9, 20, 31, 2}, {7, 8, 1, 4, 4, 9, 11, 60, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}, {0, 1, 2}, cache));
    for (std::int64_t t = 0; t < 3; ++t) logits.push_back(model->next_token_logits({{t + 10}, {t + 20}, {t + 30}}, {0, 1, 2}, cache));
    logits.push_back(model->next_token_logits({{40}, {50}}, {1, 2}, cache));  // equal lengths: no mask
    return torch::cat(logits).to(torch::kFloat32);
  };
  const bool before = at::globalContext().userEnabledCuDNNSDP();
  torch::Tensor free_choice, planless;
  bool cudnn_by_choice = false;
  {
    OperatorNames ops;
    free_choice = decode();
    cudnn_by_choice = ops.saw("cudnn_attention");
  }
  {
    OperatorNames ops;
    const AttentionWithoutCudnnPlans guard;
    planless = decode();
    EXPECT_FALSE(ops.saw("cudnn_attention"));
    EXPECT_TRUE(ops.saw("flash_attention") || ops.saw("efficient_attention"));
  }
  std::printf("SDPA's own choice ran cuDNN's attention on this GPU: %s\n", cudnn_by_choice ? "yes" : "no");
  EXPECT_EQ(at::globalContext().userEnabledCuDNNSDP(), before);
  ASSERT_EQ(planless.sizes(), free_choice.sizes());
  EXPECT_LE((planless - free_choice).abs().max().item<double>(), 2e-2 * std::max(1.0, free_choice.abs().max().item<double>()));
}

// On a CPU with the kernel's instructions, the decoder hands it a packed row's documents in one
// call (cpu_attention_test.cpp checks that call against one per document, bit for bit): each
// document's log-probabilities are those it has alone, and the kernel ran for each.
TEST(CpuPackedAttention, ARowsDocumentsAttendAsEachAlone) {
  if (!cpu_flash_attention_runs_here()) GTEST_SKIP() << "this CPU has no AVX-512 BF16 instructions";
  const nlohmann::json j = {{"model_type", "qwen2"}, {"vocab_size", 97}, {"hidden_size", 128}, {"intermediate_size", 64},
                            {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1}};  // head_dim 64
  CausalLM model(ModelConfig::from_json(j, "test"), torch::TensorOptions().dtype(torch::kBFloat16));
  init_weights(model, 0.3, 5);
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::vector<std::int64_t>> documents;
  for (const std::int64_t n : {5, 70, 1, 30}) {
    std::vector<std::int64_t> ids;
    for (std::int64_t t = 0; t < n; ++t) ids.push_back((t * 31 + n * 7) % 97);
    documents.push_back(ids);
  }
  OperatorNames ops;
  const auto packed = row_logprobs(model, pack_documents(documents));
  EXPECT_EQ(ops.count("cotrain::cpu_flash_attention"), 2 * static_cast<std::int64_t>(documents.size()));  // 2 layers
  EXPECT_FALSE(ops.saw("scaled_dot_product_attention"));
  std::int64_t start = 0;
  for (const auto& document : documents) {
    const auto n = static_cast<std::int64_t>(document.size());
    const auto alone = row_logprobs(model, pack_documents({document}));
    EXPECT_LE((packed.narrow(0, start, n) - alone).abs().max().item<double>(), 2e-2) << n << " tokens";
    if (n > 1) EXPECT_GT(alone.abs().sum().item<double>(), 0.0);
    start += n;
  }
}

}  // namespace
}  // namespace cotrain
