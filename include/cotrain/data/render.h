// One conversation -> token ids and a loss mask through the model's chat template, with the
// training choices applied: which turns are targets, a system prompt override, the cutoff.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cotrain/data/trace.h"
#include "cotrain/tokenizer/chat_template.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

enum class CutoffPolicy { drop, truncate };
CutoffPolicy cutoff_policy_from_name(std::string_view name);  // "drop" or "truncate"
std::string cutoff_policy_name(CutoffPolicy policy);

struct RenderSettings {
  bool train_on_prompt = false;              // every token a target, not only assistant turns
  std::optional<std::string> system_prompt;  // replaces the system turn (or adds one)
  std::int64_t cutoff = 0;                   // longest sample in tokens; 0 = no limit
  CutoffPolicy cutoff_policy = CutoffPolicy::drop;
};

enum class RenderOutcome { kept, truncated, dropped };

struct RenderedSample {
  std::vector<TokenId> ids;
  std::vector<std::uint8_t> mask;  // 1 = a training target
  RenderOutcome outcome = RenderOutcome::kept;
};

// A sample longer than the cutoff is dropped (ids empty), or with truncate cut to its first
// `cutoff` tokens; one whose prompt (everything before the first assistant token) alone reaches
// the cutoff is dropped either way, since nothing of the response would remain.
// Template errors (no assistant content) throw InputError.
RenderedSample render_sample(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                             Conversation conversation, const RenderSettings& settings);

}  // namespace cotrain
