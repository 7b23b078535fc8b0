#include "cotrain/data/token_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace fs = std::filesystem;

namespace cotrain {

static_assert(std::endian::native == std::endian::little, "the token cache is little-endian");

TokenCacheWriter::TokenCacheWriter(const fs::path& dir)
    : dir_(dir), ids_(dir / "ids.bin", std::ios::binary | std::ios::trunc),
      mask_(dir / "mask.bin", std::ios::binary | std::ios::trunc) {
  if (!ids_ || !mask_) fail_runtime("cannot write the token cache in {}", dir.string());
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
  if (!ids_ || !mask_ || !offsets) fail_runtime("write error in the token cache {} (disk full?)", dir_.string());
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
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_input("token cache {}: cannot open {}", path.parent_path().string(), path.filename().string());
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      fail_runtime("cannot stat {}", path.string());
    }
    size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      data = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (data == MAP_FAILED) {
        ::close(fd);
        fail_runtime("cannot map {}", path.string());
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
  fs::path manifest_path = dir / "manifest.json";
  if (!fs::exists(manifest_path)) fail_input("{} is not a token cache (no manifest.json)", dir.string());
  try {
    std::ifstream in(manifest_path, std::ios::binary);
    cache.manifest_ = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail_input("token cache {}: bad manifest.json ({})", dir.string(), e.what());
  }
  const auto& m = cache.manifest_;
  if (!m.is_object() || m.value("format", "") != kTokenCacheFormat) {
    fail_input("{} is not a token cache (manifest.json format is not '{}')", dir.string(), kTokenCacheFormat);
  }
  if (m.value("version", 0) != kTokenCacheVersion) {
    fail_input("token cache {} has version {}, this cotrain reads version {} (prepare it again)", dir.string(),
               m.value("version", 0), kTokenCacheVersion);
  }
  cache.ids_map_ = std::make_unique<Mapping>(dir / "ids.bin");
  cache.mask_map_ = std::make_unique<Mapping>(dir / "mask.bin");
  cache.offsets_map_ = std::make_unique<Mapping>(dir / "offsets.bin");
  std::size_t offsets_bytes = cache.offsets_map_->size;
  if (offsets_bytes < sizeof(std::int64_t) || offsets_bytes % sizeof(std::int64_t) != 0) {
    fail_input("token cache {}: offsets.bin has {} bytes, not a whole number of int64 entries", dir.string(), offsets_bytes);
  }
  cache.offsets_ = static_cast<const std::int64_t*>(cache.offsets_map_->data);
  cache.documents_ = offsets_bytes / sizeof(std::int64_t) - 1;
  cache.tokens_ = cache.offsets_[cache.documents_];
  if (cache.offsets_[0] != 0) fail_input("token cache {}: offsets.bin does not start at 0", dir.string());
  for (std::size_t i = 0; i < cache.documents_; ++i) {
    if (cache.offsets_[i + 1] <= cache.offsets_[i]) {
      fail_input("token cache {}: document {} is empty or out of order in offsets.bin", dir.string(), i);
    }
  }
  auto tokens = static_cast<std::size_t>(cache.tokens_);
  if (cache.ids_map_->size != tokens * sizeof(TokenId) || cache.mask_map_->size != tokens) {
    fail_input("token cache {}: ids.bin ({} bytes) and mask.bin ({} bytes) do not hold the {} tokens offsets.bin "
               "gives (truncated or mixed files)", dir.string(), cache.ids_map_->size, cache.mask_map_->size, tokens);
  }
  if (m.contains("counts") && m["counts"].value("documents", std::size_t{0}) != cache.documents_) {
    fail_input("token cache {}: manifest.json says {} documents, offsets.bin holds {}", dir.string(),
               m["counts"].value("documents", std::size_t{0}), cache.documents_);
  }
  cache.ids_ = static_cast<const TokenId*>(cache.ids_map_->data);
  cache.mask_ = static_cast<const std::uint8_t*>(cache.mask_map_->data);
  return cache;
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
