#include "cotrain/model/layers.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numbers>

#include "cotrain/model/cpu_attention.h"
#include "cotrain/model/lean_ops.h"
#include "cotrain/model/optional_kernel.h"

namespace cotrain {
namespace {

std::optional<torch::Tensor> optional(const torch::Tensor& t) { return t.defined() ? std::optional<torch::Tensor>(t) : std::nullopt; }

}  // namespace

// A one-element call goes first because MKL's first vector-math call in a process, made by the
// rotary tables' cos after MKL's threaded matrix products had run, sometimes returned wrong values:
// the table off by up to 1.5e-4 in 6% of processes on a 2-core Xeon VM (rope_test.cpp), in none
// of 200 after a one-element call, nor with one thread.
void set_up_cpu_vector_math() {
  static const bool done = [] {
    at::ones({1}).cos();
    return true;
  }();
  (void)done;
}

LinearImpl::LinearImpl(std::int64_t in, std::int64_t out, bool has_bias, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out, in}, options));
  if (has_bias) bias = register_parameter("bias", torch::empty({out}, options));
}

// oneDNN's prepacked linear is reachable only through the dispatcher (the mkldnn:: operators that
// torch.compile's CPU backend uses); boxed calls keep this independent of their C++ signatures.
torch::Tensor pack_linear_weight(const torch::Tensor& w, std::int64_t batch_hint) {
  const bool applies = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && w.device().is_cpu() &&
                       (w.scalar_type() == torch::kFloat32 || w.scalar_type() == torch::kBFloat16);
  if (!applies) return {};
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_reorder_linear_weight", "");
  std::vector<c10::IValue> stack{w.contiguous(), c10::IValue(batch_hint)};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

torch::Tensor packed_linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& bias) {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  std::vector<c10::IValue> stack{x.contiguous(), packed, bias.defined() ? c10::IValue(bias) : c10::IValue(), c10::IValue(std::string("none")),
                          c10::IValue(c10::List<std::optional<c10::Scalar>>()), c10::IValue()};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

bool LinearImpl::pack_for_inference(std::int64_t batch_hint) {
  if (lora_A || packed.defined()) return packed.defined();
  torch::NoGradGuard no_grad;
  packed = pack_linear_weight(weight, batch_hint);
  if (!packed.defined()) return false;
  weight.set_();  // the packed copy replaces it: a model that only generates holds its weights once
  return true;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (packed.defined()) {
    TORCH_CHECK(!torch::GradMode::is_enabled() || !x.requires_grad(), "a packed Linear serves inference only");
    return packed_linear(x, packed, bias);
  }
  if (!lora_A) return cotrain::linear(x, weight, bias);
  if (is_training() && lora_dropout == 0) {  // the training step's layer in one autograd function where it can
    if (auto out = lora_linear(x, weight, bias, lora_A->weight, lora_B->weight, lora_scaling)) return *out;
  }
  auto y = cotrain::linear(x, weight, bias);
  const auto adapter = lora_A->weight.scalar_type();
  const auto compute = is_training() ? y.scalar_type() : adapter;  // see the header: the peers' two paths
  auto h = x;
  if (lora_dropout > 0 && is_training()) {  // inverted dropout, as torch's, in the adapter's dtype as peft
    h = x.to(adapter);
    h = h * at::empty_like(h).bernoulli_(1 - lora_dropout, dropout_generator).div_(1 - lora_dropout);
  }
  h = h.to(compute);
  const auto A = lora_A->weight.to(compute), B = lora_B->weight.to(compute);
  // On the rank-r product a power-of-two scaling gives peft's bits, values and gradients, without a
  // pass over [tokens, out] each way (~6% of a LoRA step).
  if (!scales_exactly(lora_scaling)) return (y + at::linear(at::linear(h, A), B) * lora_scaling).to(y.scalar_type());
  const auto rank_product = at::linear(h, A) * lora_scaling;
  if (y.is_cuda() && compute == y.scalar_type()) {
    // On a GPU the update is added to the base output inside its product (addmm's epilogue), not
    // written as a [tokens, out] tensor and added back: ~480 MB less traffic per gate or up
    // projection of a 16,384-token 0.5B step. One rounding where peft rounds the update first.
    return at::addmm(y.reshape({-1, y.size(-1)}), rank_product.reshape({-1, rank_product.size(-1)}), B.t()).view(y.sizes());
  }
  return (y + at::linear(rank_product, B)).to(y.scalar_type());
}

void LinearImpl::add_lora(std::int64_t rank, double scaling, double dropout, at::Generator& init, at::Generator generator) {
  const auto in = weight.size(1), out = weight.size(0);
  const auto base = weight.scalar_type();
  // peft keeps adapters of a half-precision base in fp32 (autocast_adapter_dtype)
  const auto dtype = base == torch::kBFloat16 || base == torch::kFloat16 ? torch::kFloat32 : base;
  auto options = weight.options().dtype(dtype);
  lora_A = register_module("lora_A", std::make_shared<LinearImpl>(in, rank, false, options));
  lora_B = register_module("lora_B", std::make_shared<LinearImpl>(rank, out, false, options));
  torch::NoGradGuard no_grad;
  // kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  // Drawn on the CPU in fp32 so the values do not depend on device or dtype.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_A->weight.copy_(at::empty({rank, in}, torch::kFloat32).uniform_(-bound, bound, init));
  lora_B->weight.zero_();
  lora_scaling = scaling;
  lora_dropout = dropout;
  dropout_generator = std::move(generator);
}

void LinearImpl::merge_lora() {
  if (!lora_A) return;
  {
    torch::NoGradGuard no_grad;
    auto f32 = torch::kFloat32;
    auto delta = at::mm(lora_B->weight.to(f32), lora_A->weight.to(f32)) * lora_scaling;  // peft's (B @ A) * s
    weight.add_(delta);  // in fp32, rounded once to the weight's dtype
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_A = lora_B = nullptr;
  lora_scaling = lora_dropout = 0;
  dropout_generator = at::Generator();
}

EmbeddingImpl::EmbeddingImpl(std::int64_t vocab, std::int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({vocab, dim}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return rows_gradient ? embedding_rows(weight, ids) : at::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps_, const torch::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return rms_norm(x, weight, eps);
}

torch::Tensor rope_inv_freq(const ModelConfig& config, const torch::Device& device) {
  const auto d = config.head_dim;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto exponents = torch::arange(0, d, 2, torch::TensorOptions().dtype(torch::kInt64).device(device)).to(torch::kFloat32) / static_cast<double>(d);
  auto inv_freq = 1.0 / torch::pow(torch::scalar_tensor(config.rope_theta, f32), exponents);
  const auto& rs = config.rope_scaling;
  if (rs.type == "linear") return inv_freq / rs.factor;
  if (rs.type == "llama3") {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the middle band blended.
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
    auto wavelen = 2 * std::numbers::pi / inv_freq;
    auto scaled = torch::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    auto smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

RopeTables rope_tables(const torch::Tensor& inv_freq, const torch::Tensor& position_ids, torch::ScalarType dtype) {
  if (position_ids.device().is_cpu()) set_up_cpu_vector_math();
  auto freqs = position_ids.to(torch::kFloat32).reshape({-1, 1}) * inv_freq.reshape({1, -1});  // [T, d/2], fp32
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(0).unsqueeze(0);                          // [1, 1, T, d]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope) { return rotary(x, rope.cos, rope.sin); }

AttentionImpl::AttentionImpl(const ModelConfig& c, const torch::TensorOptions& options)
    : num_heads(c.num_heads), num_kv_heads(c.num_kv_heads), head_dim(c.head_dim) {
  q_proj = register_module("q_proj", Linear(c.hidden_size, num_heads * head_dim, c.qkv_bias, options));
  k_proj = register_module("k_proj", Linear(c.hidden_size, num_kv_heads * head_dim, c.qkv_bias, options));
  v_proj = register_module("v_proj", Linear(c.hidden_size, num_kv_heads * head_dim, c.qkv_bias, options));
  o_proj = register_module("o_proj", Linear(num_heads * head_dim, c.hidden_size, c.o_bias, options));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps, options));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps, options));
  }
}

namespace {

// The outputs of LAYERS for the one input X: one joint function (linears_of_one_input, lean_ops.h)
// where all are plain linear layers or all carry adapters that train as lora_linear's, each layer's
// own forward otherwise.
std::vector<torch::Tensor> outputs_for_one_input(const torch::Tensor& x, std::initializer_list<LinearImpl*> layers) {
  std::vector<torch::Tensor> weights, biases, As, Bs;
  bool plain = true, adapted = true;
  const double scaling = (*layers.begin())->lora_scaling;
  for (auto* layer : layers) {
    plain = plain && !layer->lora_A && !layer->packed.defined();
    adapted = adapted && layer->lora_A && layer->is_training() && layer->lora_dropout == 0 && layer->lora_scaling == scaling;
    weights.push_back(layer->weight);
    if (layer->bias.defined()) biases.push_back(layer->bias);
    if (layer->lora_A) {
      As.push_back(layer->lora_A->weight);
      Bs.push_back(layer->lora_B->weight);
    }
  }
  std::optional<std::vector<torch::Tensor>> out;
  if (plain) out = linears_of_one_input(x, weights, biases);
  if (adapted) out = linears_of_one_input(x, weights, biases, As, Bs, scaling);
  if (out) return *out;
  std::vector<torch::Tensor> each;
  for (auto* layer : layers) each.push_back(layer->forward(x));
  return each;
}

}  // namespace

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens,
                                     const LayerCache* cache) {
  const auto batch = x.size(0), len = x.size(1);
  const auto qkv = outputs_for_one_input(x, {q_proj.get(), k_proj.get(), v_proj.get()});
  auto q = qkv[0].view({batch, len, num_heads, head_dim});
  auto k = qkv[1].view({batch, len, num_kv_heads, head_dim});
  auto v = qkv[2].view({batch, len, num_kv_heads, head_dim}).transpose(1, 2);
  if (q_norm) {  // per-head norm before rotary (Qwen3)
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q.transpose(1, 2), rope);
  k = apply_rope(k.transpose(1, 2), rope);
  if (cache && cache->step.decode) return o_proj(cached_decode(q, k, v, *cache).reshape({batch, len, num_heads * head_dim}));
  // The row's documents in one variable-length flash call, one document too: SDPA would take
  // cuDNN's attention there on Hopper, which builds a plan for every new length (forward and
  // backward), and unpacked training (the Sky-T1 configs) gives every step a new length. At a
  // fixed length cuDNN's kernel was the faster (an H200's LoRA step at 16,384 tokens: backward
  // 0.148 s against 0.188, docs/performance.md); one plan costs more than that difference.
  if (!cache) {
    if (auto out = varlen_flash_attention(q, k, v, cu_seqlens)) return o_proj(out->reshape({batch, len, num_heads * head_dim}));
    // Our CPU kernel where the CPU has its instructions: the row's documents in one call too.
    if (auto out = cpu_flash_attention(q, k, v, cu_seqlens)) return o_proj(out->transpose(1, 2).reshape({batch, len, num_heads * head_dim}));
  }
  const bool gqa = num_heads != num_kv_heads;
  // Packed documents: one causal attention per document, so none sees another. This is the
  // variable-length attention of flash-attn done with the public SDPA, on any device.
  std::vector<torch::Tensor> parts;
  parts.reserve(cu_seqlens.size());
  for (std::size_t i = 0; i + 1 < cu_seqlens.size(); ++i) {
    const auto start = cu_seqlens[i], n = cu_seqlens[i + 1] - cu_seqlens[i];
    auto qi = q.narrow(2, start, n), ki = k.narrow(2, start, n), vi = v.narrow(2, start, n);
    torch::Tensor mask;
    if (cache) {  // store the document's keys and values in its row, then attend to the whole row
      const auto row = cache->step.rows[i], past = cache->step.starts[i];
      cache->keys[row].narrow(1, past, n).copy_(ki[0]);
      cache->values[row].narrow(1, past, n).copy_(vi[0]);
      ki = cache->keys.narrow(0, row, 1).narrow(2, 0, past + n);
      vi = cache->values.narrow(0, row, 1).narrow(2, 0, past + n);
      // A chunk after earlier ones: query j sits at position past + j. SDPA's is_causal aligns the
      // mask top-left (query j sees keys 0..j), so the bottom-right mask is spelled out.
      if (past > 0) mask = bottom_right_causal_mask(n, past + n, x.device());
    }
    parts.push_back(at::scaled_dot_product_attention(qi, ki, vi, optional(mask), /*dropout_p=*/0.0, /*is_causal=*/!mask.defined(),
                                                     /*scale=*/std::nullopt, /*enable_gqa=*/gqa));
  }
  auto out = parts.size() == 1 ? parts[0] : torch::cat(parts, 2);
  return o_proj(out.transpose(1, 2).reshape({batch, len, num_heads * head_dim}));
}

