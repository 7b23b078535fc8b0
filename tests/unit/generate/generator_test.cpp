// The decode loop on a random fixture model: seeding independent of batch size, n samples, stop
// rules (end-of-sequence ids, stop strings, max new tokens, the model's context) and the cache.
#include "cotrain/generate/generator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cotrain/core/error.h"
#include "cotrain/model/layers.h"
#include "cotrain/model/weights.h"
#include "unit/generate/generate_support.h"

namespace cotrain {
namespace {

CausalLM fixture_model() {
  return load_model(test::fixture_dir() / "random" / "qwen2_gqa_untied", torch::kFloat32, torch::kCPU);
}

const std::vector<std::vector<std::int64_t>> kPrompts = {{5, 9, 200, 31}, {7}, {100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110}};

GenerationSettings sampling(std::int64_t batch) {
  GenerationSettings s;
  s.sampling.temperature = 1.0;
  s.sampling.top_p = 0.9;
  s.n = 3;
  s.max_new_tokens = 24;
  s.batch_size = batch;
  s.seed = 11;
  return s;
}

TEST(Generator, SamplesDependOnSeedPromptAndSampleNotOnBatching) {
  auto model = fixture_model();
  const Tokenizer& tokenizer = test::qwen_tokenizer();
  auto one = test::generate_all(model, tokenizer, kPrompts, sampling(1));
  auto many = test::generate_all(model, tokenizer, kPrompts, sampling(5));
  ASSERT_EQ(one.size(), 9u);
  ASSERT_EQ(many.size(), 9u);
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i].tokens, many[i].tokens) << i;
  EXPECT_NE(one[0].tokens, one[1].tokens);  // samples of a prompt differ
  // A prompt's samples do not depend on which other prompts are in the run.
  std::vector<PromptIds> last_only = {{2, kPrompts[2]}};
  std::vector<Completion> alone;
  generate(model, tokenizer, last_only, sampling(2), [&](std::vector<Completion>&& s) { alone = std::move(s); });
  ASSERT_EQ(alone.size(), 3u);
  for (std::size_t s = 0; s < 3; ++s) EXPECT_EQ(alone[s].tokens, one[6 + s].tokens);
  auto reseeded = sampling(5);
  reseeded.seed = 12;
  EXPECT_NE(test::generate_all(model, tokenizer, kPrompts, reseeded)[0].tokens, one[0].tokens);
}

TEST(Generator, StopsAtEndOfSequenceIdsStopStringsAndTheLimit) {
  auto model = fixture_model();
  const Tokenizer& tokenizer = test::qwen_tokenizer();
  GenerationSettings greedy;
  greedy.max_new_tokens = 40;
  auto free_run = test::generate_all(model, tokenizer, {kPrompts[0]}, greedy)[0];
  ASSERT_EQ(free_run.tokens.size(), 40u);
  EXPECT_EQ(free_run.finish_reason, "length");
  EXPECT_EQ(free_run.text, tokenizer.decode(std::vector<TokenId>(free_run.tokens.begin(), free_run.tokens.end()), true));

  auto with_eos = greedy;  // the 6th token ends the sample (unless it appeared before)
  with_eos.eos_token_ids = {free_run.tokens[5]};
  auto stopped = test::generate_all(model, tokenizer, {kPrompts[0]}, with_eos)[0];
  auto first = std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[5]) - free_run.tokens.begin();
  EXPECT_EQ(stopped.tokens, std::vector<std::int64_t>(free_run.tokens.begin(), free_run.tokens.begin() + first + 1));
  EXPECT_EQ(stopped.finish_reason, "stop");

  // A stop string taken from the middle of the text (its first run of 3 ASCII letters after byte
  // 10): the sample stops there and its text ends before it.
  std::size_t at = 10;
  while (at + 3 <= free_run.text.size() && !std::all_of(free_run.text.begin() + at, free_run.text.begin() + at + 3, ::isalpha)) ++at;
  ASSERT_LE(at + 3, free_run.text.size()) << free_run.text;
  const std::string stop = free_run.text.substr(at, 3);
  auto with_stop = greedy;
  with_stop.stop = {stop};
  auto cut = test::generate_all(model, tokenizer, {kPrompts[0]}, with_stop)[0];
  EXPECT_EQ(cut.finish_reason, "stop");
  EXPECT_EQ(cut.stop, stop);
  EXPECT_LT(cut.tokens.size(), free_run.tokens.size());
  EXPECT_EQ(cut.text, free_run.text.substr(0, free_run.text.find(stop)));
}

TEST(Generator, TheModelsContextEndsASample) {
  auto model = fixture_model();
  model->config.max_position_embeddings = 20;
  GenerationSettings greedy;
  greedy.max_new_tokens = 100;
  auto c = test::generate_all(model, test::qwen_tokenizer(), {kPrompts[2]}, greedy)[0];  // 11 prompt tokens
  EXPECT_EQ(c.tokens.size(), 9u);
  EXPECT_EQ(c.finish_reason, "length");
  EXPECT_THROW(test::generate_all(model, test::qwen_tokenizer(), {std::vector<std::int64_t>(20, 1)}, greedy), InputError);
  EXPECT_THROW(test::generate_all(model, test::qwen_tokenizer(), {{100000}}, greedy), InputError);  // not a model id
  greedy.n = 0;
  EXPECT_THROW(test::generate_all(model, test::qwen_tokenizer(), {{1}}, greedy), InputError);
}

TEST(KVCache, GrowsKeepingItsContentsAndCopiesRows) {
  auto model = fixture_model();
  torch::NoGradGuard no_grad;
  KVCache small(model->config, 2, 3, torch::kFloat32), big(model->config, 2, 64, torch::kFloat32);
  std::vector<std::int64_t> prompt(kPrompts[2].begin(), kPrompts[2].end());
  auto a = model->next_token_logits({prompt}, {1}, small);  // needs 11 > 3 positions
  auto b = model->next_token_logits({prompt}, {1}, big);
  EXPECT_GE(small.capacity(), 11);
  EXPECT_TRUE(torch::allclose(a, b, 0, 1e-5));
  small.copy_row(1, 0);
  EXPECT_EQ(small.length(0), 11);
  auto next_a = model->next_token_logits({{3}, {3}}, {0, 1}, small);  // both rows continue alike
  EXPECT_TRUE(torch::allclose(next_a[0], next_a[1], 0, 1e-5));
  EXPECT_THROW(small.plan({2}, {1}), InputError);
}

TEST(KVCache, BottomRightMaskLetsTheLastQueriesSeeThePast) {
  auto mask = bottom_right_causal_mask(2, 4, torch::kCPU);
  auto expected = torch::tensor({1, 1, 1, 0, 1, 1, 1, 1}, torch::kBool).view({2, 4});
  EXPECT_TRUE(torch::equal(mask, expected));
}

}  // namespace
}  // namespace cotrain
