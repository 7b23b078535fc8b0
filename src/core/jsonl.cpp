#include "cotrain/core/jsonl.h"

#include <iostream>

#include "cotrain/core/signals.h"

namespace cotrain {

std::string where(const std::filesystem::path& path, std::size_t line) {
  return fmt::format("{}:{}", path.string(), line);
}

void check_json_depth(std::string_view text, const std::string& where) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) fail_input("{}: JSON nested deeper than {} levels (byte {})", where, kMaxJsonDepth, i);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    auto close = what.find("] ");
    if (close != std::string_view::npos) what.remove_prefix(close + 2);
  }
  return std::string(what);
}

void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(nlohmann::json&, std::size_t)>& fn) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file = open_input_file(path);
    in = &file;
  }
  std::string text;
  std::size_t line = 0;
  std::streambuf* buf = in->rdbuf();
  for (bool more = true; more;) {
    // One line, without letting it grow past the limit (stdin may be /dev/zero).
    text.clear();
    more = false;
    for (int c; (c = buf->sbumpc()) != std::char_traits<char>::eof();) {
      if (c == '\n') {
        more = true;
        break;
      }
      if (text.size() >= kMaxLineBytes) fail_input("{}: line longer than {} bytes", where(path, line + 1), kMaxLineBytes);
      text.push_back(static_cast<char>(c));
      more = true;
    }
    if (!more) break;
    ++line;
    if ((line & 255) == 0) throw_if_stopped();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json value = parse_json(text, where(path, line));
    fn(value, line);
  }
  throw_if_stopped();
}

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::vector<nlohmann::json> rows;
  for_each_jsonl(path, [&](nlohmann::json& v, std::size_t) { rows.push_back(std::move(v)); });
  return rows;
}

nlohmann::json read_json_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  return parse_json(read_input_file(path, max_bytes), path.string());
}

nlohmann::ordered_json read_ordered_json_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  return parse_json<nlohmann::ordered_json>(read_input_file(path, max_bytes), path.string());
}

}  // namespace cotrain
