// Reasoning traces on disk: JSONL (or one JSON array) in the three common shapes, read into
// conversations of {role, content} messages. Every malformed record is named by file and line.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/tokenizer/chat_template.h"

namespace cotrain {

// ordered_json keeps the fields of a record in their file order when it is written back (perturb).
using Json = nlohmann::ordered_json;
using Conversation = std::vector<ChatMessage>;

// sharegpt:        {"system"?, "conversations": [{"from": system|human|user|gpt|assistant, "value"}]}
// openai:          {"messages": [{"role": system|user|assistant, "content"}]}
// prompt_response: {"prompt", "response", "system"?}
// automatic picks one per record from the fields present.
enum class TraceFormat { automatic, sharegpt, openai, prompt_response };

// "auto", "sharegpt", "openai", "prompt-response" (the registry --format accepts); anything else
// throws InputError listing them.
const std::vector<std::string>& trace_format_names();
TraceFormat trace_format_from_name(std::string_view name);
std::string trace_format_name(TraceFormat format);

// The conversation held by one record. Throws InputError whose message is the reason alone
// (e.g. "empty assistant turn (conversations[1].value)"); callers add the file and line.
// A record must have at least one non-empty assistant turn. *detected receives the format used.
Conversation conversation_from_json(const Json& record, TraceFormat format, TraceFormat* detected = nullptr);

// Writes the messages' contents back into the fields they were read from (same record, same
// format, same number of messages): perturbations change text, never the shape of a record.
void store_conversation(Json& record, TraceFormat detected, const Conversation& conversation);

struct TraceRecord {
  std::size_t line = 0;  // 1-based line where the record starts
  Json json;
  Conversation conversation;
  TraceFormat format = TraceFormat::automatic;  // the format it was read as
};

struct BadRecord {
  std::size_t line = 0;
  std::string reason;  // e.g. "bad JSON (byte 12)", "invalid UTF-8", "missing field 'messages'"
  std::string text;    // the record's raw text, invalid UTF-8 replaced by U+FFFD
};

// Reads PATH: JSON Lines, or a single JSON array when the first non-blank byte is '['. Calls
// on_record for each valid record in file order. A bad record goes to on_bad when one is given
// (reading continues), otherwise throws InputError "PATH:LINE: reason".
void for_each_trace(const std::filesystem::path& path, TraceFormat format,
                    const std::function<void(TraceRecord&)>& on_record,
                    const std::function<void(const BadRecord&)>& on_bad = {});

// Assistant turns of a conversation (the responses stats and perturbations look at).
std::vector<const ChatMessage*> assistant_turns(const Conversation& conversation);

}  // namespace cotrain
