// A tiny hand-made byte-level BPE tokenizer.json, shared by the tokenizer tests and the fuzz
// targets: bytes 0-255 are ids 0-255, then "ab" = 256, "abc" = 257, "Ġab" = 258 (merges a+b,
// ab+c, Ġ+ab, as "a b" strings or ["a", "b"] pairs), NFC, a Split + ByteLevel pre-tokenizer, and
// the given added tokens with ids from 259.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cotrain/tokenizer/unicode.h"

namespace cotrain::test {

struct AddedToken {
  std::string content;
  bool special, normalized;
};

inline nlohmann::json tiny_tokenizer_json(bool pair_merges, const std::vector<AddedToken>& added) {
  using nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[unicode::byte_to_char()[b]] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab["\u0120ab"] = 258;
  json merges = pair_merges ? json::array({json::array({"a", "b"}), json::array({"ab", "c"}), json::array({"\u0120", "ab"})})
                            : json::array({"a b", "ab c", "\u0120 ab"});
  json added_tokens = json::array();
  for (std::size_t i = 0; i < added.size(); ++i) {
    added_tokens.push_back({{"id", 259 + static_cast<int>(i)}, {"content", added[i].content}, {"special", added[i].special},
                            {"normalized", added[i].normalized}});
  }
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added_tokens},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}|\s+|[^\s\p{L}\p{N}]+)"}}},
                                        {"behavior", "Isolated"}, {"invert", false}},
                                       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", false}}},
  };
}

}  // namespace cotrain::test
