#include "cotrain/eval/code/extract_code.h"

#include <gtest/gtest.h>

#include "cotrain/eval/pass_at_k.h"

namespace cotrain {
namespace {

TEST(ExtractCode, LastFencedBlockWithAnyLanguageTag) {
  EXPECT_EQ(extract_last_code_block("a\n```python\nx = 1\n```\nb\n```py\ny = 2\nprint(y)\n```\nend"), "y = 2\nprint(y)\n");
  EXPECT_EQ(extract_last_code_block("```\nplain\n```"), "plain\n");
  EXPECT_EQ(extract_last_code_block("  ```cpp\nint x;\n  ```"), "int x;\n");
}

TEST(ExtractCode, UnterminatedLastFenceRunsToTheEnd) {
  EXPECT_EQ(extract_last_code_block("```python\nx = 1\n```\nthen\n```python\ny = 2\nz = 3"), "y = 2\nz = 3\n");
}

TEST(ExtractCode, NoFenceMeansNoCode) {
  EXPECT_EQ(extract_last_code_block("print(1)"), "");
  EXPECT_EQ(extract_last_code_block(""), "");
  EXPECT_EQ(extract_last_code_block("inline ``` is not a fence line"), "");
}

TEST(PassAtK, MatchesTheClosedForm) {
  EXPECT_DOUBLE_EQ(pass_at_k(10, 0, 1), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 3, 1), 0.3);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 10, 5), 1.0);
  // 1 - C(7,5)/C(10,5) = 1 - 21/252
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 2, 3), 1.0);  // fewer failures than k: some draw must pass
}

}  // namespace
}  // namespace cotrain
