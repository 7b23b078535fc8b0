// The paper's trace perturbations (Li et al. 2025, Table 2), seeded and exactly specified so that
// the ablations can be rerun byte for byte. docs/data.md describes each mode.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cotrain/data/reasoning.h"
#include "cotrain/core/rng.h"
#include "cotrain/data/trace.h"

namespace cotrain {

enum class PerturbMode { wrong_answer, corrupt_digits, remove_keywords, shuffle_steps, delete_steps, insert_steps };

// wrong-answer, corrupt-digits, remove-keywords, shuffle-steps, delete-steps, insert-steps.
PerturbMode perturb_mode_from_name(std::string_view name);
const std::vector<std::string>& perturb_mode_names();

struct PerturbOptions {
  PerturbMode mode = PerturbMode::shuffle_steps;
  double ratio = 1.0;  // in [0, 1]
  std::uint64_t seed = 0;
  std::vector<std::string> keywords = default_reflection_keywords();  // remove-keywords
};

struct PerturbReport {
  std::size_t records = 0;
  std::size_t responses = 0;        // assistant turns seen
  std::size_t changed = 0;          // assistant turns whose text changed
  std::size_t without_thought = 0;  // turns with no thought section (left as they are)
  std::size_t without_answer = 0;   // wrong-answer: turns with no \boxed{} answer in the solution
};

// Perturbs every assistant turn of RECORDS in place (both the conversation and the JSON record).
// Each turn draws from its own stream Rng(seed, turn number in the file), so a turn's result
// depends only on the seed, its position and (wrong-answer, insert-steps) the other turns.
PerturbReport perturb_records(std::vector<TraceRecord>& records, const PerturbOptions& options);

// The single-text operations, exposed for tests.
std::string corrupt_digits(std::string_view text, double probability, Rng& rng);
std::string remove_keywords(std::string_view text, const std::vector<std::string>& keywords, double probability,
                            Rng& rng);
std::size_t steps_to_touch(double ratio, std::size_t steps);  // round(ratio * steps), halves away from 0
void shuffle_steps(Steps& steps, double ratio, Rng& rng);
void delete_steps(Steps& steps, double ratio, Rng& rng);
// Inserts round(ratio * n) steps, each drawn by `donor` (a step of another trace), at uniformly
// drawn positions between, before or after the existing steps.
void insert_steps(Steps& steps, double ratio, Rng& rng, const std::function<std::string(Rng&)>& donor);

}  // namespace cotrain
