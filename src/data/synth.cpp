#include "cotrain/data/synth.h"

#include <fmt/format.h>

#include <unordered_set>

#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/core/rng.h"

namespace cotrain {
namespace {

std::int64_t pick(Rng& rng, std::int64_t lo, std::int64_t hi) {  // uniform in [lo, hi]
  return lo + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(hi - lo + 1)));
}

std::string assemble(const std::vector<std::string>& steps, const std::string& summary, std::int64_t answer) {
  std::string text = "<|begin_of_thought|>\n\n";
  for (const auto& step : steps) text += step + "\n\n";
  text += "<|end_of_thought|>\n\n<|begin_of_solution|>\n\n" + summary +
          fmt::format("\n\nThe final answer is \\boxed{{{}}}.\n\n<|end_of_solution|>", answer);
  return text;
}

SynthProblem expression(Rng& rng) {
  std::int64_t a = pick(rng, 10, 99), b = pick(rng, 10, 99), c = pick(rng, 2, 9), d = pick(rng, 1, 50);
  std::int64_t s = a + b, p = s * c, r = p - d;
  SynthProblem out;
  out.problem = fmt::format("Compute $({} + {}) \\times {} - {}$.", a, b, c, d);
  out.answer = std::to_string(r);
  out.response = assemble(
      {fmt::format("Okay, so I need to compute $({} + {}) \\times {} - {}$. The parentheses come first, then the "
                   "multiplication, and the subtraction last.", a, b, c, d),
       fmt::format("First, the sum inside the parentheses: ${} + {} = {}$.", a, b, s),
       fmt::format("Next, multiply by {}: ${} \\times {} = {}$.", c, s, c, p),
       fmt::format("Then subtract {}: ${} - {} = {}$.", d, p, d, r),
       fmt::format("Wait, let me check the multiplication another way. ${} \\times {} = {} \\times {} + {} \\times {} "
                   "= {} + {} = {}$. That matches.", s, c, a, c, b, c, a * c, b * c, p),
       fmt::format("So the value of the expression is {}.", r)},
      fmt::format("$({} + {}) \\times {} - {} = {} \\times {} - {} = {} - {} = {}$.", a, b, c, d, s, c, d, p, d, r), r);
  return out;
}

SynthProblem inventory(Rng& rng) {
  std::int64_t b = pick(rng, 3, 20), c = pick(rng, 2, 9), d = pick(rng, 5, 60);
  std::int64_t a = b * c + pick(rng, 10, 200);
  std::int64_t lent = b * c, left = a - lent, r = left + d;
  SynthProblem out;
  out.problem = fmt::format("A library has {} books. It lends out {} books each day for {} days and then receives {} "
                            "new books. How many books does the library have now?", a, b, c, d);
  out.answer = std::to_string(r);
  out.response = assemble(
      {fmt::format("Let me figure out how many books leave the library. It lends {} books a day for {} days.", b, c),
       fmt::format("That is ${} \\times {} = {}$ books lent out.", b, c, lent),
       fmt::format("Starting from {} books, after lending there are ${} - {} = {}$ books left.", a, a, lent, left),
       fmt::format("Then {} new books arrive: ${} + {} = {}$.", d, left, d, r),
       fmt::format("Wait, let me check by working backwards. If the library now has {} books, removing the {} new ones "
                   "gives {}, and adding back the {} lent books gives {}, which is the starting number.",
                   r, d, left, lent, a),
       fmt::format("So the library has {} books now.", r)},
      fmt::format("Books lent: ${} \\times {} = {}$. Remaining: ${} - {} = {}$. After the delivery: ${} + {} = {}$.",
                  b, c, lent, a, lent, left, left, d, r), r);
  return out;
}

SynthProblem series(Rng& rng) {
  std::int64_t n = pick(rng, 4, 12), a = pick(rng, 1, 20), d = pick(rng, 2, 9);
  std::int64_t last = a + (n - 1) * d, total = n * (a + last) / 2;
  std::string terms;
  for (std::int64_t k = 0; k < n; ++k) terms += (k ? " + " : "") + std::to_string(a + k * d);
  SynthProblem out;
  out.problem = fmt::format("What is the sum of the first {} terms of the arithmetic sequence that starts at {} and "
                            "increases by {} each time?", n, a, d);
  out.answer = std::to_string(total);
  out.response = assemble(
      {fmt::format("I need the sum of {} terms of an arithmetic sequence with first term {} and common difference {}.",
                   n, a, d),
       fmt::format("The last term is ${} + ({} - 1) \\times {} = {}$.", a, n, d, last),
       fmt::format("The sum of an arithmetic sequence is the number of terms times the average of the first and last "
                   "terms: ${} \\times \\frac{{{} + {}}}{{2}} = {} \\times {} / 2 = {}$.", n, a, last, n, a + last, total),
       fmt::format("Wait, let me check by adding the terms directly: ${} = {}$. Yes, that agrees.", terms, total),
       fmt::format("So the sum is {}.", total)},
      fmt::format("The last term is ${}$, so the sum is $\\frac{{{} \\times ({} + {})}}{{2}} = {}$.", last, n, a, last,
                  total), total);
  return out;
}

