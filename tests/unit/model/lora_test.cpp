#include "cotrain/model/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cotrain/core/error.h"
#include "cotrain/model/cpu_elementwise.h"
#include "cotrain/model/cpu_low_rank.h"
#include "cotrain/model/lean_ops.h"
#include "cotrain/model/logprobs.h"
#include "unit/model/rounded_once.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

using test::lora_settings;
using test::random_model;
using test::randomize_lora_b;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

PackedRow some_row() { return pack_documents({{5, 17, 33, 2, 90, 41, 8, 8, 60, 3, 71, 12}, {4, 4, 19, 50, 23}}); }

TEST(Lora, ScalingIsAlphaOverRankOrOverSqrtRank) {
  EXPECT_DOUBLE_EQ(lora_settings({"q_proj"}, 8, 16).scaling(), 2.0);
  EXPECT_DOUBLE_EQ(lora_settings({"q_proj"}, 64, 128).scaling(), 2.0);
  EXPECT_DOUBLE_EQ(lora_settings({"q_proj"}, 8, 16, /*rslora=*/true).scaling(), 16 / std::sqrt(8.0));
}

TEST(Lora, InitIsKaimingUniformAndZerosAndFreezesTheBase) {
  auto model = random_model(Arch::Qwen2);
  auto base = random_model(Arch::Qwen2);
  add_lora(model, lora_settings(), 3);
  auto adapter = lora_parameters(model);
  ASSERT_EQ(adapter.size(), 2u * 7 * 2);  // A and B for 7 linears in 2 layers
  EXPECT_EQ(adapter["model.layers.1.mlp.down_proj.lora_A.weight"].sizes(), torch::IntArrayRef({4, 48}));
  EXPECT_EQ(adapter["model.layers.1.self_attn.k_proj.lora_B.weight"].sizes(), torch::IntArrayRef({16, 4}));
  std::vector<torch::Tensor> a_hidden_in;  // every A whose input is the hidden size 32
  for (const auto& item : adapter) {
    const auto& w = item.value();
    EXPECT_TRUE(w.requires_grad()) << item.key();
    if (ends_with(item.key(), "lora_B.weight")) {
      EXPECT_EQ(w.count_nonzero().item<std::int64_t>(), 0) << item.key();
      continue;
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));  // kaiming_uniform(a=sqrt(5))
    EXPECT_LE(w.abs().max().item<double>(), bound) << item.key();
    if (w.size(1) == 32) a_hidden_in.push_back(w.detach().flatten());
  }
  auto a = torch::cat(a_hidden_in);  // 1280 draws of U(-b, b), b = 1/sqrt(32)
  const double b = 1.0 / std::sqrt(32.0);
  EXPECT_GE(a.abs().max().item<double>(), 0.97 * b);
  EXPECT_NEAR(a.var().item<double>(), b * b / 3, 0.15 * b * b / 3);
  EXPECT_NEAR(a.mean().item<double>(), 0.0, 0.1 * b);
  for (const auto& item : model->named_parameters()) {
    if (!adapter.contains(item.key())) {
      EXPECT_FALSE(item.value().requires_grad()) << item.key();
    }
  }
  // B = 0: exactly the base model's output.
  auto row = some_row();
  EXPECT_TRUE(torch::equal(row_logprobs(model, row), row_logprobs(base, row)));
  // A depends on the seed only.
  auto again = random_model(Arch::Qwen2), other = random_model(Arch::Qwen2);
  add_lora(again, lora_settings(), 3);
  add_lora(other, lora_settings(), 4);
  const auto name = "model.layers.0.self_attn.q_proj.lora_A.weight";
  EXPECT_TRUE(torch::equal(lora_parameters(again)[name], adapter[name]));
  EXPECT_FALSE(torch::equal(lora_parameters(other)[name], adapter[name]));
}

