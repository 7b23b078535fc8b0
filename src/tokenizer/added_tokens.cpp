#include "cotrain/tokenizer/added_tokens.h"

#include <algorithm>

namespace cotrain {

AddedTokenMatcher::AddedTokenMatcher(std::vector<std::pair<std::string, TokenId>> tokens) {
  for (auto& token : tokens) {
    if (token.first.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(token.first[0])].push_back(std::move(token));
    ++count_;
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
}

void AddedTokenMatcher::visit(std::string_view text, const std::function<void(TokenId, std::string_view)>& on_token,
                              const std::function<void(std::string_view)>& on_text) const {
  std::size_t plain_start = 0;
  for (std::size_t i = 0; count_ > 0 && i < text.size();) {
    const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[i])];
    const std::pair<std::string, TokenId>* hit = nullptr;
    for (const auto& candidate : candidates) {
      if (text.compare(i, candidate.first.size(), candidate.first) == 0) {
        hit = &candidate;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > plain_start) on_text(text.substr(plain_start, i - plain_start));
    on_token(hit->second, text.substr(i, hit->first.size()));
    i += hit->first.size();
    plain_start = i;
  }
  if (plain_start < text.size()) on_text(text.substr(plain_start));
}

}  // namespace cotrain
