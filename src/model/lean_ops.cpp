#include "cotrain/model/lean_ops.h"

#include <atomic>
#include <cmath>

#include "cotrain/model/cpu_elementwise.h"
#include "cotrain/model/cpu_low_rank.h"
#include "cotrain/model/cuda_elementwise.h"
#include "cotrain/model/optional_kernel.h"
#include "cotrain/model/weight_gradient.h"

namespace cotrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// On a GPU, torch's own RMSNorm kernels (torch 2.8 and later): one pass forward and one backward
// where the composite below makes five and ten, six of them dtype copies (the H200 profile's 294
// copies of [16,384 x 896] hidden states, 6 x 49 norms, and most of its ~22 ms of norm and residual
// passes in a 0.27 s step, docs/performance.md). Their value rounds x * rstd * weight once where
// transformers' rounds x * rstd first: within a rounding of the composite in bf16, its fp32 value
// up to the order of two products. A release without them, or a first refusal (an exception) on this GPU, turns the
// path off for the process and the composite runs.
#if __has_include(<ATen/ops/_fused_rms_norm_backward.h>)
#define COTRAIN_FUSED_RMS_NORM 1
#endif
std::atomic<bool> fused_rms_norm_refused{false};

bool fused_rms_norm_applies(const torch::Tensor& x, const torch::Tensor& weight) {
#ifdef COTRAIN_FUSED_RMS_NORM
  return x.is_cuda() && weight.scalar_type() == x.scalar_type() && !fused_rms_norm_refused;
#else
  (void)x, (void)weight;
  return false;
#endif
}

// {value, rstd} from torch's kernel, or nothing where it refuses.
std::optional<std::tuple<torch::Tensor, torch::Tensor>> fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
#ifdef COTRAIN_FUSED_RMS_NORM
  return unless_refused(fused_rms_norm_refused, [&] { return at::_fused_rms_norm(x, {x.size(-1)}, weight, eps); });
#else
  (void)x, (void)weight, (void)eps;
  return std::nullopt;
#endif
}

// {grad_x, grad_weight} (each where NEED says) from torch's kernel, or nothing where it refuses.
std::optional<std::tuple<torch::Tensor, torch::Tensor>> fused_rms_norm_backward(const torch::Tensor& grad, const torch::Tensor& x,
                                                                                const torch::Tensor& weight, const torch::Tensor& rstd,
                                                                                std::array<bool, 2> need) {
#ifdef COTRAIN_FUSED_RMS_NORM
  return unless_refused(fused_rms_norm_refused,
                        [&] { return at::_fused_rms_norm_backward(grad, x, {x.size(-1)}, rstd, weight, need); });
#else
  (void)grad, (void)x, (void)weight, (void)rstd, (void)need;
  return std::nullopt;
#endif
}

