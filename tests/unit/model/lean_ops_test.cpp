#include "cotrain/model/lean_ops.h"

#include "cotrain/model/cpu_elementwise.h"
#include "unit/model/rounded_once.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>

namespace cotrain {
namespace {

// transformers' RMSNorm and the SwiGLU product as plain autograd sees them.
torch::Tensor composite_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto x32 = x.to(torch::kFloat32);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * x32.to(x.scalar_type());
}

torch::Tensor composite_swiglu(const torch::Tensor& gate, const torch::Tensor& up) { return torch::silu(gate) * up; }

struct Grads {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};

// OUT = FN(inputs), then backward of sum(OUT * upstream): the value and each input's gradient.
template <typename Fn>
Grads run(Fn fn, std::vector<torch::Tensor> inputs, const torch::Tensor& upstream) {
  for (auto& t : inputs) t = t.detach().clone().requires_grad_(true);
  auto out = fn(inputs);
  (out * upstream).sum().backward();
  Grads g{out.detach(), {}};
  for (auto& t : inputs) g.grads.push_back(t.grad());
  return g;
}

void expect_same_bits(const Grads& lean, const Grads& plain, const std::string& what) {
  EXPECT_TRUE(lean.out.equal(plain.out)) << what << ": value";
  ASSERT_EQ(lean.grads.size(), plain.grads.size());
  for (std::size_t i = 0; i < lean.grads.size(); ++i) {
    ASSERT_TRUE(lean.grads[i].defined()) << what << ": input " << i;
    EXPECT_EQ(lean.grads[i].scalar_type(), plain.grads[i].scalar_type()) << what << ": input " << i;
    EXPECT_TRUE(lean.grads[i].equal(plain.grads[i])) << what << ": gradient of input " << i << ", max diff "
                                                     << (lean.grads[i].to(torch::kFloat64) - plain.grads[i].to(torch::kFloat64)).abs().max().item<double>();
  }
}

// Where cpu_elementwise.h's kernel computes it, the bf16 weight gradient of the norm is the sum of
// grad * bf16(x * inv_rms) over the rows in fp32, not of their products rounded to bf16 as autograd
// has them, and in another order: it must be the exact sum rounded (within one bf16 step) and no
// further from it than autograd's.
void expect_weight_gradient_at_least_as_exact(const torch::Tensor& lean, const torch::Tensor& plain, const torch::Tensor& x,
                                              const torch::Tensor& upstream, double eps) {
  auto x64 = x.to(torch::kFloat64);
  auto inv_rms = torch::rsqrt(x.to(torch::kFloat32).pow(2).mean(-1, true) + eps);
  auto normed = (x.to(torch::kFloat32) * inv_rms).to(x.scalar_type()).to(torch::kFloat64);
  auto exact = (upstream.to(torch::kFloat64) * normed).reshape({-1, x.size(-1)}).sum(0);
  auto step = exact.abs().clamp_min(1e-3) * std::pow(2.0, -7);  // one bf16 step (8 significant bits) at the exact value
  auto lean_error = (lean.to(torch::kFloat64) - exact).abs(), plain_error = (plain.to(torch::kFloat64) - exact).abs();
  EXPECT_TRUE((lean_error <= step).all().item<bool>()) << "max error in bf16 steps " << (lean_error / step).max().item<double>();
  EXPECT_LE(lean_error.sum().item<double>(), plain_error.sum().item<double>());
}

TEST(LeanOps, RmsNormMatchesAutogradThroughTheComposite) {
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    // [batch, tokens, hidden] as the decoder's norms, [batch, tokens, heads, head_dim] as Qwen3's
    // q/k norms; rows of 40 end in a part vector and 300 rows make several of the kernel's blocks.
    for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{1, 37, 64}, std::vector<std::int64_t>{2, 9, 4, 32},
                                            std::vector<std::int64_t>{1, 300, 40}}) {
      auto x = (torch::randn(shape) * 3).to(dtype);
      auto weight = (1 + 0.1 * torch::randn({shape.back()})).to(dtype);
      auto upstream = torch::randn(shape).to(dtype);
      const double eps = 1e-6;
      auto lean = run([&](const std::vector<torch::Tensor>& in) { return rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return composite_rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      const auto what = std::string(c10::toString(dtype)) + " rank " + std::to_string(shape.size()) + " rows of " + std::to_string(shape.back());
      if (cpu_elementwise_applies({&x, &weight})) {
        expect_weight_gradient_at_least_as_exact(lean.grads[1], plain.grads[1], x, upstream, eps);
        lean.grads[1] = plain.grads[1];  // compared above; the value and x's gradient are the same bits
      }
      expect_same_bits(lean, plain, what);
    }
  }
}

