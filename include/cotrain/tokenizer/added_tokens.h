// Finds added tokens ("<|im_end|>", "<think>") written in text: leftmost match first and, among
// matches at the same place, the longest, as HF's added-vocabulary matcher does.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

class AddedTokenMatcher {
 public:
  struct Piece {
    std::string_view text;  // the matched token's text, or plain text between matches
    TokenId id;             // -1 for plain text
  };

  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<std::pair<std::string, TokenId>> tokens);

  bool empty() const { return count_ == 0; }
  // TEXT cut into plain runs and matched tokens, in order (empty runs left out).
  std::vector<Piece> split(std::string_view text) const;

 private:
  std::array<std::vector<std::pair<std::string, TokenId>>, 256> by_first_byte_;  // longest first
  std::size_t count_ = 0;
};

}  // namespace cotrain
