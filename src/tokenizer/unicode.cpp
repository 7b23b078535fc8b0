#include "cotrain/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>

namespace cotrain::unicode {
namespace {

// Length of the valid sequence starting at s[i], or -(length of its maximal invalid subpart).
int sequence_length(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -k;
    auto c = static_cast<unsigned char>(s[i + k]);
    bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return -k;
  }
  return need + 1;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    int n = sequence_length(text, i);
    if (n < 0) return false;
    i += n;
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    int n = sequence_length(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += -n;
    }
  }
  return out;
}

std::string_view valid_utf8(std::string_view text, std::string& storage) {
  if (is_valid_utf8(text)) return text;
  storage = repair_utf8(text);
  return storage;
}

std::string nfc(std::string_view text) {
  // Composition never joins across a following ASCII character (none is a second element of a
  // composition, none decomposes), so only each non-ASCII run plus the character before it is
  // passed to utf8proc.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t run = i;
    while (run < text.size() && static_cast<unsigned char>(text[run]) < 0x80) ++run;
    if (run == text.size()) {
      out.append(text.substr(i));
      break;
    }
    std::size_t start = run > i ? run - 1 : run;
    out.append(text.substr(i, start - i));
    std::size_t end = run;
    while (end < text.size() && static_cast<unsigned char>(text[end]) >= 0x80) ++end;
    utf8proc_uint8_t* mapped = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + start), end - start, &mapped,
                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {  // cannot happen on valid UTF-8; keep the text rather than lose it
      out.append(text.substr(start, end - start));
    } else {
      out.append(reinterpret_cast<const char*>(mapped), n);
    }
    std::free(mapped);
    i = end;
  }
  return out;
}

const std::array<std::string, 256>& byte_to_char() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      char32_t c = printable ? b : next++;
      utf8proc_uint8_t buf[4];
      auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
      t[b].assign(reinterpret_cast<char*>(buf), n);
    }
    return t;
  }();
  return table;
}

bool chars_to_bytes(std::string_view token, std::string& bytes) {
  // The map's characters are all below U+0200: a table indexed by code point, -1 where unmapped.
  static const std::array<int, 0x200> reverse = [] {
    std::array<int, 0x200> r;
    r.fill(-1);
    for (int b = 0; b < 256; ++b) {
      int len;
      r[decode_at(byte_to_char()[b], 0, len)] = b;
    }
    return r;
  }();
  std::size_t mark = bytes.size();
  for (std::size_t i = 0; i < token.size();) {
    int len;
    char32_t c = decode_at(token, i, len);
    if (c >= reverse.size() || reverse[c] < 0) {
      bytes.resize(mark);
      return false;
    }
    bytes.push_back(static_cast<char>(reverse[c]));
    i += len;
  }
  return true;
}

bool is_space(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E: case 0x1F:
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

char32_t decode_at(std::string_view text, std::size_t i, int& length) {
  utf8proc_int32_t c = 0;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                            static_cast<utf8proc_ssize_t>(text.size() - i), &c);
  length = n > 0 ? static_cast<int>(n) : 1;
  return n > 0 ? static_cast<char32_t>(c) : 0xFFFD;
}

}  // namespace cotrain::unicode
