// SIGINT/SIGTERM set a flag instead of killing the process, so long commands can stop at a safe
// point and save their state. A second signal while stopping exits at once (temporaries it leaves
// are reclaimed by later runs, see atomic_file.h).
#pragma once

namespace cotrain {

void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the first signal received, 0 when none
// Throws Interrupted ("interrupted by SIGINT; WHAT") when a stop was requested. Long loops call
// this between items; WHAT says what is (not) left behind, e.g. "nothing written".
void throw_if_stopped(const char* what = "nothing written");
void reset_stop_request();  // for tests
void request_stop(int signal);  // what the handler does, minus the message (for tests)

}  // namespace cotrain