// The backward formulas are autograd's own for the forward's ops (torch's derivatives.yaml),
// applied in the order its engine applies them, so the gradients are the same bits; in bf16 on
// CPUs with AVX-512 BF16 the same formulas in one pass each (cpu_elementwise.h); on a GPU torch's
// fused kernels (above).
struct RMSNormFunction : torch::autograd::Function<RMSNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    if (cpu_elementwise_applies({&x, &weight})) {
      auto [out, inv_rms] = cpu_rms_norm(x, weight, eps);
      ctx->save_for_backward({x, weight, inv_rms});
      return out;
    }
    if (fused_rms_norm_applies(x, weight)) {
      if (auto fused = fused_rms_norm(x, weight, eps)) {
        auto& [out, rstd] = *fused;
        ctx->save_for_backward({x, weight, rstd});
        ctx->saved_data["fused"] = true;
        return out;
      }
    }
    auto x32 = x.to(torch::kFloat32);
    auto inv_rms = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    ctx->save_for_backward({x, weight, inv_rms});
    return weight * (x32 * inv_rms).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &inv_rms = saved[2];
    const auto& grad = grad_out[0];
    if (cpu_elementwise_applies({&grad, &x, &weight})) {
      auto [grad_x, grad_weight] = cpu_rms_norm_backward(grad, x, weight, inv_rms, ctx->needs_input_grad(0), ctx->needs_input_grad(1));
      return {grad_x, grad_weight, torch::Tensor()};
    }
    if (ctx->saved_data.count("fused") > 0 && fused_rms_norm_applies(x, weight)) {
      if (auto fused = fused_rms_norm_backward(grad, x, weight, inv_rms, {ctx->needs_input_grad(0), ctx->needs_input_grad(1)})) {
        auto& [grad_x, grad_weight] = *fused;
        return {grad_x, grad_weight, torch::Tensor()};
      }
    }
    return composite_backward(ctx, grad, x, weight, inv_rms);
  }

  // Autograd's formulas through the composite; RSTD the forward's fp32 rsqrt, one per row of x, in
  // the shape of whichever forward made it.
  static variable_list composite_backward(AutogradContext* ctx, const torch::Tensor& grad, const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& rstd) {
    auto row_sizes = x.sizes().vec();
    row_sizes.back() = 1;
    const auto inv_rms = rstd.reshape(row_sizes);
    auto x32 = x.to(torch::kFloat32);
    torch::Tensor grad_weight;
    if (ctx->needs_input_grad(1)) grad_weight = at::sum_to(grad * (x32 * inv_rms).to(x.scalar_type()), weight.sizes());
    torch::Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      auto grad_normed = (grad * weight).to(torch::kFloat32);                              // weight * n, n.to(dtype)
      auto grad_inv_rms = at::sum_to(grad_normed * x32, inv_rms.sizes());                 // x32 * inv_rms
      auto grad_mean = -0.5 * grad_inv_rms * inv_rms.pow(3);                               // rsqrt(mean + eps)
      auto grad_square = grad_mean.expand_as(x32) / static_cast<double>(x32.size(-1));     // mean(-1)
      grad_x = (grad_normed * inv_rms + grad_square * (2.0 * x32)).to(x.scalar_type());   // x32 * inv_rms, x32.pow(2)
    }
    return {grad_x, grad_weight, torch::Tensor()};
  }
};

// RMSNorm of x and x itself, a pre-norm layer's two uses of its input: the norm's backward adds the
// residual path's gradient of x in its one pass (cpu_rms_norm_backward's SKIP), where autograd made
// the two apart and added them in a pass of its own. The same bits: the same roundings, and a sum
// of two terms does not depend on their order.
struct NormAndSkipFunction : torch::autograd::Function<NormAndSkipFunction> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    auto [out, inv_rms] = cpu_rms_norm(x, weight, eps);
    ctx->save_for_backward({x, weight, inv_rms});
    return {out, x};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &grad = grad_out[0], &skip = grad_out[1];
    if (!grad.defined()) return {skip, torch::Tensor(), torch::Tensor()};
    auto [grad_x, grad_weight] =
        cpu_rms_norm_backward(grad, saved[0], saved[1], saved[2], ctx->needs_input_grad(0), ctx->needs_input_grad(1), skip);
    return {grad_x, grad_weight, torch::Tensor()};
  }
};

// A residual connection's sum in one pass (cpu_add); its gradient is the output's, to both inputs.
struct ResidualAddFunction : torch::autograd::Function<ResidualAddFunction> {
  static torch::Tensor forward(AutogradContext*, const torch::Tensor& x, const torch::Tensor& branch) { return cpu_add(x, branch); }
  static variable_list backward(AutogradContext*, variable_list grad_out) { return {grad_out[0], grad_out[0]}; }
};

struct EmbeddingRowsFunction : torch::autograd::Function<EmbeddingRowsFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weight, const torch::Tensor& ids) {
    ctx->save_for_backward({ids});
    ctx->saved_data["vocab"] = weight.size(0);
    ctx->saved_data["dtype"] = static_cast<std::int64_t>(weight.scalar_type());
    return at::embedding(weight, ids);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto ids = ctx->get_saved_variables()[0].reshape(-1);
    const auto vocab = ctx->saved_data["vocab"].toInt();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto grad = grad_out[0].reshape({ids.size(0), -1});
    const auto [rows, of_token] = at::_unique(ids, /*sorted=*/true, /*return_inverse=*/true);
    auto sums = torch::zeros({rows.size(0), grad.size(1)}, grad.options().dtype(torch::kFloat32));
    sums.index_add_(0, of_token, grad.to(torch::kFloat32));
    // Sorted and unique: coalesced, so adding it to the dense gradient is one pass over its rows.
    auto sparse = at::_sparse_coo_tensor_unsafe(rows.unsqueeze(0), sums.to(dtype), {vocab, grad.size(1)});
    return {sparse._coalesced_(true), torch::Tensor()};
  }
};

