#include "cotrain/model/weight_gradient.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cotrain/model/lean_ops.h"

namespace cotrain {
namespace {

// Which path ran, in every failure message: MKL's on AMX CPUs, torch's elsewhere.
std::string path() { return mkl_bf16_products_here() ? "MKL bf16 GEMM" : "torch matmul"; }

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// PRODUCT(out, accumulate) makes EXACT (fp64) into rows 20-83 of a [100, 48] fp32 matrix of 7s:
// written, then added to, at the inputs' precision (fp32 accumulation on MKL's path; torch's
// rounds the product to bf16, 8 bits, before converting), and no other row touched. SCALE: the
// largest sum of absolute products.
template <typename Product>
void expect_written_then_added(Product product, const torch::Tensor& exact, double scale) {
  auto out_full = torch::full({100, 48}, 7.0);
  auto out = out_full.narrow(0, 20, 64);
  const double tolerance = mkl_bf16_products_here() ? 1e-6 * scale : std::ldexp(1.0, -8) * scale;
  product(out, /*accumulate=*/false);
  EXPECT_LT(max_abs(out.to(torch::kFloat64) - exact), tolerance);
  product(out, /*accumulate=*/true);
  EXPECT_LT(max_abs(out.to(torch::kFloat64) - 2 * exact), 2 * tolerance);
  EXPECT_TRUE(out_full.narrow(0, 0, 20).eq(7.0).all().item<bool>()) << "rows before the block were written";
  EXPECT_TRUE(out_full.narrow(0, 84, 16).eq(7.0).all().item<bool>()) << "rows after the block were written";
}

// The loss's use: A a block of columns of a wider matrix, OUT a block of rows, written then added to.
TEST(WeightGradient, TransposedProductIntoWritesThenAddsAtTheInputsPrecision) {
  SCOPED_TRACE(path());
  torch::manual_seed(11);
  const auto a_wide = torch::randn({300, 200}).to(torch::kBFloat16), b = torch::randn({300, 48}).to(torch::kBFloat16);
  const auto a = a_wide.narrow(1, 70, 64);  // [300, 64] with rows 200 apart
  const auto a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  expect_written_then_added([&](const torch::Tensor& out, bool accumulate) { transposed_product_into(out, a, b, accumulate); },
                            torch::mm(a64.t(), b64), max_abs(torch::mm(a64.abs().t(), b64.abs())));
}

// The loss's other use: A a chunk of a block's softmax gradients [positions, vocabulary rows], B the
// head's block, OUT the chunk's rows of the hidden states' gradient, written by the first block and
// added to by the next.
TEST(WeightGradient, ProductIntoWritesThenAddsAtTheInputsPrecision) {
  SCOPED_TRACE(path());
  torch::manual_seed(13);
  const auto a_wide = torch::randn({64, 500}).to(torch::kBFloat16), b = torch::randn({300, 48}).to(torch::kBFloat16);
  const auto a = a_wide.narrow(1, 100, 300);  // [64, 300] with rows 500 apart
  const auto a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  expect_written_then_added([&](const torch::Tensor& out, bool accumulate) { product_into(out, a, b, accumulate); }, torch::mm(a64, b64),
                            max_abs(torch::mm(a64.abs(), b64.abs())));
}

// Over 2,048 tokens, as a training step's: the bf16 weight gradient is the exact product rounded
// once (fp32 sums, so off the exact rounding only near a midpoint), as close to the exact product
// as autograd's own, and within one bf16 step of it; elsewhere it is autograd's.
void expect_weight_gradient_rounded_once(std::int64_t out_features, std::int64_t in_features) {
  torch::manual_seed(12);
  const auto grad = torch::randn({2048, out_features}).to(torch::kBFloat16), input = torch::randn({2048, in_features}).to(torch::kBFloat16);
  const auto ours = weight_gradient(grad, input);
  const auto autograd = input.t().mm(grad).t();  // what autograd's linear backward computes
  ASSERT_EQ(ours.sizes(), autograd.sizes());
  ASSERT_EQ(ours.scalar_type(), torch::kBFloat16);
  if (!mkl_bf16_products_here()) {
    EXPECT_TRUE(ours.equal(autograd));
    return;
  }
  const auto exact = torch::mm(grad.to(torch::kFloat64).t(), input.to(torch::kFloat64));
  const auto ours_error = (ours.to(torch::kFloat64) - exact).abs(), autograd_error = (autograd.to(torch::kFloat64) - exact).abs();
  // Both are fp32 sums rounded once, in different orders: equal to about 1e-8 either way (a
  // product that rounded partial sums to bf16 would be worse by orders of magnitude).
  EXPECT_LE(ours_error.sum().item<double>(), autograd_error.sum().item<double>() * (1 + 1e-6));
  const auto bf16_step = exact.abs().clamp_min(1e-30) * std::ldexp(1.0, -7);  // one unit in the last place, or more
  EXPECT_TRUE((ours.to(torch::kFloat64) - autograd.to(torch::kFloat64)).abs().le(bf16_step).all().item<bool>());
  const double rounded_exactly = ours.eq(exact.to(torch::kBFloat16)).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(rounded_exactly, 0.999);
  // fp32 keeps autograd's formula and bits on every path.
  const auto g32 = grad.to(torch::kFloat32), x32 = input.to(torch::kFloat32);
  EXPECT_TRUE(weight_gradient(g32, x32).equal(x32.t().mm(g32).t()));
}

// Layers that read one input, as the 0.5B's q, k and v projections (896 + 128 + 128 rows: the
// joint product runs in two halves of its rows): each gradient the exact product rounded once, as
// weight_gradient's, and no further from it than autograd's.
TEST(WeightGradient, OfLayersSharingAnInputIsEachOnesRoundedOnce) {
  SCOPED_TRACE(path());
  torch::manual_seed(15);
  const auto input = torch::randn({2048, 896}).to(torch::kBFloat16);
  std::vector<torch::Tensor> grads;
  for (const std::int64_t features : {896, 128, 128}) grads.push_back(torch::randn({2048, features}).to(torch::kBFloat16));
  const auto ours = weight_gradients(grads, input);
  ASSERT_EQ(ours.size(), grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const auto autograd = input.t().mm(grads[i]).t();
    ASSERT_EQ(ours[i].sizes(), autograd.sizes());
    ASSERT_EQ(ours[i].scalar_type(), torch::kBFloat16);
    if (!mkl_bf16_products_here()) {
      EXPECT_TRUE(ours[i].equal(weight_gradient(grads[i], input)));
      continue;
    }
    const auto exact = torch::mm(grads[i].to(torch::kFloat64).t(), input.to(torch::kFloat64));
    const auto ours_error = (ours[i].to(torch::kFloat64) - exact).abs(), autograd_error = (autograd.to(torch::kFloat64) - exact).abs();
    EXPECT_LE(ours_error.sum().item<double>(), autograd_error.sum().item<double>() * (1 + 1e-6));
    EXPECT_GT(ours[i].eq(exact.to(torch::kBFloat16)).to(torch::kFloat64).mean().item<double>(), 0.999);
  }
}

// linears_of_one_input: each layer's value and bias gradient as linear()'s, the weights' gradients
// weight_gradients', and the input's gradient, summed inside the products, within one bf16 step (of
// the terms' magnitude) of autograd's sum of the three and no further from the exact one.
TEST(WeightGradient, LinearsOfOneInputAreLinearEachWithTheInputsGradientSummedInTheProducts) {
  SCOPED_TRACE(path());
  torch::manual_seed(16);
  const std::vector<std::int64_t> features{40, 24, 24};
  const auto x0 = torch::randn({1, 300, 64}).to(torch::kBFloat16);
  std::vector<torch::Tensor> w0, b0, upstream;
  for (const auto f : features) {
    w0.push_back((torch::randn({f, 64}) * 0.1).to(torch::kBFloat16));
    b0.push_back(torch::randn({f}).to(torch::kBFloat16));
    upstream.push_back(torch::randn({1, 300, f}).to(torch::kBFloat16));
  }
  auto leaves = [](const std::vector<torch::Tensor>& ts) {
    std::vector<torch::Tensor> out;
    for (const auto& t : ts) out.push_back(t.clone().requires_grad_(true));
    return out;
  };
  auto x = x0.clone().requires_grad_(true), xp = x0.clone().requires_grad_(true);
  auto w = leaves(w0), b = leaves(b0), wp = leaves(w0), bp = leaves(b0);
  const auto joint = linears_of_one_input(x, w, b);
  if (!mkl_bf16_products_here()) {
    EXPECT_FALSE(joint.has_value());
    return;
  }
  ASSERT_TRUE(joint.has_value());
  auto loss = torch::zeros({}), loss_plain = torch::zeros({});
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto plain = linear(xp, wp[i], bp[i]);
    EXPECT_TRUE((*joint)[i].equal(plain)) << "value " << i;
    loss = loss + ((*joint)[i] * upstream[i]).sum();
    loss_plain = loss_plain + (plain * upstream[i]).sum();
  }
  loss.backward();
  loss_plain.backward();
  std::vector<torch::Tensor> grad_rows;
  for (const auto& u : upstream) grad_rows.push_back(u.reshape({-1, u.size(-1)}));
  const auto weight_grads = weight_gradients(grad_rows, x0.reshape({-1, 64}));
  for (std::size_t i = 0; i < features.size(); ++i) {
    EXPECT_TRUE(w[i].grad().equal(weight_grads[i])) << "weight gradient " << i;
    EXPECT_TRUE(b[i].grad().equal(bp[i].grad())) << "bias gradient " << i;
  }
  // SCALE: the sum of the three products' absolute terms, what their roundings are relative to.
  auto exact = torch::zeros({1, 300, 64}, torch::kFloat64), scale = exact.clone();
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto u = upstream[i].to(torch::kFloat64), w64 = w0[i].to(torch::kFloat64);
    exact += torch::matmul(u, w64);
    scale += torch::matmul(u.abs(), w64.abs());
  }
  const auto ours = x.grad().to(torch::kFloat64), autograd = xp.grad().to(torch::kFloat64);
  EXPECT_TRUE((ours - autograd).abs().le(scale * std::ldexp(1.0, -7)).all().item<bool>()) << "input gradient";
  EXPECT_LE((ours - exact).abs().sum().item<double>(), (autograd - exact).abs().sum().item<double>()) << "input gradient";
}

