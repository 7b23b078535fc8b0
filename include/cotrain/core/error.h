// Errors that reach the user. Every message is one line: what went wrong and where
// (file, line, tensor or field), e.g. "bad JSON, data.jsonl:12" or "data.jsonl:12: missing field".
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

template <class... Args>
[[noreturn]] void fail_input(fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
[[noreturn]] void fail_runtime(fmt::format_string<Args...> format, Args&&... args) {
  throw RuntimeFailure(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cotrain
