// The one AdamW of cotrain, written out: torch.optim.AdamW (decoupled weight decay, bias-corrected
// moments) stepped with at::_fused_adamw_ over fp32 master weights and fp32 moments, as a
// LLaMA-Factory/DeepSpeed user expects for bf16 runs. ShardedModel (train/sharding.h) keeps one
// AdamWState per flat parameter group: the whole group in a job of one or under dist.shard=none,
// this rank's slice under ZeRO-1/2/3, so every run, of one process or many, takes this step.
// Weight decay skips biases and norm weights, as the transformers Trainer does.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace cotrain {

struct AdamWSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

// True for parameters the transformers Trainer decays: not biases, not norm weights.
bool decays(const std::string& parameter_name);

// The optimizer state of one flat tensor of parameters (a group, or this rank's slice of it).
struct AdamWState {
  AdamWState(const torch::Tensor& initial, bool decay, const torch::Device& device);  // master = fp32 copy of INITIAL on DEVICE
  torch::Tensor master, exp_avg, exp_avg_sq;  // fp32
  torch::Tensor step;                         // steps taken, a 0-d fp32 tensor (the fused kernel's form)
  bool decay = true;                          // weight decay applies (else a no-decay group)
};

// One AdamW update at learning rate LR of every STATES[i] with fp32 gradient GRADS[i] times
// GRAD_SCALE (the clipping coefficient), in two fused calls: the decayed tensors and the others.
// The kernel scales the gradients in the same pass and may leave them scaled in GRADS.
void adamw_step(std::vector<AdamWState*>& states, std::vector<torch::Tensor>& grads, double lr, const AdamWSettings& settings,
                double grad_scale = 1.0);

}  // namespace cotrain
