// score_sequences: packing many sequences into rows changes no number, results come back in
// input order, and nll is minus the sum of the log-probs.
#include "cotrain/model/score.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>

#include "cotrain/model/logprobs.h"

namespace cotrain {
namespace {

CausalLM tiny_model() {
  auto config = ModelConfig::from_json({{"model_type", "qwen2"}, {"vocab_size", 97}, {"hidden_size", 32}, {"intermediate_size", 48},
                                        {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                                        {"tie_word_embeddings", true}},
                                       "test");
  CausalLM model(config, torch::kFloat64);
  init_weights(model, 0.5, 11);
  model->eval();
  return model;
}

TEST(ScoreSequences, PackedRowsGiveEachSequenceItsOwnLogprobsInInputOrder) {
  CausalLM model = tiny_model();
  std::vector<std::vector<std::int64_t>> sequences = {{1, 2, 3, 4, 5, 6, 7}, {9}, {10, 20}, {5, 5, 5, 5}, {96, 0, 42, 17, 3}};
  auto packed = score_sequences(model, sequences, 9);      // several sequences share rows of 9 tokens
  auto one_row = score_sequences(model, sequences, 1000);  // all in one row
  ASSERT_EQ(packed.size(), sequences.size());
  std::int64_t reported = 0;
  auto alone_scores = score_sequences(model, {sequences[0]}, 9, [&](std::int64_t n) { reported += n; });
  EXPECT_EQ(reported, 7);
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    // Alone, with the model's own forward pass: the reference each packed result must equal.
    torch::NoGradGuard no_grad;
    auto alone = row_logprobs(model, pack_documents({sequences[i]})).to(torch::kCPU);
    ASSERT_EQ(packed[i].logprobs.size(), sequences[i].size() - 1) << i;
    for (std::size_t t = 0; t + 1 < sequences[i].size(); ++t) {
      EXPECT_NEAR(packed[i].logprobs[t], alone[static_cast<std::int64_t>(t)].item<double>(), 1e-10) << i << " " << t;
      EXPECT_NEAR(one_row[i].logprobs[t], packed[i].logprobs[t], 1e-10) << i << " " << t;
    }
    EXPECT_NEAR(packed[i].nll, -std::accumulate(packed[i].logprobs.begin(), packed[i].logprobs.end(), 0.0), 1e-12);
  }
  EXPECT_TRUE(packed[1].logprobs.empty());  // one token: nothing to predict
  EXPECT_EQ(packed[1].nll, 0.0);
  EXPECT_NEAR(alone_scores[0].nll, packed[0].nll, 1e-10);
}

}  // namespace
}  // namespace cotrain