torch::Tensor swiglu_product(const torch::Tensor& gate, const torch::Tensor& up) {
  if (cpu_elementwise_applies({&gate, &up})) return cpu_swiglu(gate, up);
  if (cuda_swiglu_applies(gate, up)) {
    if (auto product = cuda_swiglu(gate, up)) return *product;
  }
  return torch::silu(gate) * up;
}

// From the product's gradient GRAD: the product silu(gate) * up (recomputed: the forward keeps
// only gate and up) and the gradients of gate and up, each only where NEEDED.
SwigluBackward swiglu_backward(const torch::Tensor& grad, const torch::Tensor& gate, const torch::Tensor& up, bool need_product,
                               bool need_gate, bool need_up) {
  if (cpu_elementwise_applies({&grad, &gate, &up})) return cpu_swiglu_backward(grad, gate, up, need_product, need_gate, need_up);
  if (need_gate && need_up && cuda_swiglu_applies(gate, up) && grad.sizes() == gate.sizes() && grad.scalar_type() == gate.scalar_type()) {
    if (auto out = cuda_swiglu_backward(grad, gate, up, need_product)) return *out;
  }
  SwigluBackward out;
  if (need_product || need_up) {
    const auto activated = torch::silu(gate);  // once for both: a pass over [tokens, intermediate] less on a GPU
    if (need_product) out.product = activated * up;
    if (need_up) out.grad_up = grad * activated;
  }
  if (need_gate) out.grad_gate = at::silu_backward(grad * up, gate);
  return out;
}

struct SwiGLUFunction : torch::autograd::Function<SwiGLUFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return swiglu_product(gate, up);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    auto out = swiglu_backward(grad_out[0], saved[0], saved[1], false, ctx->needs_input_grad(0), ctx->needs_input_grad(1));
    return {out.grad_gate, out.grad_up};
  }
};

// Autograd's linear backward on the inputs folded to rows, as at::linear computes it: the same
// matrix products (also the transposed one for the weight), so the same bits.
struct SwiGLULinearFunction : torch::autograd::Function<SwiGLULinearFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up, const torch::Tensor& weight,
                               const std::optional<torch::Tensor>& bias) {  // optional: an undefined Tensor is no input to autograd
    ctx->save_for_backward({gate, up, weight});
    if (bias) ctx->saved_data["bias_sizes"] = bias->sizes().vec();
    return at::linear(swiglu_product(gate, up), weight, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &gate = saved[0], &up = saved[1], &weight = saved[2];
    const auto grad = grad_out[0].reshape({-1, grad_out[0].size(-1)});
    const bool need_weight = ctx->needs_input_grad(2), need_gate = ctx->needs_input_grad(0), need_up = ctx->needs_input_grad(1);
    // The pass that makes the gradients of gate and up also recomputes the product for the weight's.
    SwigluBackward out;
    if (need_gate || need_up) {
      out = swiglu_backward(grad.mm(weight).view(gate.sizes()), gate, up, need_weight, need_gate, need_up);
    } else if (need_weight) {
      out.product = swiglu_product(gate, up);
    }
    torch::Tensor grad_weight, grad_bias;
    if (need_weight) grad_weight = weight_gradient(grad, out.product.reshape({-1, out.product.size(-1)}));
    const bool has_bias = ctx->saved_data.count("bias_sizes") > 0;  // needs_input_grad() has no index for an absent one
    if (has_bias && ctx->needs_input_grad(3)) grad_bias = at::sum_to(grad, ctx->saved_data["bias_sizes"].toIntVector());
    return {out.grad_gate, out.grad_up, grad_weight, grad_bias};
  }
};

