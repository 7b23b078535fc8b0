// ../shared/answer-vectors/normalization.jsonl: every vector exactly. Each row names the reference
// function it came from; the matching cotrain function is applied.
#include <gtest/gtest.h>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/math/extract.h"
#include "cotrain/eval/math/normalize.h"

namespace cotrain {
namespace {

TEST(NormalizationVectors, AllMatchExactly) {
  COTRAIN_SHARED_FILE(path, "answer-vectors/normalization.jsonl");
  int rows = 0;
  for_each_jsonl(path, [&](nlohmann::json& row, std::size_t line) {
    ++rows;
    const std::string function = row.at("function"), input = row.at("input"), expected = row.at("expected");
    std::string got;
    if (function == "strip_answer_string") {
      got = normalize_answer(input);
    } else if (function.rfind("extract_answer", 0) == 0) {
      got = normalize_answer(extract_answer(input).answer);
    } else if (row.at("config").value("units", false)) {
      got = remove_units(remove_text_units(input));
    } else if (row.at("config").value("boxed", "") == "all") {
      got = last_boxed(input).value_or("");
    } else {
      FAIL() << "line " << line << ": no cotrain function for " << function;
    }
    EXPECT_EQ(got, expected) << "line " << line << " (" << function << "): input '" << input << "'";
  });
  EXPECT_EQ(rows, 27);
}

}  // namespace
}  // namespace cotrain