SynthProblem remainder(Rng& rng) {
  std::int64_t a = pick(rng, 12, 99), b = pick(rng, 12, 99), m = pick(rng, 3, 13);
  std::int64_t p = a * b, q = p / m, r = p % m;
  SynthProblem out;
  out.problem = fmt::format("What is the remainder when ${} \\times {}$ is divided by {}?", a, b, m);
  out.answer = std::to_string(r);
  out.response = assemble(
      {fmt::format("I need the remainder of ${} \\times {}$ divided by {}. Let me compute the product first.", a, b, m),
       fmt::format("${} \\times {} = {}$.", a, b, p),
       fmt::format("Dividing by {}: ${} = {} \\times {} + {}$, so the remainder is {}.", m, p, m, q, r, r),
       fmt::format("Wait, let me check with remainders of the factors. ${} \\equiv {} \\pmod{{{}}}$ and ${} \\equiv {} "
                   "\\pmod{{{}}}$, and ${} \\times {} = {} \\equiv {} \\pmod{{{}}}$. That matches.",
                   a, a % m, m, b, b % m, m, a % m, b % m, (a % m) * (b % m), r, m),
       fmt::format("So the remainder is {}.", r)},
      fmt::format("${} \\times {} = {} = {} \\times {} + {}$.", a, b, p, m, q, r), r);
  return out;
}

}  // namespace

const std::string& synth_system_prompt() {
  static const std::string prompt =
      "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking process "
      "before providing the final precise and accurate solutions. Please structure your response into two main "
      "sections: Thought and Solution. In the Thought section, detail your reasoning process using the specified "
      "format: <|begin_of_thought|> {thought with steps separated with '\\n\\n'} <|end_of_thought|> Each step should "
      "include detailed considerations such as analysing questions, summarizing relevant findings, brainstorming new "
      "ideas, verifying the accuracy of the current steps, refining any errors, and revisiting previous steps. In the "
      "Solution section, based on various attempts, explorations, and reflections from the Thought section, "
      "systematically present the final solution that you deem correct. The solution should remain a logical, "
      "accurate, concise expression style and detail necessary steps needed to reach the conclusion, formatted as "
      "follows: <|begin_of_solution|> {final formatted, precise, and clear solution} <|end_of_solution|> Now, try to "
      "solve the following question through the above guidelines:";
  return prompt;
}

SynthProblem synth_problem(std::uint64_t seed, std::uint64_t index) {
  Rng rng(seed, index);
  switch (rng.below(4)) {
    case 0: return expression(rng);
    case 1: return inventory(rng);
    case 2: return series(rng);
    default: return remainder(rng);
  }
}

Json synth_trace_record(const SynthProblem& problem) {
  return Json{{"system", synth_system_prompt()},
              {"conversations",
               Json::array({Json{{"from", "user"}, {"value", "Return your final response within \\boxed{}. " + problem.problem}},
                            Json{{"from", "assistant"}, {"value", problem.response}}})}};
}

Json synth_bench_record(const SynthProblem& problem, std::size_t index) {
  auto solution_start = problem.response.find("<|begin_of_solution|>\n\n") + 23;
  auto solution_end = problem.response.find("\n\n<|end_of_solution|>");
  return Json{{"problem", problem.problem},
              {"answer", problem.answer},
              {"solution", problem.response.substr(solution_start, solution_end - solution_start)},
              {"unique_id", fmt::format("synth/{}", index)}};
}

SynthSet synth_set(std::size_t train_count, std::size_t bench_count, std::uint64_t seed) {
  if (train_count > kMaxSynthProblems) fail_input("--n: at most {} problems (got {})", kMaxSynthProblems, train_count);
  if (bench_count > kMaxSynthProblems) fail_input("--bench-n: at most {} problems (got {})", kMaxSynthProblems, bench_count);
  SynthSet set;
  std::unordered_set<std::string> seen;
  // Draws until COUNT new problems are in OUT; repeats are skipped, and a run of draws that finds
  // nothing new means the problem space is used up (cannot happen within the limits above).
  auto draw = [&](std::vector<SynthProblem>& out, std::size_t count, std::uint64_t index) {
    for (std::uint64_t misses = 0; out.size() < count;) {
      if ((index & 1023) == 0) throw_if_stopped();
      SynthProblem p = synth_problem(seed, index++);
      if (seen.insert(p.problem).second) {
        out.push_back(std::move(p));
        misses = 0;
      } else if (++misses > 100'000) {
        fail_runtime("only {} distinct synthetic problems could be drawn", seen.size());
      }
    }
  };
  draw(set.train, train_count, 0);
  draw(set.bench, bench_count, 1ull << 40);  // the benchmark's own streams; nothing the training set holds
  return set;
}

}  // namespace cotrain
