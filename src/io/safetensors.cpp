#include "cotrain/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {
namespace {

// The reference implementation refuses larger headers; so do we (it also bounds allocation).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::vector<std::int64_t> parse_shape(const nlohmann::json& shape, const std::string& file, const std::string& name) {
  if (!shape.is_array()) fail_input("{}: tensor '{}': shape is not a list", file, name);
  std::vector<std::int64_t> dims;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) fail_input("{}: tensor '{}': shape entry {} is not a non-negative integer", file, name, d.dump());
    std::uint64_t v = d.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail_input("{}: tensor '{}': shape entry too large", file, name);
    dims.push_back(static_cast<std::int64_t>(v));
  }
  return dims;
}

// numel * element size, or an error when it overflows 64 bits.
std::uint64_t byte_count(const std::vector<std::int64_t>& shape, std::size_t elem, const std::string& file, const std::string& name) {
  std::uint64_t n = elem;
  for (auto d : shape) {
    if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(d)) {
      fail_input("{}: tensor '{}': shape overflows", file, name);
    }
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
}

// Counts the keys of the top-level object (nlohmann's callback parser would do it, but scans an
// object's members each time one of them ends: quadratic in the number of tensors).
struct TopLevelKeys : nlohmann::json_sax<nlohmann::json> {
  std::size_t keys = 0;
  int depth = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_object() override { return --depth, true; }
  bool end_array() override { return --depth, true; }
  bool key(string_t&) override { return keys += depth == 1, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

}  // namespace

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(std::string_view header_json, std::uint64_t buffer_size, const std::string& file) {
  check_json_depth(header_json, file);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(header_json);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input("{}: bad safetensors header JSON (byte {})", file, e.byte);
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for 64 bits
    fail_input("{}: bad safetensors header JSON ({})", file, json_error_text(e));
  }
  if (!root.is_object()) fail_input("{}: safetensors header is not a JSON object", file);
  // nlohmann's object keeps one value per key, so a duplicated name would vanish silently: count
  // the top-level keys in a second, event-only pass and compare with the object's size.
  TopLevelKeys counter;
  nlohmann::json::sax_parse(header_json, &counter);
  if (counter.keys != root.size()) fail_input("{}: duplicate tensor names in header", file);
  if (!root.is_object()) fail_input("{}: safetensors header is not a JSON object", file);

  SafetensorsHeader header;
  for (auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail_input("{}: __metadata__ is not an object", file);
      for (auto& [k, v] : value.items()) {
        if (!v.is_string()) fail_input("{}: __metadata__ value for '{}' is not a string", file, k);
        header.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) fail_input("{}: tensor '{}': entry is not an object", file, name);
    auto dtype_it = value.find("dtype"), shape_it = value.find("shape"), off_it = value.find("data_offsets");
    if (dtype_it == value.end() || shape_it == value.end() || off_it == value.end()) {
      fail_input("{}: tensor '{}': needs dtype, shape and data_offsets", file, name);
    }
    if (!dtype_it->is_string()) fail_input("{}: tensor '{}': dtype is not a string", file, name);
    auto dtype = parse_dtype(dtype_it->get<std::string>());
    if (!dtype) fail_input("{}: tensor '{}': unsupported dtype '{}'", file, name, dtype_it->get<std::string>());
    if (!off_it->is_array() || off_it->size() != 2 || !(*off_it)[0].is_number_unsigned() || !(*off_it)[1].is_number_unsigned()) {
      fail_input("{}: tensor '{}': data_offsets must be two non-negative integers", file, name);
    }
    TensorInfo info{name, *dtype, parse_shape(*shape_it, file, name), (*off_it)[0].get<std::uint64_t>(), (*off_it)[1].get<std::uint64_t>()};
    if (info.end < info.begin) fail_input("{}: tensor '{}': data_offsets end before begin", file, name);
    std::uint64_t expected = byte_count(info.shape, dtype_size(info.dtype), file, name);
    if (info.end - info.begin != expected) {
      fail_input("{}: tensor '{}': {} bytes in data_offsets but shape and dtype need {}", file, name, info.end - info.begin, expected);
    }
    header.tensors.push_back(std::move(info));
  }

  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  for (const auto& t : header.tensors) {
    if (t.begin != cursor) {
      fail_input("{}: tensor '{}': data_offsets [{}, {}) {} (expected to start at {})", file, t.name, t.begin, t.end,
                 t.begin < cursor ? "overlap the previous tensor" : "leave a gap", cursor);
    }
    cursor = t.end;
  }
  if (cursor != buffer_size) {
    fail_input("{}: tensors cover {} bytes but the data buffer has {}{}", file, cursor, buffer_size,
               cursor > buffer_size ? " (file truncated?)" : "");
  }
  return header;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::uint64_t size = 0;
  int fd = open_input_fd(path, &size);
  std::shared_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->path_ = path;
  if (size < 8) {
    ::close(fd);
    fail_input("{}: {} bytes, too short for a safetensors header", file, size);
  }
  // MAP_PRIVATE: copy-on-write, so a tensor viewing the mapping can be trained in place.
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail_runtime("{}: cannot map ({})", file, std::strerror(errno));
  result->mapping_ = map;
  result->mapping_size_ = size;

