// Each subcommand lives in its own file (src/cli/<name>.cpp, or src/cli/torch/<name>.cpp when it
// needs tensors) and adds itself to the app. A callback builds its options and calls the library;
// errors are thrown (see core/error.h) and turned into exit codes by main.cpp.
#pragma once
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include <filesystem>
#include <string>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"

namespace cotrain::cli {

// A numeric flag that must be at least MIN: "--cutoff: must be >= 0 (got -5)". Whether the value
// is a number at all is main.cpp's check.
inline CLI::Validator at_least(double min) {
  return CLI::Validator(
      [min](std::string& value) -> std::string {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str()) return "";  // not a number: main.cpp's check says so
        return v >= min ? std::string() : fmt::format("must be >= {} (got {})", min, value);
      },
      fmt::format(">= {}", min), "at_least");
}

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
void add_generate_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_train_commands(CLI::App& app);  // sft, lora
#endif

// Commands that write a directory, before any long work: without --force an existing non-empty
// --out is refused; with it, only an earlier output of the same KIND is replaced (AtomicDir's rule,
// core/atomic_file.h), never a directory of the user's.
inline void refuse_existing_output(const std::string& out, bool force, const std::string& kind) {
  std::error_code ec;
  if (!force && std::filesystem::exists(out) && !std::filesystem::is_empty(out, ec)) {
    fail_input("--out {} exists (use --force to replace it)", out);
  }
  check_output_dir(out, kind);
}

}  // namespace cotrain::cli
