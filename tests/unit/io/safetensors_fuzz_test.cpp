// Randomised fuzzing of the header parser, bounded in time: mutated valid headers and random
// bytes must give either a parsed header or an InputError, never another exception or a crash.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "cotrain/core/error.h"
#include "cotrain/io/safetensors.h"

namespace cotrain {
namespace {

const char* kSeeds[] = {
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
    R"({"x":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
    R"({})",
};

std::string mutate(std::string s, std::mt19937_64& rng) {
  static const std::string alphabet = "{}[]\":,0123456789-eE.aFI \\u\x01\xff";
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0: if (!s.empty() && pos < s.size()) s.erase(pos, 1 + rng() % 3); break;
      case 1: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      case 2: if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()]; break;
      case 3: s.insert(pos, std::to_string(rng() % 2 ? rng() : rng() % 64)); break;
    }
  }
  return s;
}

TEST(SafetensorsFuzz, HeaderParserOnlyEverThrowsInputError) {
  std::mt19937_64 rng(1234);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  long runs = 0, accepted = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string header = mutate(kSeeds[rng() % 3], rng);
    std::uint64_t buffer = rng() % 3 == 0 ? rng() : rng() % 64;
    try {
      auto parsed = parse_safetensors_header(header, buffer, "fuzz.safetensors");
      ++accepted;
      std::uint64_t covered = 0;  // whatever is accepted must be internally consistent
      for (const auto& t : parsed.tensors) {
        ASSERT_EQ(t.begin, covered);
        covered = t.end;
      }
      ASSERT_EQ(covered, buffer);
    } catch (const InputError&) {
    }
    ++runs;
  }
  EXPECT_GT(runs, 1000);
  RecordProperty("runs", std::to_string(runs));
  RecordProperty("accepted", std::to_string(accepted));
}

}  // namespace
}  // namespace cotrain
