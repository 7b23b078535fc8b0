// The Unicode pieces every tokenizer needs: UTF-8 repair, NFC, and GPT-2's byte <-> character map.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cotrain::unicode {

// True when TEXT is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// TEXT with each ill-formed sequence replaced by U+FFFD, one per maximal invalid subpart, exactly
// as Python's bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do.
std::string repair_utf8(std::string_view text);

// TEXT itself when it is valid UTF-8, else repair_utf8(TEXT) kept in STORAGE.
std::string_view valid_utf8(std::string_view text, std::string& storage);

// Unicode normalisation form C of valid UTF-8 (utf8proc). ASCII stretches are copied as they are.
std::string nfc(std::string_view text);

// GPT-2's map from each byte to a printable character ("Ġ" for space), as UTF-8 strings.
const std::array<std::string, 256>& byte_to_char();

// Maps the characters of a byte-level token back to bytes. False when a character is outside
// the map (the token is then taken as its own UTF-8, as HF's ByteLevel decoder does).
bool chars_to_bytes(std::string_view token, std::string& bytes);

// Python's str.isspace() for one code point (used where templates call strip()).
bool is_space(char32_t c);

// Code point at text[i] (valid UTF-8) and its length in bytes.
char32_t decode_at(std::string_view text, std::size_t i, int& length);

}  // namespace cotrain::unicode
