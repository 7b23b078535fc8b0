// cotrain: the command-line entry point. Exit codes: 0 success, 2 bad input or usage,
// 1 runtime failure, 128 + N when stopped by signal N. Every error is one line on stderr.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "cotrain/core/error.h"
#include "cotrain/core/log.h"
#include "cotrain/core/signals.h"
#include "cotrain/core/version.h"
#include "cotrain/tokenizer/unicode.h"

#ifdef COTRAIN_WITH_TORCH
#include <c10/util/Exception.h>
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

// One line, whatever the message holds (a library's text may carry newlines).
void report(std::string_view what) {
  std::string line(what.substr(0, what.find_last_not_of(" \n") + 1));
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", line.c_str());
}

// CLI11 reads integers with strtoull/strtoll: "-1" wraps to 2^64 - 1, "010" is octal, overflow
// saturates, and "nan" or "inf" pass any range check. Every numeric option of every command gets
// this check instead: a decimal integer that fits, or a finite number.
void check_numbers(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const std::string type = option->get_type_name();
    const bool is_unsigned = type.rfind("UINT", 0) == 0, is_signed = !is_unsigned && type.rfind("INT", 0) == 0;
    const bool is_float = type.rfind("FLOAT", 0) == 0;
    if (!is_unsigned && !is_signed && !is_float) continue;
    option->transform(CLI::Validator(
        [is_unsigned, is_float](std::string& value) -> std::string {
          const char* begin = value.data();
          const char* end = begin + value.size();
          if (is_float) {
            double v = 0;
            auto [ptr, ec] = std::from_chars(begin, end, v);
            if (ec != std::errc() || ptr != end || !std::isfinite(v)) return "expected a finite number, got '" + value + "'";
            return "";
          }
          if (is_unsigned) {
            std::uint64_t v = 0;
            auto [ptr, ec] = std::from_chars(begin, end, v);
            if (ec != std::errc() || ptr != end) return "expected a non-negative integer that fits 64 bits, got '" + value + "'";
            value = std::to_string(v);  // "010" is ten, not CLI11's octal eight
            return "";
          }
          std::int64_t v = 0;
          auto [ptr, ec] = std::from_chars(begin, end, v);
          if (ec != std::errc() || ptr != end) return "expected an integer that fits 64 bits, got '" + value + "'";
          value = std::to_string(v);
          return "";
        },
        "", "number"));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_numbers(*sub);
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
  cotrain::cli::add_generate_command(app);
  cotrain::cli::add_export_command(app);
  cotrain::cli::add_train_commands(app);
#endif
  check_numbers(app);

  // Paths and values end up in JSON outputs and messages, which are UTF-8.
  for (int i = 1; i < argc; ++i) {
    if (!cotrain::unicode::is_valid_utf8(argv[i])) {
      report(fmt::format("argument {} is not valid UTF-8 (paths and values must be UTF-8)", i));
      return 2;
    }
  }

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
    report(fmt::format("{} (see '{} --help')", e.what(), command));
    return 2;
  } catch (const cotrain::InputError& e) {
    report(e.what());
    return 2;
  } catch (const cotrain::Interrupted& e) {
    report(e.what());
    return 128 + e.signal();
  } catch (const nlohmann::json::exception& e) {  // JSON read without a check: still bad input
    report(e.what());
    return 2;
#ifdef COTRAIN_WITH_TORCH
  } catch (const c10::Error& e) {  // never a backtrace: the message alone
    report(e.what_without_backtrace());
    return 1;
#endif
  } catch (const std::bad_alloc&) {
    report("out of memory");
    return 1;
  } catch (const std::exception& e) {
    report(e.what());
    return 1;
  } catch (...) {
    report("unknown failure");
    return 1;
  }
}
