// The decoder's building blocks. Parameters are created uninitialised on the target device and
// dtype (loading fills them; init-model initialises them), and are named exactly like
// transformers' so a checkpoint maps onto named_parameters() one to one.
#pragma once
#include <torch/nn/module.h>
#include <ATen/core/Generator.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "cotrain/model/config.h"
#include "cotrain/model/kv_cache.h"

namespace cotrain {

// y = x W^T + b, W: [out, in]; with a LoRA adapter, y = x W^T + b + B(A(dropout(x))) * scaling.
// The adapter lives inside the layer it adapts (torchtune's LoRALinear) and computes what peft's
// lora.Linear does, dtypes included: A and B are fp32 when the base is bf16/fp16 (peft's
// autocast_adapter_dtype). In eval mode x is cast to their dtype, the sum is taken in the wider
// type and cast back to the base output's dtype (peft at inference). In training mode the two
// products, the scaling and the sum run in the base's dtype with A and B cast per call: what peft
// computes under the bf16 autocast that transformers' Trainer (and so LLaMA-Factory and TRL) wraps
// training steps in (on a GPU the sum is taken inside the update's product, rounded once).
// Dropout is inverted dropout, active in training mode only, applied in the adapter's dtype,
// drawing its masks from `dropout_generator` (whose state can be saved and restored).
struct LinearImpl : torch::nn::Module {
  LinearImpl(std::int64_t in, std::int64_t out, bool bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

  // Inference only: W reordered once into oneDNN's blocked layout (pack_linear_weight) and the
  // plain weight released; the layer then serves forwards without gradients. False, and the layer
  // unchanged, where packing does not apply (see pack_linear_weight) or an adapter is attached.
  bool pack_for_inference(std::int64_t batch_hint);
  torch::Tensor packed;  // undefined unless packed

  // Registers lora_A ([rank, in], kaiming-uniform(a=sqrt(5)) from INIT, i.e. U(-1/sqrt(in),
  // 1/sqrt(in)) as nn.Linear) and lora_B ([out, rank], zeros) as submodules, so they are named
  // like peft's (<module>.lora_A.weight).
  void add_lora(std::int64_t rank, double scaling, double dropout, at::Generator& init, at::Generator dropout_generator);
  // W += scaling * B A, computed in fp32 and rounded once to W's dtype; then removes the adapter.
  void merge_lora();
  std::shared_ptr<LinearImpl> lora_A, lora_B;  // null without an adapter
  double lora_scaling = 0, lora_dropout = 0;
  at::Generator dropout_generator;
};
TORCH_MODULE(Linear);

// W [out, in] reordered for oneDNN's CPU matmul, sized for about BATCH_HINT rows of input. oneDNN
// otherwise reorders W on every call, which at a decode step's few rows costs more than the
// product itself (about 3x per product at 8 rows here, docs/performance.md). Undefined where it
// does not apply: not on the CPU, not fp32 or bf16, or a libtorch without oneDNN.
torch::Tensor pack_linear_weight(const torch::Tensor& w, std::int64_t batch_hint);
// x W^T + b with W from pack_linear_weight (B may be undefined); equal to at::linear in bf16,
// within fp32 rounding in fp32. No autograd.
torch::Tensor packed_linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& bias);

// Token id -> row of the embedding matrix [vocab, hidden].
struct EmbeddingImpl : torch::nn::Module {
  EmbeddingImpl(std::int64_t vocab, std::int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;
  // The weight's gradient as the rows the ids touched (lean_ops.h's embedding_rows): for a weight
  // that is also the output head, whose dense gradient those rows are added to.
  bool rows_gradient = false;
};
TORCH_MODULE(Embedding);

// x * rsqrt(mean(x^2) + eps) computed in fp32, cast back, then scaled (transformers' order).
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(std::int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// Rotary position embedding tables for one forward pass: cos/sin of [1, 1, T, head_dim].
struct RopeTables {
  torch::Tensor cos, sin;
};

// Sets up MKL's vector math, which torch's CPU cos, sin and exp call, with a one-element call,
// once per process, before any real one (layers.cpp says why). The rotary tables and the fused
// loss call it.
void set_up_cpu_vector_math();

// inv_freq for the config's rope settings (default, linear, llama3), fp32, [head_dim / 2].
torch::Tensor rope_inv_freq(const ModelConfig& config, const torch::Device& device);
RopeTables rope_tables(const torch::Tensor& inv_freq, const torch::Tensor& position_ids, torch::ScalarType dtype);
// The rotary embedding of x [B, H, T, D] (lean_ops.h's rotary).
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope);

// Grouped-query attention over one packed row: tokens attend causally within their own
// document only (documents are [cu_seqlens[i], cu_seqlens[i+1])). On CUDA in bf16/fp16 the row is
// one variable-length flash-attention call (flash-attn's cu_seqlens); elsewhere, or where that
// kernel is missing (before sm_80), one SDPA call per document. With a CACHE, document i is
// the continuation of cache row step.rows[i]: its keys and values are stored there and it attends
// to the row's past as well (generation; see kv_cache.h).
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens,
                        const LayerCache* cache = nullptr);
  std::int64_t num_heads, num_kv_heads, head_dim;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // Qwen3 only

 private:
  torch::Tensor cached_decode(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const LayerCache& cache);
};
TORCH_MODULE(Attention);

// Causal attention of every document of a packed row in one flash-attention call. Q [1, heads,
// T, d], K and V [1, kv_heads, T, d] (grouped-query attention natively); returns [1, T, heads, d].
// Empty when the device has no such kernel (the caller then runs SDPA per document).
std::optional<torch::Tensor> varlen_flash_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                                    const std::vector<std::int64_t>& cu_seqlens);

// For its lifetime (generation with a KV cache), SDPA on CUDA leaves out cuDNN's attention, its
// first choice on Hopper with a recent cuDNN. cuDNN builds a plan for every new shape, tens to
// hundreds of milliseconds, and a decode step's keys grow by one (prompts differ in length too).
// Rows without a cache never reach SDPA there: they take the varlen flash kernel (forward() above).
// On the H200, decoding 4 rows took ~0.1 s a step: a plan per key length would explain it
// (docs/performance.md). SDPA's flash and memory-efficient kernels plan nothing.
// Restores the switch as found; one thread's inference at a time (the switch is process-wide).
class AttentionWithoutCudnnPlans {
 public:
  AttentionWithoutCudnnPlans();
  ~AttentionWithoutCudnnPlans();
  AttentionWithoutCudnnPlans(const AttentionWithoutCudnnPlans&) = delete;
  AttentionWithoutCudnnPlans& operator=(const AttentionWithoutCudnnPlans&) = delete;

 private:
  bool active_;  // cuDNN's attention was on and is off until the destructor
};

// [queries, keys] bool: query i (at position keys - queries + i) sees keys 0..its position. SDPA's
// is_causal is top-left aligned instead, which is wrong whenever keys > queries.
torch::Tensor bottom_right_causal_mask(std::int64_t queries, std::int64_t keys, const torch::Device& device);

// down(silu(gate(x)) * up(x))
struct MLPImpl : torch::nn::Module {
  MLPImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

// Pre-norm residual block: h = x + attn(norm(x)); out = h + mlp(norm(h)).
struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens,
                        const LayerCache* cache = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace cotrain
