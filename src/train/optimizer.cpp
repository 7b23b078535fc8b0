#include "cotrain/train/optimizer.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <regex>

#include "cotrain/core/error.h"

namespace cotrain {

bool decays(const std::string& parameter_name) {
  // transformers' Trainer.get_decay_parameter_names: these patterns on the lower-cased name.
  static const std::regex no_decay(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower = parameter_name;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !std::regex_search(lower, no_decay);
}

void split_master(const torch::Tensor& master, const torch::Tensor& high, const torch::Tensor& low) {
  torch::NoGradGuard no_grad;
  const torch::Tensor bits = master.view(torch::kInt32);
  // Adding half of the dropped part's range carries into the upper half exactly when the dropped
  // bits are >= 0x8000; on sign-magnitude bits that rounds the magnitude up.
  high.view(torch::kInt16).copy_(bits.add(0x8000).bitwise_right_shift_(16));
  // The rest is bits - (high << 16), in [-0x8000, 0x7fff]: the lower 16 bits read as a signed
  // number (the copy keeps them), negative exactly when the upper half was rounded up.
  if (low.defined()) low.copy_(bits);
}

torch::Tensor join_master(const torch::Tensor& high, const torch::Tensor& low) {
  torch::NoGradGuard no_grad;
  return high.view(torch::kInt16).to(torch::kInt32).bitwise_left_shift_(16).add_(low).view(torch::kFloat32);
}

torch::Tensor bf16_of_master(const torch::Tensor& master) {
  torch::Tensor high = torch::empty(master.sizes(), master.options().dtype(torch::kBFloat16));
  split_master(master, high, torch::Tensor());
  return high;
}

AdamWState::AdamWState(const torch::Tensor& params, bool decay_, const torch::Device& device, bool split) : decay(decay_) {
  torch::NoGradGuard no_grad;
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  if (split) {
    if (params.scalar_type() != torch::kBFloat16 || params.device() != device) {
      fail_runtime("AdamWState: a split master needs bf16 parameters on {} (got {} on {})", device.str(),
                   c10::toString(params.scalar_type()), params.device().str());
    }
    high = params.detach();
    low = torch::zeros(params.sizes(), fp32.dtype(torch::kInt16));
  } else {
    master = params.detach().to(device, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  }
  exp_avg = torch::zeros(params.sizes(), fp32);
  exp_avg_sq = torch::zeros(params.sizes(), fp32);
  step = torch::zeros({}, fp32);
}

torch::Tensor AdamWState::master_fp32() const { return split() ? join_master(high, low) : master; }

void AdamWState::set_master(const torch::Tensor& fp32) {
  torch::NoGradGuard no_grad;
  if (split()) {
    split_master(fp32.to(high.device()), high, low);
  } else {
    master.copy_(fp32);
  }
}

std::int64_t AdamWState::bytes() const {
  std::int64_t total = 0;
  for (const auto* t : {&master, &low, &exp_avg, &exp_avg_sq}) {
    if (t->defined()) total += t->numel() * static_cast<std::int64_t>(t->element_size());
  }
  return total;
}

void adamw_step(AdamWState& state, const std::function<torch::Tensor(std::int64_t, std::int64_t)>& grad, double lr,
                const AdamWSettings& settings, double grad_scale) {
  // 4 MiB of fp32: the block's master, gradient and moments stay in cache between the kernels.
  constexpr std::int64_t kBlock = 1 << 20;
  torch::NoGradGuard no_grad;
  // The kernel divides by its grad_scale (AMP's loss scale): the inverse of ours.
  std::optional<torch::Tensor> inverse_scale;
  if (grad_scale != 1.0) inverse_scale = torch::full({}, 1.0 / grad_scale, state.exp_avg.options());
  state.step.add_(1);  // the fused kernel reads the incremented count, as torch's _fused_adamw
  const double weight_decay = state.decay ? settings.weight_decay : 0.0;
  const std::int64_t numel = state.exp_avg.numel();
  for (std::int64_t begin = 0; begin < numel; begin += kBlock) {
    const std::int64_t n = std::min(kBlock, numel - begin);
    torch::Tensor high, low, master;
    if (state.split()) {
      high = state.high.narrow(0, begin, n);
      low = state.low.narrow(0, begin, n);
      master = join_master(high, low);
    } else {
      master = state.master.narrow(0, begin, n);
    }
    at::_fused_adamw_({master}, {grad(begin, n)}, {state.exp_avg.narrow(0, begin, n)}, {state.exp_avg_sq.narrow(0, begin, n)},
                      /*max_exp_avg_sqs=*/{}, {state.step}, lr, settings.beta1, settings.beta2, weight_decay, settings.eps,
                      /*amsgrad=*/false, /*maximize=*/false, inverse_scale);
    if (state.split()) split_master(master, high, low);
  }
}

}  // namespace cotrain
