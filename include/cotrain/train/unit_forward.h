// The model's training forward pass, unit by unit through a ShardedModel: embedding, each decoder
// layer (recomputed in backward under activation checkpointing), final norm + LM head + loss. It
// is CausalLM::hidden_states plus the loss, split where ZeRO-3 gathers and releases parameters;
// every other mode (and a job of one) runs the same calls, and run_unit just calls through.
#pragma once
#include <torch/types.h>

#include "cotrain/model/causal_lm.h"
#include "cotrain/model/loss.h"
#include "cotrain/train/sharding.h"

namespace cotrain {

// ROW with its tensors on DEVICE. From the CPU to a GPU they go through pinned memory without
// blocking, so a step's rows are all queued for the GPU before its first forward.
PackedRow row_on_device(const PackedRow& row, torch::Device device);

// The summed target-token NLL of ROW (fp32 scalar). GRADIENTS as summed_nll's: build for a
// training step, skip under NoGradGuard (validation).
torch::Tensor unit_summed_nll(CausalLM& model, ShardedModel& sharded, const DecoderUnits& units, const PackedRow& row,
                              LossGradients gradients);

}  // namespace cotrain
