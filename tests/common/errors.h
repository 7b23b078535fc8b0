// The message of the InputError a piece of code throws, for tests that check what a user reads.
#pragma once
#include <functional>
#include <string>

#include "cotrain/core/error.h"

namespace cotrain::test {

// FN's InputError message, or "no InputError" when it throws none.
inline std::string input_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no InputError";
}

}  // namespace cotrain::test
