// A kernel that may not run on this device or release (a fused or device-specific path with a
// composite behind it): whether it does is known to the kernel alone, which raises where it cannot.
#pragma once

#include <c10/util/Exception.h>

#include <atomic>
#include <optional>
#include <type_traits>

namespace cotrain {

// KERNEL's result, or nothing where REFUSED is set or KERNEL raises: its first exception, other
// than running out of memory (a refusal of this input, not of the kernel), sets REFUSED for the
// process, and the caller takes its composite from then on.
template <typename Kernel>
std::optional<std::invoke_result_t<Kernel>> unless_refused(std::atomic<bool>& refused, Kernel&& kernel) {
  if (refused) return std::nullopt;
  try {
    return kernel();
  } catch (const c10::OutOfMemoryError&) {
    throw;
  } catch (const c10::Error&) {
    refused = true;
    return std::nullopt;
  }
}

}  // namespace cotrain