// One new token for each of n rows, packed as [1, n]: the rows attend in one batched call. The
// new token's query sees every filled position of its row, so there is no causal mask; rows of
// different lengths get the step's mask of filled positions.
torch::Tensor AttentionImpl::cached_decode(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           const LayerCache& cache) {
  const CacheStep& step = cache.step;
  const auto n = q.size(2);
  auto as_rows = [](const torch::Tensor& t) { return t.squeeze(0).transpose(0, 1).unsqueeze(2); };  // [n, heads, 1, d]
  auto keys = cache.keys, values = cache.values;
  auto new_k = as_rows(k), new_v = as_rows(v);
  if (step.contiguous_rows && !step.key_mask.defined()) {  // same rows in order, same length: write in place
    keys.narrow(0, step.first_row, n).narrow(2, step.starts[0], 1).copy_(new_k);
    values.narrow(0, step.first_row, n).narrow(2, step.starts[0], 1).copy_(new_v);
  } else {
    using torch::indexing::Slice;
    keys.index_put_({step.row_index, Slice(), step.start_index}, new_k.squeeze(2));
    values.index_put_({step.row_index, Slice(), step.start_index}, new_v.squeeze(2));
  }
  auto past_k = step.contiguous_rows ? keys.narrow(0, step.first_row, n) : keys.index_select(0, step.row_index);
  auto past_v = step.contiguous_rows ? values.narrow(0, step.first_row, n) : values.index_select(0, step.row_index);
  auto out = at::scaled_dot_product_attention(as_rows(q), past_k.narrow(2, 0, step.key_length), past_v.narrow(2, 0, step.key_length),
                                              optional(step.key_mask), /*dropout_p=*/0.0, /*is_causal=*/false, /*scale=*/std::nullopt,
                                              /*enable_gqa=*/num_heads != num_kv_heads);
  return out.squeeze(2).unsqueeze(0);  // [1, n, heads, d]
}

