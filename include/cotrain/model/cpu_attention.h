// Causal attention of one document in bf16 on CPUs with AVX-512 BF16 dot products: flash attention
// (online softmax forward, recomputing backward) whose products are our own tiled kernel, on the
// AMX tile unit where the CPU has one. Without AMX, torch's CPU flash kernel converts its blocks to
// fp32 and multiplies them with sgemm, whose peak there is about a third of bf16's; with AMX its
// backward runs at ~250 GFLOP/s on 2 cores. This kernel is 2x faster on the first kind of CPU and
// 2.5x faster in the backward on the second (docs/performance.md). The numerics are those of
// torch's kernel: scores, softmax statistics and accumulators in fp32, probabilities rounded to
// bf16 before they multiply V, gradients of the scores rounded to bf16 before their products.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace cotrain {

// Whether this CPU has the instructions (AVX-512 BF16); the decoder then uses the kernel.
bool cpu_flash_attention_runs_here();

// softmax(Q K^T / sqrt(d) + causal mask) V with gradients for Q, K and V. Q [B, heads, T, d], K/V
// [B, kv_heads, T, d], heads a multiple of kv_heads (grouped-query heads share theirs), bf16, on
// the CPU, d a multiple of 64 -> [B, heads, T, d]. With DOCUMENTS (cu_seqlens: 0, the first
// document's end, ..., T) the tokens of each attend only within their document, as packed rows
// need; empty, the row is one document. std::nullopt where any of that does not hold (an empty
// document included) or the CPU lacks the instructions.
std::optional<at::Tensor> cpu_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              const std::vector<std::int64_t>& documents = {});

}  // namespace cotrain
