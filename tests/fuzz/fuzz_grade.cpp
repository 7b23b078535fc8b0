// The LaTeX answer parser and grader: gold and prediction are the input split at its first
// newline. Grading never throws, and an answer always equals itself.
#include "cotrain/eval/math/equivalence.h"
#include "cotrain/eval/math/normalize.h"
#include "fuzz_support.h"

using namespace cotrain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  auto newline = text.find('\n');
  std::string_view gold = text.substr(0, newline);
  std::string_view pred = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  Grade g = grade(gold, pred);
  (void)g;
  (void)extract_answer(pred);
  (void)prepare_answer(normalize_answer(pred));
  return 0;
}
