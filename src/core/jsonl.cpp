#include "cotrain/core/jsonl.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "cotrain/core/error.h"

namespace cotrain {

std::string where(const std::filesystem::path& path, std::size_t line) {
  return fmt::format("{}:{}", path.string(), line);
}

void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(nlohmann::json&, std::size_t)>& fn) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    if (std::filesystem::is_directory(path)) fail_input("{} is a directory, expected a JSONL file", path.string());
    file.open(path, std::ios::binary);
    if (!file) fail_input("cannot open {}", path.string());
    in = &file;
  }
  std::string text;
  std::size_t line = 0;
  while (std::getline(*in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      fail_input("{}: bad JSON (byte {})", where(path, line), e.byte);
    }
    fn(value, line);
  }
  if (in->bad()) fail_runtime("read error in {}", path.string());
}

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::vector<nlohmann::json> rows;
  for_each_jsonl(path, [&](nlohmann::json& v, std::size_t) { rows.push_back(std::move(v)); });
  return rows;
}

std::string read_text_file(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) fail_input("{} is a directory, expected a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("cannot open {}", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail_runtime("read error in {}", path.string());
  return std::move(text).str();
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("cannot open {}", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input("bad JSON in {} (byte {})", path.string(), e.byte);
  }
}

}  // namespace cotrain
