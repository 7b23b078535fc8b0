// SIGINT/SIGTERM set a flag instead of killing the process, so long commands can stop at a safe
// point and save their state. A second signal while stopping exits at once.
#pragma once

namespace cotrain {

void install_stop_handlers();
bool stop_requested();
void reset_stop_request();  // for tests

}  // namespace cotrain
