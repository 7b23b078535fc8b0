// Test access to ../shared (real tokenizers, benchmarks, answer vectors) through COTRAIN_SHARED.
// A missing file skips the test, unless COTRAIN_REQUIRE_SHARED=1 (CI), where it fails.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace cotrain::test {

inline std::filesystem::path shared_root() {
  const char* env = std::getenv("COTRAIN_SHARED");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(COTRAIN_SOURCE_DIR) / ".." / "shared";
}

inline bool shared_required() {
  const char* env = std::getenv("COTRAIN_REQUIRE_SHARED");
  return env && std::string(env) == "1";
}

// Where tests write scratch files: a fresh directory per test under the build tree.
inline std::filesystem::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(COTRAIN_BINARY_DIR) / "test-scratch" / info->test_suite_name() / info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace cotrain::test

// Binds VAR to the path of shared/REL, or skips (fails under COTRAIN_REQUIRE_SHARED=1).
#define COTRAIN_SHARED_FILE(var, rel)                                                      \
  const std::filesystem::path var = cotrain::test::shared_root() / (rel);                  \
  if (!std::filesystem::exists(var)) {                                                     \
    if (cotrain::test::shared_required()) FAIL() << "missing shared file " << var;         \
    GTEST_SKIP() << "shared file " << var << " not present (set COTRAIN_SHARED)";          \
  }
