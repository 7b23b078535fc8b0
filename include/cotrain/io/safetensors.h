// safetensors files: strict header validation, memory-mapped reading (tensors point into the
// mapping, no copy), and atomic writing. Torch-free: model/ turns views into tensors.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cotrain/io/dtype.h"

namespace cotrain {

class AtomicFile;

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // byte offsets into the data buffer (after the header)
  std::int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
};

// Validates HEADER_JSON against a data buffer of BUFFER_SIZE bytes: JSON shape, known dtypes,
// non-negative shapes without overflow, end - begin == numel * dtype size, offsets contiguous
// from 0 covering the whole buffer, no duplicate names. Errors (InputError) name FILE and the tensor.
SafetensorsHeader parse_safetensors_header(std::string_view header_json, std::uint64_t buffer_size,
                                           const std::string& file);

class SafetensorsFile {
 public:
  // Maps the file copy-on-write: tensors may be modified in memory, never on disk.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr when absent
  std::byte* data(const TensorInfo& info) const { return buffer_ + info.begin; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, std::size_t> index_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::byte* buffer_ = nullptr;
};

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
};

// A file written a tensor at a time, so that a writer holds one tensor's bytes, not the file's (a
// checkpoint's state gathered group by group): the header of ENTRIES first (padded so data starts
// 8-byte aligned, tensors in the given order), then write() each one's bytes in that order. The
// file appears atomically at commit(); destroyed before, it leaves nothing. A name out of order, a
// byte count that does not match the entry's shape and dtype, or a commit() with entries unwritten
// is an InputError naming the file and the tensor.
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorEntry> entries,
                    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
  ~SafetensorsWriter();
  void write(const std::string& name, const void* data, std::size_t nbytes);
  void commit();

 private:
  std::filesystem::path path_;
  std::vector<TensorEntry> entries_;
  std::vector<std::uint64_t> sizes_;
  std::size_t next_ = 0;
  std::unique_ptr<AtomicFile> out_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const void* data;
  std::size_t nbytes;
};

// The whole file at once through SafetensorsWriter.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace cotrain
