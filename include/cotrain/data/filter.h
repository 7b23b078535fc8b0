// Rejection sampling as Sky-T1 built its data: keep a trace only when its final answer is right.
// Math traces: the answer of the last assistant turn (the grader's extraction and equivalence,
// eval/math) against the gold answer, taken from a field of the record or from a benchmark file
// whose problem text the user turn holds. Code traces: the last fenced code block runs on the
// problem's tests in the sandbox (eval/code, LiveCodeBench's judging).
#pragma once
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>

#include "cotrain/data/trace.h"

namespace cotrain {

struct FilterOptions {
  std::filesystem::path traces, out;  // kept records are written to OUT as they were read
  std::filesystem::path rejects;      // default: OUT with ".rejects.jsonl" for ".jsonl"
  TraceFormat format = TraceFormat::automatic;
  std::string gold_field;              // the record's field holding the gold answer (math), or:
  std::filesystem::path bench_data;    // problems to match traces against: math JSONL ("problem" or
                                       // "question", and "answer") or LiveCodeBench JSONL (code)
  bool strict = false;                 // math: answers only from \boxed{}
  int jobs = 1;                        // code: programs judged in parallel
  double timeout_s = 6.0;              // code: seconds per test
  std::string python = "python3";      // code: the interpreter
};

struct FilterResult {
  std::size_t kept = 0, rejected = 0;
  std::map<std::string, std::size_t> reasons;  // rejections by reason
  std::filesystem::path rejects, summary;
};

// Writes OUT (kept), the rejects file ({"line", "reason", "detail", "record"} per rejected trace)
// and OUT.summary.json (the counts), each atomically. A trace whose problem is not in the bench
// data, or that has no gold, is rejected with that reason, never silently kept or dropped.
FilterResult filter_traces(const FilterOptions& options);

// The problem statement a user turn holds: without SkyThought's instruction prefixes ("Return your
// final response within \boxed{}. ", "Generate an executable Python function ...") and trimmed.
std::string problem_text_of(std::string_view user_turn);

}  // namespace cotrain
