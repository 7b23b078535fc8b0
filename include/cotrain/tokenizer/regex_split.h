// HF's Split pre-tokenizer (behaviour "Isolated"): a PCRE2 pattern, JIT-compiled, in UTF + UCP
// mode so \p{L}, \s and case-insensitive groups follow Unicode as the Oniguruma regexes in HF do.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

class RegexSplit {
 public:
  // LITERAL: the pattern is a plain string (HF's {"String": ...}). A bad pattern throws
  // InputError naming FIELD.
  RegexSplit(const std::string& pattern, bool literal, const std::string& field);
  ~RegexSplit();
  RegexSplit(RegexSplit&&) noexcept;
  RegexSplit& operator=(RegexSplit&&) noexcept;

  // Appends the pieces of TEXT (valid UTF-8) to OUT: every match and every stretch between matches.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

}  // namespace cotrain
