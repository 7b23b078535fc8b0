#include "cotrain/data/token_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <optional>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"

namespace fs = std::filesystem;

namespace cotrain {

static_assert(std::endian::native == std::endian::little, "the token cache is little-endian");

TokenCacheWriter::TokenCacheWriter(const fs::path& dir)
    : dir_(dir), ids_(dir / "ids.bin", std::ios::binary | std::ios::trunc),
      mask_(dir / "mask.bin", std::ios::binary | std::ios::trunc) {
  if (!ids_ || !mask_) fail_runtime("{}: cannot write the token cache", dir.string());
}

void TokenCacheWriter::add(std::span<const TokenId> ids, std::span<const std::uint8_t> mask) {
  ids_.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size_bytes()));
  mask_.write(reinterpret_cast<const char*>(mask.data()), static_cast<std::streamsize>(mask.size()));
  offsets_.push_back(offsets_.back() + static_cast<std::int64_t>(ids.size()));
  for (std::uint8_t m : mask) target_tokens_ += m;
}

void TokenCacheWriter::finish() {
  std::ofstream offsets(dir_ / "offsets.bin", std::ios::binary | std::ios::trunc);
  offsets.write(reinterpret_cast<const char*>(offsets_.data()),
                static_cast<std::streamsize>(offsets_.size() * sizeof(std::int64_t)));
  ids_.flush();
  mask_.flush();
  offsets.flush();
  if (!ids_ || !mask_ || !offsets) fail_runtime("{}: write error in the token cache (disk full?)", dir_.string());
}

nlohmann::ordered_json length_histogram(const std::vector<std::int64_t>& offsets) {
  std::vector<std::int64_t> edges = {0};
  for (std::int64_t e = 256; e <= 65536; e *= 2) edges.push_back(e);
  std::vector<std::int64_t> counts(edges.size(), 0);
  for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
    std::int64_t length = offsets[i + 1] - offsets[i];
    std::size_t bucket = 0;
    while (bucket + 1 < edges.size() && length >= edges[bucket + 1]) ++bucket;
    ++counts[bucket];
  }
  return {{"edges", edges}, {"counts", counts}};
}

// A read-only mapping of a whole file (empty files map to nothing).
struct TokenCache::Mapping {
  void* data = nullptr;
  std::size_t size = 0;

  explicit Mapping(const fs::path& path) {
    std::uint64_t bytes = 0;
    int fd = open_input_fd(path, &bytes);
    size = static_cast<std::size_t>(bytes);
    if (size > 0) {
      data = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (data == MAP_FAILED) {
        ::close(fd);
        fail_runtime("{}: cannot map", path.string());
      }
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data && data != MAP_FAILED) munmap(data, size);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

TokenCache::~TokenCache() = default;
TokenCache::TokenCache(TokenCache&&) noexcept = default;
TokenCache& TokenCache::operator=(TokenCache&&) noexcept = default;

TokenCache TokenCache::open(const fs::path& dir) {
  TokenCache cache;
  cache.dir_ = dir;
  const std::string at = dir.string();
  fs::path manifest_path = dir / "manifest.json";
  if (!fs::exists(manifest_path)) fail_input("{}: not a token cache (no manifest.json)", at);
  cache.manifest_ = read_ordered_json_file(manifest_path);
  const auto& m = cache.manifest_;
  auto integer = [&](const nlohmann::ordered_json& object, const char* key) -> std::optional<std::int64_t> {
    auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    if (!it->is_number_integer()) fail_input("{}: {} is not an integer", manifest_path.string(), key);
    return it->get<std::int64_t>();
  };
  auto format = m.is_object() ? m.find("format") : m.end();
  if (!m.is_object() || format == m.end() || *format != kTokenCacheFormat) {
    fail_input("{}: not a token cache (manifest.json format is not '{}')", at, kTokenCacheFormat);
  }
  if (integer(m, "version") != kTokenCacheVersion) {
    fail_input("{}: token cache version {}, this cotrain reads version {} (prepare it again)", at,
               m.contains("version") ? m["version"].dump() : "none", kTokenCacheVersion);
  }
  cache.ids_map_ = std::make_unique<Mapping>(dir / "ids.bin");
  cache.mask_map_ = std::make_unique<Mapping>(dir / "mask.bin");
  cache.offsets_map_ = std::make_unique<Mapping>(dir / "offsets.bin");
  std::size_t offsets_bytes = cache.offsets_map_->size;
  if (offsets_bytes < sizeof(std::int64_t) || offsets_bytes % sizeof(std::int64_t) != 0) {
    fail_input("{}: offsets.bin has {} bytes, not a whole number of int64 entries", at, offsets_bytes);
  }
  cache.offsets_ = static_cast<const std::int64_t*>(cache.offsets_map_->data);
  cache.documents_ = offsets_bytes / sizeof(std::int64_t) - 1;
  cache.tokens_ = cache.offsets_[cache.documents_];
  if (cache.offsets_[0] != 0) fail_input("{}: offsets.bin does not start at 0", at);
  for (std::size_t i = 0; i < cache.documents_; ++i) {
    if (cache.offsets_[i + 1] <= cache.offsets_[i]) {
      fail_input("{}: offsets.bin: document {} is empty or out of order", at, i);
    }
  }
  auto tokens = static_cast<std::size_t>(cache.tokens_);
  if (cache.ids_map_->size / sizeof(TokenId) != tokens || cache.ids_map_->size % sizeof(TokenId) != 0 ||
      cache.mask_map_->size != tokens) {
    fail_input("{}: ids.bin ({} bytes) and mask.bin ({} bytes) do not hold the {} tokens offsets.bin "
               "gives (truncated or mixed files)", at, cache.ids_map_->size, cache.mask_map_->size, tokens);
  }
  if (auto counts = m.find("counts"); counts != m.end()) {
    if (!counts->is_object()) fail_input("{}: counts is not an object", manifest_path.string());
    auto documents = integer(*counts, "documents");
    if (documents && *documents != static_cast<std::int64_t>(cache.documents_)) {
      fail_input("{}: says {} documents, offsets.bin holds {}", manifest_path.string(), *documents, cache.documents_);
    }
  }
  cache.ids_ = static_cast<const TokenId*>(cache.ids_map_->data);
  cache.mask_ = static_cast<const std::uint8_t*>(cache.mask_map_->data);
  return cache;
}

std::filesystem::path TokenCache::tokenizer_path() const {
  auto files = manifest_.find("tokenizer");
  if (files == manifest_.end() || !files->is_array() || files->empty()) return {};
  const auto& first = (*files)[0];
  auto path = first.is_object() ? first.find("path") : first.end();
  if (path == first.end() || !path->is_string()) return {};
  fs::path file = path->get<std::string>();
  return files->size() > 1 ? file.parent_path() : file;
}

std::vector<std::int64_t> TokenCache::lengths() const {
  std::vector<std::int64_t> out(documents_);
  for (std::size_t i = 0; i < documents_; ++i) out[i] = length(i);
  return out;
}

std::span<const TokenId> TokenCache::ids(std::size_t doc) const {
  return {ids_ + offsets_[doc], static_cast<std::size_t>(length(doc))};
}

std::span<const std::uint8_t> TokenCache::mask(std::size_t doc) const {
  return {mask_ + offsets_[doc], static_cast<std::size_t>(length(doc))};
}

}  // namespace cotrain
