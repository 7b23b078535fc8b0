// The program judged for a response: the last fenced code block, as SkyThought/LiveCodeBench do.
#pragma once
#include <string>
#include <string_view>

namespace cotrain {

// Body of the last ``` block (any language tag on the opening fence is dropped). An unterminated
// last fence runs to the end of the text. No fence: the empty string (nothing to run).
std::string extract_last_code_block(std::string_view response);

}  // namespace cotrain
