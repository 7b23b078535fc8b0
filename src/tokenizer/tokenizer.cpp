#include "cotrain/tokenizer/tokenizer.h"

#include "cotrain/core/error.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
#include "cotrain/core/parallel.h"
#include "cotrain/tokenizer/sentencepiece_tokenizer.h"

namespace cotrain {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    const fs::path json = path / "tokenizer.json", model = path / "tokenizer.model";
    if (fs::exists(json) && !fs::exists(model)) return std::make_unique<BpeTokenizer>(json);
    if (fs::exists(json)) {
      // Llama-2 and Mistral ship a tokenizer.json this loader refuses (byte fallback, Metaspace)
      // beside the sentencepiece model it is converted from: use the model then.
      try {
        return std::make_unique<BpeTokenizer>(json);
      } catch (const InputError&) {
        return std::make_unique<SentencePieceTokenizer>(model);
      }
    }
    if (fs::exists(model)) return std::make_unique<SentencePieceTokenizer>(model);
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