// A pre-norm block, x + branch(rms_norm(x)) with a branch that mixes the rows (as attention does),
// through rms_norm_and_skip and residual_add against rms_norm and ATen's +: the value and x's
// gradient the same bits (the residual path's gradient added inside the norm's pass, as autograd
// adds it), the weight's rms_norm's; in fp32 and on a GPU the plain ops themselves.
TEST(LeanOps, NormAndSkipWithTheResidualSumIsThePlainBlockBitForBit) {
  torch::manual_seed(5);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{1, 37, 64}, std::vector<std::int64_t>{1, 300, 40}}) {
      auto x = (torch::randn(shape) * 3).to(dtype);
      auto weight = (1 + 0.1 * torch::randn({shape.back()})).to(dtype);
      auto mix = (torch::randn({shape[1], shape[1]}) / std::sqrt(static_cast<double>(shape[1]))).to(dtype);
      auto upstream = torch::randn(shape).to(dtype);
      const double eps = 1e-6;
      auto branch = [&](const torch::Tensor& normed) { return torch::matmul(mix, normed.tanh()); };
      auto lean = run(
          [&](const std::vector<torch::Tensor>& in) {
            const auto [normed, skip] = rms_norm_and_skip(in[0], in[1], eps);
            return residual_add(skip, branch(normed));
          },
          {x, weight}, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return in[0] + branch(rms_norm(in[0], in[1], eps)); }, {x, weight}, upstream);
      expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + " rows of " + std::to_string(shape.back()));
    }
  }
}

// On a GPU the norm is torch's fused kernel, which rounds x * rstd * weight once where the
// composite rounds x * rstd first: its value and gradients must be the exact ones (fp64) rounded,
// within one step of the dtype at the exact value, and no further from them in sum than the
// composite's; in fp32 both agree to 1e-5.
TEST(LeanOps, RmsNormOnCudaIsTheExactNormRoundedOnce) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  torch::manual_seed(6);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{1, 37, 64}, std::vector<std::int64_t>{2, 9, 4, 32},
                                            std::vector<std::int64_t>{1, 300, 896}}) {
      const auto cuda = torch::TensorOptions().device(torch::kCUDA);
      auto x = (torch::randn(shape) * 3).to(cuda.dtype(dtype));
      auto weight = (1 + 0.1 * torch::randn({shape.back()})).to(cuda.dtype(dtype));
      auto upstream = torch::randn(shape).to(cuda.dtype(dtype));
      const double eps = 1e-6;
      auto lean = run([&](const std::vector<torch::Tensor>& in) { return rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return composite_rms_norm(in[0], in[1], eps); }, {x, weight}, upstream);
      auto exact = run([&](const std::vector<torch::Tensor>& in) { return in[0] * torch::rsqrt(in[0].pow(2).mean(-1, true) + eps) * in[1]; },
                       {x.to(torch::kFloat64), weight.to(torch::kFloat64)}, upstream.to(torch::kFloat64));
      const auto what = std::string(c10::toString(dtype)) + " rows of " + std::to_string(shape.back());
      auto check = [&](const torch::Tensor& lean_t, const torch::Tensor& plain_t, const torch::Tensor& exact_t, const std::string& name) {
        ASSERT_TRUE(lean_t.defined()) << what << ": " << name;
        EXPECT_EQ(lean_t.scalar_type(), dtype) << what << ": " << name;
        test::expect_rounded_once(lean_t, plain_t, exact_t, what + ": " + name);
      };
      check(lean.out, plain.out, exact.out, "value");
      check(lean.grads[0], plain.grads[0], exact.grads[0], "gradient of x");
      check(lean.grads[1], plain.grads[1], exact.grads[1], "gradient of the weight");
    }
  }
}

