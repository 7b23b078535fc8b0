// What every fuzz target shares: inputs that only exist as files are written to a scratch file
// (in /dev/shm when there is one), and the one outcome allowed besides success is InputError.
// Any other exception aborts, which libFuzzer reports as a finding, like a crash, a timeout
// (> 1 s per input) or memory past the limit (-rss_limit_mb=2048). See docs/robustness.md.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "cotrain/core/error.h"

namespace cotrain::fuzz {

inline std::filesystem::path scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("cotrain-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_file(std::string_view bytes, const std::string& name) {
  auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Runs FN; InputError is the documented answer to bad input, anything else is a bug.
template <class Fn>
void expect_only_input_errors(Fn&& fn) {
  try {
    fn();
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    std::abort();
  }
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace cotrain::fuzz
