// Loading tokenizer.json: every malformed or hostile file is an InputError naming the field, and a
// file that loads encodes and decodes text.
#include "cotrain/tokenizer/tokenizer.h"
#include "fuzz_support.h"

using namespace cotrain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto path = fuzz::write_file(fuzz::as_text(data, size), "tokenizer.json");
  fuzz::expect_only_input_errors([&] {
    auto tokenizer = Tokenizer::load(path);
    for (const char* text : {"Hello world, 1234 \xC3\xA9t\xC3\xA9!", "<|end|>ab<tool>", "\xFF\xFE broken"}) {
      std::vector<TokenId> ids = tokenizer->add_special_tokens(tokenizer->encode(text));
      for (TokenId id : ids)
        if (id < 0 || static_cast<std::size_t>(id) >= tokenizer->vocab_size()) std::abort();  // ids are tokens
      (void)tokenizer->decode(ids);
    }
  });
  return 0;
}
