// Prompts for generation: JSONL input lines and the system prompts known by name.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/tokenizer/chat_template.h"

namespace cotrain {

using Conversation = std::vector<ChatMessage>;

// One conversation per line: {"prompt": "..."} (a user message) or {"messages": [{"role",
// "content"}, ...]}. Errors name the file and line.
std::vector<Conversation> read_prompt_file(const std::filesystem::path& path);

// "sky-t1": the system prompt SkyThought evaluates Sky-T1 with (byte for byte, including the runs
// of spaces its Python source leaves in it); "qwen-cot": SkyThought's prompt for the Qwen2.5
// instruct baselines. Any other text is the system prompt itself; "" is none.
std::string resolve_system_prompt(const std::string& name_or_text);
const std::vector<std::string>& system_prompt_names();

// CONVERSATION with a SYSTEM message first when it has none of its own (SYSTEM "" changes nothing).
Conversation with_system(Conversation conversation, const std::string& system);

}  // namespace cotrain
