// Data-parallel training state, replicated or ZeRO-sharded (dist.shard):
//   none       every rank keeps everything; gradients are all-reduced; every rank runs AdamW on
//              all of it.
//   optimizer  ZeRO-1: each rank keeps the fp32 master weights and Adam moments of its slice of
//              every flat group, runs AdamW on that slice only, then the updated parameters are
//              all-gathered. Gradients are all-reduced (every rank has all of them).
//   grads      ZeRO-2: as optimizer, but gradients are reduce-scattered: each rank receives only
//              its slice, accumulated in fp32 over the step's micro-batches.
//   params     ZeRO-3 / FSDP: as grads, and the parameters too live only as each rank's slice;
//              a unit (the embedding, one decoder layer, the head) is all-gathered right before
//              its forward, freed after, and gathered again when the backward pass reaches it.
// Parameters are grouped per unit into flat groups of one (trainable, dtype, weight decay) and at
// most bucket_bytes (a parameter is never split); a group is also the gradient bucket, reduced as soon as its last gradient is
// accumulated during backward (overlap), in a fixed order so every rank issues the same
// collectives. Checkpoint tensors are gathered to their full shapes and scattered back to any
// world size, so a run saved by 4 ranks resumes on 2 or 1.
//
// One step, for every mode (the trainer's loop; units run through run_unit):
//   for each micro-batch m of this rank's share of the global batch:
//     loss = summed NLL of m (forward: x = run_unit(u, x, f) for each unit u)
//     begin_backward(m is the last);  (loss / target tokens of the whole step on all ranks).backward();
//     finish_backward();
//   norm = grad_norm();  step(lr, clip coefficient from norm);  zero_grad();
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cotrain/train/distributed.h"
#include "cotrain/train/flat_params.h"
#include "cotrain/train/optimizer.h"

namespace cotrain {

struct CausalLMImpl;

enum class ShardMode { None, Optimizer, Grads, Params };
ShardMode parse_shard_mode(const std::string& text);  // none | optimizer | grads | params
const char* shard_mode_name(ShardMode mode);

struct ShardOptions {
  ShardMode mode = ShardMode::None;
  // fp32 master weights, moments and (grads, params) gradient slices in CPU memory; AdamW runs
  // there (dist.offload). The masters are then whole fp32 tensors; beside bf16 parameters on their
  // own device they are split (train/optimizer.h).
  bool offload = false;
  std::int64_t bucket_bytes = 25 << 20;  // the largest flat group, as DDP's bucket_cap_mb
  // Reduce a group's gradients as soon as backward has produced them (else: in finish_backward).
  bool overlap = true;
  AdamWSettings adamw;
};

// Parameters that are gathered together under ZeRO-3, in forward order.
struct ParamUnit {
  std::string name;
  std::vector<std::pair<std::string, torch::Tensor>> params;
};

// cotrain's decoder as units: the embedding (with the final norm when the embeddings are tied,
// as it then also serves as the head), each decoder layer, the final norm + LM head.
struct DecoderUnits {
  std::vector<ParamUnit> units;
  std::size_t embed = 0, head = 0;  // equal when tied
  std::size_t layer(std::int64_t i) const { return 1 + static_cast<std::size_t>(i); }
};
DecoderUnits decoder_units(CausalLMImpl& model);

// Bytes this rank holds now (for the metrics).
struct ShardMemory {
  std::int64_t params = 0, grads = 0, optimizer = 0;
  std::int64_t offloaded = 0;  // of these, bytes in CPU memory because of dist.offload
};

enum class StateKind { Param, Master, ExpAvg, ExpAvgSq };

// One of the full tensors for_each_full hands over, known without gathering it.
struct TensorSpec {
  std::string name;
  torch::ScalarType dtype;
  std::vector<std::int64_t> shape;
};

class ShardedModel {
 public:
  // Takes over UNITS' parameters (they become views of flat buffers, on their current device).
  ShardedModel(ProcessGroup& group, std::vector<ParamUnit> units, const ShardOptions& options);
  ~ShardedModel();
  ShardedModel(const ShardedModel&) = delete;
  ShardedModel& operator=(const ShardedModel&) = delete;

