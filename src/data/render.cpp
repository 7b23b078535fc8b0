#include "cotrain/data/render.h"

#include <algorithm>

#include "cotrain/core/error.h"

namespace cotrain {

CutoffPolicy cutoff_policy_from_name(std::string_view name) {
  if (name == "drop") return CutoffPolicy::drop;
  if (name == "truncate") return CutoffPolicy::truncate;
  fail_input("--cutoff-policy {}: unknown cutoff policy (drop, truncate)", name);
}

std::string cutoff_policy_name(CutoffPolicy policy) { return policy == CutoffPolicy::drop ? "drop" : "truncate"; }

RenderedSample render_sample(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                             Conversation conversation, const RenderSettings& settings) {
  if (settings.system_prompt) {
    if (!conversation.empty() && conversation.front().role == "system") {
      conversation.front().content = *settings.system_prompt;
    } else {
      conversation.insert(conversation.begin(), ChatMessage{"system", *settings.system_prompt});
    }
  }
  // Rendered with assistant-only targets first: the first target marks where the prompt ends,
  // which truncation must keep whole.
  RenderedChat chat = chat_template.render(tokenizer, conversation, RenderOptions{});
  RenderedSample sample;
  sample.ids = std::move(chat.ids);
  sample.mask = std::move(chat.mask);
  auto prompt_end = static_cast<std::int64_t>(std::find(sample.mask.begin(), sample.mask.end(), 1) - sample.mask.begin());
  if (settings.train_on_prompt) std::fill(sample.mask.begin(), sample.mask.end(), 1);

  auto length = static_cast<std::int64_t>(sample.ids.size());
  if (settings.cutoff <= 0 || length <= settings.cutoff) return sample;
  if (settings.cutoff_policy == CutoffPolicy::drop || prompt_end >= settings.cutoff) {
    return RenderedSample{{}, {}, RenderOutcome::dropped};
  }
  sample.ids.resize(static_cast<std::size_t>(settings.cutoff));
  sample.mask.resize(static_cast<std::size_t>(settings.cutoff));
  sample.outcome = RenderOutcome::truncated;
  return sample;
}

}  // namespace cotrain
