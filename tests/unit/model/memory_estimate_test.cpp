// estimate_training_memory against the recipe worked out by hand for a small config.
#include "cotrain/model/memory_estimate.h"

#include <gtest/gtest.h>

namespace cotrain {
namespace {

ModelConfig small_config(std::int64_t vocab = 1000) {
  // hidden 64, 4 heads of 16 (q = 64), 2 kv heads (kv = 32), intermediate 176, 2 layers, vocab 1000.
  return ModelConfig::from_json({{"model_type", "qwen2"}, {"vocab_size", vocab}, {"hidden_size", 64}, {"intermediate_size", 176},
                                 {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                                 {"tie_word_embeddings", true}},
                                "test");
}

TEST(MemoryEstimate, FullFineTuningKeepsEighteenBytesPerParameter) {
  ModelConfig c = small_config();
  MemoryEstimate m = estimate_training_memory(c, 2048, 0);
  const double params = static_cast<double>(c.num_parameters());
  EXPECT_EQ(m.trainable_parameters, c.num_parameters());
  EXPECT_DOUBLE_EQ(m.weights_bytes, 2 * params);         // bf16 weights
  EXPECT_DOUBLE_EQ(m.training_state_bytes, 14 * params);  // fp32 grad + the master's 16-bit rest + 2 fp32 moments
  // activations: layer-boundary checkpoints (bf16, T x hidden per layer), one layer recomputed with
  // its gradients, the loss's logits of 2,048 positions x one vocabulary block (the whole 1,000
  // here) at fp32 size, its fp32 gradients of the hidden states and of the head.
  const double t = 2048;
  const double checkpoints = 2 * t * 64 * 2;
  const double layer = 2 * 2 * t * (4 * 64 + 2 * 64 + 2 * 32 + 3 * 176);
  const double loss = 4 * 2048.0 * 1000 + 4 * t * 64 + 4 * 1000.0 * 64;
  EXPECT_DOUBLE_EQ(m.activation_bytes, checkpoints + layer + loss);
  EXPECT_DOUBLE_EQ(m.total(), m.weights_bytes + m.training_state_bytes + m.activation_bytes);
}

TEST(MemoryEstimate, LoraTrainsRankRAdaptersOnSevenProjections) {
  ModelConfig c = small_config();
  MemoryEstimate m = estimate_training_memory(c, 100, 8);
  // r * (in + out) for q, k, v, o, gate, up, down, per layer.
  const std::int64_t per_layer = 8 * ((64 + 64) + (64 + 32) * 2 + (64 + 64) + (64 + 176) * 2 + (176 + 64));
  EXPECT_EQ(m.trainable_parameters, per_layer * 2);
  EXPECT_DOUBLE_EQ(m.weights_bytes, 2.0 * static_cast<double>(c.num_parameters()));
  EXPECT_DOUBLE_EQ(m.training_state_bytes, 16.0 * static_cast<double>(per_layer * 2));  // fp32 weight, grad, 2 moments
  const double loss_short = 4 * 100.0 * 1000 + 4 * 100.0 * 64;  // the chunk is the whole sequence when it is shorter; the head is frozen
  EXPECT_DOUBLE_EQ(m.activation_bytes, 2 * 100.0 * 64 * 2 + 2 * 2 * 100.0 * (4 * 64 + 2 * 64 + 2 * 32 + 3 * 176) + loss_short);
  EXPECT_LT(m.total(), estimate_training_memory(c, 100, 0).total());
}

TEST(MemoryEstimate, CpuLossGoesThroughTheVocabularyInBlocks) {
  // 10,000 rows: more than one block of 4,096. Everything but the loss's logits is the GPU's.
  ModelConfig c = small_config(10000);
  const double t = 2048, chunk_logits = 2048.0 * 10000, block = 2048.0 * 4096;
  const MemoryEstimate gpu_full = estimate_training_memory(c, 2048, 0), cpu_full = estimate_training_memory(c, 2048, 0, /*on_cpu=*/true);
  const MemoryEstimate gpu_lora = estimate_training_memory(c, 2048, 8), cpu_lora = estimate_training_memory(c, 2048, 8, /*on_cpu=*/true);
  const double rest = 2 * t * 64 * 2 + 2 * 2 * t * (4 * 64 + 2 * 64 + 2 * 32 + 3 * 176) + 4 * t * 64;  // checkpoints, a layer, d hidden
  EXPECT_DOUBLE_EQ(gpu_full.activation_bytes, rest + 4 * chunk_logits + 4 * 10000.0 * 64);  // the whole vocabulary at fp32 size
  // The CPU's full SFT keeps the chunk's bf16 logits for the second pass, and works on one block at fp32 size.
  EXPECT_DOUBLE_EQ(cpu_full.activation_bytes, rest + 4 * block + 2 * chunk_logits + 4 * 10000.0 * 64);
  // A frozen head's one pass keeps no logits: one block.
  EXPECT_DOUBLE_EQ(gpu_lora.activation_bytes, rest + 4 * chunk_logits);
  EXPECT_DOUBLE_EQ(cpu_lora.activation_bytes, rest + 4 * block);
  EXPECT_DOUBLE_EQ(cpu_full.weights_bytes + cpu_full.training_state_bytes, gpu_full.weights_bytes + gpu_full.training_state_bytes);
  // A vocabulary of one block takes the GPU's whole-vocabulary pass on a CPU too.
  EXPECT_DOUBLE_EQ(estimate_training_memory(small_config(), 2048, 8, true).total(), estimate_training_memory(small_config(), 2048, 8).total());
}

}  // namespace
}  // namespace cotrain
