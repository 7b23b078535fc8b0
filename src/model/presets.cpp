#include "cotrain/model/presets.h"

#include "cotrain/core/error.h"

namespace cotrain {

std::vector<std::string> preset_names() { return {"tiny", "small"}; }

ModelConfig preset_config(Arch arch, const std::string& preset) {
  if (preset != "tiny" && preset != "small") fail_input("--preset {}: unknown preset (tiny, small)", preset);
  const bool tiny = preset == "tiny";
  ModelConfig c;
  c.arch = arch;
  c.hidden_size = tiny ? 64 : 256;
  c.intermediate_size = tiny ? 176 : 704;
  c.num_layers = tiny ? 2 : 4;
  c.num_heads = tiny ? 4 : 8;
  c.num_kv_heads = 2;
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_position_embeddings = 32768;
  c.rms_norm_eps = 1e-6;
  c.dtype = "float32";
  switch (arch) {
    case Arch::Qwen2:  // Qwen2.5 vocabulary and special tokens, tied like the 0.5B/1.5B models
      c.vocab_size = 151936;
      c.rope_theta = 1e6;
      c.tie_word_embeddings = true;
      c.qkv_bias = true;
      c.bos_token_id = 151643;
      c.eos_token_ids = {151645};
      break;
    case Arch::Qwen3:  // head_dim set explicitly and larger than hidden / heads, q/k norms
      c.vocab_size = 151936;
      c.rope_theta = 1e6;
      c.head_dim = c.hidden_size / c.num_heads * 2;
      c.tie_word_embeddings = true;
      c.qk_norm = true;
      c.bos_token_id = 151643;
      c.eos_token_ids = {151645};
      break;
    case Arch::Llama:  // Llama-3 vocabulary and rope scaling, untied head
      c.vocab_size = 128256;
      c.rope_theta = 5e5;
      c.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 8192};
      c.tie_word_embeddings = false;
      c.bos_token_id = 128000;
      c.eos_token_ids = {128001, 128009};
      break;
  }
  return c;
}

}  // namespace cotrain
