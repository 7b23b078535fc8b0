// Finds added tokens ("<|im_end|>", "<think>") written in text: leftmost match first and, among
// matches at the same place, the longest, as HF's added-vocabulary matcher does.
#pragma once
#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<std::pair<std::string, TokenId>> tokens);

  // Walks TEXT in order: on_token(id, token_text) for each match, on_text(run) for each non-empty
  // stretch between matches.
  void visit(std::string_view text, const std::function<void(TokenId, std::string_view)>& on_token,
             const std::function<void(std::string_view)>& on_text) const;

 private:
  std::array<std::vector<std::pair<std::string, TokenId>>, 256> by_first_byte_;  // longest first
  std::size_t count_ = 0;
};

}  // namespace cotrain
