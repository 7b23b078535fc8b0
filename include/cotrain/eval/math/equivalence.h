// Are two answers the same? Compares parsed trees (expr.h): exact rationals first, then numbers
// with a tolerance, then expressions with variables at seeded random points; tuples in order,
// sets and answer lists in any order, intervals by endpoints and brackets, matrices cell by cell,
// "x = 3" against "3", ± as two answers. Deterministic and bounded: no input throws or hangs.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cotrain/eval/math/expr.h"
#include "cotrain/eval/math/extract.h"

namespace cotrain {

struct Verdict {
  bool equal = false;
  std::string reason;  // which check decided, e.g. "exact value", "numeric 1e-4", "text differs"
};

// A normalised answer parsed for comparison (named assignments "p=5, q=2" become one tuple);
// nullopt when it is not math.
std::optional<Node> prepare_answer(std::string_view normalized);

// Structural comparison of two prepared answers.
Verdict equivalent(const Node& gold, const Node& pred);

// Compares two normalised answer strings (normalize.h), parsing them where possible.
// gold_percent / pred_percent: the raw answer carried a percent sign, so x, x/100 and 100x match.
Verdict equivalent_answers(std::string_view gold, std::string_view pred, bool percent = false);

struct Grade {
  bool equal = false;
  std::string reason;
  std::string gold_answer, pred_answer;  // as extracted
  std::string gold_normalized, pred_normalized;
  std::string extraction;  // how the prediction's answer was found
};

// Grades a raw prediction (a model response or an answer) against a gold answer. With
// extract_gold the gold is extracted the same way (for gold fields that hold whole solutions).
Grade grade(std::string_view gold, std::string_view prediction, bool extract_gold = true, const ExtractOptions& options = {});

}  // namespace cotrain
