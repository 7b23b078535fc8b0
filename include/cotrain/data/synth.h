// Small verifiable long-CoT traces in the Sky-T1 format (multi-step arithmetic word problems with
// blank-line separated steps, a "Wait, let me check" reflection and a \boxed{} answer), and a
// held-out benchmark of new problems with gold answers. The default data of the README's demo.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cotrain/data/trace.h"

namespace cotrain {

// The system prompt of the synthetic traces (shaped like Sky-T1's: think in a thought section,
// then answer in a solution section).
const std::string& synth_system_prompt();

struct SynthProblem {
  std::string problem;   // the question, without the "Return your final response..." prefix
  std::string response;  // <|begin_of_thought|> steps <|end_of_thought|> <|begin_of_solution|> ... \boxed{answer} ...
  std::string answer;    // the gold answer (an integer)
};

// Problem number INDEX of the run seeded with SEED (each index has its own random stream).
SynthProblem synth_problem(std::uint64_t seed, std::uint64_t index);

// A Sky-T1 ShareGPT record: {"system", "conversations": [{"from": "user"}, {"from": "assistant"}]}.
Json synth_trace_record(const SynthProblem& problem);
// A math500-like benchmark record: {"problem", "answer", "solution", "unique_id"}.
Json synth_bench_record(const SynthProblem& problem, std::size_t index);

// The most problems one set may ask for (train or bench): there are a few million distinct ones.
inline constexpr std::size_t kMaxSynthProblems = 1'000'000;

struct SynthSet {
  std::vector<SynthProblem> train, bench;  // no bench problem text appears in train
};
// Counts above kMaxSynthProblems are an InputError; polls stop_requested() (Interrupted).
SynthSet synth_set(std::size_t train_count, std::size_t bench_count, std::uint64_t seed);

}  // namespace cotrain