// Both AMX paths: a square weight (MKL's product of GRAD as it lies) and an oblong one (oneDNN's of
// GRAD transposed first).
TEST(WeightGradient, IsAutogradsWithinOneRoundingAndNoLessAccurate) {
  for (const std::int64_t out_features : {96, 160}) {
    SCOPED_TRACE(path() + ", " + std::to_string(out_features) + " x 160");
    expect_weight_gradient_rounded_once(out_features, 160);
  }
}

// cotrain::linear: at::linear's value, autograd's input and bias gradients bit for bit, and the
// weight's from weight_gradient().
TEST(WeightGradient, LinearIsAtLinearWithThatWeightGradient) {
  SCOPED_TRACE(path());
  torch::manual_seed(13);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto x0 = torch::randn({1, 300, 64}).to(dtype), w0 = (torch::randn({40, 64}) * 0.1).to(dtype), b0 = torch::randn({40}).to(dtype);
    const auto upstream = torch::randn({1, 300, 40}).to(dtype);
    auto run = [&](bool ours) {
      auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
      auto y = ours ? linear(x, w, b) : at::linear(x, w, b);
      (y * upstream).sum().backward();
      return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
    };
    const auto ours = run(true), plain = run(false);
    const std::string what = c10::toString(dtype);
    EXPECT_TRUE(ours[0].equal(plain[0])) << what << ": value";
    EXPECT_TRUE(ours[1].equal(plain[1])) << what << ": input gradient";
    EXPECT_TRUE(ours[3].equal(plain[3])) << what << ": bias gradient";
    EXPECT_TRUE(ours[2].equal(weight_gradient(upstream.reshape({-1, 40}), x0.reshape({-1, 64})))) << what << ": weight gradient";
  }
}

