#include "cotrain/model/config.h"

#include <cmath>
#include <type_traits>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {
namespace {

template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail_input("{}: missing field '{}'", source, key);
  // nlohmann converts 64.7 to the integer 64 and 1e300 to garbage: an integer field must hold one.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!it->is_number_integer()) fail_input("{}: {}: not an integer ({})", source, key, it->dump());
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) fail_input("{}: {}: not a number ({})", source, key, it->dump());
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail_input("{}: {}: wrong type ({})", source, key, it->dump());
  }
}

template <class T>
T field_or(const nlohmann::json& j, const char* key, T fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return field<T>(j, key, source);
}

// Sizes beyond these describe no real model (Llama-3 405B: hidden 16384, intermediate 53248, 126
// layers) and keep the parameter count within 64 bits; token ids are int32.
constexpr std::int64_t kMaxWidth = std::int64_t{1} << 18, kMaxIntermediate = std::int64_t{1} << 20,
                       kMaxCount = std::int64_t{1} << 12, kMaxVocab = INT32_MAX;

void check_positive(std::int64_t v, const char* key, const std::string& source, std::int64_t max) {
  if (v <= 0) fail_input("{}: {}: must be > 0 (got {})", source, key, v);
  if (v > max) fail_input("{}: {}: must be at most {} (got {})", source, key, max, v);
}

void check_positive(double v, const char* key, const std::string& source) {
  if (!(v > 0) || !std::isfinite(v)) fail_input("{}: {}: must be > 0 (got {})", source, key, v);
}

// rope_scaling (4.x) or rope_parameters (5.x); rope_theta may live in either place.
void read_rope(const nlohmann::json& j, ModelConfig& c, const std::string& source) {
  const nlohmann::json* params = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) {
      if (!it->is_object()) fail_input("{}: {}: not an object", source, key);
      params = &*it;
      break;
    }
  }
  c.rope_theta = field_or<double>(j, "rope_theta", 10000.0, source);
  if (!params) return;
  c.rope_theta = field_or<double>(*params, "rope_theta", c.rope_theta, source);
  std::string type = field_or<std::string>(*params, "rope_type", field_or<std::string>(*params, "type", "default", source), source);
  c.rope_scaling.type = type;
  if (type == "default") return;
  if (type != "linear" && type != "llama3") {
    fail_input("{}: rope_type: '{}' is not supported (default, linear, llama3)", source, type);
  }
  c.rope_scaling.factor = field<double>(*params, "factor", source);
  check_positive(c.rope_scaling.factor, "rope_scaling.factor", source);
  if (type == "llama3") {
    c.rope_scaling.low_freq_factor = field<double>(*params, "low_freq_factor", source);
    c.rope_scaling.high_freq_factor = field<double>(*params, "high_freq_factor", source);
    c.rope_scaling.original_max_position_embeddings = field<std::int64_t>(*params, "original_max_position_embeddings", source);
  }
}

}  // namespace

Arch parse_arch(const std::string& name) {
  if (name == "qwen2") return Arch::Qwen2;
  if (name == "qwen3") return Arch::Qwen3;
  if (name == "llama") return Arch::Llama;
  fail_input("--arch {}: unknown architecture (qwen2, qwen3, llama)", name);
}