// The rotary embedding in one pass each way (cpu_elementwise.h); the tables need no gradient.
struct RotaryFunction : torch::autograd::Function<RotaryFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return cpu_rotary(x, cos, sin, /*transposed=*/false, /*head_major=*/true);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    // Token-major: the layout of the projection's output the gradient flows back into.
    return {cpu_rotary(grad_out[0], saved[0], saved[1], /*transposed=*/true, /*head_major=*/false), torch::Tensor(), torch::Tensor()};
  }
};

// Elsewhere the pairs of features each way (rotary_pairs, cuda_elementwise.h): on a GPU one kernel,
// else ATen ops with the composite's bits; keeps only the tables.
struct RotaryPairsFunction : torch::autograd::Function<RotaryPairsFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rotary_pairs(x, cos, sin, /*backward=*/false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    return {rotary_pairs(grad_out[0], saved[0], saved[1], /*backward=*/true), torch::Tensor(), torch::Tensor()};
  }
};

// x W^T (+ bias) as at::linear computes it, but in bf16 on the CPU with more than 4,096 output
// features in two halves of W's rows, each into its half of the output's columns. oneDNN (torch
// 2.13's) blocks Qwen2.5-0.5B's gate and up projections ([T, 896] x [896, 4,864]) in one call so
// that they ran at ~2,100-2,300 GFLOP/s in the training step against ~3,000 for the halves
// (bench_products); the 1.5B's and 3B's shapes measured the same either way. The halves are fp32
// sums rounded once, as one call's, added in another order (other bits than at::linear there).
torch::Tensor linear_in_halves(const torch::Tensor& x, const torch::Tensor& weight, const std::optional<torch::Tensor>& bias) {
  const auto features = weight.size(0);
  if (!x.is_cpu() || x.scalar_type() != torch::kBFloat16 || weight.scalar_type() != torch::kBFloat16 || features <= 4096) {
    return at::linear(x, weight, bias);
  }
  const auto rows = x.reshape({-1, x.size(-1)});
  auto out = torch::empty({rows.size(0), features}, x.options());
  const auto half = (features / 2 + 15) / 16 * 16;  // whole 64-byte lines of bf16 per row
  for (std::int64_t first = 0; first < features; first += half) {
    const auto n = std::min(half, features - first);
    auto columns = out.narrow(1, first, n);
    const auto part = weight.narrow(0, first, n);
    bias ? at::addmm_out(columns, bias->narrow(0, first, n), rows, part.t()) : at::mm_out(columns, rows, part.t());
  }
  auto sizes = x.sizes().vec();
  sizes.back() = features;
  return out.view(sizes);
}

// at::linear (in halves, above), with the weight's gradient from weight_gradient(): autograd's
// otherwise.
struct LinearFunction : torch::autograd::Function<LinearFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const std::optional<torch::Tensor>& bias) {
    ctx->save_for_backward({x, weight});
    if (bias) ctx->saved_data["bias_sizes"] = bias->sizes().vec();
    return linear_in_halves(x, weight, bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1];
    const auto grad = grad_out[0].reshape({-1, grad_out[0].size(-1)});
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) grad_x = grad.mm(weight).view(x.sizes());
    if (ctx->needs_input_grad(1)) grad_weight = weight_gradient(grad, x.reshape({-1, x.size(-1)}));
    const bool has_bias = ctx->saved_data.count("bias_sizes") > 0;
    if (has_bias && ctx->needs_input_grad(2)) grad_bias = at::sum_to(grad, ctx->saved_data["bias_sizes"].toIntVector());
    return {grad_x, grad_weight, grad_bias};
  }
};

// bf16(SUM + bf16(R B)) of bf16 rows, as the composite rounds: in place in one pass where
// cpu_low_rank.h's kernel runs, else the product and then cpu_add's sum.
torch::Tensor plus_low_rank(const torch::Tensor& sum, const torch::Tensor& r, const torch::Tensor& b) {
  if (cpu_low_rank_sum_applies(sum, r, b)) {
    cpu_add_low_rank_product_(sum, r, b);
    return sum;
  }
  return cpu_add(sum, r.mm(b));
}