// Over 4,096 output features `linear` runs the forward product in two halves of the weight's rows
// (lean_ops.cpp): its value is still the exact x W^T + b rounded to bf16 (within one bf16 step,
// fp32 sums in another order than one call's), its gradients autograd's.
TEST(WeightGradient, LinearInHalvesIsTheExactProductRounded) {
  SCOPED_TRACE(path());
  torch::manual_seed(14);
  const std::int64_t features = 4100;  // halves of 2,064 and 2,036 columns
  const auto x0 = torch::randn({1, 100, 64}).to(torch::kBFloat16), w0 = (torch::randn({features, 64}) * 0.1).to(torch::kBFloat16);
  const auto b0 = torch::randn({features}).to(torch::kBFloat16);
  const auto upstream = torch::randn({1, 100, features}).to(torch::kBFloat16);
  auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  auto y = linear(x, w, b);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({1, 100, features}));
  const auto exact = at::linear(x0.to(torch::kFloat64), w0.to(torch::kFloat64), b0.to(torch::kFloat64));
  const auto step = exact.abs().clamp_min(1e-3) * std::pow(2.0, -8);  // one bf16 step (2^-7 relative) is twice this
  EXPECT_LE(((y.detach().to(torch::kFloat64) - exact).abs() / step).max().item<double>(), 2.0);
  (y * upstream).sum().backward();
  auto xp = x0.clone().requires_grad_(true), wp = w0.clone().requires_grad_(true), bp = b0.clone().requires_grad_(true);
  (at::linear(xp, wp, bp) * upstream).sum().backward();
  EXPECT_TRUE(x.grad().equal(xp.grad())) << "input gradient";
  EXPECT_TRUE(b.grad().equal(bp.grad())) << "bias gradient";
  EXPECT_TRUE(w.grad().equal(weight_gradient(upstream.reshape({-1, features}), x0.reshape({-1, 64})))) << "weight gradient";
}

}  // namespace
}  // namespace cotrain
