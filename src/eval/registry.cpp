#include "cotrain/eval/registry.h"

#include "cotrain/core/error.h"

namespace cotrain {

const std::vector<BenchmarkInfo>& benchmark_registry() {
  static const std::vector<BenchmarkInfo> registry = {{"math500", BenchmarkKind::Math},       {"aime24", BenchmarkKind::Math},
                                                      {"amc23", BenchmarkKind::Math},         {"olympiadbench", BenchmarkKind::Math},
                                                      {"minerva_math", BenchmarkKind::Math},  {"livecodebench", BenchmarkKind::Code}};
  return registry;
}

std::string benchmark_names_text() {
  std::string out;
  for (const auto& b : benchmark_registry()) out += (out.empty() ? "" : ", ") + b.name;
  return out;
}

const BenchmarkInfo& find_benchmark(const std::string& name) {
  for (const auto& b : benchmark_registry())
    if (b.name == name) return b;
  fail_input("--bench {}: unknown benchmark (known: {})", name, benchmark_names_text());
}

}  // namespace cotrain
