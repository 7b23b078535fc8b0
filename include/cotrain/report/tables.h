// The report's HTML tables, one column per run: what each run is (status, timing, memory, last
// losses), its configuration (for several runs: the keys that differ first) and the benchmark
// results found under RUN/eval/<bench>/report.json. Every user string is escaped.
#pragma once
#include <string>
#include <vector>

#include "cotrain/report/run_data.h"

namespace cotrain {

// colors[i] is run i's colour (a swatch in the column header).
std::string runs_table_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors);

// One run: every key. Several: the keys that differ, then each run's full config (collapsed).
std::string config_section_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors);

// One table per benchmark directory name found in any run; returns "" when no run has one.
// `tables` is set to how many.
std::string eval_section_html(const std::vector<RunData>& runs, const std::vector<std::string>& colors,
                              std::size_t& tables);

}  // namespace cotrain
