// `cotrain data stats` against scripts/reference/data_reference.py: the same numbers from Python's
// regular expressions, numpy-free counting and transformers' apply_chat_template on 300 varied
// records written by the script (not by these tests).
#include <gtest/gtest.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/data/reasoning.h"
#include "cotrain/data/stats.h"
#include "unit/tokenizer/loaded_tokenizers.h"

namespace cotrain {
namespace {

const std::filesystem::path kReference = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "data_reference";

TEST(StatsParity, MatchesThePythonReference) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  std::ifstream in(kReference / "expected.json");
  ASSERT_TRUE(in) << "missing " << kReference << " (run ctest: fixture reference.data_reference)";
  nlohmann::json expected = nlohmann::json::parse(in);

  const Tokenizer& tok = test::loaded_tokenizer(tok_path);
  ChatTemplate qwen = ChatTemplate::by_name("qwen2.5");
  DataStats stats = trace_file_stats(kReference / "traces.jsonl", TraceFormat::automatic, default_reflection_keywords(),
                                     16384, {&tok, &qwen, 2});
  EXPECT_EQ(stats.samples, expected["samples"].get<std::size_t>());
  EXPECT_EQ(stats.responses.responses(), expected["responses"].get<std::size_t>());
  ASSERT_TRUE(stats.lengths);
  EXPECT_EQ(*stats.lengths, expected["lengths"].get<std::vector<std::int64_t>>());
  const auto& keywords = stats.responses.keywords();
  for (std::size_t k = 0; k < keywords.size(); ++k) {
    EXPECT_DOUBLE_EQ(stats.responses.keyword_mean(k), expected["keywords"][keywords[k]].get<double>()) << keywords[k];
  }
  EXPECT_DOUBLE_EQ(stats.responses.keywords_total_mean(), expected["keywords_total"].get<double>());
  EXPECT_EQ(stats.responses.with_thought(), expected["responses_with_thought"].get<std::size_t>());
  EXPECT_DOUBLE_EQ(stats.responses.steps_mean(), expected["steps_per_trace"].get<double>());
  EXPECT_DOUBLE_EQ(stats.responses.boxed_share(), expected["boxed_share"].get<double>());
}

}  // namespace
}  // namespace cotrain
