#include "cotrain/eval/code/extract_code.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cotrain
