// The one AdamW of cotrain, written out: torch.optim.AdamW (decoupled weight decay, bias-corrected
// moments) stepped with at::_fused_adamw_ over fp32 master weights and fp32 moments, as a
// LLaMA-Factory/DeepSpeed user expects for bf16 runs. ShardedModel (train/sharding.h) keeps one
// AdamWState per flat parameter group: the whole group in a job of one or under dist.shard=none,
// this rank's slice under ZeRO-1/2/3, so every run, of one process or many, takes this step.
// Weight decay skips biases and norm weights, as the transformers Trainer does.
//
// A bf16 parameter is the upper half of its fp32 master's bits, rounded: the master is kept as the
// parameter itself plus the 16-bit rest (split_master), the same fp32 number in 2 bytes instead of
// 4. Rounding to bf16 is to the nearest, ties away from zero (not to even: the rest would then need
// a 17th bit); it matches torch's .to(bfloat16) but on exact ties.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cotrain {

struct AdamWSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

// True for parameters the transformers Trainer decays: not biases, not norm weights.
bool decays(const std::string& parameter_name);

// MASTER (fp32) into HIGH (bf16), its rounding, and LOW (int16, may be undefined), the rest:
// MASTER's bits are (HIGH's bits << 16) + LOW, in 32-bit two's complement.
void split_master(const torch::Tensor& master, const torch::Tensor& high, const torch::Tensor& low);
torch::Tensor join_master(const torch::Tensor& high, const torch::Tensor& low);  // the fp32 master
torch::Tensor bf16_of_master(const torch::Tensor& master);                       // split_master's HIGH

// The sum of squares of FLAT (1-D, fp32 or bf16), a 0-d fp64 tensor on its device: gradient
// clipping's part of the norm. Within ~1e-7 of the exact value at any length, and the same bits
// at any thread count. A single fp32 linalg_vector_norm of the 136 M-element embedding is off by
// percents (its accumulators saturate).
torch::Tensor squared_norm(const torch::Tensor& flat);

// The sum of squares of all of TENSORS (fp32 or bf16, on one device), a 0-d fp64 tensor there:
// squared_norm's of each where they lie contiguous on a CPU; elsewhere one multi-tensor reduction
// for the lot (_foreach_norm, summing in fp64), whose norms are squared and added. On a GPU the
// per-tensor reductions of a bf16 step's ~290 gradients were ~870 launches, ~6.5 ms of a 0.5B step
// on an H200 (docs/performance.md).
torch::Tensor squared_norm_sum(const std::vector<torch::Tensor>& tensors);

// The optimizer state of one flat tensor of parameters (a group, or this rank's slice of it).
struct AdamWState {
  // The master starts equal to PARAMS. SPLIT (bf16 PARAMS on DEVICE): the master is PARAMS plus a
  // 16-bit rest, and the step updates PARAMS in place. fp32 PARAMS on DEVICE (LoRA's adapters) are
  // their own master, also updated in place: no copy of them each step. Else an fp32 copy on DEVICE.
  AdamWState(const torch::Tensor& params, bool decay, const torch::Device& device, bool split);
  torch::Tensor master;     // fp32; undefined when split; PARAMS themselves where they are fp32 on DEVICE
  torch::Tensor high, low;  // split: PARAMS (bf16) and the rest of the master (int16)
  torch::Tensor exp_avg, exp_avg_sq;  // fp32
  torch::Tensor step;                 // steps taken, a 0-d fp32 tensor (the fused kernel's form)
  bool decay = true;                  // weight decay applies (else a no-decay group)

  bool split() const { return low.defined(); }
  bool steps_params() const { return split() || master_is_params; }  // the step updates PARAMS themselves
  torch::Tensor master_fp32() const;           // a copy when split
  void set_master(const torch::Tensor& fp32);  // split: also sets the parameters
  std::int64_t bytes() const;  // what the state adds to the parameters

 private:
  bool master_is_params = false;
};

// One AdamW update of STATE at learning rate LR, with the gradient of its elements [begin,
// begin + n) that GRAD(begin, n) returns (fp32, or bf16 read as fp32), times GRAD_SCALE (the
// clipping coefficient; the kernel may leave the returned gradient scaled). Runs block by block,
// so that fp32 copies of gradients or masters exist for one block at a time.
void adamw_step(AdamWState& state, const std::function<torch::Tensor(std::int64_t begin, std::int64_t n)>& grad, double lr,
                const AdamWSettings& settings, double grad_scale = 1.0);

}  // namespace cotrain
