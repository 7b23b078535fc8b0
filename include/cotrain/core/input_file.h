// Every input file is opened through here, so one rule holds everywhere: an input is a readable
// regular file (or "-", standard input, where a command reads streams). A FIFO, a device or a
// socket would block or never end, a directory or a symbolic-link loop is a mistake: each is an
// InputError naming the path. Sizes are checked before anything is allocated.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace cotrain {

// Limits on what one input may make cotrain hold (docs/robustness.md).
inline constexpr std::uint64_t kMaxLineBytes = 1ull << 30;          // one JSONL line
inline constexpr std::uint64_t kMaxJsonFileBytes = 64ull << 20;     // config.json, manifests, indexes
inline constexpr std::uint64_t kMaxTokenizerFileBytes = 1ull << 30;  // tokenizer.json

// Throws InputError unless PATH names an existing regular file; returns its size.
std::uint64_t check_input_file(const std::filesystem::path& path);

// An open stream on the regular file PATH (binary).
std::ifstream open_input_file(const std::filesystem::path& path);

// A read-only descriptor (O_CLOEXEC) on the regular file PATH, opened without blocking even if
// the path is swapped for a FIFO in between; the caller closes it. *size receives its size.
int open_input_fd(const std::filesystem::path& path, std::uint64_t* size = nullptr);

// The whole file; a file larger than MAX_BYTES is an InputError naming the limit.
std::string read_input_file(const std::filesystem::path& path, std::uint64_t max_bytes = UINT64_MAX);

}  // namespace cotrain
