// Finding the final answer in a model response (or a gold solution).
//
// Order (docs/eval.md): the answer section of a Sky-T1 response (<|begin_of_solution|> ... or the
// text after </think>); then the last \boxed{...} / \boxed X / \fbox{...} (several boxes joined by
// a short "and"/"," separator count as one list answer); then "final answer is $X$. I hope"
// (Minerva); "the answer is X" / "final answer is X" / "Answer: X"; the whole text when it is short
// and reads like an answer; the last $...$, \(...\) or \[...\] span; the last number.
// A "final answer is $X$. I hope" sentence after the last box wins over the box. Strict mode stops
// after the boxes.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

struct Extraction {
  std::string answer;  // empty when nothing was found
  std::string method;  // "boxed", "minerva", "answer_is", "whole", "math_span", "last_number", "none"
};

// The part of a response that holds the answer: inside <|begin_of_solution|>...<|end_of_solution|>
// when present, else after the last </think>, else all of it.
std::string_view answer_section(std::string_view response);

// A \boxed{...}, \fbox{...} or `\boxed X` in a text. An unbalanced box runs to the end of the
// text, as the reference graders read it.
struct Box {
  std::size_t start, end;                  // [start, end) of the whole box
  std::size_t content_begin, content_end;  // [begin, end) of what is inside
  std::string content;
  bool closed = true;                      // false: "\boxed{" whose brace never closes
};

// Every box in TEXT, in order.
std::vector<Box> find_boxes(std::string_view text);

// The contents of the last \boxed{}/\fbox{} (balanced braces) or `\boxed X`; nullopt if none.
std::optional<std::string> last_boxed(std::string_view text);

// The last box together with earlier boxes that are separated from it only by a connector
// ("and", ",", "\quad"): "\boxed{1} and \boxed{2}" gives "1, 2".
std::optional<std::string> boxed_answer(std::string_view text);

struct ExtractOptions {
  bool strict = false;         // boxed answers only
  bool last_number = true;     // the last number in the text as the final fallback
};

Extraction extract_answer(std::string_view response, const ExtractOptions& options = {});

}  // namespace cotrain
