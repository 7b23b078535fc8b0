// What full SFT and LoRA training of a model need in one device's memory at a sequence length,
// for cotrain's recipe: bf16 weights, AdamW with fp32 moments and fp32 master weights (the bf16
// weights plus a 16-bit rest), activation checkpointing at every layer, chunked linear +
// cross-entropy. One device, no sharding: divide the weight/optimizer part by the number of GPUs
// for ZeRO-3/FSDP. The device matters for the loss only: a GPU's takes a chunk's whole vocabulary
// at once, a CPU's goes through it in blocks (model/loss.h).
#pragma once
#include <cstdint>

#include "cotrain/model/config.h"

namespace cotrain {

struct MemoryEstimate {
  std::int64_t trainable_parameters = 0;
  double weights_bytes = 0;     // all weights in bf16
  double training_state_bytes = 0;  // grads + optimizer moments + master copies of trainables
  double activation_bytes = 0;  // checkpoints + one layer recomputed + the loss of one chunk
  double total() const { return weights_bytes + training_state_bytes + activation_bytes; }
};

// lora_rank 0: full fine-tuning; otherwise LoRA on q, k, v, o, gate, up and down projections.
// ON_CPU: the memory of a CPU run (its loss's blocks) instead of a GPU's.
MemoryEstimate estimate_training_memory(const ModelConfig& config, std::int64_t seq_len, std::int64_t lora_rank, bool on_cpu = false);

}  // namespace cotrain
