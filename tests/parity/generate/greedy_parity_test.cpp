// Generation against transformers (scripts/reference/generate_fixtures.py): greedy tokens equal
// generate(do_sample=False) token for token; each cached decode step's log-probs equal a full
// forward over the same prefix; a batch of mixed-length prompts gives each prompt its tokens alone.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/generate/generation_config.h"
#include "cotrain/generate/generator.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/score.h"
#include "cotrain/model/weights.h"
#include "cotrain/tokenizer/chat_template.h"
#include "unit/generate/generate_support.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

struct RandomFixture {
  fs::path dir;
  std::vector<std::vector<std::int64_t>> prompts, generated;
  std::shared_ptr<const SafetensorsFile> expected;
};

RandomFixture load_random(const std::string& name) {
  RandomFixture f;
  f.dir = test::fixture_dir() / "random" / name;
  auto json = read_json_file(f.dir / "expected.json");
  f.prompts = json["prompts"].get<std::vector<std::vector<std::int64_t>>>();
  f.generated = json["generated"].get<std::vector<std::vector<std::int64_t>>>();
  f.expected = SafetensorsFile::open(f.dir / "expected.safetensors");
  return f;
}

GenerationSettings greedy(std::int64_t max_new, std::int64_t batch) {
  GenerationSettings s;
  s.max_new_tokens = max_new;
  s.batch_size = batch;
  return s;
}

class RandomModels : public ::testing::TestWithParam<std::string> {};