  std::uint64_t header_len = 0;
  std::memcpy(&header_len, map, 8);  // little-endian on every platform we build for
  if (header_len > kMaxHeaderBytes) fail_input("{}: header length {} exceeds the 100 MB limit", file, header_len);
  if (header_len > size - 8) fail_input("{}: header length {} is longer than the file ({} bytes)", file, header_len, size);
  auto* bytes = static_cast<std::byte*>(map);
  std::string_view json(reinterpret_cast<const char*>(bytes + 8), header_len);
  result->header_ = parse_safetensors_header(json, size - 8 - header_len, file);
  result->buffer_ = bytes + 8 + header_len;
  for (std::size_t i = 0; i < result->header_.tensors.size(); ++i) result->index_[result->header_.tensors[i].name] = i;
  return result;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_) munmap(mapping_, mapping_size_);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorEntry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), entries_(std::move(entries)) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : entries_) {
    if (header.contains(t.name)) fail_input("{}: tensor '{}' written twice", path.string(), t.name);
    sizes_.push_back(byte_count(t.shape, dtype_size(t.dtype), path.string(), t.name));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + sizes_.back()}}};
    offset += sizes_.back();
  }
  std::string json = header.dump();
  json.append((8 - (8 + json.size()) % 8) % 8, ' ');  // data starts 8-byte aligned
  out_ = std::make_unique<AtomicFile>(path, /*binary=*/true);
  std::uint64_t len = json.size();
  out_->stream().write(reinterpret_cast<const char*>(&len), 8);
  out_->stream().write(json.data(), static_cast<std::streamsize>(json.size()));
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write(const std::string& name, const void* data, std::size_t nbytes) {
  if (next_ == entries_.size()) fail_input("{}: tensor '{}' is not in the header", path_.string(), name);
  const auto& entry = entries_[next_];
  if (name != entry.name) fail_input("{}: tensor '{}' given where the header has '{}' next", path_.string(), name, entry.name);
  if (nbytes != sizes_[next_]) fail_input("{}: tensor '{}': {} bytes given, shape needs {}", path_.string(), name, nbytes, sizes_[next_]);
  out_->stream().write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
  ++next_;
}

void SafetensorsWriter::commit() {
  if (next_ != entries_.size()) fail_input("{}: tensor '{}' was never written", path_.string(), entries_[next_].name);
  out_->commit();
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorEntry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter out(path, std::move(entries), metadata);
  for (const auto& t : tensors) out.write(t.name, t.data, t.nbytes);
  out.commit();
}

}  // namespace cotrain
