#include "cotrain/model/memory_estimate.h"

#include <algorithm>

#include "cotrain/model/loss.h"

namespace cotrain {

MemoryEstimate estimate_training_memory(const ModelConfig& c, std::int64_t seq_len, std::int64_t lora_rank, bool on_cpu) {
  constexpr double kBf16 = 2, kFp32 = 4;
  MemoryEstimate m;
  const std::int64_t params = c.num_parameters();
  const std::int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim, h = c.hidden_size, inter = c.intermediate_size;
  m.weights_bytes = kBf16 * static_cast<double>(params);
  if (lora_rank == 0) {
    m.trainable_parameters = params;
    // fp32 gradient (a step's micro-batches accumulate in fp32) + the 16-bit rest of the fp32 master
    // (its upper half is the bf16 weight, train/optimizer.h) + two fp32 AdamW moments
    m.training_state_bytes = (kFp32 + kBf16 + 2 * kFp32) * static_cast<double>(params);
  } else {
    const std::int64_t per_layer = lora_rank * ((h + q) + (h + kv) * 2 + (q + h) + (h + inter) * 2 + (inter + h));
    m.trainable_parameters = per_layer * c.num_layers;
    // LoRA matrices train in fp32: weight, gradient and two moments
    m.training_state_bytes = 4 * kFp32 * static_cast<double>(m.trainable_parameters);
  }
  const double t = static_cast<double>(seq_len);
  const double checkpoints = kBf16 * t * static_cast<double>(h * c.num_layers);
  // One layer recomputed during backward: norms, q/k/v, attention output, MLP gate/up/product,
  // plus their gradients (about twice the forward tensors).
  const double layer = 2 * kBf16 * t * static_cast<double>(4 * h + 2 * q + 2 * kv + 3 * inter);
  // The fused loss's logits of one chunk: on a GPU (or a vocabulary of one block) the whole
  // vocabulary's at fp32 size (bf16 logits and the fp32 log-probabilities of a quarter of the
  // chunk fit in it); on a CPU one block at fp32 size being worked on, and for full SFT the chunk's
  // bf16 logits kept for the second pass (a frozen head's one pass keeps none). Then its fp32
  // gradient of the hidden states and, for full SFT, its fp32 head gradient (forward to backward).
  const double positions = static_cast<double>(std::min(seq_len, kLossChunk)), vocab = static_cast<double>(c.vocab_size);
  const double logits = !on_cpu || c.vocab_size <= kLossVocabBlock
                            ? kFp32 * positions * vocab
                            : kFp32 * positions * static_cast<double>(kLossVocabBlock) + (lora_rank == 0 ? kBf16 * positions * vocab : 0.0);
  const double loss = logits + kFp32 * t * static_cast<double>(h) + (lora_rank == 0 ? kFp32 * vocab * static_cast<double>(h) : 0.0);
  m.activation_bytes = checkpoints + layer + loss;
  return m;
}

}  // namespace cotrain
