// The math benchmarks: math500, aime24, amc23, olympiadbench, minerva_math, read from JSONL in the
// formats of their public releases (docs/eval.md lists each one's fields).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace cotrain {

struct Problem {
  std::string id;                // the benchmark's own id (unique_id, id or idx)
  std::string question;          // the problem statement ("problem", or "question")
  std::string gold;              // the gold answer as written
  std::string level, subject;    // MATH500
  std::string answer_type;       // OlympiadBench: Numerical, Expression, Tuple, Interval
};

struct Benchmark {
  std::string name;
  std::string id_field;  // the field predictions may use instead of the row number
  std::filesystem::path path;
  std::vector<Problem> problems;
};

const std::vector<std::string>& math_benchmark_names();
bool is_math_benchmark(const std::string& name);

// SkyThought's math prompt: "Return your final response within \boxed{}. " + the question.
std::string math_prompt(const Problem& problem);

// Where NAME's file is: DATA_FILE if given, else DATA_DIR/NAME/test.jsonl, else
// $COTRAIN_DATA/NAME/test.jsonl, else ~/.cache/cotrain/benchmarks/NAME/test.jsonl.
std::filesystem::path benchmark_path(const std::string& name, const std::string& data_file, const std::string& data_dir);

// Throws InputError naming the file, line and field for anything malformed.
Benchmark load_benchmark(const std::string& name, const std::filesystem::path& path);

}  // namespace cotrain
