#pragma once

namespace cotrain {

const char* version();

}  // namespace cotrain