TEST(LeanOps, SwigluEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(4);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    // 41 x 160 values fill the kernel's vectors; 3 x 7 x 13 end in a part vector; 2 x 300 x 97
    // take several of its blocks
    for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{1, 41, 160}, std::vector<std::int64_t>{3, 7, 13},
                                            std::vector<std::int64_t>{2, 300, 97}}) {
      auto gate = (torch::randn(shape) * 4).to(dtype);
      auto up = torch::randn(shape).to(dtype);
      auto upstream = torch::randn(shape).to(dtype);
      auto lean = run([](const std::vector<torch::Tensor>& in) { return swiglu(in[0], in[1]); }, {gate, up}, upstream);
      auto plain = run([](const std::vector<torch::Tensor>& in) { return composite_swiglu(in[0], in[1]); }, {gate, up}, upstream);
      expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + " " + std::to_string(gate.numel()) + " values");
    }
  }
}

// Every bf16 gate of magnitude 2^-100 and more, and zero, both signs: silu and its sigmoid depend on
// the gate alone, so these are all the kernel's cases but tiny gates, whose subnormal results its
// rounding instruction flushes to zero (avx512.h's to_bf16), and infinities and NaN. Gates below
// -88 failed it while the exponential stopped at e^88 instead of overflowing to infinity.
TEST(LeanOps, SwigluEqualsAutogradForEveryBf16Gate) {
  torch::manual_seed(6);
  const auto bits = torch::arange(0, 65536, torch::kInt32);
  const auto exponent = bits.bitwise_and(0x7F80);
  const auto tested = exponent.ne(0x7F80).logical_and(exponent.ge(27 << 7).logical_or(bits.bitwise_and(0x7FFF).eq(0)));
  const auto gate = bits.masked_select(tested).to(torch::kInt16).view(torch::kBFloat16);
  auto up = torch::randn(gate.sizes()).to(torch::kBFloat16);
  auto upstream = torch::randn(gate.sizes()).to(torch::kBFloat16);
  auto lean = run([](const std::vector<torch::Tensor>& in) { return swiglu(in[0], in[1]); }, {gate, up}, upstream);
  auto plain = run([](const std::vector<torch::Tensor>& in) { return composite_swiglu(in[0], in[1]); }, {gate, up}, upstream);
  expect_same_bits(lean, plain, std::to_string(gate.numel()) + " bf16 gates");
}

// The loss's head gradient scaled and rounded in one pass: the bits of the two-pass composite, for
// magnitudes from 1e-30 to 1e30, ties of the rounding (1 + 2^-8 and 1 + 3 * 2^-8 round to even),
// a part vector and several of the kernel's blocks.
TEST(LeanOps, ScaledBf16IsTheTwoPassCompositeBitForBit) {
  if (!cpu_elementwise_applies({})) GTEST_SKIP() << "no AVX-512 BF16 here";
  torch::manual_seed(5);
  for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{3, 7, 13}, std::vector<std::int64_t>{2, 300, 97}}) {
    auto x = torch::randn(shape) * torch::pow(10.0, torch::randint(-30, 31, shape).to(torch::kFloat32));
    x.view(-1)[0] = 1 + std::ldexp(1.0, -8);
    x.view(-1)[1] = 1 + 3 * std::ldexp(1.0, -8);
    for (float scale : {1.f, 1.f / 3, -2.5e-4f}) {
      const auto composite = x.mul(torch::tensor(scale)).to(torch::kBFloat16);
      const auto got = cpu_scaled_bf16(x, scale);
      EXPECT_EQ(got.sizes(), x.sizes());
      EXPECT_TRUE(got.view(torch::kInt16).equal(composite.view(torch::kInt16))) << "scale " << scale << ", " << x.numel() << " values";
    }
  }
}

