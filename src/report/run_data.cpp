#include "cotrain/report/run_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cotrain {
namespace {

json read_object(const fs::path& path) {
  json value = read_json_file(path);
  if (!value.is_object()) fail_input("{}: expected a JSON object", path.string());
  return value;
}

struct MetricLine {
  bool validation = false;  // has "val_loss" (and no "loss")
  std::int64_t step = 0;
  json row;
};

// Reads metrics.jsonl into `run`: lines in order, a torn last line ignored, rewound steps superseded.
void read_metrics(const fs::path& path, RunData& run) {
  const std::string text = read_input_file(path);
  std::vector<MetricLine> lines;
  std::map<std::string, std::size_t> nulls;  // non-finite values are written as null
  std::size_t other = 0;
  std::int64_t last_train_step = -1;
  std::size_t number = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    json row;
    try {
      row = parse_json(line, where(path, number));
    } catch (const InputError&) {
      bool last = text.find_first_not_of(" \t\r\n", begin) == std::string::npos;
      if (!last) throw;
      run.torn_line = number;
      run.notes.push_back(fmt::format("{}: torn last line ignored ({} bytes; the run was stopped mid-write)",
                                      where(path, number), line.size()));
      break;
    }
    const std::string at = where(path, number);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    auto step = row.find("step");
    if (step == row.end() || !step->is_number_integer() || step->get<std::int64_t>() < 0)
      fail_input("{}: field \"step\" is missing or not a non-negative integer", at);
    MetricLine m{row.contains("val_loss") && !row.contains("loss"), step->get<std::int64_t>(), std::move(row)};
    if (!m.validation && !m.row.contains("loss")) {
      ++other;
      continue;
    }
    if (!m.validation) {
      if (m.step <= last_train_step) {  // a resumed run logs this step again: the first attempt's lines from here on are stale
        auto stale = [&](const MetricLine& l) { return l.step >= m.step; };
        std::size_t before = lines.size();
        std::erase_if(lines, stale);
        run.superseded_lines += before - lines.size();
      }
      last_train_step = m.step;
    }
    lines.push_back(std::move(m));
  }
  for (const MetricLine& line : lines) {
    auto& series = line.validation ? run.val : run.train;
    ++(line.validation ? run.val_lines : run.train_lines);
    for (const auto& [key, value] : line.row.items()) {
      if (key == "step") continue;
      if (value.is_number()) {
        series[key].push_back({line.step, value.get<double>()});
      } else if (value.is_null()) {
        ++nulls[key];
      }
    }
  }
  if (run.superseded_lines)
    run.notes.push_back(fmt::format("{}: {} lines superseded by a resumed run that logged their steps again",
                                    path.string(), run.superseded_lines));
  for (const auto& [key, count] : nulls)
    run.notes.push_back(fmt::format("{}: {} null values of \"{}\" (not finite when written) left out of the charts",
                                    path.string(), count, key));
  if (other)
    run.notes.push_back(fmt::format("{}: {} lines with neither \"loss\" nor \"val_loss\" ignored", path.string(), other));
}

void read_evals(const fs::path& dir, RunData& run) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::set<fs::path> benches;  // sorted, so the page lists them in a stable order
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) benches.insert(entry.path());
  for (const fs::path& bench : benches) {
    const std::string name = bench.filename().string();
    if (name.starts_with(".")) continue;  // an evaluation still being written (AtomicDir's temporary)
    if (!fs::exists(bench / "report.json")) {
      run.notes.push_back(fmt::format("{}: no report.json, not shown", bench.string()));
      continue;
    }
    run.evals[name] = read_object(bench / "report.json");
  }
}

std::string dir_label(const fs::path& dir) {
  fs::path name = fs::weakly_canonical(dir).filename();
  return name.empty() ? dir.string() : name.string();
}

}  // namespace

RunData read_run(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_input("{}: not a directory (expected a run directory)", dir.string());
  const fs::path config = dir / "config.json", info = dir / "run.json", metrics = dir / "metrics.jsonl";
  if (!fs::exists(config) && !fs::exists(info) && !fs::exists(metrics))
    fail_input("{}: not a run directory (no config.json, run.json or metrics.jsonl)", dir.string());
  RunData run;
  run.dir = dir;
  run.label = dir_label(dir);
  if (fs::exists(config)) {
    run.config = read_object(config);
  } else {
    run.notes.push_back(fmt::format("{}: absent, no configuration shown", config.string()));
  }
  if (fs::exists(info)) {
    run.info = read_object(info);
  } else {
    run.notes.push_back(fmt::format("{}: absent, no timing or memory shown", info.string()));
  }
  if (fs::exists(metrics)) {
    read_metrics(metrics, run);
  } else {
    run.notes.push_back(fmt::format("{}: absent, no charts for this run", metrics.string()));
  }
  read_evals(dir / "eval", run);
  return run;
}

std::vector<RunData> read_runs(const std::vector<fs::path>& dirs) {
  std::vector<RunData> runs;
  for (const fs::path& dir : dirs) runs.push_back(read_run(dir));
  std::map<std::string, int> uses;
  for (const RunData& run : runs) ++uses[run.label];
  for (RunData& run : runs)
    if (uses[run.label] > 1) run.label = run.dir.string();
  return runs;
}

}  // namespace cotrain
