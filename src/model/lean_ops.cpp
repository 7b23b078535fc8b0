#include "cotrain/model/lean_ops.h"

namespace cotrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The backward formulas are autograd's own for the forward's ops (torch's derivatives.yaml),
// applied in the order its engine applies them, so the gradients are the same bits.
struct RMSNormFunction : torch::autograd::Function<RMSNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    auto x32 = x.to(torch::kFloat32);
    auto inv_rms = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    ctx->save_for_backward({x, weight, inv_rms});
    return weight * (x32 * inv_rms).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &inv_rms = saved[2];
    const auto& grad = grad_out[0];
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

struct SwiGLUFunction : torch::autograd::Function<SwiGLUFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return torch::silu(gate) * up;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &gate = saved[0], &up = saved[1];
    const auto& grad = grad_out[0];
    auto grad_up = ctx->needs_input_grad(1) ? grad * torch::silu(gate) : torch::Tensor();
    auto grad_gate = ctx->needs_input_grad(0) ? at::silu_backward(grad * up, gate) : torch::Tensor();
    return {grad_gate, grad_up};
  }
};

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) { return RMSNormFunction::apply(x, weight, eps); }

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) { return SwiGLUFunction::apply(gate, up); }

}  // namespace cotrain
