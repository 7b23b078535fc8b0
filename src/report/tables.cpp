#include "cotrain/report/tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "cotrain/report/axis.h"
#include "cotrain/report/config_diff.h"
#include "cotrain/report/html_text.h"

namespace cotrain {
namespace {

using nlohmann::json;

struct Cell {
  std::string html;            // already escaped
  std::optional<double> rate;  // a rate where higher is better: the best of several runs is bold
};

// Rows in the order first seen, one cell per run.
class Table {
 public:
  explicit Table(std::size_t runs) : runs_(runs) {}
  void set(const std::string& row, std::size_t run, Cell cell) {
    auto [it, added] = cells_.try_emplace(row, std::vector<Cell>(runs_));
    if (added) order_.push_back(row);
    it->second[run] = std::move(cell);
  }
  bool empty() const { return order_.empty(); }

  std::string html(const std::vector<RunData>& runs, const std::vector<std::string>& colors, const char* cls) const {
    std::string out = fmt::format(R"(<table class="{}"><thead><tr><th></th>)", cls);
    for (std::size_t i = 0; i < runs.size(); ++i)
      out += fmt::format(R"(<th><span class="swatch" style="background:{}"></span>{}</th>)", colors[i],
                         html_escape(runs[i].label));
    out += "</tr></thead><tbody>";
    for (const std::string& row : order_) {
      const std::vector<Cell>& cells = cells_.at(row);
      std::optional<double> best;
      std::size_t rated = 0;
      for (const Cell& c : cells)
        if (c.rate) {
          ++rated;
          best = std::max(best.value_or(*c.rate), *c.rate);
        }
      out += fmt::format("<tr><th>{}</th>", html_escape(row));
      for (const Cell& c : cells)
        out += rated > 1 && c.rate == best ? fmt::format(R"(<td class="best">{}</td>)", c.html)
                                           : fmt::format("<td>{}</td>", c.html);
      out += "</tr>";
    }
    return out + "</tbody></table>";
  }

 private:
  std::size_t runs_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<Cell>> cells_;
};

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return readable_number(value.get<double>());
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return "";
}

std::string field_text(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it == object.end() ? "" : text_of(*it);
}

std::optional<double> field_number(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

const MetricSeries* series_of(const std::map<std::string, MetricSeries>& series, const char* key) {
  auto it = series.find(key);
  return it == series.end() || it->second.empty() ? nullptr : &it->second;
}

std::string duration(double seconds) {
  long long s = std::llround(seconds);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}h {:02}m {:02}s", s / 3600, s % 3600 / 60, s % 60);
}

std::string mib(double value) {
  return value >= 1024 ? fmt::format("{:.1f} GiB", value / 1024) : fmt::format("{:.0f} MiB", value);
}

std::string percent(double rate) { return fmt::format("{:.1f}%", 100 * rate); }

Cell text_cell(const std::string& text) { return {html_escape(text), std::nullopt}; }

void add_run_rows(Table& t, std::size_t i, const RunData& run) {
  auto put = [&](const char* row, const std::string& text) {
    if (!text.empty()) t.set(row, i, text_cell(text));
  };
  const json& info = run.info;
  put("command", field_text(info, "command"));
  std::string status = field_text(info, "status");
  if (std::string error = field_text(info, "error"); !error.empty()) status += ": " + error;
  put("status", status);
  const MetricSeries* loss = series_of(run.train, "loss");
  auto done = field_number(info, "steps_done");
  if (!done && loss) done = static_cast<double>(loss->back().step);
  if (done) {
    auto total = field_number(info, "total_steps");
    put("steps", total ? fmt::format("{} of {}", readable_number(*done), readable_number(*total)) : readable_number(*done));
  }
  if (const MetricSeries* epoch = series_of(run.train, "epoch")) put("epochs", readable_number(epoch->back().value));
  put("started", field_text(info, "started_at"));
  put("finished", field_text(info, "finished_at"));
  auto elapsed = field_number(info, "elapsed_s");
  if (const MetricSeries* e = series_of(run.train, "elapsed_s"); !elapsed && e) elapsed = e->back().value;
  if (elapsed) put("elapsed", duration(*elapsed));
  if (loss) put("last training loss", fmt::format("{} (step {})", readable_number(loss->back().value), loss->back().step));
  if (const MetricSeries* val = series_of(run.val, "val_loss")) {
    auto best = std::min_element(val->begin(), val->end(), [](auto& a, auto& b) { return a.value < b.value; });
    put("validation loss", fmt::format("{} (step {}); best {} (step {})", readable_number(val->back().value),
                                       val->back().step, readable_number(best->value), best->step));
  }
  if (const MetricSeries* tps = series_of(run.train, "tokens_per_s")) {
    std::vector<double> v;
    for (const MetricPoint& p : *tps) v.push_back(p.value);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    put("tokens/s (median)", readable_number(v[v.size() / 2]));
  }
  auto rss = field_number(info, "peak_rss_mib");
  if (const MetricSeries* r = series_of(run.train, "peak_rss_mib"); !rss && r) rss = r->back().value;
  if (rss) put("peak RSS", mib(*rss));
  if (auto device_mem = field_number(info, "peak_device_memory_mib")) put("peak device memory", mib(*device_mem));
  put("device", field_text(info, "device"));
  put("dtype", field_text(info, "dtype"));
  put("world size", field_text(info, "world_size"));
  put("cotrain", field_text(info, "cotrain_version"));
  put("libtorch", field_text(info, "libtorch_version"));
  std::string lines = fmt::format("{} training, {} validation", run.train_lines, run.val_lines);
  if (run.torn_line) lines += fmt::format("; torn line {} ignored", *run.torn_line);
  if (run.superseded_lines) lines += fmt::format("; {} superseded", run.superseded_lines);
  put("metrics lines", lines);
  t.set("directory", i, text_cell(run.dir.string()));
}

// The results of one report.json as rows (rates, counts, breakdowns) into `results`, and every
// other field into `details`.
void add_eval_rows(Table& results, Table& details, std::size_t i, const json& report) {
  std::set<std::string> shown;
  auto rate = [&](const std::string& row, double v) { results.set(row, i, {percent(v), v}); };
  if (auto a = field_number(report, "accuracy")) {
    rate("accuracy", *a);
    shown.insert("accuracy");
  }
  if (auto it = report.find("pass_at_k"); it != report.end() && it->is_object()) {
    for (const auto& [k, v] : it->items())
      if (v.is_number()) rate("pass@" + k, v.get<double>());
    shown.insert("pass_at_k");
  }
  for (const auto& [key, v] : report.items())
    if (key.starts_with("pass@") && v.is_number()) {
      rate(key, v.get<double>());
      shown.insert(key);
    }
  for (const char* key : {"problems", "predicted_problems", "problems_without_predictions", "samples", "missing",
                          "no_answer_extracted", "mean_response_tokens", "mean_response_chars",
                          "reflection_keywords_per_response"})
    if (auto v = field_number(report, key)) {
      results.set(key, i, text_cell(readable_number(*v)));
      shown.insert(key);
    }
  for (const auto& [key, groups] : report.items()) {
    if (!key.starts_with("by_") || !groups.is_object()) continue;
    shown.insert(key);
    for (const auto& [group, g] : groups.items()) {
      auto v = field_number(g, "accuracy");
      if (!v) v = field_number(g, "pass@1");
      if (!v) continue;
      std::string problems = field_text(g, "problems");
      results.set(key.substr(3) + ": " + group, i,
                  {percent(*v) + (problems.empty() ? "" : " <small>(" + html_escape(problems) + ")</small>"), *v});
    }
  }
  if (auto it = report.find("verdicts"); it != report.end() && it->is_object()) {
    for (const auto& [verdict, count] : it->items()) results.set("verdict: " + verdict, i, text_cell(text_of(count)));
    shown.insert("verdicts");
  }
  json rest = json::object();
  for (const auto& [key, v] : report.items())
    if (!shown.contains(key)) rest[key] = v;
  for (const auto& [key, text] : flatten_config(rest)) details.set(key, i, text_cell(text));
}

}  // namespace