// X W^T of bf16 rows X [..., K] and a rank-r W [r, K] (an adapter's s A16, or B16^T): cpu_low_rank.h's
// kernel where it takes them, at::linear's product otherwise; the same bits.
torch::Tensor rank_product(const torch::Tensor& x, const torch::Tensor& w) {
  const auto rows = x.reshape({-1, x.size(-1)});
  if (!cpu_rank_product_applies(rows, w)) return at::linear(x, w);
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(0);
  return cpu_rank_product(rows, w).view(sizes);
}

// An adapter's gradient in its dtype OUT: A^T B over the tokens (rows), one of A and B rank-r wide,
// rounded to bf16 once as oneDNN's product is (cpu_low_rank.h's fp32 sums, rounded and laid out by
// its kernel, where it takes the pair; otherwise MmBackward's product), times SCALE, a power of two
// (so the same bits as the rounded product of A scaled; below 2^-126 the kernel's rounding gives
// zero where ATen keeps a denormal).
torch::Tensor tokens_product(const torch::Tensor& a, const torch::Tensor& b, double scale, torch::ScalarType out) {
  if (cpu_low_rank_gradient_applies(a, b)) return cpu_low_rank_gradient_rounded(a, b, static_cast<float>(scale), /*transposed=*/false).to(out);
  if (cpu_low_rank_gradient_applies(b, a)) return cpu_low_rank_gradient_rounded(b, a, static_cast<float>(scale), /*transposed=*/true).to(out);
  const auto product = a.t().mm(b);
  return (scale == 1 ? product : product * scale).to(out);
}

