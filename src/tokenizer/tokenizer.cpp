#include "cotrain/tokenizer/tokenizer.h"

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/parallel.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
#include "cotrain/tokenizer/sentencepiece_tokenizer.h"

namespace fs = std::filesystem;

namespace cotrain {

std::vector<fs::path> tokenizer_files(const fs::path& path) {
  if (!fs::is_directory(path)) {
    check_input_file(path);
    if (path.extension() != ".json" && path.extension() != ".model") {
      fail_input("{}: unknown tokenizer file type (expected tokenizer.json, a sentencepiece .model or a model directory)",
                 path.string());
    }
    return {path};
  }
  std::vector<fs::path> files;
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::exists(path / name)) files.push_back(path / name);
  }
  if (files.empty()) fail_input("{}: no tokenizer.json or tokenizer.model in this directory", path.string());
  return files;
}

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& path) {
  std::vector<fs::path> files = tokenizer_files(path);
  if (files.size() == 2) {
    // Llama-2 and Mistral ship a tokenizer.json this loader refuses (byte fallback, Metaspace)
    // beside the sentencepiece model it is converted from: use the model then.
    try {
      return std::make_unique<BpeTokenizer>(files[0]);
    } catch (const InputError&) {
      return std::make_unique<SentencePieceTokenizer>(files[1]);
    }
  }
  if (files[0].extension() == ".json") return std::make_unique<BpeTokenizer>(files[0]);
  return std::make_unique<SentencePieceTokenizer>(files[0]);
}

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(const std::vector<std::string>& texts, int threads,
                                                          bool parse_special) const {
  std::vector<std::vector<TokenId>> results(texts.size());
  parallel_for(texts.size(), threads, [&](std::size_t i) { results[i] = encode(texts[i], parse_special); });
  return results;
}

}  // namespace cotrain
