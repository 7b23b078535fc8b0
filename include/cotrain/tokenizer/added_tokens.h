// Finds added tokens ("<|im_end|>", "<think>") written in text: leftmost match first and, among
// matches at the same place, the longest, as HF's added-vocabulary matcher (aho-corasick,
// leftmost-longest) does. The tokens live in a trie, so a position costs at most the length of the
// longest token, whatever their number (400k added tokens match as fast as 20).
#pragma once
#include <cstdint>
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
  explicit AddedTokenMatcher(const std::vector<std::pair<std::string, TokenId>>& tokens);

  // Walks TEXT in order: on_token(id, token_text) for each match, on_text(run) for each non-empty
  // stretch between matches.
  void visit(std::string_view text, const std::function<void(TokenId, std::string_view)>& on_token,
             const std::function<void(std::string_view)>& on_text) const;

 private:
  // A trie node: its children are edges_[first, first + count), sorted by byte.
  struct Node {
    std::uint32_t first = 0, count = 0;
    TokenId id = -1;  // the token that ends here, or -1
  };
  struct Edge {
    unsigned char byte;
    std::uint32_t node;
  };
  std::uint32_t child(std::uint32_t node, unsigned char byte) const;  // 0 when absent (0 is the root)
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<bool> starts_;  // by byte: does any token start with it (the common case is a quick no)
};

}  // namespace cotrain
