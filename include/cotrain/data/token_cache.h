// The token cache made by `cotrain data prepare`: rendered samples as flat binary arrays that
// training memory-maps, plus manifest.json saying exactly what they were made from.
//
//   DIR/ids.bin        int32 little-endian token ids, all documents back to back
//   DIR/mask.bin       uint8 per token, 1 = a training target
//   DIR/offsets.bin    int64 little-endian, documents + 1 entries: document i is [offsets[i], offsets[i+1])
//   DIR/manifest.json  inputs, tokenizer, template, settings, counts, length histogram (docs/data.md)
//   DIR/rejects.jsonl  only with --on-error skip and bad lines: {"file", "line", "reason", "text"}
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/data/packing.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

inline constexpr const char* kTokenCacheFormat = "cotrain-token-cache";
inline constexpr int kTokenCacheVersion = 2;  // 2: "tokenizer" lists every tokenizer file
inline constexpr const char* kTokenCacheKind = "token-cache";  // its AtomicDir kind

// Appends documents to the three arrays in DIR (a fresh directory, normally AtomicDir's).
class TokenCacheWriter {
 public:
  explicit TokenCacheWriter(const std::filesystem::path& dir);
  void add(std::span<const TokenId> ids, std::span<const std::uint8_t> mask);
  void finish();  // writes offsets.bin and checks every write

  std::size_t documents() const { return offsets_.size() - 1; }
  std::int64_t tokens() const { return offsets_.back(); }
  std::int64_t target_tokens() const { return target_tokens_; }
  const std::vector<std::int64_t>& offsets() const { return offsets_; }

 private:
  std::filesystem::path dir_;
  std::ofstream ids_, mask_;
  std::vector<std::int64_t> offsets_{0};
  std::int64_t target_tokens_ = 0;
};

// Documents per power-of-two length bucket: {"edges": [0, 256, 512, ..., 32768, 65536], "counts"},
// counts[i] = documents with edges[i] <= length < edges[i + 1] (the last bucket is open).
nlohmann::ordered_json length_histogram(const std::vector<std::int64_t>& offsets);

// A memory-mapped cache. Opening checks the manifest's format and that the arrays' sizes agree
// with each other; anything else throws InputError naming the cache and what is wrong.
class TokenCache {
 public:
  static TokenCache open(const std::filesystem::path& dir);
  ~TokenCache();
  TokenCache(TokenCache&&) noexcept;
  TokenCache& operator=(TokenCache&&) noexcept;

  std::size_t size() const { return documents_; }  // number of documents
  std::int64_t tokens() const { return tokens_; }
  std::int64_t length(std::size_t doc) const { return offsets_[doc + 1] - offsets_[doc]; }
  std::vector<std::int64_t> lengths() const;  // for plan_packing
  std::span<const TokenId> ids(std::size_t doc) const;
  std::span<const std::uint8_t> mask(std::size_t doc) const;
  DocumentView document(std::size_t doc) const { return {ids(doc), mask(doc)}; }
  const nlohmann::ordered_json& manifest() const { return manifest_; }
  // The tokenizer it was made with, as the manifest records it (its directory when it was read
  // from a model directory); empty when the manifest does not say.
  std::filesystem::path tokenizer_path() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Mapping;
  TokenCache() = default;
  std::filesystem::path dir_;
  nlohmann::ordered_json manifest_;
  std::unique_ptr<Mapping> ids_map_, mask_map_, offsets_map_;
  const TokenId* ids_ = nullptr;
  const std::uint8_t* mask_ = nullptr;
  const std::int64_t* offsets_ = nullptr;
  std::size_t documents_ = 0;
  std::int64_t tokens_ = 0;
};

}  // namespace cotrain
