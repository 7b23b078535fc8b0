// Encoding arbitrary text with a tokenizer that has NFC and overlapping added tokens (special and
// not, normalised and raw). Checks the round trip: decode(encode(x)) is x as the model sees it
// (valid UTF-8, NFC outside the added tokens), and every id is a token.
#include <nlohmann/json.hpp>

#include "common/tiny_tokenizer.h"
#include "cotrain/tokenizer/tokenizer.h"
#include "cotrain/tokenizer/unicode.h"
#include "fuzz_support.h"

using namespace cotrain;
using nlohmann::json;

namespace {

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> loaded = [] {
    json t = test::tiny_tokenizer_json(false, {{"<|end|>", true, false}, {"<|end|>x", true, false}, {"<tool>", false, false},
                                               {"<to", false, true}, {"\u00e9t\u00e9", false, true}, {"<|", true, false},
                                               {"a", false, false}});
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
