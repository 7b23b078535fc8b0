// The decoding chain of LiveCodeBench's private_test_cases: base64 -> zlib -> pickle of a str.
// Only the pickle opcodes that a pickled str can contain are understood (protocols 2-5:
// PROTO, FRAME, SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, MEMOIZE, BINPUT, LONG_BINPUT, STOP);
// anything else is refused, so a pickle can never make us do more than copy a string.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace cotrain {

// The most one field's tests may inflate to: more could not be judged anyway (the harness loads
// them as JSON inside the sandbox's 4 GiB address space), and a 2 MB zlib bomb stops here.
inline constexpr std::size_t kMaxInflatedBytes = std::size_t{512} << 20;

std::string base64_decode(std::string_view text);   // throws InputError on a bad character or length
std::string zlib_inflate(std::string_view bytes);   // throws InputError on corrupt data or past kMaxInflatedBytes
std::string unpickle_string(std::string_view bytes);  // throws InputError on anything but a pickled str

// base64_decode -> zlib_inflate -> unpickle_string.
std::string decode_compressed_tests(std::string_view text);

}  // namespace cotrain
