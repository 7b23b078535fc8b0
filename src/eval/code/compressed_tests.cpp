#include "cotrain/eval/code/compressed_tests.h"

#include <zlib.h>

#include <array>
#include <cstdint>
#include <vector>

#include "cotrain/core/error.h"

namespace cotrain {

std::string base64_decode(std::string_view text) {
  static const std::array<int, 256> value = [] {
    std::array<int, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = i;
    return v;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int nbits = 0, padding = 0;
  std::size_t symbols = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || c == '\r') continue;
    ++symbols;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (value[c] < 0 || padding) fail_input("bad base64 character at byte {}", i);
    bits = (bits << 6) | static_cast<std::uint32_t>(value[c]);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xff));
    }
  }
  if (symbols % 4 != 0 || padding > 2) fail_input("bad base64 length ({} symbols)", symbols);
  return out;
}

std::string zlib_inflate(std::string_view bytes) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) fail_runtime("zlib inflateInit failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  std::array<char, 1 << 16> chunk;
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - stream.avail_out);
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended before the stream did
    if (out.size() > kMaxInflatedBytes) {
      inflateEnd(&stream);
      fail_input("zlib data inflates to more than {} bytes", kMaxInflatedBytes);
    }
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) fail_input("corrupt zlib data ({})", stream.msg ? stream.msg : "truncated");
  return out;
}

std::string unpickle_string(std::string_view bytes) {
  std::size_t pos = 0;
  auto need = [&](std::size_t n) {
    if (bytes.size() - pos < n) fail_input("truncated pickle at byte {}", pos);
  };
  auto little_endian = [&](std::size_t n) {
    need(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(bytes[pos + i])) << (8 * i);
    pos += n;
    return v;
  };
  std::vector<std::string> stack;
  while (true) {
    need(1);
    std::size_t at = pos;
    unsigned char op = static_cast<unsigned char>(bytes[pos++]);
    switch (op) {
      case 0x80: {  // PROTO
        std::uint64_t protocol = little_endian(1);
        if (protocol < 2 || protocol > 5) fail_input("unsupported pickle protocol {}", protocol);
        break;
      }
      case 0x95:  // FRAME: only a length hint
        little_endian(8);
        break;
      case 0x8c:    // SHORT_BINUNICODE
      case 'X':     // BINUNICODE
      case 0x8d: {  // BINUNICODE8
        std::uint64_t n = little_endian(op == 0x8c ? 1 : op == 'X' ? 4 : 8);
        need(n);
        stack.emplace_back(bytes.substr(pos, n));
        pos += n;
        break;
      }
      case 0x94:  // MEMOIZE
        break;
      case 'q':  // BINPUT
        little_endian(1);
        break;
      case 'r':  // LONG_BINPUT
        little_endian(4);
        break;
      case '.':  // STOP
        if (stack.size() != 1) fail_input("pickle does not hold exactly one string");
        return std::move(stack.back());
      default:
        fail_input("unsupported pickle opcode 0x{:02x} at byte {} (only a pickled str is accepted)", op, at);
    }
  }
}

std::string decode_compressed_tests(std::string_view text) {
  return unpickle_string(zlib_inflate(base64_decode(text)));
}

}  // namespace cotrain