std::optional<torch::Tensor> varlen_flash_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                                    const std::vector<std::int64_t>& cu_seqlens) {
  // Which GPUs and shapes the flash kernel takes (half precision, sm_80 or newer, head_dim a
  // multiple of 8 up to 256) is known to the kernel alone: it raises for the others, and the first
  // refusal turns this path off for the process. SDPA's own backend choice cannot tell: on Hopper
  // with cuDNN 9.15 or newer it picks cuDNN's attention though flash runs (seen on an H200, torch 2.11).
  static std::atomic<bool> refused{false};
  const bool half = q.scalar_type() == torch::kBFloat16 || q.scalar_type() == torch::kHalf;
  if (!q.is_cuda() || q.size(0) != 1 || !half || refused || !at::globalContext().userEnabledFlashSDP()) return std::nullopt;
  std::vector<std::int32_t> starts(cu_seqlens.begin(), cu_seqlens.end());
  std::int64_t longest = 0;
  for (std::size_t i = 0; i + 1 < cu_seqlens.size(); ++i) longest = std::max(longest, cu_seqlens[i + 1] - cu_seqlens[i]);
  auto cu = torch::tensor(starts, torch::kInt32).to(q.device(), /*non_blocking=*/true);
  auto tokens_first = [](const torch::Tensor& t) { return t[0].transpose(0, 1).contiguous(); };  // [T, heads, d]
  return unless_refused(refused, [&] {
    auto out = std::get<0>(at::_flash_attention_forward(tokens_first(q), tokens_first(k), tokens_first(v), cu, cu, longest, longest,
                                                        /*dropout_p=*/0.0, /*is_causal=*/true, /*return_debug_mask=*/false));
    return out.unsqueeze(0);
  });
}

