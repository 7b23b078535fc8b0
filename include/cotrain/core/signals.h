// SIGINT/SIGTERM set a flag instead of killing the process, so long commands can stop at a safe
// point and save their state. A second signal while stopping exits at once.
#pragma once
#include <stdexcept>
#include <string>

namespace cotrain {

void install_stop_handlers();
bool stop_requested();
int stop_signal();          // the first signal received (SIGINT, SIGTERM), 0 when none
void reset_stop_request();  // for tests

// Thrown by a command that stopped at a safe point on a stop signal, after saving its state.
// main() prints "stopped: <what>" and exits 128 + signal (130 for SIGINT, 143 for SIGTERM), the
// status a shell reports for a process killed by that signal.
class Stopped : public std::runtime_error {
 public:
  Stopped(const std::string& what, int signal) : std::runtime_error(what), signal(signal) {}
  int signal;
};

}  // namespace cotrain
