#include "cotrain/tokenizer/added_tokens.h"

#include <algorithm>

namespace cotrain {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<std::pair<std::string, TokenId>>& tokens) {
  // Tokens in byte order (the first of equal texts wins, as in HF) make the trie with one walk:
  // each token shares with the previous one the path of their common prefix.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (!tokens[i].first.empty()) order.push_back(i);
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tokens[a].first < tokens[b].first; });
  struct Link {
    std::uint32_t parent;
    Edge edge;
  };
  std::vector<Link> links;
  nodes_.resize(1);
  std::vector<std::uint32_t> path{0};  // path[d]: the node for the previous token's first d bytes
  std::string_view previous;
  for (std::size_t i : order) {
    std::string_view text = tokens[i].first;
    std::size_t common = 0;
    while (common < text.size() && common < previous.size() && text[common] == previous[common]) ++common;
    path.resize(common + 1);
    for (std::size_t d = common; d < text.size(); ++d) {
      auto node = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
      links.push_back({path.back(), {static_cast<unsigned char>(text[d]), node}});
      path.push_back(node);
    }
    if (nodes_[path.back()].id < 0) nodes_[path.back()].id = tokens[i].second;
    previous = text;
  }
  // Each node's edges side by side (links come in byte order for each parent already).
  std::stable_sort(links.begin(), links.end(), [](const Link& a, const Link& b) { return a.parent < b.parent; });
  edges_.reserve(links.size());
  for (const Link& link : links) {
    Node& parent = nodes_[link.parent];
    if (parent.count == 0) parent.first = static_cast<std::uint32_t>(edges_.size());
    ++parent.count;
    edges_.push_back(link.edge);
  }
  starts_.assign(256, false);
  for (std::uint32_t e = 0; e < nodes_[0].count; ++e) starts_[edges_[e].byte] = true;
}

std::uint32_t AddedTokenMatcher::child(std::uint32_t node, unsigned char byte) const {
  const Node& n = nodes_[node];
  auto begin = edges_.begin() + n.first, end = begin + n.count;
  auto it = std::lower_bound(begin, end, byte, [](const Edge& e, unsigned char b) { return e.byte < b; });
  return it != end && it->byte == byte ? it->node : 0;
}

void AddedTokenMatcher::visit(std::string_view text, const std::function<void(TokenId, std::string_view)>& on_token,
                              const std::function<void(std::string_view)>& on_text) const {
  std::size_t plain_start = 0;
  for (std::size_t i = 0; !nodes_.empty() && i < text.size();) {
    if (!starts_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    // The longest token starting at i: walk down the trie as far as the text follows it.
    TokenId hit = -1;
    std::size_t hit_length = 0;
    std::uint32_t node = 0;
    for (std::size_t j = i; j < text.size() && (node = child(node, static_cast<unsigned char>(text[j]))) != 0; ++j) {
      if (nodes_[node].id >= 0) {
        hit = nodes_[node].id;
        hit_length = j - i + 1;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    if (i > plain_start) on_text(text.substr(plain_start, i - plain_start));
    on_token(hit, text.substr(i, hit_length));
    i += hit_length;
    plain_start = i;
  }
  if (plain_start < text.size()) on_text(text.substr(plain_start));
}

}  // namespace cotrain
