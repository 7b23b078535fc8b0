// cotrain: the command-line entry point. Exit codes: 0 success, 2 bad input or usage,
// 1 runtime failure. Every error is one line on stderr.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"
#include "cotrain/core/error.h"
#include "cotrain/core/log.h"
#include "cotrain/core/signals.h"
#include "cotrain/core/version.h"

#ifdef COTRAIN_WITH_TORCH
#include <torch/cuda.h>
#include <torch/version.h>
#endif

namespace {

std::string version_text() {
  std::string text = std::string("cotrain ") + cotrain::version();
#ifdef COTRAIN_WITH_TORCH
  text += std::string("\nlibtorch ") + TORCH_VERSION;
  text += torch::cuda::is_available()
              ? "\nCUDA available (" + std::to_string(torch::cuda::device_count()) + " device(s))"
              : std::string("\nCUDA not available");
#else
  text += "\nbuilt without libtorch (model, training and scoring commands absent)";
#endif
  return text;
}

void report(const char* what) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", what);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cotrain: long chain-of-thought distillation (fine-tune, score, evaluate)", "cotrain"};
  app.require_subcommand(0, 1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
  app.set_version_flag("--version", version_text());
  app.parse_complete_callback([&] { cotrain::init_logging(log_level); });

  cotrain::cli::add_data_command(app);
  cotrain::cli::add_tokenize_command(app);
  cotrain::cli::add_grade_command(app);
  cotrain::cli::add_eval_command(app);
  cotrain::cli::add_report_command(app);
#ifdef COTRAIN_WITH_TORCH
  cotrain::cli::add_init_model_command(app);
  cotrain::cli::add_inspect_command(app);
  cotrain::cli::add_score_command(app);
#endif

  cotrain::install_stop_handlers();
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) {
      std::cout << app.help();
      return 2;
    }
    return 0;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // usage: one line naming the problem and where help is
    std::string command = "cotrain";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().back();
      command += " " + sub->get_name();
    }
    report(fmt::format("{} (see '{} --help')", e.what(), command).c_str());
    return 2;
  } catch (const cotrain::InputError& e) {
    report(e.what());
    return 2;
  } catch (const std::exception& e) {
    report(e.what());
    return 1;
  } catch (...) {
    report("unknown failure");
    return 1;
  }
}
