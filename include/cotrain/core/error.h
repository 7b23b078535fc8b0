// Errors that reach the user. Every message is one line, compiler style: where, then what —
// "data.jsonl:12: bad JSON (byte 7)", "config.json: rope_theta: must be > 0 (got -1)",
// "--lr: must be > 0". The CLI prints "error: <message>".
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace cotrain {

// Bad input or usage (a corrupt file, a wrong flag value): the CLI exits with code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure at run time that is not the input's fault (disk full, out of memory): exit code 1.
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SIGINT/SIGTERM stopped the work at a safe point (core/signals.h): exit code 128 + signal.
class Interrupted : public RuntimeFailure {
 public:
  Interrupted(int signal, const std::string& what) : RuntimeFailure(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

template <class... Args>
[[noreturn]] void fail_input(fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
[[noreturn]] void fail_runtime(fmt::format_string<Args...> format, Args&&... args) {
  throw RuntimeFailure(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cotrain
