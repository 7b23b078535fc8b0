// cotrain grade: math answer equivalence. --pairs FILE: each {"gold", "pred"} line comes back with
// "equal" and "reason" added, in input order; --gold X --pred Y: one verdict (exit 0 either way).
#include <iostream>

#include "commands.h"
#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/signals.h"
#include "cotrain/eval/math/equivalence.h"

namespace cotrain::cli {
namespace {

using nlohmann::json;

struct GradeArgs {
  std::string pairs, out = "-", gold, pred;
  bool gold_given = false, pred_given = false, strict = false, verbose = false;
};

std::string string_field(const json& row, const char* name, const std::string& at) {
  auto it = row.find(name);
  if (it == row.end()) fail_input("{}: missing field \"{}\"", at, name);
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();  // a bare number such as 27.0 or 5
  fail_input("{}: field \"{}\" is not a string or number", at, name);
}

void run_grade(const GradeArgs& args) {
  ExtractOptions options;
  options.strict = args.strict;
  if (args.pairs.empty()) {
    if (!args.gold_given || !args.pred_given) fail_input("give --pairs FILE, or both --gold and --pred");
    Grade g = grade(args.gold, args.pred, true, options);
    if (args.out != "-") {  // the verdict as one graded line, like --pairs writes
      json row = {{"gold", args.gold}, {"pred", args.pred}, {"equal", g.equal}, {"reason", g.reason}};
      AtomicFile out(args.out);
      out.stream() << row.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
      out.commit();
    }
    std::cout << (g.equal ? "equal" : "not equal") << " (" << g.reason << "): gold '" << g.gold_normalized << "', pred '"
              << g.pred_normalized << "'\n";
    return;
  }
  if (args.gold_given || args.pred_given) fail_input("--pairs cannot be combined with --gold/--pred");
  // Read (and validate) everything first, so a bad line leaves no output behind.
  std::vector<json> rows;
  for_each_jsonl(args.pairs, [&](json& row, std::size_t line) {
    std::string at = where(args.pairs, line);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    string_field(row, "gold", at);
    string_field(row, "pred", at);
    rows.push_back(std::move(row));
  });
  OutputSink sink(args.out);
  std::size_t equal = 0;
  for (auto& row : rows) {
    throw_if_stopped();
    Grade g = grade(string_field(row, "gold", ""), string_field(row, "pred", ""), true, options);
    row["equal"] = g.equal;
    row["reason"] = g.reason;
    if (args.verbose) {
      row["gold_normalized"] = g.gold_normalized;
      row["pred_normalized"] = g.pred_normalized;
      row["extraction"] = g.extraction;
    }
    equal += g.equal;
    sink.stream() << row.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  sink.commit();
  std::cerr << "graded " << rows.size() << " pairs: " << equal << " equal\n";
}

}  // namespace

void add_grade_command(CLI::App& app) {
  auto args = std::make_shared<GradeArgs>();
  auto* cmd = app.add_subcommand("grade", "Math answer equivalence: are gold and predicted answers the same?");
  cmd->add_option("--pairs", args->pairs, "JSONL of {\"gold\": ..., \"pred\": ...} (\"-\" reads stdin)");
  cmd->add_option("--out", args->out, "write the graded JSONL here (- for stdout)")->capture_default_str();
  auto* gold = cmd->add_option("--gold", args->gold, "one gold answer (or solution)");
  auto* pred = cmd->add_option("--pred", args->pred, "one predicted answer (or whole response)");
  cmd->add_flag("--strict", args->strict, "take predictions only from \\boxed{}");
  cmd->add_flag("--verbose", args->verbose, "add the normalised forms and extraction method to each line");
  cmd->callback([args, gold, pred] {
    args->gold_given = gold->count() > 0;
    args->pred_given = pred->count() > 0;
    run_grade(*args);
  });
}

}  // namespace cotrain::cli