// Linear layers that read one input X: y_i = linear_in_halves(x, W_i, b_i), plus, with adapters,
// peft's LoRA update linear(linear(x, A16_i) * s, B16_i) (lora_linear in lean_ops.h). Inputs in
// needs_input_grad's order: X, the WEIGHTS, the BIASES, the adapters' As, their Bs (each list
// empty or one per weight).
//
// With adapters, the composite's ops in its order, and its bits; its backward is autograd's for
// them (MmBackward's products, MulBackward's scaling, the casts' exact widening), its two sums
// plus_low_rank's. The scaling, a power of two, rides on the bf16 copy of A (s A16, made in one
// pass from the fp32 A; B16 made by the same kernel): x (s A16)^T has the bits of the composite's
// (x A16^T) s (but for values of s A or B below 2^-126, which cpu_scaled_bf16 makes zero), and so
// have the products downstream of it, without a pass over the [tokens, r] products forward and
// backward.
//
// X's gradient is summed inside the products (addmm: autograd added each further layer's in a pass
// over [tokens, in]), one adapter's term as the composite adds it; the weights' gradients come
// from weight_gradients()' one product.
struct JointLinearFunction : torch::autograd::Function<JointLinearFunction> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList weights, at::TensorList biases,
                               at::TensorList As, at::TensorList Bs, double scaling) {
    const bool adapted = !As.empty();
    variable_list out, saved{x};
    saved.insert(saved.end(), weights.begin(), weights.end());
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const auto& weight = weights[i];
      auto y = linear_in_halves(x, weight, biases.empty() ? std::nullopt : std::optional<torch::Tensor>(biases[i]));
      if (adapted) {
        const auto scaled_A16 = As[i].scalar_type() == torch::kFloat32 ? cpu_scaled_bf16(As[i], static_cast<float>(scaling))
                                                                        : As[i].to(weight.scalar_type()) * scaling;
        const auto B16 = Bs[i].scalar_type() == torch::kFloat32 ? cpu_scaled_bf16(Bs[i], 1.f) : Bs[i].to(weight.scalar_type());
        const auto rank_product = cotrain::rank_product(x, scaled_A16);
        y = plus_low_rank(y.view({-1, y.size(-1)}), rank_product.view({-1, rank_product.size(-1)}), B16.t()).view(y.sizes());
        saved.insert(saved.end(), {scaled_A16, B16, rank_product});
      }
      out.push_back(y);
    }
    ctx->save_for_backward(saved);
    ctx->saved_data["layers"] = static_cast<std::int64_t>(weights.size());
    ctx->saved_data["biases"] = !biases.empty();
    ctx->saved_data["scaling"] = scaling;
    if (adapted) ctx->saved_data["adapter_dtype"] = static_cast<std::int64_t>(As[0].scalar_type());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto n = static_cast<std::size_t>(ctx->saved_data["layers"].toInt());
    const bool biases = ctx->saved_data["biases"].toBool(), adapted = ctx->saved_data.count("adapter_dtype") > 0;
    const double scaling = ctx->saved_data["scaling"].toDouble();
    const auto& x = saved[0];
    auto weight = [&](std::size_t i) -> const torch::Tensor& { return saved[1 + i]; };
    auto adapter_piece = [&](std::size_t i, std::size_t k) -> const torch::Tensor& { return saved[1 + n + 3 * i + k]; };  // s A16, B16, x s A16^T
    // Where each input's gradient goes in the result.
    const std::size_t first_bias = 1 + n, first_A = first_bias + (biases ? n : 0), first_B = first_A + (adapted ? n : 0);
    variable_list result(first_B + (adapted ? n : 0));
    const auto rows = x.reshape({-1, x.size(-1)});
    std::vector<torch::Tensor> grads;
    for (std::size_t i = 0; i < n; ++i) {
      const auto features = weight(i).size(0);
      grads.push_back(grad_out[i].defined() ? grad_out[i].reshape({-1, features}) : torch::zeros({rows.size(0), features}, x.options()));
    }
    std::vector<torch::Tensor> grad_rank(n);  // the composite's gradient of x s A16^T is this times s
    if (adapted) {
      const auto adapter = static_cast<torch::ScalarType>(ctx->saved_data["adapter_dtype"].toInt());
      for (std::size_t i = 0; i < n; ++i) {
        const auto& rank_product = adapter_piece(i, 2);
        if (ctx->needs_input_grad(first_B + i)) {
          result[first_B + i] = tokens_product(grads[i], rank_product.reshape({-1, rank_product.size(-1)}), 1.0, adapter);
        }
        if (ctx->needs_input_grad(0) || ctx->needs_input_grad(first_A + i)) grad_rank[i] = cotrain::rank_product(grads[i], adapter_piece(i, 1).t());
        if (ctx->needs_input_grad(first_A + i)) result[first_A + i] = tokens_product(grad_rank[i], rows, scaling, adapter);
      }
    }
    if (ctx->needs_input_grad(0)) {
      torch::Tensor grad_x;
      auto add_product = [&](const torch::Tensor& a, const torch::Tensor& b) { grad_x = grad_x.defined() ? grad_x.addmm_(a, b) : a.mm(b); };
      if (adapted && n == 1) {  // as the composite adds them: peft's bits
        grad_x = plus_low_rank(grads[0].mm(weight(0)), grad_rank[0], adapter_piece(0, 0));
      } else {
        // Several adapters' terms first, while small (each added to the sum of the base products
        // instead rounded the whole sum once more per layer), as one product over their ranks side
        // by side (one rounding of their sum, and one pass over [tokens, in] where a product per
        // adapter made one each); then the base products.
        if (adapted) {
          std::vector<torch::Tensor> pieces;
          for (std::size_t i = 0; i < n; ++i) pieces.push_back(adapter_piece(i, 0));
          grad_x = at::cat(grad_rank, 1).mm(at::cat(pieces, 0));
        }
        for (std::size_t i = 0; i < n; ++i) add_product(grads[i], weight(i));
      }
      result[0] = grad_x.view(x.sizes());
    }
    bool weights = false;
    for (std::size_t i = 0; i < n; ++i) weights = weights || ctx->needs_input_grad(1 + i);
    if (weights) {
      auto weight_grads = weight_gradients(grads, rows);
      for (std::size_t i = 0; i < n; ++i) result[1 + i] = std::move(weight_grads[i]);
    }
    for (std::size_t i = 0; biases && i < n; ++i) {
      if (ctx->needs_input_grad(first_bias + i)) result[first_bias + i] = grads[i].sum(0);
    }
    result.push_back(torch::Tensor());  // scaling
    return result;
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  // Where weight_gradient() is autograd's formula the function would only repeat autograd.
  const bool mkl = mkl_bf16_products_here() && weight.is_cpu() && weight.scalar_type() == torch::kBFloat16;
  if (!mkl || !weight.requires_grad() || !torch::GradMode::is_enabled()) return at::linear(x, weight, bias);
  return LinearFunction::apply(x, weight, bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt);
}

