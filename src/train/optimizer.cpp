#include "cotrain/train/optimizer.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <regex>

#include "cotrain/train/checkpoint.h"

namespace cotrain {

bool decays(const std::string& parameter_name) {
  // transformers' Trainer.get_decay_parameter_names: these patterns on the lower-cased name.
  static const std::regex no_decay(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower = parameter_name;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !std::regex_search(lower, no_decay);
}

AdamW::AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& parameters, const AdamWSettings& settings)
    : settings_(settings) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, p] : parameters) {
    names_.push_back(name);
    params_.push_back(p);
    master_.push_back(p.scalar_type() == torch::kFloat32 ? p : p.detach().to(torch::kFloat32).clone());
    grads_.emplace_back();
    exp_avg_.push_back(torch::zeros_like(master_.back()));
    exp_avg_sq_.push_back(torch::zeros_like(master_.back()));
    state_steps_.push_back(torch::zeros({}, master_.back().options()));
    decay_.push_back(decays(name));
  }
}

std::int64_t AdamW::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

void AdamW::accumulate_gradients() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& g = params_[i].mutable_grad();
    if (!g.defined()) continue;
    if (!grads_[i].defined()) {
      grads_[i] = g.scalar_type() == torch::kFloat32 ? g : g.to(torch::kFloat32);
    } else {
      grads_[i].add_(g);
    }
    g = torch::Tensor();  // the next micro-batch starts a fresh low-precision gradient
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads_) {
    if (g.defined()) norms.push_back(at::linalg_vector_norm(g, 2));
  }
  if (norms.empty()) return 0.0;
  auto total = at::linalg_vector_norm(torch::stack(norms), 2);
  const double norm = total.item<double>();
  if (max_norm > 0) {
    auto coef = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
    for (auto& g : grads_) {
      if (g.defined()) g.mul_(coef);
    }
  }
  return norm;
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  // torch.optim.AdamW skips parameters without a gradient; decay and no-decay are two groups.
  for (bool decay : {true, false}) {
    std::vector<torch::Tensor> params, grads, avg, avg_sq, steps;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (decay_[i] != decay || !grads_[i].defined()) continue;
      params.push_back(master_[i]);
      grads.push_back(grads_[i]);
      avg.push_back(exp_avg_[i]);
      avg_sq.push_back(exp_avg_sq_[i]);
      steps.push_back(state_steps_[i]);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);  // the fused kernel reads the incremented count, as torch's _fused_adamw
    at::_fused_adamw_(params, grads, avg, avg_sq, /*max_exp_avg_sqs=*/{}, steps, lr, settings_.beta1, settings_.beta2,
                      decay ? settings_.weight_decay : 0.0, settings_.eps, /*amsgrad=*/false, /*maximize=*/false);
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!master_[i].is_same(params_[i]) && grads_[i].defined()) params_[i].copy_(master_[i]);
    grads_[i] = torch::Tensor();
  }
  ++steps_taken_;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (!master_[i].is_same(params_[i])) out.emplace_back("master." + names_[i], master_[i]);
    out.emplace_back("exp_avg." + names_[i], exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + names_[i], exp_avg_sq_[i]);
    out.emplace_back("step." + names_[i], state_steps_[i]);
  }
  return out;
}

void AdamW::load_state(const NamedTensors& state, std::int64_t steps_taken, const std::string& where) {
  copy_named_tensors(this->state(), state, where);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {  // a bf16 parameter is its master rounded, as after every step
    if (!master_[i].is_same(params_[i])) params_[i].copy_(master_[i]);
  }
  steps_taken_ = steps_taken;
}

}  // namespace cotrain
