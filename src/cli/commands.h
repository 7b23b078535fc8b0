// Each subcommand lives in its own file (src/cli/<name>.cpp, or src/cli/torch/<name>.cpp when it
// needs tensors) and adds itself to the app. A callback builds its options and calls the library;
// errors are thrown (see core/error.h) and turned into exit codes by main.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace cotrain::cli {

// Torch-free commands.
void add_tokenize_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_grade_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_report_command(CLI::App& app);

#ifdef COTRAIN_WITH_TORCH
void add_init_model_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_score_command(CLI::App& app);
#endif

}  // namespace cotrain::cli
