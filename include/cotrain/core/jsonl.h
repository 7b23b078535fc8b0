// JSON Lines in and out. Readers name the file and line of anything malformed; writers go to
// a file that appears only when complete (see atomic_file.h) or to stdout.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace cotrain {

// Calls fn(value, line_number) for each non-blank line of PATH ("-" reads stdin). A line that is
// not valid JSON throws InputError "PATH:LINE: bad JSON (...)". Line numbers start at 1.
void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(nlohmann::json& value, std::size_t line)>& fn);

// The whole file, in order.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path);

// The whole file as bytes; errors name the file (a directory, unreadable).
std::string read_text_file(const std::filesystem::path& path);

// Parses one whole JSON file; errors name the file.
nlohmann::json read_json_file(const std::filesystem::path& path);

// "PATH:LINE" as used in error messages.
std::string where(const std::filesystem::path& path, std::size_t line);

}  // namespace cotrain
