// JSON and JSON Lines in. Every JSON text that enters cotrain is parsed here (or checked here
// first, for parsers with callbacks), so the same limits hold everywhere: nesting at most
// kMaxJsonDepth levels, lines at most kMaxLineBytes, numbers within double range; any violation,
// and any JSON syntax error, is an InputError naming the file and line. Writers go to a file that
// appears only when complete (atomic_file.h) or to stdout.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"

namespace cotrain {

// serde_json's default limit, so anything Hugging Face's Rust loaders read is read here too.
inline constexpr int kMaxJsonDepth = 128;

// "PATH:LINE" as used in error messages.
std::string where(const std::filesystem::path& path, std::size_t line);

// Throws InputError "WHERE: JSON nested deeper than 128 levels" when TEXT nests too deep. Parsers
// that pass nlohmann a callback call this first; parse_json does it itself.
void check_json_depth(std::string_view text, const std::string& where);

// nlohmann's message without its "[json.exception.type_error.302] " prefix.
std::string json_error_text(const nlohmann::json::exception& e);

// Parses TEXT into JSON (nlohmann::json or nlohmann::ordered_json). Errors: InputError
// "WHERE: bad JSON (...)" for syntax and numbers out of range, or the depth error above.
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, const std::string& where) {
  check_json_depth(text, where);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input("{}: bad JSON (byte {})", where, e.byte);
  } catch (const nlohmann::json::exception& e) {  // 1e999: out of range
    fail_input("{}: bad JSON ({})", where, json_error_text(e));
  }
}

// Runs FN (which reads fields of parsed JSON) and turns nlohmann's type and range errors (a field
// of another type than the code expects) into InputError "WHERE: <what>".
template <class Fn>
decltype(auto) with_json_errors(const std::string& where, Fn&& fn) {
  try {
    return fn();
  } catch (const nlohmann::json::exception& e) {
    fail_input("{}: {}", where, json_error_text(e));
  }
}

// Calls fn(value, line_number) for each non-blank line of PATH ("-" reads stdin). A line that is
// not valid JSON throws InputError "PATH:LINE: bad JSON (...)". Line numbers start at 1. Polls
// stop_requested() between lines (Interrupted).
void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(nlohmann::json& value, std::size_t line)>& fn);

// The whole file, in order.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path);

// Parses one whole JSON file (a regular file of at most MAX_BYTES); errors name the file.
nlohmann::json read_json_file(const std::filesystem::path& path, std::uint64_t max_bytes = kMaxJsonFileBytes);
nlohmann::ordered_json read_ordered_json_file(const std::filesystem::path& path,
                                              std::uint64_t max_bytes = kMaxJsonFileBytes);

}  // namespace cotrain
