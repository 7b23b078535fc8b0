// AdamW's master weights: a bf16 parameter plus a 16-bit rest holds its fp32 master exactly, and
// steps as the fp32 master does; the block-by-block step equals one fused call.
#include "cotrain/train/optimizer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <optional>
#include <vector>

namespace cotrain {
namespace {

torch::Tensor floats_of_bits(std::vector<std::int32_t> bits) {
  return torch::from_blob(bits.data(), {static_cast<std::int64_t>(bits.size())}, torch::kInt32).view(torch::kFloat32).clone();
}

TEST(Optimizer, SplitMasterRoundsToNearestAndJoinsBackBitForBit) {
  torch::manual_seed(0);
  std::vector<torch::Tensor> parts = {torch::randn({100000}), torch::randn({1000}) * 1e30, torch::randn({1000}) * 1e-38,
                                      floats_of_bits({0, INT32_MIN, 0x7f7fffff, INT32_MIN | 0x7f7fffff, 1, INT32_MIN | 1,
                                                      0x3f7fffff, 0x3f7f8000, 0x7f800000, static_cast<std::int32_t>(0xff800000)})};
  const torch::Tensor master = torch::cat(parts);
  torch::Tensor high = torch::empty(master.sizes(), torch::kBFloat16), low = torch::empty(master.sizes(), torch::kInt16);
  split_master(master, high, low);
  EXPECT_TRUE(torch::equal(join_master(high, low).view(torch::kInt32), master.view(torch::kInt32)));
  EXPECT_TRUE(torch::equal(bf16_of_master(master).view(torch::kInt16), high.view(torch::kInt16)));
  // Round to nearest: torch's own conversion but on exact ties (the dropped half is 0x8000).
  const torch::Tensor tie = master.view(torch::kInt32).bitwise_and(0xffff).eq(0x8000);
  const torch::Tensor torch_high = master.to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(high.view(torch::kInt16).masked_select(~tie), torch_high.view(torch::kInt16).masked_select(~tie)));
}

TEST(Optimizer, SplitMasterRoundsTiesAwayFromZero) {
  // 1 + 2^-8 lies halfway between the bf16 numbers 1 and 1 + 2^-7; torch rounds it to even (1).
  const torch::Tensor ties = floats_of_bits({0x3f808000, static_cast<std::int32_t>(0xbf808000), 0x3f818000});
  const torch::Tensor high = bf16_of_master(ties);
  EXPECT_TRUE(torch::equal(high.view(torch::kInt16),
                           torch::tensor(std::vector<std::int16_t>{0x3f81, static_cast<std::int16_t>(0xbf81), 0x3f82})));
  EXPECT_EQ(ties.to(torch::kBFloat16).view(torch::kInt16)[0].item<int>(), 0x3f80);
}

// Three steps (one with a clipping coefficient) of a tensor that spans several of the step's blocks
// and ends in a part block: the split master equals the fp32 master bit for bit, and that one equals
// one fused call over the whole tensor; with weight decay and torch's default betas, and without
// decay and with a beta1 for which the fused kernel computes exp_avg's lerp from the gradient.
TEST(Optimizer, SplitMasterStepsAsTheFp32MasterAndBlocksAsOneCall) {
  torch::manual_seed(1);
  const std::int64_t n = 3 * (1 << 20) + 5;
  AdamWSettings decayed, other;
  decayed.weight_decay = 0.1;
  other.beta1 = 0.3;
  other.beta2 = 0.95;
  for (const AdamWSettings& settings : {decayed, other}) {
    const bool decay = settings.weight_decay != 0;
    const torch::Tensor initial = (torch::randn({n}) * 0.02).to(torch::kBFloat16);
    torch::Tensor params = initial.clone();
    AdamWState split(params, decay, torch::kCPU, /*split=*/true), whole(initial, decay, torch::kCPU, false);
    EXPECT_EQ(split.bytes(), 10 * n);
    EXPECT_EQ(whole.bytes(), 12 * n);
    torch::Tensor master = initial.to(torch::kFloat32), avg = torch::zeros({n}), avg_sq = torch::zeros({n}), steps = torch::zeros({});
    for (double scale : {1.0, 0.25, 1.0}) {
      const torch::Tensor grad = torch::randn({n});
      auto slice = [&](std::int64_t begin, std::int64_t count) { return grad.narrow(0, begin, count).clone(); };
      adamw_step(split, slice, 1e-3, settings, scale);
      adamw_step(whole, slice, 1e-3, settings, scale);
      steps.add_(1);
      std::optional<torch::Tensor> inverse;
      if (scale != 1.0) inverse = torch::full({}, 1.0 / scale);
      at::_fused_adamw_({master}, {grad.clone()}, {avg}, {avg_sq}, {}, {steps}, 1e-3, settings.beta1, settings.beta2, settings.weight_decay,
                        settings.eps, false, false, inverse);
      EXPECT_TRUE(torch::equal(whole.master, master));
      EXPECT_TRUE(torch::equal(whole.exp_avg_sq, avg_sq));
      EXPECT_TRUE(torch::equal(split.master_fp32(), master));
      EXPECT_TRUE(torch::equal(split.exp_avg, avg));
      EXPECT_TRUE(torch::equal(split.exp_avg_sq, avg_sq));
    }
    EXPECT_EQ(params.data_ptr(), split.high.data_ptr());  // the step wrote the parameters themselves
    EXPECT_TRUE(torch::equal(params.view(torch::kInt16), bf16_of_master(master).view(torch::kInt16)));
    EXPECT_FALSE(torch::equal(params, initial));
  }
}

// A bf16 gradient steps the split master exactly as its fp32 values do (the kernel reads it in
// place), over several blocks and a part block.
TEST(Optimizer, SplitMasterStepsABf16GradientAsItsFp32Values) {
  torch::manual_seed(2);
  const std::int64_t n = 2 * (1 << 16) + 21;
  const torch::Tensor initial = (torch::randn({n}) * 0.02).to(torch::kBFloat16);
  torch::Tensor from_bf16 = initial.clone(), from_fp32 = initial.clone();
  AdamWState a(from_bf16, true, torch::kCPU, /*split=*/true), b(from_fp32, true, torch::kCPU, /*split=*/true);
  AdamWSettings settings;
  settings.weight_decay = 0.1;
  for (double scale : {1.0, 0.5}) {
    const torch::Tensor grad = torch::randn({n}).to(torch::kBFloat16);
    const torch::Tensor grad32 = grad.to(torch::kFloat32);
    adamw_step(a, [&](std::int64_t begin, std::int64_t count) { return grad.narrow(0, begin, count); }, 1e-3, settings, scale);
    adamw_step(b, [&](std::int64_t begin, std::int64_t count) { return grad32.narrow(0, begin, count); }, 1e-3, settings, scale);
  }
  EXPECT_TRUE(torch::equal(a.master_fp32(), b.master_fp32()));
  EXPECT_TRUE(torch::equal(a.exp_avg, b.exp_avg));
  EXPECT_TRUE(torch::equal(a.exp_avg_sq, b.exp_avg_sq));
  EXPECT_FALSE(torch::equal(from_bf16, initial));
}

// fp32 parameters (LoRA's adapters) are their own master: the step writes them, as it writes an
// fp32 copy of them, and the state adds only the moments.
TEST(Optimizer, Fp32ParametersAreTheirOwnMaster) {
  torch::manual_seed(4);
  const std::int64_t n = (1 << 20) + 3;
  const torch::Tensor initial = torch::randn({n}) * 0.02;
  torch::Tensor params = initial.clone();
  AdamWState own(params, true, torch::kCPU, false), copy(initial.clone(), true, torch::kCPU, false);  // the same numbers elsewhere
  EXPECT_TRUE(own.steps_params());
  EXPECT_EQ(own.bytes(), 8 * n);
  const torch::Tensor grad = torch::randn({n});
  auto slice = [&](std::int64_t begin, std::int64_t count) { return grad.narrow(0, begin, count); };
  AdamWSettings settings;
  adamw_step(own, slice, 1e-3, settings);
  EXPECT_EQ(own.master.data_ptr(), params.data_ptr());
  EXPECT_FALSE(torch::equal(params, initial));
  // A state over bf16 parameters keeps an fp32 copy: the same numbers from the same master.
  AdamWState of_bf16(initial.to(torch::kBFloat16), true, torch::kCPU, false);
  EXPECT_FALSE(of_bf16.steps_params());
  EXPECT_EQ(of_bf16.bytes(), 12 * n);
  adamw_step(copy, slice, 1e-3, settings);
  EXPECT_TRUE(torch::equal(params, copy.master));
  own.set_master(initial);
  EXPECT_TRUE(torch::equal(params, initial));
}

TEST(Optimizer, SplitMasterLoadsAnFp32Master) {
  torch::Tensor params = torch::zeros({4}, torch::kBFloat16);
  AdamWState state(params, true, torch::kCPU, true);
  const torch::Tensor master = torch::tensor({1.0f + 1e-5f, -3.14159f, 1e-30f, 0.0f});
  state.set_master(master);
  EXPECT_TRUE(torch::equal(state.master_fp32(), master));
  EXPECT_TRUE(torch::equal(params, bf16_of_master(master)));
}

// The gradient norm's sum of squares: fp64-exact within 1e-7 at the embedding's length scale, on
// both dtypes, and the same bits on one thread as on several.
TEST(Optimizer, SquaredNormIsExactWithin1e7AndIndependentOfThreads) {
  torch::manual_seed(3);
  const std::int64_t n = 5 * (1 << 20) + 77;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto flat = (torch::randn({n}) * 1e-3 + 2e-3).to(dtype);
    const double exact = flat.to(torch::kFloat64).square().sum().item<double>();
    const double got = squared_norm(flat).item<double>();
    EXPECT_NEAR(got, exact, 1e-7 * exact) << c10::toString(dtype);
    const int threads = at::get_num_threads();
    at::set_num_threads(1);
    const double one_thread = squared_norm(flat).item<double>();
    at::set_num_threads(threads);
    EXPECT_EQ(one_thread, got) << c10::toString(dtype);
    EXPECT_NEAR(squared_norm(flat.narrow(0, 5, 1000)).item<double>(), flat.narrow(0, 5, 1000).to(torch::kFloat64).square().sum().item<double>(),
                1e-7 * exact);
    // The other devices' reduction, reached on a CPU by a strided view of the same values.
    const auto strided = torch::stack({flat, flat}, 1).select(1, 0);
    ASSERT_FALSE(strided.is_contiguous());
    EXPECT_NEAR(squared_norm(strided).item<double>(), exact, 1e-7 * exact) << c10::toString(dtype);
  }
}

