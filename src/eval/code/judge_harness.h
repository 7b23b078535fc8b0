// The judging program run inside the sandbox (Python source text).
#pragma once

namespace cotrain {

extern const char* const kJudgeHarness;

}  // namespace cotrain
