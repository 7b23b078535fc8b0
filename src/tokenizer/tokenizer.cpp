#include "cotrain/tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "cotrain/core/error.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
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
  unsigned workers = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min<std::size_t>(workers, texts.size());
  if (workers <= 1) {
    for (std::size_t i = 0; i < texts.size(); ++i) results[i] = encode(texts[i], parse_special);
    return results;
  }
  // Texts are handed out one at a time so long and short ones balance across threads.
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::jthread> pool;
  for (unsigned w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      try {
        for (std::size_t i; (i = next++) < texts.size();) results[i] = encode(texts[i], parse_special);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = texts.size();
      }
    });
  }
  pool.clear();  // joins
  if (failure) std::rethrow_exception(failure);
  return results;
}

}  // namespace cotrain
