// cotrain data prepare|stats|perturb|synth|filter: the long-CoT data pipeline (docs/data.md).
#include "commands.h"
#include "data_commands.h"

namespace cotrain::cli {

void add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Prepare, inspect, perturb and synthesise reasoning traces");
  data->require_subcommand(1);
  add_data_prepare_command(*data);
  add_data_stats_command(*data);
  add_data_perturb_command(*data);
  add_data_synth_command(*data);
  add_data_filter_command(*data);
}

}  // namespace cotrain::cli
