// The architecture hyper-parameters of a Qwen2/Qwen2.5/Qwen3/Llama checkpoint, read from a
// Hugging Face config.json (both the transformers 4.x and 5.x spellings). Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cotrain {

enum class Arch { Qwen2, Qwen3, Llama };

struct RopeScaling {
  std::string type = "default";  // default, linear, llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  std::int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Arch arch = Arch::Qwen2;
  std::int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  std::int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0, max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6, rope_theta = 1e6;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;   // Qwen2 always; Llama/Qwen3 through attention_bias
  bool o_bias = false;     // Llama/Qwen3 attention_bias
  bool mlp_bias = false;   // Llama mlp_bias
  bool qk_norm = false;    // Qwen3
  std::string dtype = "bfloat16";  // the checkpoint's torch_dtype / dtype
  std::int64_t bos_token_id = -1;
  std::vector<std::int64_t> eos_token_ids;

  // SOURCE names the file in errors. Unsupported settings (sliding window on, yarn/dynamic rope,
  // a hidden_act other than silu) are InputErrors, never silent approximations.
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
  static ModelConfig load(const std::filesystem::path& model_dir);  // DIR/config.json

  // A config.json that transformers loads unchanged.
  nlohmann::json to_hf_json() const;
  std::string arch_name() const;  // qwen2, qwen3, llama
  std::int64_t num_parameters() const;
};

Arch parse_arch(const std::string& name);  // qwen2 | qwen3 | llama (InputError otherwise)

}  // namespace cotrain