// The transposed copy moves bits: every 16-bit pattern (denormals, NaNs with any payload, -0)
// survives, for shapes off the kernel's 32 x 32 blocks and rows of a wider matrix.
TEST(LeanOps, TransposeMovesEveryBitPattern) {
  if (!cpu_elementwise_applies({})) GTEST_SKIP() << "no AVX-512 BF16 here";
  const auto patterns = torch::arange(0, 65536, torch::kInt32).to(torch::kInt16).view(torch::kBFloat16);
  for (const auto& [rows, cols] : std::vector<std::pair<std::int64_t, std::int64_t>>{{256, 256}, {37, 53}, {53, 37}, {1, 70}, {70, 1}, {2048, 96}}) {
    const auto wide = patterns.repeat((rows * (cols + 9)) / 65536 + 1).narrow(0, 0, rows * (cols + 9)).view({rows, cols + 9});
    const auto x = wide.narrow(1, 5, cols);  // rows cols + 9 apart
    const auto got = cpu_transpose(x);
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_TRUE(got.view(torch::kInt16).equal(x.t().contiguous().view(torch::kInt16))) << rows << " x " << cols;
  }
}

TEST(LeanOps, SwigluLinearEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(5);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (bool has_bias : {false, true}) {
      auto gate = (torch::randn({1, 41, 160}) * 4).to(dtype);
      auto up = torch::randn({1, 41, 160}).to(dtype);
      auto weight = (torch::randn({48, 160}) * 0.1).to(dtype);
      auto bias = torch::randn({48}).to(dtype);
      auto upstream = torch::randn({1, 41, 48}).to(dtype);
      std::vector<torch::Tensor> inputs = {gate, up, weight};
      if (has_bias) inputs.push_back(bias);
      auto b = [&](const std::vector<torch::Tensor>& in) { return has_bias ? in[3] : torch::Tensor(); };
      auto lean = run([&](const std::vector<torch::Tensor>& in) { return swiglu_linear(in[0], in[1], in[2], b(in)); }, inputs, upstream);
      auto plain = run([&](const std::vector<torch::Tensor>& in) { return at::linear(composite_swiglu(in[0], in[1]), in[2], b(in)); },
                       inputs, upstream);
      expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + (has_bias ? " with bias" : ""));
    }
  }
}

// The rotary embedding as attention applies it: to a projection's output [B, T, H * D] seen as
// [B, H, T, D], with tables [1, 1, T, D]. In bf16 on AVX-512 BF16 CPUs the kernel's values and
// gradients are autograd's bits through the composite, and its result is head-major.
TEST(LeanOps, RotaryEqualsAutogradThroughTheCompositeBitForBit) {
  torch::manual_seed(6);
  auto composite = [](const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    auto halves = x.chunk(2, -1);
    return x * cos + torch::cat({-halves[1], halves[0]}, -1) * sin;
  };
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    // D = 80 ends each half in a part vector; the second table is not the same in both halves
    for (auto [batch, length, heads, d] : {std::array<std::int64_t, 4>{1, 37, 3, 64}, std::array<std::int64_t, 4>{2, 5, 14, 128},
                                           std::array<std::int64_t, 4>{1, 9, 2, 80}}) {
      auto angles = torch::randn({1, 1, length, d / 2}) * 3;
      for (bool repeated_halves : {true, false}) {
        auto full = repeated_halves ? torch::cat({angles, angles}, -1) : torch::randn({1, 1, length, d}) * 3;
        auto cos = full.cos().to(dtype), sin = full.sin().to(dtype);
        auto projection = (torch::randn({batch, length, heads * d}) * 2).to(dtype);
        auto upstream = torch::randn({batch, heads, length, d}).to(dtype);
        auto as_heads = [&](const torch::Tensor& p) { return p.view({batch, length, heads, d}).transpose(1, 2); };
        auto lean = run([&](const std::vector<torch::Tensor>& in) { return rotary(as_heads(in[0]), cos, sin); }, {projection}, upstream);
        auto plain = run([&](const std::vector<torch::Tensor>& in) { return composite(as_heads(in[0]), cos, sin); }, {projection}, upstream);
        expect_same_bits(lean, plain, std::string(c10::toString(dtype)) + " d " + std::to_string(d));
        if (cpu_elementwise_applies({&projection})) {
          EXPECT_TRUE(lean.out.is_contiguous());
        }
      }
    }
  }
}