std::string ModelConfig::arch_name() const {
  switch (arch) {
    case Arch::Qwen2: return "qwen2";
    case Arch::Qwen3: return "qwen3";
    case Arch::Llama: return "llama";
  }
  return "";
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail_input("{}: not a JSON object", source);
  ModelConfig c;
  std::string model_type = field_or<std::string>(j, "model_type", "", source);
  if (model_type.empty()) fail_input("{}: missing field 'model_type'", source);
  if (model_type != "qwen2" && model_type != "qwen3" && model_type != "llama") {
    fail_input("{}: model_type: '{}' is not supported (qwen2, qwen3, llama)", source, model_type);
  }
  c.arch = parse_arch(model_type);
  c.vocab_size = field<std::int64_t>(j, "vocab_size", source);
  c.hidden_size = field<std::int64_t>(j, "hidden_size", source);
  c.intermediate_size = field<std::int64_t>(j, "intermediate_size", source);
  c.num_layers = field<std::int64_t>(j, "num_hidden_layers", source);
  c.num_heads = field<std::int64_t>(j, "num_attention_heads", source);
  check_positive(c.vocab_size, "vocab_size", source, kMaxVocab);
  check_positive(c.hidden_size, "hidden_size", source, kMaxWidth);
  check_positive(c.intermediate_size, "intermediate_size", source, kMaxIntermediate);
  check_positive(c.num_layers, "num_hidden_layers", source, kMaxCount);
  check_positive(c.num_heads, "num_attention_heads", source, kMaxCount);
  c.num_kv_heads = field_or<std::int64_t>(j, "num_key_value_heads", c.num_heads, source);
  check_positive(c.num_kv_heads, "num_key_value_heads", source, kMaxCount);
  if (c.num_heads % c.num_kv_heads != 0) {
    fail_input("{}: num_attention_heads: {} is not a multiple of num_key_value_heads ({})", source, c.num_heads, c.num_kv_heads);
  }
  c.head_dim = field_or<std::int64_t>(j, "head_dim", c.hidden_size / c.num_heads, source);
  check_positive(c.head_dim, "head_dim", source, kMaxCount);
  if (c.head_dim % 2 != 0) fail_input("{}: head_dim: must be even for rotary embeddings (got {})", source, c.head_dim);
  c.max_position_embeddings = field_or<std::int64_t>(j, "max_position_embeddings", 32768, source);
  check_positive(c.max_position_embeddings, "max_position_embeddings", source, std::int64_t{1} << 40);
  c.rms_norm_eps = field_or<double>(j, "rms_norm_eps", 1e-6, source);
  check_positive(c.rms_norm_eps, "rms_norm_eps", source);
  c.tie_word_embeddings = field_or<bool>(j, "tie_word_embeddings", false, source);
  std::string act = field_or<std::string>(j, "hidden_act", "silu", source);
  if (act != "silu") fail_input("{}: hidden_act: '{}' is not supported (silu)", source, act);
  if (field_or<bool>(j, "use_sliding_window", false, source)) {
    fail_input("{}: use_sliding_window: true is not supported (sliding-window attention)", source);
  }
  read_rope(j, c, source);
  check_positive(c.rope_theta, "rope_theta", source);

  bool attention_bias = field_or<bool>(j, "attention_bias", false, source);
  c.qkv_bias = c.arch == Arch::Qwen2 || attention_bias;
  c.o_bias = c.arch != Arch::Qwen2 && attention_bias;
  c.mlp_bias = c.arch == Arch::Llama && field_or<bool>(j, "mlp_bias", false, source);
  c.qk_norm = c.arch == Arch::Qwen3;
  c.dtype = field_or<std::string>(j, "dtype", field_or<std::string>(j, "torch_dtype", "bfloat16", source), source);
  c.bos_token_id = field_or<std::int64_t>(j, "bos_token_id", -1, source);
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_array()) {
      c.eos_token_ids = field<std::vector<std::int64_t>>(j, "eos_token_id", source);
    } else {
      c.eos_token_ids = {field<std::int64_t>(j, "eos_token_id", source)};
    }
  }
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_dir) {
  auto path = std::filesystem::is_directory(model_dir) ? model_dir / "config.json" : model_dir;
  if (!std::filesystem::exists(path)) fail_input("{}: no config.json", model_dir.string());
  // Every field is read with a type check; anything nlohmann still refuses names the file.
  return from_json(read_json_file(path), path.string());
}

nlohmann::json ModelConfig::to_hf_json() const {
  static const char* kArchitectures[] = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"};
  nlohmann::json j = {
      {"architectures", {kArchitectures[static_cast<int>(arch)]}},
      {"model_type", arch_name()},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_layers},
      {"num_attention_heads", num_heads},
      {"num_key_value_heads", num_kv_heads},
      {"head_dim", head_dim},
      {"hidden_act", "silu"},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"tie_word_embeddings", tie_word_embeddings},
      {"torch_dtype", dtype},
      {"use_cache", true},
  };
  if (arch == Arch::Qwen2) {
    j["use_sliding_window"] = false;
  } else {
    j["attention_bias"] = o_bias;
  }
  if (arch == Arch::Llama) j["mlp_bias"] = mlp_bias;
  if (rope_scaling.type != "default") {
    nlohmann::json rs = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "llama3") {
      rs["low_freq_factor"] = rope_scaling.low_freq_factor;
      rs["high_freq_factor"] = rope_scaling.high_freq_factor;
      rs["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = rs;
  }
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  return j;
}

std::int64_t ModelConfig::num_parameters() const {
  const std::int64_t q = num_heads * head_dim, kv = num_kv_heads * head_dim;
  std::int64_t attn = hidden_size * q + 2 * hidden_size * kv + q * hidden_size;
  if (qkv_bias) attn += q + 2 * kv;
  if (o_bias) attn += hidden_size;
  if (qk_norm) attn += 2 * head_dim;
  std::int64_t mlp = 3 * hidden_size * intermediate_size;
  if (mlp_bias) mlp += 2 * intermediate_size + hidden_size;
  std::int64_t layer = attn + mlp + 2 * hidden_size;
  std::int64_t embed = vocab_size * hidden_size;
  return embed + num_layers * layer + hidden_size + (tie_word_embeddings ? 0 : embed);
}

}  // namespace cotrain