TEST(Lora, TargetsMatchLikePeftAndBadOnesAreNamed) {
  auto model = random_model(Arch::Qwen3);  // untied: has an lm_head
  EXPECT_EQ(lora_target_paths(model, lora_settings({"q_proj", "model.layers.1.mlp.down_proj"}), "lora.targets"),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj"}));
  auto all = lora_target_paths(model, lora_settings(), "lora.targets");
  EXPECT_EQ(all.size(), 14u);
  for (const auto& p : all) EXPECT_EQ(p.find("lm_head"), std::string::npos);

  auto error = [&](std::vector<std::string> targets) {
    return input_error([&] { lora_target_paths(model, lora_settings(std::move(targets)), "lora.targets"); });
  };
  EXPECT_EQ(error({"lm_head"}), "lora.targets: 'lm_head' names lm_head, which LoRA cannot adapt "
                                "(decoder linears only: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  EXPECT_NE(error({"self_attn"}).find("'self_attn' names model.layers.0.self_attn, which LoRA cannot adapt"), std::string::npos);
  EXPECT_NE(error({"q_norm"}).find("'q_norm' names model.layers.0.self_attn.q_norm"), std::string::npos);
  EXPECT_NE(error({"q_proj", "qproj"}).find("lora.targets: 'qproj' matches no module"), std::string::npos);
  EXPECT_NE(error({"all-linear", "q_proj"}).find("'all-linear' must be the only target"), std::string::npos);
  EXPECT_NE(error({}).find("no target modules"), std::string::npos);

  EXPECT_EQ(input_error([&] { add_lora(model, lora_settings({"q_proj"}, 0), 0); }), "lora.rank: must be > 0 (got 0)");
  EXPECT_EQ(input_error([&] { add_lora(model, lora_settings({"q_proj"}, 4, -1), 0); }), "lora.alpha: must be > 0 (got -1)");
  EXPECT_EQ(input_error([&] { add_lora(model, lora_settings({"q_proj"}, 4, 8, false, 1.0), 0); }), "lora.dropout: must be in [0, 1) (got 1)");
  EXPECT_FALSE(model->lora.has_value());  // refused settings attach nothing
  add_lora(model, lora_settings({"q_proj"}), 0);
  EXPECT_EQ(input_error([&] { add_lora(model, lora_settings({"v_proj"}), 0); }), "the model already has a LoRA adapter");
}

// y = W x + b + s * B(A(x)), with A and B in fp32 over a bf16 base. Eval mode: x cast to fp32,
// the sum taken in fp32 and rounded to the base output's dtype (peft's lora.Linear.forward at
// inference). Training mode: the products, the scaling and the sum in bf16 with A and B rounded to
// bf16 (what autocast makes of the same code in the Trainer's bf16 steps), bit for bit.
TEST(Lora, LinearComputesPeftsFormulaInPeftsDtypes) {
  // rank 3: scalings 8/3 and 8/sqrt(3); ranks 4 and 64: 2 and 4, 1/8 and 1, powers of two, which the
  // layer applies to the rank-r product instead (the same bits, checked here with the gradients);
  // rank 64 into 64 outputs also sums its product in one pass where the CPU has AMX
  // (cpu_low_rank.h), forward and backward (96 inputs).
  struct Case {
    std::int64_t in, out, rank, rows;
  };
  for (auto base : {torch::kFloat32, torch::kBFloat16}) {
   for (const auto& [in, out, rank, rows] : {Case{6, 5, 3, 4}, Case{6, 5, 4, 4}, Case{96, 64, 64, 37}}) {
    for (bool rslora : {false, true}) {
      SCOPED_TRACE("rank " + std::to_string(rank));
      torch::manual_seed(7);
      Linear linear(in, out, /*bias=*/true, torch::TensorOptions().dtype(base));
      torch::NoGradGuard no_grad;
      linear->weight.copy_(torch::randn({out, in}));
      linear->bias.copy_(torch::randn({out}));
      auto init = at::make_generator<at::CPUGeneratorImpl>(1);
      const double s = lora_settings({"q_proj"}, rank, 8, rslora).scaling();
      linear->add_lora(rank, s, 0.0, init, at::Generator());
      linear->lora_B->weight.copy_(torch::randn({out, rank}));
      const auto& A = linear->lora_A->weight;
      const auto& B = linear->lora_B->weight;
      EXPECT_EQ(A.scalar_type(), torch::kFloat32);
      EXPECT_EQ(B.scalar_type(), torch::kFloat32);
      auto x = torch::randn({2, rows, in}).to(base);
      auto base_out = at::linear(x, linear->weight, linear->bias);
      auto update = x.to(torch::kFloat32).matmul(A.t()).matmul(B.t()) * s;
      auto expected = (base_out.to(torch::kFloat32) + update).to(base);
      linear->eval();
      auto got = linear(x);
      EXPECT_EQ(got.scalar_type(), base);
      if (base == torch::kFloat32) {
        EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5) << "rslora " << rslora;
      } else {  // equal up to the last bit of the fp32 update before rounding
        EXPECT_LE((got.to(torch::kFloat32) - expected.to(torch::kFloat32)).abs().max().item<double>(),
                  expected.to(torch::kFloat32).abs().max().item<double>() / 128) << "rslora " << rslora;
        EXPECT_GE(got.eq(expected).to(torch::kFloat32).mean().item<double>(), 0.9);
      }

      linear->train();
      linear->weight.requires_grad_(false);  // a LoRA step trains the adapter only
      linear->bias.requires_grad_(false);
      auto x_grad = x.clone().requires_grad_(), x_peft = x.clone().requires_grad_();
      auto A_peft = A.detach().clone().requires_grad_(), B_peft = B.detach().clone().requires_grad_();
      torch::Tensor trained, autocast;
      {
        torch::AutoGradMode grad_mode(true);
        trained = linear(x_grad);
        autocast = at::linear(x_peft, linear->weight, linear->bias) + at::linear(at::linear(x_peft, A_peft.to(base)), B_peft.to(base)) * s;
        auto upstream = torch::randn(trained.sizes()).to(base);
        (trained * upstream).sum().backward();
        (autocast * upstream).sum().backward();
      }
      EXPECT_EQ(trained.scalar_type(), base);
      // bf16 with a power-of-two scaling (rank 4) runs as one autograd function (lean_ops.h's
      // lora_linear, the joint function of linears_of_one_input for one layer) where the
      // element-wise kernels run; the composite otherwise.
      const bool fused = base == torch::kBFloat16 && rank != 3 && cpu_elementwise_applies({&x});
      EXPECT_EQ(trained.grad_fn()->name().find("JointLinearFunction") != std::string::npos, fused) << trained.grad_fn()->name();
      EXPECT_TRUE(trained.equal(autocast)) << "rslora " << rslora;
      EXPECT_TRUE(x_grad.grad().equal(x_peft.grad())) << "rslora " << rslora;
      // The adapters' gradients from cpu_low_rank.h's product where it runs: oneDNN's sums in another
      // order, rounded to bf16 once as its are, so equal but for a sum near a midpoint.
      const bool tile_product = fused && cpu_low_rank_gradient_applies(x.reshape({-1, in}), torch::empty({rows, rank}, x.options()));
      for (const auto& [ours, peft] : {std::pair{A.grad(), A_peft.grad()}, std::pair{B.grad(), B_peft.grad()}}) {
        if (!tile_product) {
          EXPECT_TRUE(ours.equal(peft)) << "rslora " << rslora;
          continue;
        }
        EXPECT_TRUE((ours - peft).abs().le(peft.abs() * std::ldexp(1.0, -7)).all().item<bool>()) << "rslora " << rslora;
        EXPECT_GT(ours.eq(peft).to(torch::kFloat64).mean().item<double>(), 0.99) << "rslora " << rslora;
      }
      if (base == torch::kBFloat16) {
        EXPECT_FALSE(trained.detach().equal(got));  // the two paths round differently
      }
    }
   }
  }
}

// Adapted layers that read one input, as the attention's q, k and v projections (lean_ops.h's
// linears_of_one_input): each value and adapter gradient lora_linear's bit for bit, and the
// input's gradient, summed inside the products, within one bf16 step (of the terms' magnitude) of
// autograd's sum of the three layers' and no further from the exact one.
TEST(Lora, LayersOfOneInputAreEachLoraLinearWithTheInputsGradientSummedInTheProducts) {
  const auto bf16 = torch::kBFloat16;
  const auto probe = torch::empty({1}, bf16);
  if (!cpu_elementwise_applies({&probe})) GTEST_SKIP() << "lora_linear's function runs where the element-wise kernels do";
  torch::manual_seed(17);
  const double s = 0.5;
  const std::vector<std::int64_t> features{96, 32, 32};
  const auto x0 = torch::randn({1, 70, 64}).to(bf16);
  std::vector<torch::Tensor> w, b, A0, B0, upstream;
  for (const auto f : features) {
    w.push_back((torch::randn({f, 64}) * 0.1).to(bf16));
    b.push_back(torch::randn({f}).to(bf16));
    A0.push_back(torch::randn({16, 64}) * 0.1);
    B0.push_back(torch::randn({f, 16}) * 0.1);
    upstream.push_back(torch::randn({1, 70, f}).to(bf16));
  }
  auto leaves = [](const std::vector<torch::Tensor>& ts) {
    std::vector<torch::Tensor> out;
    for (const auto& t : ts) out.push_back(t.clone().requires_grad_(true));
    return out;
  };
  auto x = x0.clone().requires_grad_(true), x_each = x0.clone().requires_grad_(true);
  auto A = leaves(A0), B = leaves(B0), A_each = leaves(A0), B_each = leaves(B0);
  const auto joint = linears_of_one_input(x, w, b, A, B, s);
  ASSERT_TRUE(joint.has_value());
  auto loss = torch::zeros({}), loss_each = torch::zeros({});
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto each = lora_linear(x_each, w[i], b[i], A_each[i], B_each[i], s);
    ASSERT_TRUE(each.has_value());
    EXPECT_TRUE((*joint)[i].equal(*each)) << "value " << i;
    loss = loss + ((*joint)[i] * upstream[i]).sum();
    loss_each = loss_each + (*each * upstream[i]).sum();
  }
  loss.backward();
  loss_each.backward();
  for (std::size_t i = 0; i < features.size(); ++i) {
    EXPECT_TRUE(A[i].grad().equal(A_each[i].grad())) << "A's gradient " << i;
    EXPECT_TRUE(B[i].grad().equal(B_each[i].grad())) << "B's gradient " << i;
  }
  // The exact composite in fp64, and SCALE: the sum of its terms' magnitudes.
  const auto f64 = torch::kFloat64;
  auto exact = torch::zeros({1, 70, 64}, f64), scale = exact.clone();
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto u = upstream[i].to(f64), path = w[i].to(f64) + s * torch::mm(B0[i].to(f64), A0[i].to(f64));
    exact += torch::matmul(u, path);
    scale += torch::matmul(u.abs(), w[i].to(f64).abs()) + s * torch::matmul(torch::matmul(u.abs(), B0[i].to(f64).abs()), A0[i].to(f64).abs());
  }
  const auto ours = x.grad().to(f64), each = x_each.grad().to(f64);
  EXPECT_TRUE((ours - each).abs().le(scale * std::ldexp(1.0, -6)).all().item<bool>()) << "input gradient";
  EXPECT_LE((ours - exact).abs().sum().item<double>(), (each - exact).abs().sum().item<double>()) << "input gradient";
}

