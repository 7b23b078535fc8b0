#include "cotrain/core/version.h"

namespace cotrain {

const char* version() { return COTRAIN_VERSION; }

}  // namespace cotrain
