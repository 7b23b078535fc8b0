// What `cotrain report` reads from a run directory (docs/report.md; the layout is the one
// `cotrain sft|lora --out OUT` writes): config.json, run.json, metrics.jsonl and
// eval/<bench>/report.json. Any of them may be absent (a run that has just started, one that never
// evaluated); what was absent, ignored or superseded is listed in `notes`, never dropped silently.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cotrain {

struct MetricPoint {
  std::int64_t step = 0;
  double value = 0;
};

// One metric against the optimizer step, in the order the run logged it (increasing steps).
using MetricSeries = std::vector<MetricPoint>;

struct RunData {
  std::filesystem::path dir;
  std::string label;      // how the page names the run: the directory's name
  nlohmann::json config;  // config.json, or null when absent
  nlohmann::json info;    // run.json, or null when absent
  // Every numeric field of the training lines (loss, lr, grad_norm, tokens_per_s, epoch, ...) and
  // of the validation lines (val_loss, val_target_tokens, ...), by field name.
  std::map<std::string, MetricSeries> train, val;
  std::size_t train_lines = 0, val_lines = 0;  // lines kept (after superseded ones were dropped)
  std::optional<std::size_t> torn_line;        // the ignored, unparseable last line of metrics.jsonl
  std::size_t superseded_lines = 0;            // lines logged again after a resume
  std::map<std::string, nlohmann::json> evals;  // eval/<name>/report.json by <name>
  std::vector<std::string> notes;               // one line each, naming the file
};

// Reads one run directory. Throws InputError when DIR is not a run directory (none of config.json,
// run.json, metrics.jsonl) or holds unreadable JSON (naming the file and line). A torn last line of
// metrics.jsonl (the process was killed mid-write) is ignored and noted. When a resumed run logs a
// step again, the lines from that step on that the first attempt wrote are superseded (dropped and
// counted), so each step keeps the values of the attempt that carried on.
RunData read_run(const std::filesystem::path& dir);

// Reads several runs; labels that two runs share become the paths as given, so each is unique.
std::vector<RunData> read_runs(const std::vector<std::filesystem::path>& dirs);

}  // namespace cotrain
