#include "cotrain/model/config.h"

#include <gtest/gtest.h>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

nlohmann::json qwen25_05b() {
  return {{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}, {"vocab_size", 151936}, {"hidden_size", 896},
          {"intermediate_size", 4864}, {"num_hidden_layers", 24}, {"num_attention_heads", 14}, {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0}, {"tie_word_embeddings", true}, {"torch_dtype", "bfloat16"},
          {"use_sliding_window", false}, {"sliding_window", 32768}, {"max_window_layers", 21}, {"eos_token_id", 151645}};
}

TEST(ModelConfig, Qwen25HalfBillionShapesAndParameterCount) {
  auto c = ModelConfig::from_json(qwen25_05b(), "config.json");
  EXPECT_EQ(c.arch, Arch::Qwen2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{151645});
  // The real checkpoint: 988,097,824 bytes of BF16 (fact sheet) = 494,032,768 parameters (+ header).
  EXPECT_EQ(c.num_parameters(), 494032768);
}

TEST(ModelConfig, Transformers5SpellingsAndQwen3HeadDim) {
  nlohmann::json j = {{"model_type", "qwen3"}, {"vocab_size", 1000}, {"hidden_size", 64}, {"intermediate_size", 128},
                      {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 32},
                      {"dtype", "float32"}, {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 5e5}}},
                      {"eos_token_id", {1, 2}}};
  auto c = ModelConfig::from_json(j, "config.json");
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_DOUBLE_EQ(c.rope_theta, 5e5);
  EXPECT_EQ(c.dtype, "float32");
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{1, 2}));
  auto round = ModelConfig::from_json(c.to_hf_json(), "round-trip");
  EXPECT_EQ(round.num_parameters(), c.num_parameters());
  EXPECT_EQ(round.head_dim, 32);
}

TEST(ModelConfig, LlamaRopeScalingOldSpelling) {
  nlohmann::json j = {{"model_type", "llama"}, {"vocab_size", 128256}, {"hidden_size", 64}, {"intermediate_size", 128},
                      {"num_hidden_layers", 1}, {"num_attention_heads", 4}, {"rope_theta", 5e5}, {"attention_bias", true},
                      {"rope_scaling", {{"type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                                        {"original_max_position_embeddings", 8192}}}};
  auto c = ModelConfig::from_json(j, "config.json");
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
}

std::string error_of(nlohmann::json j) {
  try {
    ModelConfig::from_json(j, "m/config.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, RefusesWhatItCannotRunNamingTheField) {
  auto j = qwen25_05b();
  j.erase("hidden_size");
  EXPECT_EQ(error_of(j), "m/config.json: missing field 'hidden_size'");
  j = qwen25_05b();
  j["use_sliding_window"] = true;
  EXPECT_NE(error_of(j).find("use_sliding_window"), std::string::npos);
  j = qwen25_05b();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(j).find("rope_type: 'yarn' is not supported"), std::string::npos);
  j = qwen25_05b();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("not a multiple"), std::string::npos);
  j = qwen25_05b();
  j["model_type"] = "gpt2";
  EXPECT_NE(error_of(j).find("model_type: 'gpt2'"), std::string::npos);
  j = qwen25_05b();
  j["vocab_size"] = "big";
  EXPECT_EQ(error_of(j), "m/config.json: vocab_size: not an integer (\"big\")");
}

// Values that were accepted silently: 64.7 truncated to 64, a negative epsilon (null log-probs),
// rope_theta or max_position_embeddings <= 0, sizes no model has (allocated before any check).
TEST(ModelConfig, RefusesValuesThatOnlyLookLikeNumbers) {
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* message;
  };
  for (const Case& c : {Case{"hidden_size", 64.7, "m/config.json: hidden_size: not an integer (64.7)"},
                        Case{"rms_norm_eps", -1e-6, "m/config.json: rms_norm_eps: must be > 0 (got -1e-06)"},
                        Case{"rms_norm_eps", 0, "m/config.json: rms_norm_eps: must be > 0 (got 0)"},
                        Case{"rope_theta", 0, "m/config.json: rope_theta: must be > 0 (got 0)"},
                        Case{"rope_theta", -1, "m/config.json: rope_theta: must be > 0 (got -1)"},
                        Case{"max_position_embeddings", 0, "m/config.json: max_position_embeddings: must be > 0 (got 0)"},
                        Case{"num_hidden_layers", 1000000000, "m/config.json: num_hidden_layers: must be at most 4096 (got 1000000000)"},
                        Case{"vocab_size", 1e9, "m/config.json: vocab_size: not an integer (1000000000.0)"},
                        Case{"vocab_size", 4294967296, "m/config.json: vocab_size: must be at most 2147483647 (got 4294967296)"}}) {
    auto j = qwen25_05b();
    j[c.key] = c.value;
    EXPECT_EQ(error_of(j), c.message) << c.key << " = " << c.value;
  }
}

}  // namespace
}  // namespace cotrain