TEST_P(RandomModels, GreedyTokensEqualTransformersAloneAndBatched) {
  auto f = load_random(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  const Tokenizer& tokenizer = test::qwen_tokenizer();
  for (std::size_t i = 0; i < f.prompts.size(); ++i) {
    auto alone = test::generate_all(model, tokenizer, {f.prompts[i]}, greedy(64, 1));
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_EQ(alone[0].tokens, f.generated[i]) << "prompt " << i;
    EXPECT_EQ(alone[0].finish_reason, "length");
  }
  // All prompts (lengths 5, 17, 40) in one batch, twice each: rows of different lengths decode
  // together; also with fewer rows than samples (rows are refilled) and a small prefill chunk.
  for (std::int64_t batch : {6, 4}) {
    auto settings = greedy(64, batch);
    settings.n = 2;
    settings.prefill_chunk = batch == 4 ? 16 : 2048;
    auto batched = test::generate_all(model, tokenizer, f.prompts, settings);
    ASSERT_EQ(batched.size(), 2 * f.prompts.size());
    for (const auto& c : batched) EXPECT_EQ(c.tokens, f.generated[c.prompt]) << "batch " << batch << " prompt " << c.prompt;
  }
  // As `cotrain generate` runs on the CPU: weights packed for oneDNN (model/layers.h).
  ASSERT_EQ(model->pack_for_inference(3), at::hasMKLDNN());  // packing may only be missing without oneDNN
  if (at::hasMKLDNN()) {
    auto packed = test::generate_all(model, tokenizer, f.prompts, greedy(64, 3));
    for (const auto& c : packed) EXPECT_EQ(c.tokens, f.generated[c.prompt]) << "packed, prompt " << c.prompt;
  }
}

TEST_P(RandomModels, DecodeStepLogprobsEqualAFullForward) {
  auto f = load_random(GetParam());
  auto model = load_model(f.dir, torch::kFloat32, torch::kCPU);
  torch::NoGradGuard no_grad;
  double worst = 0;
  for (std::size_t i = 0; i < f.prompts.size(); ++i) {
    const auto* info = f.expected->find(fmt::format("logprobs.{}", i));
    ASSERT_NE(info, nullptr);
    auto reference = tensor_view(*f.expected, *info, f.expected);  // [64, vocab]
    // Prefill in chunks of 7 (bottom-right masks), then one token per step.
    KVCache cache(model->config, 1, 8, torch::kFloat32);  // grows as it goes
    torch::Tensor logits;
    const auto& prompt = f.prompts[i];
    for (std::size_t at = 0; at < prompt.size(); at += 7) {
      std::vector<std::int64_t> chunk(prompt.begin() + at, prompt.begin() + std::min(prompt.size(), at + 7));
      logits = model->next_token_logits({chunk}, {0}, cache);
    }
    for (std::size_t t = 0; t < f.generated[i].size(); ++t) {
      auto got = torch::log_softmax(logits[0], -1);
      worst = std::max(worst, (got - reference[static_cast<std::int64_t>(t)]).abs().max().item<double>());
      logits = model->next_token_logits({{f.generated[i][t]}}, {0}, cache);
    }
    EXPECT_EQ(cache.length(0), static_cast<std::int64_t>(prompt.size() + f.generated[i].size()));
  }
  EXPECT_LE(worst, 1e-4);
  RecordProperty("max_abs_logprob_diff", fmt::format("{:.3g}", worst));
}

INSTANTIATE_TEST_SUITE_P(Transformers, RandomModels,
                         ::testing::Values("qwen2_gqa_untied", "qwen2_tied", "qwen3_head_dim", "llama3_rope_scaling"));

// The real checkpoints of scripts/get_real_models.sh: chat prompt ids, greedy tokens (all prompts in
// one mixed-length batch, stopping at the model's end-of-sequence ids), paragraph log-probs and the
// tokenizer on a corpus with control bytes (SmolLM2's vocabulary lacks some byte tokens).
class RealModels : public ::testing::TestWithParam<std::string> {};

TEST_P(RealModels, ChatPromptGreedyTokensScoresAndTokenizerEqualTransformers) {
  const fs::path fixture = test::fixture_dir() / "real" / GetParam() / "expected.json";
  if (!fs::exists(fixture)) {
    if (test::shared_required()) FAIL() << "no fixture " << fixture << " (run scripts/get_real_models.sh)";
    GTEST_SKIP() << "real model " << GetParam() << " not converted (scripts/get_real_models.sh)";
  }
  auto expected = read_json_file(fixture);
  const fs::path dir = expected["model"].get<std::string>();
  // ctest runs two tests at once on CI's 2 cores: two OpenMP threads per process would wait on each other.
  torch::set_num_threads(1);
  auto tokenizer = Tokenizer::load(dir);
  auto chat = ChatTemplate::detect(dir);
  std::vector<std::vector<std::int64_t>> prompts;
  for (std::size_t i = 0; i < expected["conversations"].size(); ++i) {
    std::vector<ChatMessage> messages;
    for (const auto& m : expected["conversations"][i]) messages.push_back({m["role"], m["content"]});
    RenderOptions options;
    options.add_generation_prompt = true;
    auto ids = chat.render(*tokenizer, messages, options).ids;
    prompts.emplace_back(ids.begin(), ids.end());
    EXPECT_EQ(prompts.back(), expected["prompts"][i].get<std::vector<std::int64_t>>()) << "conversation " << i;
  }

  auto model = load_model(dir, torch::kFloat32, torch::kCPU);
  GenerationSettings settings = greedy(64, static_cast<std::int64_t>(prompts.size()));
  settings.eos_token_ids = read_eos_token_ids(dir);
  ASSERT_FALSE(settings.eos_token_ids.empty());
  auto completions = test::generate_all(model, *tokenizer, prompts, settings);
  std::size_t long_ones = 0;
  for (const auto& c : completions) {
    const auto want = expected["generated"][c.prompt].get<std::vector<std::int64_t>>();
    EXPECT_EQ(c.tokens, want) << "prompt " << c.prompt << ": " << c.text;
    long_ones += want.size() >= 64;
  }
  EXPECT_GE(long_ones, 1u) << "no prompt reached 64 new tokens";

  auto paragraph = expected["paragraph_ids"].get<std::vector<std::int64_t>>();
  auto scores = score_sequences(model, {paragraph}, 4096);
  auto reference = expected["paragraph_logprobs"].get<std::vector<double>>();
  ASSERT_EQ(scores[0].logprobs.size(), reference.size());
  double worst = 0;
  for (std::size_t t = 0; t < reference.size(); ++t) worst = std::max(worst, std::abs(scores[0].logprobs[t] - reference[t]));
  EXPECT_LE(worst, 1e-4);

  // As `cotrain generate` runs on the CPU: weights packed for oneDNN (model/layers.h), other fp32
  // kernels, the same greedy tokens.
  ASSERT_EQ(model->pack_for_inference(settings.batch_size), at::hasMKLDNN());
  if (at::hasMKLDNN()) {
    for (const auto& c : test::generate_all(model, *tokenizer, prompts, settings)) {
      EXPECT_EQ(c.tokens, expected["generated"][c.prompt].get<std::vector<std::int64_t>>()) << "packed, prompt " << c.prompt << ": " << c.text;
    }
  }

  std::size_t texts = 0;
  for (const auto& row : expected["tokenizer"]) {
    auto ids = tokenizer->encode(row["text"].get<std::string>());
    EXPECT_EQ(std::vector<std::int64_t>(ids.begin(), ids.end()), row["ids"].get<std::vector<std::int64_t>>()) << row["text"];
    ++texts;
  }
  EXPECT_GE(texts, 100u);
  if (GetParam().starts_with("smollm2")) {  // its vocabulary lacks some byte tokens; HF drops those bytes
    EXPECT_GT(tokenizer->missing_byte_tokens(), 0u);
    EXPECT_GT(tokenizer->dropped_bytes(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Converted, RealModels, ::testing::Values("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"));

}  // namespace
}  // namespace cotrain
