// cotrain data synth: small verifiable Sky-T1-format traces and a held-out benchmark.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/data/synth.h"
#include "data_commands.h"

namespace fs = std::filesystem;

namespace cotrain::cli {
namespace {

struct SynthArgs {
  std::string out, bench;
  std::size_t n = 1000, bench_n = 100;
  std::uint64_t seed = 0;
};

void run_synth(const SynthArgs& args) {
  std::error_code ec;
  if (!args.bench.empty() && fs::weakly_canonical(args.out, ec) == fs::weakly_canonical(args.bench, ec)) {
    fail_input("--bench: {} is the same file as --out", args.bench);
  }
  SynthSet set = synth_set(args.n, args.bench.empty() ? 0 : args.bench_n, args.seed);
  // Both files are complete before either appears.
  AtomicFile traces(args.out);
  for (const auto& problem : set.train) traces.stream() << synth_trace_record(problem).dump() << '\n';
  std::unique_ptr<AtomicFile> bench;
  if (!args.bench.empty()) {
    bench = std::make_unique<AtomicFile>(args.bench);
    for (std::size_t i = 0; i < set.bench.size(); ++i) bench->stream() << synth_bench_record(set.bench[i], i).dump() << '\n';
  }
  traces.commit();
  if (bench) bench->commit();
  spdlog::info("wrote {} traces to {}{}", set.train.size(), args.out,
               bench ? fmt::format(" and {} benchmark problems to {}", set.bench.size(), args.bench) : "");
}

}  // namespace

void add_data_synth_command(CLI::App& data) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* cmd = data.add_subcommand("synth", "Write small verifiable long-CoT traces (Sky-T1 format) and a benchmark");
  cmd->add_option("--out", args->out, "trace JSONL to write")->required();
  cmd->add_option("--n", args->n, "number of traces")->check(CLI::Range(std::size_t{1}, kMaxSynthProblems))->capture_default_str();
  cmd->add_option("--seed", args->seed, "random seed")->capture_default_str();
  cmd->add_option("--bench", args->bench, "also write held-out problems with gold answers (math500 fields) here");
  cmd->add_option("--bench-n", args->bench_n, "number of benchmark problems")->check(CLI::Range(std::size_t{1}, kMaxSynthProblems))->capture_default_str();
  cmd->callback([args] { run_synth(*args); });
}

}  // namespace cotrain::cli
