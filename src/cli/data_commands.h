// The `cotrain data` subcommands, one file each (data_<name>.cpp), grouped by data.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace cotrain::cli {

void add_data_prepare_command(CLI::App& data);
void add_data_stats_command(CLI::App& data);
void add_data_perturb_command(CLI::App& data);
void add_data_synth_command(CLI::App& data);
void add_data_filter_command(CLI::App& data);

}  // namespace cotrain::cli
