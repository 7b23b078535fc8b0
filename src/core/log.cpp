#include "cotrain/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cotrain/core/error.h"

namespace cotrain {

void init_logging(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    fail_input("--log-level {}: unknown log level (trace, debug, info, warn, error, off)", level);
  }
  static auto logger = spdlog::stderr_color_mt("cotrain");
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed);
}

}  // namespace cotrain
