#include "cotrain/train/optimizer.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <optional>
#include <regex>

namespace cotrain {

bool decays(const std::string& parameter_name) {
  // transformers' Trainer.get_decay_parameter_names: these patterns on the lower-cased name.
  static const std::regex no_decay(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower = parameter_name;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !std::regex_search(lower, no_decay);
}

AdamWState::AdamWState(const torch::Tensor& initial, bool decay_, const torch::Device& device)
    : master(initial.detach().to(device, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true)),
      exp_avg(torch::zeros_like(master)),
      exp_avg_sq(torch::zeros_like(master)),
      step(torch::zeros({}, master.options())),
      decay(decay_) {}

void adamw_step(std::vector<AdamWState*>& states, std::vector<torch::Tensor>& grads, double lr, const AdamWSettings& settings,
                double grad_scale) {
  torch::NoGradGuard no_grad;
  // The kernel divides by its grad_scale (AMP's loss scale): the inverse of ours.
  std::optional<torch::Tensor> inverse_scale;
  if (grad_scale != 1.0 && !states.empty()) inverse_scale = torch::full({}, 1.0 / grad_scale, states[0]->master.options());
  for (bool decay : {true, false}) {  // torch.optim.AdamW with a decay and a no-decay group
    std::vector<torch::Tensor> params, g, avg, avg_sq, steps;
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (states[i]->decay != decay) continue;
      params.push_back(states[i]->master);
      g.push_back(grads[i]);
      avg.push_back(states[i]->exp_avg);
      avg_sq.push_back(states[i]->exp_avg_sq);
      steps.push_back(states[i]->step);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);  // the fused kernel reads the incremented count, as torch's _fused_adamw
    at::_fused_adamw_(params, g, avg, avg_sq, /*max_exp_avg_sqs=*/{}, steps, lr, settings.beta1, settings.beta2,
                      decay ? settings.weight_decay : 0.0, settings.eps, /*amsgrad=*/false, /*maximize=*/false, inverse_scale);
  }
}

}  // namespace cotrain
