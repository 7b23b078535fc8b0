// The parts of a long-CoT response that stats and perturbations look at: the thought section,
// its blank-line-separated steps, reflection keywords and the final \boxed{} answer.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

// Byte range of the text between <|begin_of_thought|> and <|end_of_thought|> (Sky-T1), or
// between <think> and </think> (R1). A missing end marker means the section runs to the end.
struct TextRange {
  std::size_t begin = 0, end = 0;
};
std::optional<TextRange> find_thought(std::string_view response);

// A thought split into steps: text == lead + steps[0] + separators[0] + steps[1] + ... + trail.
// A separator is a run of whitespace holding at least two newlines (a blank line); lead and
// trail are the whitespace before the first and after the last step.
struct Steps {
  std::string lead, trail;
  std::vector<std::string> steps;
  std::vector<std::string> separators;  // steps.size() - 1 of them (none when there are no steps)
  std::string join() const;
};
Steps split_steps(std::string_view thought);

// wait, alternatively, however, but, hmm, let me, double-check, verify
const std::vector<std::string>& default_reflection_keywords();

// Occurrences of the keywords: ASCII case-insensitive, whole words (no ASCII letter, digit or
// '_' right before or after), left to right without overlaps, longer keywords tried first.
struct KeywordMatch {
  std::size_t begin = 0, end = 0;
  std::size_t keyword = 0;  // index into the keyword list
};
std::vector<KeywordMatch> find_keywords(std::string_view text, const std::vector<std::string>& keywords);
// How often each keyword occurs (find_keywords' matches counted per keyword).
std::vector<std::size_t> count_keywords(std::string_view text, const std::vector<std::string>& keywords);

// The numbers the paper's code corrupts: matches of \b\d+(\.\d+)?\b with ASCII word characters
// (letters, digits, '_'), so the 2 of "x2" or "2x" is not a number and "7.5x" yields "7".
std::vector<TextRange> find_numbers(std::string_view text);

// The final \boxed{} answer is found with the grader's own finder (eval/math/extract.h), so a
// perturbation and the benchmark agree on what "the answer" is.

}  // namespace cotrain