  // One use of unit U's parameters: FORWARD(INPUT), e.g. the unit's forward or an activation
  // checkpoint of it. ZeRO-3: the unit is gathered for it and released after; when the result
  // needs a gradient, the backward pass gathers the unit again as it reaches the result (before
  // a checkpoint recomputes) and releases it once the unit's input gradient and parameter
  // gradients are done. Other modes: FORWARD(INPUT).
  torch::Tensor run_unit(std::size_t unit, const torch::Tensor& input,
                         const std::function<torch::Tensor(const torch::Tensor&)>& forward);

  // Around each micro-batch's backward. SYNC: the step's last micro-batch; none/optimizer reduce
  // gradients only then (earlier ones accumulate locally), grads/params every micro-batch.
  void begin_backward(bool sync);
  void finish_backward();

  double grad_norm();  // global L2 norm of the step's gradients (every rank gets the same)
  // AdamW (train/optimizer.h) with LR on this rank's share, gradients multiplied by GRAD_SCALE
  // (the clipping coefficient; inside the optimizer's kernel, which may leave the gradient
  // buffers scaled: zero_grad() comes next), then the parameters are made whole again (all-gathered under
  // ZeRO-1/2). Every trainable group steps, also one whose parameters got no gradient this step
  // (torch.optim skips those; the trainer's models give every trainable parameter a gradient).
  void step(double lr, double grad_scale = 1.0);
  void zero_grad();
  std::int64_t steps_done() const { return steps_; }

  // Checkpoints independent of the world size. FN gets each tensor at its full shape on the CPU
  // (parameters by name, only the trainable ones when TRAINABLE_ONLY; Master/ExpAvg/ExpAvgSq: the
  // trainable ones, by parameter name), one group at a time; every rank must call it (it gathers).
  // Unsharded state on a CPU comes as views of its own buffers, which the next step changes: FN
  // copies what it keeps past that.
  // LOAD takes full tensors by the same names (LOOKUP returns an undefined tensor when absent; that,
  // another shape or another dtype is an InputError) and keeps this rank's share; loading Param
  // also resets the master weights from them.
  void for_each_full(StateKind kind, const std::function<void(const std::string&, const torch::Tensor&)>& fn,
                     bool trainable_only = false);
  // What for_each_full hands over, in its order (no collective).
  std::vector<TensorSpec> full_specs(StateKind kind, bool trainable_only = false) const;
  void load_full(StateKind kind, const std::function<torch::Tensor(const std::string&)>& lookup, bool trainable_only = false);
  void set_steps_done(std::int64_t steps);

  ShardMemory memory() const;
  const ShardOptions& options() const { return options_; }
  std::size_t num_groups() const;  // flat groups (gradient buckets)

 private:
  struct Group;
  struct Unit;
  struct GradHook;
  void on_grad_accumulated(std::size_t group);
  void on_unit_input_grad(std::size_t unit);
  void launch_ready_reductions();
  void launch_reduction(std::size_t group);
  void complete_reduction(std::size_t group);
  void fold_grads(std::size_t group);
  void gather_unit(std::size_t unit);
  void release_unit(std::size_t unit);
  void release_unit_after_backward(std::size_t unit);
  torch::Tensor owned_grad(const Group& g, std::int64_t begin, std::int64_t n) const;
  bool grads_in_params(const Group& g) const;
  bool shards_state() const { return options_.mode != ShardMode::None; }
  bool shards_grads() const { return options_.mode == ShardMode::Grads || options_.mode == ShardMode::Params; }

  ProcessGroup& pg_;
  ShardOptions options_;
  std::vector<Unit> units_;
  std::vector<Group> groups_;
  std::vector<std::size_t> reduce_order_;  // trainable groups, last unit first (backward order)
  std::size_t next_reduction_ = 0;         // in reduce_order_
  std::deque<std::size_t> in_flight_;
  bool in_backward_ = false, reduce_now_ = false;
  // This step's only pass, on one rank: low-precision parameters keep the gradients autograd gave
  // them (their fp32 sum would be their exact conversion), and the optimizer converts them one block
  // at a time. Saves the fp32 buffer (4 bytes per parameter) for as long as every step has one pass.
  bool grads_in_params_ = false;
  int passes_in_step_ = 0;  // backward passes since zero_grad()
  std::int64_t steps_ = 0;
  torch::Device state_device_ = torch::kCPU;
};

}  // namespace cotrain
