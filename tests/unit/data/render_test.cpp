#include "cotrain/data/render.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "unit/tokenizer/loaded_tokenizers.h"

namespace cotrain {
namespace {

std::vector<TokenId> concat(std::initializer_list<std::vector<TokenId>> parts) {
  std::vector<TokenId> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<std::uint8_t> mask_of(std::initializer_list<std::pair<std::size_t, std::uint8_t>> runs) {
  std::vector<std::uint8_t> out;
  for (auto [n, v] : runs) out.insert(out.end(), n, v);
  return out;
}

TEST(Render, MultiTurnMaskCoversAssistantContentAndItsEndToken) {
  COTRAIN_SHARED_FILE(path, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tok = test::loaded_tokenizer(path);
  ChatTemplate qwen = ChatTemplate::by_name("qwen2.5");
  Conversation c = {{"system", "Be brief."}, {"user", "Hi there"}, {"assistant", "Hello! How are you?"},
                    {"user", "Fine"}, {"assistant", "Good to hear."}};
  RenderedSample s = render_sample(tok, qwen, c, {});
  // Every piece ends at a special token or a newline, so the pieces tokenise on their own.
  auto prompt1 = tok.encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n");
  auto answer1 = tok.encode("Hello! How are you?<|im_end|>");
  auto prompt2 = tok.encode("\n<|im_start|>user\nFine<|im_end|>\n<|im_start|>assistant\n");
  auto answer2 = tok.encode("Good to hear.<|im_end|>");
  auto tail = tok.encode("\n");
  EXPECT_EQ(s.ids, concat({prompt1, answer1, prompt2, answer2, tail}));
  EXPECT_EQ(s.mask, mask_of({{prompt1.size(), 0}, {answer1.size(), 1}, {prompt2.size(), 0}, {answer2.size(), 1}, {1, 0}}));
  EXPECT_EQ(s.outcome, RenderOutcome::kept);
  EXPECT_EQ(answer1.back(), tok.token_to_id("<|im_end|>"));

  RenderSettings all;
  all.train_on_prompt = true;
  RenderedSample everything = render_sample(tok, qwen, c, all);
  EXPECT_EQ(everything.ids, s.ids);
  EXPECT_TRUE(std::all_of(everything.mask.begin(), everything.mask.end(), [](std::uint8_t m) { return m == 1; }));
}

TEST(Render, SystemPromptOverrideReplacesOrAdds) {
  COTRAIN_SHARED_FILE(path, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tok = test::loaded_tokenizer(path);
  ChatTemplate qwen = ChatTemplate::by_name("qwen2.5");
  RenderSettings settings;
  settings.system_prompt = "Think step by step.";
  auto expected = tok.encode("<|im_start|>system\nThink step by step.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n");
  EXPECT_EQ(render_sample(tok, qwen, {{"system", "Old."}, {"user", "Q"}, {"assistant", "A"}}, settings).ids, expected);
  EXPECT_EQ(render_sample(tok, qwen, {{"user", "Q"}, {"assistant", "A"}}, settings).ids, expected);
}

TEST(Render, CutoffDropsOrTruncatesKeepingThePrompt) {
  COTRAIN_SHARED_FILE(path, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tok = test::loaded_tokenizer(path);
  ChatTemplate qwen = ChatTemplate::by_name("qwen2.5");
  std::string long_answer;
  for (int i = 0; i < 100; ++i) long_answer += "step " + std::to_string(i) + ". ";
  Conversation c = {{"user", "Count."}, {"assistant", long_answer}};
  RenderedSample full = render_sample(tok, qwen, c, {});
  auto prompt = static_cast<std::int64_t>(std::find(full.mask.begin(), full.mask.end(), 1) - full.mask.begin());
  ASSERT_GT(full.ids.size(), 100u);

  RenderSettings settings;
  settings.cutoff = static_cast<std::int64_t>(full.ids.size());
  EXPECT_EQ(render_sample(tok, qwen, c, settings).outcome, RenderOutcome::kept);  // exactly at the cutoff
  settings.cutoff = 100;
  RenderedSample dropped = render_sample(tok, qwen, c, settings);
  EXPECT_EQ(dropped.outcome, RenderOutcome::dropped);
  EXPECT_TRUE(dropped.ids.empty());

  settings.cutoff_policy = CutoffPolicy::truncate;
  RenderedSample cut = render_sample(tok, qwen, c, settings);
  EXPECT_EQ(cut.outcome, RenderOutcome::truncated);
  EXPECT_EQ(cut.ids, std::vector<TokenId>(full.ids.begin(), full.ids.begin() + 100));
  EXPECT_EQ(cut.mask, std::vector<std::uint8_t>(full.mask.begin(), full.mask.begin() + 100));

  settings.cutoff = prompt;  // nothing of the answer would fit
  EXPECT_EQ(render_sample(tok, qwen, c, settings).outcome, RenderOutcome::dropped);
  settings.cutoff = prompt + 1;
  EXPECT_EQ(render_sample(tok, qwen, c, settings).outcome, RenderOutcome::truncated);
  EXPECT_THROW(cutoff_policy_from_name("cut"), InputError);
}

}  // namespace
}  // namespace cotrain
