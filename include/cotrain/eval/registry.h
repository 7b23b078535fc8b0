// Every benchmark cotrain evaluates, and which checker grades it: the one list the CLI and the
// library read.
#pragma once
#include <string>
#include <vector>

namespace cotrain {

enum class BenchmarkKind { Math, Code };

struct BenchmarkInfo {
  std::string name;
  BenchmarkKind kind;
};

const std::vector<BenchmarkInfo>& benchmark_registry();
// The AtomicDir kind of every evaluation's --out directory (core/atomic_file.h).
inline constexpr const char* kEvalOutputKind = "eval";
// The registered names joined with ", " (for help texts and errors).
std::string benchmark_names_text();
// NAME's entry; InputError listing the known names otherwise.
const BenchmarkInfo& find_benchmark(const std::string& name);

}  // namespace cotrain