// Only the inputs that need a gradient get one, and a frozen weight costs no weight gradient (in
// bf16 through cpu_elementwise.h's kernels where this CPU has them).
TEST(LeanOps, GradientsOnlyWhereNeeded) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    auto x = torch::randn({1, 5, 8}).to(dtype).requires_grad_(true);
    auto weight = torch::ones({8}, dtype);  // frozen, as under LoRA
    rms_norm(x, weight, 1e-6).sum().backward();
    EXPECT_TRUE(x.grad().defined());
    EXPECT_FALSE(weight.grad().defined());
    auto gate = torch::randn({1, 2, 6}).to(dtype).requires_grad_(true);
    auto up = torch::randn({1, 2, 6}).to(dtype);  // no gradient wanted
    auto down = torch::randn({4, 6}).to(dtype);   // frozen
    swiglu_linear(gate, up, down).sum().backward();
    EXPECT_TRUE(gate.grad().defined());
    EXPECT_FALSE(up.grad().defined());
    EXPECT_FALSE(down.grad().defined());
    auto up_only = torch::randn({1, 2, 6}).to(dtype).requires_grad_(true);
    swiglu(torch::randn({1, 2, 6}).to(dtype), up_only).sum().backward();
    EXPECT_TRUE(up_only.grad().defined());
    torch::NoGradGuard no_grad;
    EXPECT_FALSE(swiglu(torch::randn({3}).to(dtype), torch::randn({3}).to(dtype)).requires_grad());
  }
}

// Tied embeddings: the head's dense gradient plus the looked-up rows' sparse one is a dense
// gradient equal to the head's off those rows and, on them, the head's plus each row's exact sum
// rounded once; a token repeated 400 times sums in fp32, where autograd's dense [vocab, hidden]
// gradient adds its 400 rows one bf16 rounding at a time.
TEST(LeanOps, EmbeddingRowsAddToTheDenseGradientSummedInFp32) {
  torch::manual_seed(3);
  const std::int64_t vocab = 40, dim = 16;
  auto weight = torch::randn({vocab, dim}).to(torch::kBFloat16).requires_grad_(true);
  auto ids = torch::cat({torch::full({400}, 7, torch::kLong), torch::tensor({3, 11, 3, 29}, torch::kLong)}).reshape({2, -1});
  auto upstream = torch::randn({2, ids.size(1), dim}).to(torch::kBFloat16);
  auto head_grad = torch::randn({vocab, dim}).to(torch::kBFloat16);
  auto tied = [&](auto lookup) {
    weight.mutable_grad().reset();
    ((lookup(weight, ids) * upstream).sum() + (weight * head_grad).sum()).backward();
    return weight.grad();
  };
  const auto rows = tied([](const torch::Tensor& w, const torch::Tensor& i) { return embedding_rows(w, i); });
  const auto dense = tied([](const torch::Tensor& w, const torch::Tensor& i) { return at::embedding(w, i); });
  ASSERT_EQ(rows.layout(), torch::kStrided);
  ASSERT_EQ(rows.scalar_type(), torch::kBFloat16);
  auto exact = head_grad.to(torch::kFloat64).index_add(0, ids.reshape(-1), upstream.reshape({-1, dim}).to(torch::kFloat64));
  auto rounded_sums = torch::zeros({vocab, dim}, torch::kFloat32).index_add(0, ids.reshape(-1), upstream.reshape({-1, dim}).to(torch::kFloat32));
  auto expected = (head_grad.to(torch::kFloat32) + rounded_sums.to(torch::kBFloat16).to(torch::kFloat32)).to(torch::kBFloat16);
  EXPECT_TRUE(rows.equal(expected));
  for (std::int64_t untouched : {0, 5, 39}) EXPECT_TRUE(rows[untouched].equal(head_grad[untouched])) << untouched;
  const auto error = [&](const torch::Tensor& g) { return (g[7].to(torch::kFloat64) - exact[7]).abs().max().item<double>(); };
  EXPECT_LT(error(rows), error(dense) / 4) << "the repeated token's row";
  // Frozen or without gradients: the plain lookup.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(embedding_rows(weight, ids).equal(at::embedding(weight, ids)));
}

}  // namespace
}  // namespace cotrain
