// Encoding arbitrary text with a tokenizer that has NFC and overlapping added tokens (special and
// not, normalised and raw). Checks the round trip: decode(encode(x)) is x as the model sees it
// (valid UTF-8, NFC outside the added tokens), and every id is a token.
#include <nlohmann/json.hpp>

#include "cotrain/tokenizer/tokenizer.h"
#include "cotrain/tokenizer/unicode.h"
#include "fuzz_support.h"

using namespace cotrain;
using nlohmann::json;

namespace {

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> loaded = [] {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[unicode::byte_to_char()[b]] = b;
    vocab["ab"] = 256;
    vocab["abc"] = 257;
    vocab["\u0120ab"] = 258;
    json added = json::array();
    int id = 259;
    for (auto [content, special, normalized] : {std::tuple{"<|end|>", true, false}, {"<|end|>x", true, false},
                                                {"<tool>", false, false}, {"<to", false, true}, {"\u00e9t\u00e9", false, true},
                                                {"<|", true, false}, {"a", false, false}}) {
      added.push_back({{"id", id++}, {"content", content}, {"special", special}, {"normalized", normalized}});
    }
    json t = {{"added_tokens", added},
              {"normalizer", {{"type", "NFC"}}},
              {"pre_tokenizer",
               {{"type", "Sequence"},
                {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}|\s+|[^\s\p{L}\p{N}]+)"}}},
                                                {"behavior", "Isolated"}, {"invert", false}},
                                               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", "ab c", "\u0120 ab"})}}}};
    return Tokenizer::load(fuzz::write_file(t.dump(), "encode-tokenizer.json"));
  }();
  return *loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool parse_special = data[0] & 1;
  std::string_view text = fuzz::as_text(data + 1, size - 1);
  std::vector<TokenId> ids = tokenizer().encode(text, parse_special);
  for (TokenId id : ids)
    if (id < 0 || static_cast<std::size_t>(id) >= tokenizer().vocab_size()) std::abort();
  std::string storage;
  std::string expected = tokenizer().normalize(unicode::valid_utf8(text, storage));
  if (parse_special && tokenizer().decode(ids) != expected) {
    std::fprintf(stderr, "round trip differs: %zu ids\n", ids.size());
    std::abort();
  }
  return 0;
}
