#include "cotrain/eval/math/benchmarks.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/math/extract.h"
#include "cotrain/eval/registry.h"

namespace cotrain {
namespace {

using nlohmann::json;

const json& field(const json& row, const char* name, const std::string& at) {
  auto it = row.find(name);
  if (it == row.end()) fail_input("{}: missing field \"{}\"", at, name);
  return *it;
}

// Strings as they are; numbers without a spurious ".0" (AMC23 writes 27.0).
std::string text_of(const json& value, const char* name, const std::string& at) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    return value.dump();
  }
  fail_input("{}: field \"{}\" is not a string or number", at, name);
}

std::string optional_text(const json& row, const char* name, const std::string& at) {
  auto it = row.find(name);
  return it == row.end() || it->is_null() ? std::string() : text_of(*it, name, at);
}

}  // namespace

const std::vector<std::string>& math_benchmark_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& b : benchmark_registry())
      if (b.kind == BenchmarkKind::Math) out.push_back(b.name);
    return out;
  }();
  return names;
}

std::string math_prompt(const Problem& problem) { return "Return your final response within \\boxed{}. " + problem.question; }

bool is_math_benchmark(const std::string& name) {
  const auto& names = math_benchmark_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::filesystem::path benchmark_path(const std::string& name, const std::string& data_file, const std::string& data_dir) {
  if (!data_file.empty()) return data_file;
  std::filesystem::path dir;
  if (!data_dir.empty()) {
    dir = data_dir;
  } else if (const char* env = std::getenv("COTRAIN_DATA"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    dir = std::filesystem::path(home ? home : ".") / ".cache" / "cotrain" / "benchmarks";
  }
  return dir / name / "test.jsonl";
}

Benchmark load_benchmark(const std::string& name, const std::filesystem::path& path) {
  if (!is_math_benchmark(name)) fail_input("--bench {}: unknown math benchmark", name);
  if (!std::filesystem::exists(path))
    fail_input("{}: benchmark file not found (give --data-dir, --data or COTRAIN_DATA; scripts/download_benchmarks.sh fetches it)",
               path.string());
  Benchmark b;
  b.name = name;
  b.path = path;
  b.id_field = name == "math500" ? "unique_id" : name == "minerva_math" ? "idx" : "id";
  for_each_jsonl(path, [&](json& row, std::size_t line) {
    std::string at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    Problem p;
    p.id = optional_text(row, b.id_field.c_str(), at);
    p.question = optional_text(row, row.contains("problem") ? "problem" : "question", at);
    if (name == "olympiadbench") {
      const json& answers = field(row, "final_answer", at);
      if (!answers.is_array() || answers.empty()) fail_input("{}: field \"final_answer\" is not a non-empty list", at);
      for (std::size_t k = 0; k < answers.size(); ++k) p.gold += (k ? ", " : "") + text_of(answers[k], "final_answer", at);
      p.answer_type = optional_text(row, "answer_type", at);
    } else if (name == "minerva_math") {
      auto boxed = last_boxed(text_of(field(row, "solution", at), "solution", at));
      if (!boxed) fail_input("{}: field \"solution\" has no \\boxed{{}} answer", at);
      p.gold = *boxed;
      p.subject = optional_text(row, "type", at);
    } else {
      p.gold = text_of(field(row, "answer", at), "answer", at);
      if (name == "math500") {
        p.level = optional_text(row, "level", at);
        p.subject = optional_text(row, "subject", at);
      }
    }
    b.problems.push_back(std::move(p));
  });
  if (b.problems.empty()) fail_input("{}: no problems", path.string());
  return b;
}

}  // namespace cotrain
