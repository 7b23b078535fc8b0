// Causal attention of one document in bf16 on CPUs with AVX-512 BF16 dot products but no AMX
// tiles: flash attention (online softmax forward, recomputing backward) whose products are our own
// register-tiled kernel. torch's CPU flash kernel runs its products through oneDNN calls on
// 256 x 512 x 64 blocks, which on such CPUs reach about a third of the bf16 matmul peak; here the
// products run in cache at ~85% of it (docs/performance.md). The numerics are those of torch's
// kernel: scores, softmax statistics and accumulators in fp32, probabilities rounded to bf16
// before they multiply V, gradients of the scores rounded to bf16 before their products.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>

namespace cotrain {

// Whether this CPU has the instructions (AVX-512 BF16), and whether the decoder uses the kernel
// here: not where the CPU also has AMX tiles, which torch's own kernel uses through oneDNN.
bool cpu_flash_attention_runs_here();
bool cpu_flash_attention_preferred_here();

// softmax(Q K^T / sqrt(d) + causal mask) V with gradients for Q, K and V. Q [B, heads, T, d], K/V
// [B, kv_heads, T, d], heads a multiple of kv_heads (grouped-query heads share theirs), bf16, on
// the CPU, d a multiple of 64 -> [B, heads, T, d]. std::nullopt where any of that does not hold or
// the CPU lacks the instructions.
std::optional<at::Tensor> cpu_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace cotrain