std::string runs_table_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors) {
  Table t(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) add_run_rows(t, i, runs[i]);
  return t.html(runs, colors, "runs");
}

std::string config_section_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors) {
  std::vector<std::map<std::string, std::string>> flat;
  for (const RunData& run : runs) flat.push_back(flatten_config(run.config));
  auto full_table = [&](const std::vector<RunData>& which, const std::vector<std::string>& which_colors,
                        const std::vector<std::map<std::string, std::string>>& configs) {
    Table t(which.size());
    for (std::size_t i = 0; i < which.size(); ++i)
      for (const auto& [key, value] : configs[i]) t.set(key, i, text_cell(value));
    return t.empty() ? std::string("<p class=\"muted\">no config.json</p>") : t.html(which, which_colors, "config");
  };
  if (runs.size() == 1) return full_table(runs, colors, flat);

  std::string out;
  std::vector<std::string> keys = differing_keys(flat);
  if (keys.empty()) {
    out += "<p>The runs' configurations are identical.</p>";
  } else {
    Table t(runs.size());
    for (const std::string& key : keys)
      for (std::size_t i = 0; i < runs.size(); ++i) {
        auto it = flat[i].find(key);
        t.set(key, i, it == flat[i].end() ? Cell{R"(<span class="muted">absent</span>)", std::nullopt} : text_cell(it->second));
      }
    out += fmt::format("<p>{} keys differ between the runs.</p>", keys.size()) + t.html(runs, colors, "config diff");
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    out += fmt::format("<details><summary>full configuration of {}</summary>{}</details>", html_escape(runs[i].label),
                       full_table({runs[i]}, {colors[i]}, {flat[i]}));
  return out;
}

std::string eval_section_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors,
                              std::size_t& tables) {
  std::set<std::string> benches;
  for (const RunData& run : runs)
    for (const auto& [name, report] : run.evals) benches.insert(name);
  tables = benches.size();
  std::string out;
  for (const std::string& bench : benches) {
    Table results(runs.size()), details(runs.size());
    for (std::size_t i = 0; i < runs.size(); ++i)
      if (auto it = runs[i].evals.find(bench); it != runs[i].evals.end()) add_eval_rows(results, details, i, it->second);
    out += fmt::format(R"(<h3 data-bench="{}">{}</h3>)", html_escape(bench), html_escape(bench));
    out += results.empty() ? "<p class=\"muted\">no results in report.json</p>" : results.html(runs, colors, "eval");
    if (!details.empty())
      out += "<details><summary>every other field</summary>" + details.html(runs, colors, "eval-details") + "</details>";
  }
  return out;
}

}  // namespace cotrain