// On a GPU a training step's layer adds the update inside the base output's product (addmm), so
// its value is the exact sum of the base output and the rank-r update rounded once: within one step
// of the dtype, and in sum no further from it than peft's composite (which rounds the update
// first); the gradients are the composite's products, to a rounding.
TEST(Lora, LinearOnCudaAddsTheUpdateInsideTheBaseProduct) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device";
  for (auto base : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(base));
    torch::manual_seed(8);
    Linear linear(96, 64, /*bias=*/true, torch::TensorOptions().dtype(base));
    auto init = at::make_generator<at::CPUGeneratorImpl>(1);
    const double s = lora_settings({"q_proj"}, 4, 8).scaling();  // 2: a power of two
    linear->add_lora(4, s, 0.0, init, at::Generator());
    {
      torch::NoGradGuard no_grad;
      linear->weight.copy_(torch::randn({64, 96}));
      linear->bias.copy_(torch::randn({64}));
      linear->lora_B->weight.copy_(torch::randn({64, 4}));
    }
    linear->to(torch::kCUDA);
    linear->train();
    linear->weight.requires_grad_(false);
    linear->bias.requires_grad_(false);
    const auto &A = linear->lora_A->weight, &B = linear->lora_B->weight;
    auto x = torch::randn({2, 37, 96}).to(torch::TensorOptions().device(torch::kCUDA).dtype(base));
    auto x_ours = x.clone().requires_grad_(), x_peft = x.clone().requires_grad_();
    auto A_peft = A.detach().clone().requires_grad_(), B_peft = B.detach().clone().requires_grad_();
    auto ours = linear(x_ours);
    EXPECT_NE(ours.grad_fn()->name().find("Addmm"), std::string::npos) << ours.grad_fn()->name();
    auto base_out = at::linear(x_peft, linear->weight, linear->bias);
    auto rank_product = at::linear(x_peft, A_peft.to(base)) * s;
    auto peft = base_out + at::linear(rank_product, B_peft.to(base));
    auto upstream = torch::randn(ours.sizes()).to(x.options());
    (ours * upstream).sum().backward();
    (peft * upstream).sum().backward();

    const double step = base == torch::kBFloat16 ? std::ldexp(1.0, -7) : 1e-5;
    auto f64 = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); };
    test::expect_rounded_once(ours, peft, f64(base_out) + f64(rank_product).matmul(f64(B_peft.to(base)).t()), "value");
    for (const auto& [got, want] : {std::pair{x_ours.grad(), x_peft.grad()}, std::pair{A.grad(), A_peft.grad()},
                                    std::pair{B.grad(), B_peft.grad()}}) {
      ASSERT_TRUE(got.defined());
      EXPECT_LE((f64(got) - f64(want)).abs().max().item<double>(), f64(want).abs().max().item<double>() * step);
    }
  }
}

