#include "cotrain/model/layers.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>

#include <cmath>
#include <numbers>

namespace cotrain {

LinearImpl::LinearImpl(std::int64_t in, std::int64_t out, bool has_bias, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out, in}, options));
  if (has_bias) bias = register_parameter("bias", torch::empty({out}, options));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = at::linear(x, weight, bias);
  if (!lora_A) return y;
  auto h = x.to(lora_A->weight.scalar_type());
  if (lora_dropout > 0 && is_training()) {  // inverted dropout, as torch's
    h = h * at::empty_like(h).bernoulli_(1 - lora_dropout, dropout_generator).div_(1 - lora_dropout);
  }
  auto delta = at::linear(at::linear(h, lora_A->weight), lora_B->weight) * lora_scaling;
  return (y + delta).to(y.scalar_type());
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

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return at::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps_, const torch::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto x32 = x.to(torch::kFloat32);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * x32.to(x.scalar_type());
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
  auto freqs = position_ids.to(torch::kFloat32).reshape({-1, 1}) * inv_freq.reshape({1, -1});  // [T, d/2], fp32
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(0).unsqueeze(0);                          // [1, 1, T, d]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope) {
  auto halves = x.chunk(2, -1);
  auto rotated = torch::cat({-halves[1], halves[0]}, -1);
  return x * rope.cos + rotated * rope.sin;
}

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

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens) {
  const auto batch = x.size(0), len = x.size(1);
  auto q = q_proj(x).view({batch, len, num_heads, head_dim});
  auto k = k_proj(x).view({batch, len, num_kv_heads, head_dim});
  auto v = v_proj(x).view({batch, len, num_kv_heads, head_dim}).transpose(1, 2);
  if (q_norm) {  // per-head norm before rotary (Qwen3)
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q.transpose(1, 2), rope);
  k = apply_rope(k.transpose(1, 2), rope);
  const bool gqa = num_heads != num_kv_heads;
  // Packed documents: one causal attention per document, so none sees another. This is the
  // variable-length attention of flash-attn done with the public SDPA, on any device.
  std::vector<torch::Tensor> parts;
  parts.reserve(cu_seqlens.size());
  for (std::size_t i = 0; i + 1 < cu_seqlens.size(); ++i) {
    const auto start = cu_seqlens[i], n = cu_seqlens[i + 1] - cu_seqlens[i];
    parts.push_back(at::scaled_dot_product_attention(q.narrow(2, start, n), k.narrow(2, start, n), v.narrow(2, start, n),
                                                     /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true,
                                                     /*scale=*/std::nullopt, /*enable_gqa=*/gqa));
  }
  auto out = parts.size() == 1 ? parts[0] : torch::cat(parts, 2);
  return o_proj(out.transpose(1, 2).reshape({batch, len, num_heads * head_dim}));
}

MLPImpl::MLPImpl(const ModelConfig& c, const torch::TensorOptions& options) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, options));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& options) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  self_attn = register_module("self_attn", Attention(c, options));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  mlp = register_module("mlp", MLP(c, options));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const RopeTables& rope, const std::vector<std::int64_t>& cu_seqlens) {
  auto h = x + self_attn(input_layernorm(x), rope, cu_seqlens);
  return h + mlp(post_attention_layernorm(h));
}

}  // namespace cotrain
