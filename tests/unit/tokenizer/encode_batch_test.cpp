// encode_batch on several threads gives exactly the single-threaded results.
#include <gtest/gtest.h>

#include "common/shared_data.h"
#include "loaded_tokenizers.h"

namespace cotrain {
namespace {

TEST(EncodeBatch, ThreadsGiveSameIdsAsOneByOne) {
  COTRAIN_SHARED_FILE(file, "tokenizers/qwen3/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    texts.push_back("Problem " + std::to_string(i * 7919) + ": 你好 <|im_end|> \u0645\u0631\u062d\u0628\u0627 " +
                    std::string(i % 37, ' ') + std::string(i % 5, '\n') + "x^" + std::to_string(i) + " caf\u00e9" +
                    std::string(i % 3 ? "" : "\xFF") + std::string(i % 11 * 50, 'a'));
  }
  std::vector<std::vector<TokenId>> expected;
  for (const auto& text : texts) expected.push_back(tokenizer.encode(text));
  for (int threads : {0, 1, 2, 7}) {
    EXPECT_EQ(tokenizer.encode_batch(texts, threads), expected) << threads << " threads";
  }
  std::vector<std::vector<TokenId>> plain;
  for (const auto& text : texts) plain.push_back(tokenizer.encode(text, false));
  EXPECT_EQ(tokenizer.encode_batch(texts, 3, false), plain);
  EXPECT_TRUE(tokenizer.encode_batch({}, 4).empty());
}

}  // namespace
}  // namespace cotrain