TEST(Lora, DropoutIsInvertedAndTrainingOnly) {
  // W = 0, A = B = 1 on one feature: each of 4000 rows of ones comes out as its mask value, 0
  // for a dropped input and 1 / (1 - p) for a kept one.
  Linear linear(1, 1, false, torch::kFloat32);
  torch::NoGradGuard no_grad;
  linear->weight.zero_();
  auto init = at::make_generator<at::CPUGeneratorImpl>(1);
  linear->add_lora(1, 1.0, 0.25, init, at::make_generator<at::CPUGeneratorImpl>(2));
  linear->lora_A->weight.fill_(1);
  linear->lora_B->weight.fill_(1);
  auto x = torch::ones({4000, 1});
  auto y = linear(x);
  auto kept = y.ne(0);
  EXPECT_TRUE(torch::allclose(y.masked_select(kept), torch::full({1}, 1 / 0.75)));
  EXPECT_NEAR(kept.to(torch::kFloat64).mean().item<double>(), 0.75, 0.03);  // Binomial(4000, 0.75): sd 0.007
  linear->eval();
  EXPECT_TRUE(torch::equal(linear(x), x));
}

TEST(Lora, DropoutMasksComeFromTheModelsGeneratorAndReplayFromItsState) {
  auto model = random_model(Arch::Llama);
  add_lora(model, lora_settings({"all-linear"}, 4, 8, false, 0.3), 1);
  randomize_lora_b(model, 2);
  auto no_dropout = random_model(Arch::Llama);
  add_lora(no_dropout, lora_settings({"all-linear"}, 4, 8, false, 0.0), 1);
  randomize_lora_b(no_dropout, 2);
  auto row = some_row();
  torch::NoGradGuard no_grad;
  model->eval();
  auto eval = row_logprobs(model, row);
  EXPECT_TRUE(torch::equal(eval, row_logprobs(no_dropout, row)));  // eval: no dropout at all
  model->train();
  auto state = model->lora_dropout_generator.get_state();
  auto first = row_logprobs(model, row);
  auto second = row_logprobs(model, row);
  EXPECT_FALSE(torch::equal(first, eval));
  EXPECT_FALSE(torch::equal(first, second));  // fresh masks each pass
  model->lora_dropout_generator.set_state(state);
  EXPECT_TRUE(torch::equal(row_logprobs(model, row), first));  // a restored state replays them
}

