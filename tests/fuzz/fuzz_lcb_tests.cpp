// LiveCodeBench test cases: plain JSON text, or base64 -> zlib -> pickle of it (the private tests).
// The first byte chooses whether the rest is taken as the field itself or as raw bytes that get
// base64-encoded first, so the fuzzer reaches zlib and the pickle reader directly.
#include <zlib.h>

#include "cotrain/eval/code/compressed_tests.h"
#include "cotrain/eval/code/problems.h"
#include "fuzz_support.h"

using namespace cotrain;

namespace {

std::string base64(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += alphabet[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | (i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) << 8 : 0);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::as_text(data + 1, size - 1);
  std::string field;
  switch (data[0] % 3) {
    case 0: field = std::string(rest); break;          // the field as written in the JSONL row
    case 1: field = base64(rest); break;               // zlib + pickle bytes
    default: {                                         // a pickle, compressed here
      uLongf bound = compressBound(rest.size());
      std::string z(bound, '\0');
      compress(reinterpret_cast<Bytef*>(z.data()), &bound, reinterpret_cast<const Bytef*>(rest.data()), rest.size());
      z.resize(bound);
      field = base64(z);
    }
  }
  fuzz::expect_only_input_errors([&] {
    for (const CodeTest& t : parse_test_cases(field, "row:1: private_test_cases")) (void)t.input.size();
  });
  return 0;
}
