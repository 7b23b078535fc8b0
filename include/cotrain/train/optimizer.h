// AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments), stepped with
// at::_fused_adamw_, over fp32 master weights: a parameter stored in another dtype (bf16) gets an
// fp32 master copy that the step updates and rounds back into it, so bf16 runs keep the state a
// LLaMA-Factory/DeepSpeed user expects (fp32 master weights and moments); fp32 parameters are
// their own master. Gradients are accumulated in fp32 across the micro-batches of a step.
// Weight decay skips biases and norm weights, as the transformers Trainer does.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cotrain {

struct AdamWSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

// True for parameters the transformers Trainer decays: not biases, not norm weights.
bool decays(const std::string& parameter_name);

class AdamW {
 public:
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& parameters, const AdamWSettings& settings);

  // After each micro-batch's backward: moves the parameters' gradients into the fp32 gradients.
  void accumulate_gradients();
  // The step's gradients, fp32, one per parameter (undefined where none flowed). Final after the
  // last accumulate_gradients(); the place where data-parallel ranks reduce them.
  std::vector<torch::Tensor>& gradients() { return grads_; }
  // Global L2 norm of the gradients before clipping; scales them by max_norm / (norm + 1e-6) when
  // the norm exceeds max_norm > 0 (torch.nn.utils.clip_grad_norm_).
  double clip_grad_norm(double max_norm);
  // One AdamW update at learning rate LR, then the gradients are zeroed.
  void step(double lr);

  std::int64_t steps_taken() const { return steps_taken_; }
  std::int64_t parameter_count() const;
  // Master weights, moments and step counts by name, for checkpoints.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Puts back what state() returned (read from WHERE) after STEPS_TAKEN steps. Every entry must be
  // there with its shape and dtype, else nothing changes and an InputError names WHERE and the tensor.
  void load_state(const std::map<std::string, torch::Tensor>& state, std::int64_t steps_taken, const std::string& where);

 private:
  AdamWSettings settings_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_, master_, grads_, exp_avg_, exp_avg_sq_, state_steps_;
  std::vector<bool> decay_;
  std::int64_t steps_taken_ = 0;
};

}  // namespace cotrain