TEST(Lora, MergeFoldsTheUpdateIntoTheWeightsInFp32) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto model = random_model(Arch::Qwen2, /*tied=*/true, 4, dtype);
    add_lora(model, lora_settings({"q_proj", "down_proj"}, 4, 8, /*rslora=*/true), 5);
    randomize_lora_b(model, 6);
    const auto path = std::string("model.layers.1.mlp.down_proj");
    auto adapter = lora_parameters(model);
    auto w_before = model->named_parameters()[path + ".weight"].detach().clone();
    auto expected = (w_before.to(torch::kFloat32) + at::mm(adapter[path + ".lora_B.weight"], adapter[path + ".lora_A.weight"]) *
                                                         lora_settings({}, 4, 8, true).scaling())
                        .to(dtype);
    auto row = some_row();
    torch::Tensor unmerged;
    {
      torch::NoGradGuard no_grad;
      unmerged = row_logprobs(model, row);
    }
    merge_lora(model);
    EXPECT_FALSE(model->lora.has_value());
    EXPECT_EQ(lora_parameters(model).size(), 0u);
    EXPECT_EQ(model->named_parameters().size(), random_model(Arch::Qwen2, true)->named_parameters().size());
    auto w_after = model->named_parameters()[path + ".weight"];
    EXPECT_LE((w_after.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>(),
              dtype == torch::kFloat32 ? 1e-6 : 0.0);
    if (dtype == torch::kFloat32) {
      torch::NoGradGuard no_grad;
      EXPECT_LE((row_logprobs(model, row) - unmerged).abs().max().item<double>(), 1e-5);
    }
  }
}

}  // namespace
}  // namespace cotrain
