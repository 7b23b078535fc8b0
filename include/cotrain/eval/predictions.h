// Reading predictions files, the same way for every benchmark: one JSON object per line with
// "response": "..." or "responses": [...] and a key naming the problem. The first line for a
// problem counts; a later one is a duplicate, a line for no problem of the set is unknown: both
// are counted (with the first few places named) and reported, never silently dropped. Problems
// without a line are missing and score 0: accuracy and pass@k are over all problems asked for.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cotrain {

struct Predictions {
  std::vector<std::vector<std::string>> responses;  // by problem; empty = missing
  std::size_t duplicates = 0, unknown = 0;
  std::vector<std::string> duplicate_examples, unknown_examples;  // "FILE:LINE (key)", at most 5
};

// PROBLEM_OF(row, at, label) returns the row's problem index (nullopt: unknown) and sets LABEL
// to the key as written; it throws InputError for a row without a usable key.
using ProblemOf = std::function<std::optional<std::size_t>(const nlohmann::json& row, const std::string& at, std::string& label)>;

Predictions read_predictions(const std::filesystem::path& path, std::size_t problems, const ProblemOf& problem_of);

}  // namespace cotrain