AttentionWithoutCudnnPlans::AttentionWithoutCudnnPlans() : active_(at::globalContext().userEnabledCuDNNSDP()) {
  if (active_) at::globalContext().setSDPUseCuDNN(false);
}

AttentionWithoutCudnnPlans::~AttentionWithoutCudnnPlans() {
  if (active_) at::globalContext().setSDPUseCuDNN(true);
}

torch::Tensor bottom_right_causal_mask(std::int64_t queries, std::int64_t keys, const torch::Device& device) {
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  auto query_positions = torch::arange(keys - queries, keys, i64).unsqueeze(1);
  return torch::arange(keys, i64).unsqueeze(0).le(query_positions);  // [queries, keys]
}

MLPImpl::MLPImpl(const ModelConfig& c, const torch::TensorOptions& options) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, options));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  const auto gate_up = outputs_for_one_input(x, {gate_proj.get(), up_proj.get()});
  const auto &gate = gate_up[0], &up = gate_up[1];
  // An adapted or packed down_proj runs as its own module (an adapter's A reads the product anyway).
  if (down_proj->lora_A || down_proj->packed.defined()) return down_proj(swiglu(gate, up));
  return swiglu_linear(gate, up, down_proj->weight, down_proj->bias);
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& options) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  self_attn = register_module("self_attn", Attention(c, options));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  mlp = register_module("mlp", MLP(c, options));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens,
                                        const LayerCache* cache) {
  const auto [normed, skip] = rms_norm_and_skip(x, input_layernorm->weight, input_layernorm->eps);
  const auto h = residual_add(skip, self_attn(normed, rope, cu_seqlens, cache));
  const auto [normed_h, skip_h] = rms_norm_and_skip(h, post_attention_layernorm->weight, post_attention_layernorm->eps);
  return residual_add(skip_h, mlp(normed_h));
}

}  // namespace cotrain
