#include "cotrain/eval/code/problems.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/code/compressed_tests.h"

namespace cotrain {
namespace {

using nlohmann::json;

std::string string_field(const json& row, const char* name, const std::string& at, bool required = true) {
  auto it = row.find(name);
  if (it == row.end() || it->is_null()) {
    if (required) fail_input("{}: missing field \"{}\"", at, name);
    return "";
  }
  if (!it->is_string()) fail_input("{}: field \"{}\" is not a string", at, name);
  return it->get<std::string>();
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

// contest_date "2024-05-12T00:00:00" against a bound "2024-05-12" compares by the date part.
bool in_window(const std::string& date, const ProblemFilter& f) {
  std::string day = date.substr(0, 10);
  std::string until = f.until;
  if (!f.release.empty()) {
    std::string end = release_end_date(f.release);
    if (until.empty() || end < until) until = end;
  }
  return (f.since.empty() || day >= f.since) && (until.empty() || day <= until);
}

}  // namespace

std::vector<CodeTest> CodeProblem::all_tests() const {
  std::vector<CodeTest> tests = public_tests;
  tests.insert(tests.end(), private_tests.begin(), private_tests.end());
  return tests;
}

std::string release_end_date(const std::string& release) {
  static const std::map<std::string, std::string> ends = {
      {"v1", "2024-03-31"}, {"v2", "2024-05-31"}, {"v3", "2024-07-31"},
      {"v4", "2024-09-30"}, {"v5", "2025-01-31"}, {"v6", "2025-04-30"}};
  std::string key = release.rfind("release_", 0) == 0 ? release.substr(8) : release;
  auto it = ends.find(key);
  if (it == ends.end()) fail_input("--release {}: unknown LiveCodeBench release (expected v1..v6)", release);
  return it->second;
}

std::vector<CodeTest> parse_test_cases(const std::string& field, const std::string& where) {
  json list;
  std::size_t start = field.find_first_not_of(" \t\r\n");
  bool plain_json = start != std::string::npos && field[start] == '[';
  try {
    list = parse_json(plain_json ? field : decode_compressed_tests(field), "test cases");
  } catch (const InputError& e) {
    fail_input("{}: {}", where, e.what());
  }
  if (!list.is_array()) fail_input("{}: test cases are not a list", where);
  std::vector<CodeTest> tests;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    std::string at = fmt::format("{}[{}]", where, i);
    if (!t.is_object()) fail_input("{}: test case is not an object", at);
    CodeTest test{string_field(t, "input", at), string_field(t, "output", at)};
    std::string type = string_field(t, "testtype", at);
    if (type != "stdin" && type != "functional") fail_input("{}: unknown testtype \"{}\"", at, type);
    test.functional = type == "functional";
    tests.push_back(std::move(test));
  }
  return tests;
}

std::vector<CodeProblem> load_problems(const std::filesystem::path& path, const ProblemFilter& filter) {
  if (!filter.release.empty()) release_end_date(filter.release);  // reject a bad name before reading
  std::vector<CodeProblem> problems;
  for_each_jsonl(path, [&](json& row, std::size_t line) {
    std::string at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    CodeProblem p;
    p.question_id = string_field(row, "question_id", at);
    p.platform = string_field(row, "platform", at);
    p.difficulty = string_field(row, "difficulty", at);
    p.contest_date = string_field(row, "contest_date", at);
    if (!in_window(p.contest_date, filter) || !contains(filter.difficulties, p.difficulty) ||
        !contains(filter.platforms, p.platform))
      return;  // filtered out before the (large) private tests are decoded
    p.question_title = string_field(row, "question_title", at, false);
    p.question_content = string_field(row, "question_content", at, false);
    p.contest_id = string_field(row, "contest_id", at, false);
    p.starter_code = string_field(row, "starter_code", at, false);
    std::string metadata = string_field(row, "metadata", at, false);
    if (!metadata.empty()) {
      json meta = parse_json(metadata, at + ": field \"metadata\"");
      if (!meta.is_object()) fail_input("{}: field \"metadata\" is not a JSON object", at);
      if (meta.contains("func_name") && meta["func_name"].is_string()) p.func_name = meta["func_name"];
    }
    p.public_tests = parse_test_cases(string_field(row, "public_test_cases", at), at + ": public_test_cases");
    std::string private_tests = string_field(row, "private_test_cases", at, false);
    if (!private_tests.empty()) p.private_tests = parse_test_cases(private_tests, at + ": private_test_cases");
    // No test would pass every program.
    if (p.public_tests.empty() && p.private_tests.empty()) fail_input("{}: problem {} has no test cases", at, p.question_id);
    problems.push_back(std::move(p));
  });
  return problems;
}

}  // namespace cotrain
