// Logging goes to stderr through spdlog (use spdlog::info etc. directly); stdout is for results.
#pragma once
#include <string>

namespace cotrain {

// level: trace, debug, info, warn, error, off. Throws InputError for anything else.
void init_logging(const std::string& level);

}  // namespace cotrain
