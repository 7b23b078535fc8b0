#include "cotrain/tokenizer/tokenizer.h"

#include "cotrain/core/error.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
#include "cotrain/tokenizer/parallel.h"
#include "cotrain/tokenizer/sentencepiece_tokenizer.h"

namespace cotrain {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "tokenizer.json")) return std::make_unique<BpeTokenizer>(path / "tokenizer.json");
    if (fs::exists(path / "tokenizer.model")) return std::make_unique<SentencePieceTokenizer>(path / "tokenizer.model");
    fail_input("no tokenizer.json or tokenizer.model in directory {}", path.string());
  }
  if (!fs::exists(path)) fail_input("tokenizer file not found, {}", path.string());
  if (path.extension() == ".json") return std::make_unique<BpeTokenizer>(path);
  if (path.extension() == ".model") return std::make_unique<SentencePieceTokenizer>(path);
  fail_input("unknown tokenizer file type (expected tokenizer.json, a .model file or a directory), {}", path.string());
}

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(const std::vector<std::string>& texts, int threads,
                                                          bool parse_special) const {
  std::vector<std::vector<TokenId>> results(texts.size());
  parallel_for(texts.size(), threads, [&](std::size_t i) { results[i] = encode(texts[i], parse_special); });
  return results;
}

}  // namespace cotrain