// The sum over many gradients: squared_norm's where they lie contiguous on a CPU, the multi-tensor
// reduction elsewhere (reached on a CPU by a strided view), both the fp64 sum of squares.
TEST(Optimizer, SquaredNormSumIsTheSumOfSquaresOfAll) {
  torch::manual_seed(4);
  const std::vector<torch::Tensor> tensors = {torch::randn({3 * (1 << 20) + 5}), torch::randn({1000}).to(torch::kBFloat16) * 1e3,
                                              torch::randn({37, 29}).to(torch::kBFloat16)};
  double exact = 0;
  for (const auto& t : tensors) exact += t.to(torch::kFloat64).square().sum().item<double>();
  const auto contiguous = squared_norm_sum(tensors);
  EXPECT_EQ(contiguous.scalar_type(), torch::kFloat64);
  EXPECT_NEAR(contiguous.item<double>(), exact, 1e-7 * exact);
  std::vector<torch::Tensor> one_strided = tensors;
  one_strided[2] = tensors[2].t();
  ASSERT_FALSE(one_strided[2].is_contiguous());
  EXPECT_NEAR(squared_norm_sum(one_strided).item<double>(), exact, 1e-12 * exact);
}

// On a GPU: all-bf16 gradients (one multi-tensor kernel) and mixed dtypes, a 40 M-element one among
// them (fp32 sums in one chain would be off by percents), within squared_norm's 1e-7.
TEST(Optimizer, SquaredNormSumOnCudaIsTheExactSum) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  torch::manual_seed(5);
  const std::vector<torch::Tensor> bf16 = {(torch::randn({40 * (1 << 20) + 77}) * 1e-3 + 2e-3).to(torch::kBFloat16),
                                           torch::randn({896, 896}).to(torch::kBFloat16), torch::randn({7}).to(torch::kBFloat16)};
  const std::vector<torch::Tensor> mixed = {bf16[0], bf16[1], bf16[2], torch::randn({4096, 3})};
  for (const auto* list : {&bf16, &mixed}) {
    double exact = 0;
    std::vector<torch::Tensor> on_gpu;
    for (const auto& t : *list) {
      exact += t.to(torch::kFloat64).square().sum().item<double>();
      on_gpu.push_back(t.cuda());
    }
    const auto got = squared_norm_sum(on_gpu);
    EXPECT_TRUE(got.is_cuda());
    EXPECT_NEAR(got.item<double>(), exact, 1e-7 * exact) << list->size() << " tensors";
  }
}

}  // namespace
}  // namespace cotrain