std::optional<std::vector<torch::Tensor>> linears_of_one_input(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                                               const std::vector<torch::Tensor>& biases, const std::vector<torch::Tensor>& As,
                                                               const std::vector<torch::Tensor>& Bs, double scaling) {
  if (weights.empty() || (!biases.empty() && biases.size() != weights.size()) || As.size() != Bs.size()) return std::nullopt;
  if (!As.empty() && As.size() != weights.size()) return std::nullopt;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const auto& w = weights[i];
    if (w.dim() != 2 || w.size(1) != x.size(-1)) return std::nullopt;
    if (As.empty()) {  // trainable weights on linear()'s path
      const bool mkl = mkl_bf16_products_here() && w.is_cpu() && w.scalar_type() == torch::kBFloat16;
      if (!mkl || !w.requires_grad() || !torch::GradMode::is_enabled()) return std::nullopt;
    } else {  // frozen ones under adapters, as lora_linear's
      const bool frozen = !w.requires_grad() && (biases.empty() || !biases[i].requires_grad());
      if (!scales_exactly(scaling) || !frozen || x.dim() < 2 || !cpu_elementwise_applies({&x, &w})) return std::nullopt;
    }
  }
  return JointLinearFunction::apply(x, at::TensorList(weights), at::TensorList(biases), at::TensorList(As), at::TensorList(Bs), scaling);
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) { return RMSNormFunction::apply(x, weight, eps); }

std::pair<torch::Tensor, torch::Tensor> rms_norm_and_skip(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (!cpu_elementwise_applies({&x, &weight}) || !torch::GradMode::is_enabled()) return {rms_norm(x, weight, eps), x};
  auto out = NormAndSkipFunction::apply(x, weight, eps);
  return {out[0], out[1]};
}

torch::Tensor residual_add(const torch::Tensor& x, const torch::Tensor& branch) {
  if (!cpu_elementwise_applies({&x, &branch}) || x.sizes() != branch.sizes()) return x + branch;
  return torch::GradMode::is_enabled() ? ResidualAddFunction::apply(x, branch) : cpu_add(x, branch);
}

torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto table = x.dim() == 4 ? x.size(2) * x.size(3) : -1;
  if (cpu_elementwise_applies({&x, &cos, &sin}) && cos.numel() == table && sin.numel() == table && !cos.requires_grad() &&
      !sin.requires_grad()) {
    return RotaryFunction::apply(x, cos, sin);
  }
  if (!cos.requires_grad() && !sin.requires_grad()) return RotaryPairsFunction::apply(x, cos, sin);
  auto halves = x.chunk(2, -1);  // tables that learn: autograd through the composite
  auto rotated = torch::cat({-halves[1], halves[0]}, -1);
  return x * cos + rotated * sin;
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) { return SwiGLUFunction::apply(gate, up); }

torch::Tensor swiglu_linear(const torch::Tensor& gate, const torch::Tensor& up, const torch::Tensor& weight, const torch::Tensor& bias) {
  return SwiGLULinearFunction::apply(gate, up, weight, bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt);
}

torch::Tensor embedding_rows(const torch::Tensor& weight, const torch::Tensor& ids) {
  if (!weight.requires_grad() || !torch::GradMode::is_enabled()) return at::embedding(weight, ids);
  return EmbeddingRowsFunction::apply(weight, ids);
}

bool scales_exactly(double scaling) {
  int exponent = 0;
  return std::frexp(scaling, &exponent) == 0.5;
}

std::optional<torch::Tensor> lora_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                         const torch::Tensor& A, const torch::Tensor& B, double scaling) {
  const auto biases = bias.defined() ? std::vector<torch::Tensor>{bias} : std::vector<torch::Tensor>{};
  const auto out = linears_of_one_input(x, {weight}, biases, {A}, {B}, scaling);
  return out ? std::optional<torch::Tensor>((*out)[0]) : std::nullopt;
}

}  // namespace cotrain
