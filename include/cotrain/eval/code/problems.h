// LiveCodeBench problems (`livecodebench/code_generation_lite` JSON lines) and the filters that
// pick a release, a contest-date window, difficulties and platforms.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace cotrain {

struct CodeTest {
  std::string input, output;
  bool functional = false;  // testtype "functional" (LeetCode-style call) or "stdin"
};

struct CodeProblem {
  std::string question_id, question_title, question_content, platform, contest_id;
  std::string contest_date;  // ISO, e.g. "2023-08-21T00:00:00"
  std::string starter_code, difficulty;
  std::string func_name;     // from metadata; empty for stdin problems
  std::vector<CodeTest> public_tests, private_tests;

  // Public then private tests: the set lcb_runner judges with.
  std::vector<CodeTest> all_tests() const;
  bool functional() const { return !func_name.empty(); }
};

struct ProblemFilter {
  std::string release;                   // "v1".."v6" (see release_end_date); empty = all
  std::string since, until;              // ISO dates, inclusive; empty = open
  std::vector<std::string> difficulties;  // empty = all
  std::vector<std::string> platforms;     // empty = all
};

// The last contest day of a release ("v2" -> "2024-05-31"); every release starts in May 2023,
// so a release is "contest_date <= its end". Throws InputError for an unknown release.
std::string release_end_date(const std::string& release);

// Reads PATH; errors name the file, line and field. Rows outside the filter are skipped.
std::vector<CodeProblem> load_problems(const std::filesystem::path& path, const ProblemFilter& filter = {});

// The test list of one problem from its JSON-string field: either the JSON text itself or
// base64 -> zlib -> pickle of that text (how private_test_cases ships). `where` names the field.
std::vector<CodeTest> parse_test_cases(const std::string& field, const std::string& where);

}  // namespace cotrain
