#include "cotrain/data/trace.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/signals.h"
#include "cotrain/tokenizer/unicode.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

const Json& field(const Json& record, const char* name) {
  auto it = record.find(name);
  if (it == record.end()) fail_input("missing field '{}'", name);
  return *it;
}

const std::string& string_field(const Json& object, const char* name, const std::string& where) {
  auto it = object.find(name);
  if (it == object.end()) fail_input("missing field '{}'", where);
  if (!it->is_string()) fail_input("field '{}' is not a string", where);
  return it->get_ref<const std::string&>();
}

std::string role_from_sharegpt(const std::string& from, const std::string& where) {
  if (from == "human" || from == "user") return "user";
  if (from == "gpt" || from == "assistant") return "assistant";
  if (from == "system") return "system";
  fail_input("field '{}' is '{}' (expected system, human, user, gpt or assistant)", where, from);
}

// The list of turns of a sharegpt or openai record.
const Json& turn_list(const Json& record, const char* name) {
  const Json& list = field(record, name);
  if (!list.is_array()) fail_input("field '{}' is not an array", name);
  return list;
}

Conversation read_turns(const Json& record, const char* list_name, const char* role_key, const char* text_key,
                        bool sharegpt) {
  Conversation conversation;
  if (record.contains("system")) {
    const std::string& system = string_field(record, "system", "system");
    if (!system.empty()) conversation.push_back({"system", system});
  }
  const Json& list = turn_list(record, list_name);
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string at = fmt::format("{}[{}]", list_name, i);
    if (!list[i].is_object()) fail_input("field '{}' is not an object", at);
    std::string role = string_field(list[i], role_key, at + "." + role_key);
    if (sharegpt) {
      role = role_from_sharegpt(role, at + "." + role_key);
    } else if (role != "system" && role != "user" && role != "assistant") {
      fail_input("field '{}.{}' is '{}' (expected system, user or assistant)", at, role_key, role);
    }
    const std::string& text = string_field(list[i], text_key, at + "." + text_key);
    if (role == "assistant" && text.find_first_not_of(" \t\r\n") == std::string::npos) {
      fail_input("empty assistant turn ({}.{})", at, text_key);
    }
    conversation.push_back({std::move(role), text});
  }
  return conversation;
}

Conversation read_prompt_response(const Json& record) {
  Conversation conversation;
  if (record.contains("system")) {
    const std::string& system = string_field(record, "system", "system");
    if (!system.empty()) conversation.push_back({"system", system});
  }
  conversation.push_back({"user", string_field(record, "prompt", "prompt")});
  const std::string& response = string_field(record, "response", "response");
  if (response.find_first_not_of(" \t\r\n") == std::string::npos) fail_input("empty assistant turn (response)");
  conversation.push_back({"assistant", response});
  return conversation;
}

TraceFormat detect(const Json& record) {
  if (record.contains("conversations")) return TraceFormat::sharegpt;
  if (record.contains("messages")) return TraceFormat::openai;
  if (record.contains("prompt") || record.contains("response")) return TraceFormat::prompt_response;
  fail_input("unknown record shape (expected a 'conversations', 'messages' or 'prompt'/'response' field)");
}

struct RawRecord {
  std::size_t line;
  std::string_view text;
};

// Splits the elements of a top-level JSON array without parsing them, so that each element is
// parsed (and reported) on its own with the line it starts on. An unterminated array yields the
// rest of the file as one last element, which then fails to parse.
std::vector<RawRecord> split_json_array(std::string_view text, std::size_t first) {
  std::vector<RawRecord> records;
  std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + first, '\n'));
  int depth = 1;  // inside the top-level array
  bool in_string = false, escaped = false;
  std::size_t start = std::string_view::npos, start_line = line;
  auto close_element = [&](std::size_t end) {
    if (start != std::string_view::npos) records.push_back({start_line, text.substr(start, end - start)});
    start = std::string_view::npos;
  };
  for (std::size_t i = first; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (depth == 1 && start == std::string_view::npos && c != ',' && c != ']' && !std::isspace(static_cast<unsigned char>(c))) {
      start = i;
      start_line = line;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') ++depth;
    else if (c == '}' || (c == ']' && depth > 1)) --depth;
    else if (c == ']' && depth == 1) { close_element(i); return records; }
    else if (c == ',' && depth == 1) close_element(i);
  }
  if (start == std::string_view::npos) start = text.size(), start_line = line;
  records.push_back({start_line, text.substr(start)});  // unterminated: reported as bad JSON
  return records;
}

std::vector<RawRecord> split_lines(std::string_view text) {
  std::vector<RawRecord> records;
  std::size_t line = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line;
    std::string_view row = text.substr(pos, end - pos);
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    if (row.find_first_not_of(" \t") != std::string_view::npos) records.push_back({line, row});
    pos = end + 1;
  }
  return records;
}

}  // namespace

const std::vector<std::string>& trace_format_names() {
  static const std::vector<std::string> names = {"auto", "sharegpt", "openai", "prompt-response"};  // TraceFormat order
  return names;
}

TraceFormat trace_format_from_name(std::string_view name) {
  const auto& names = trace_format_names();
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) fail_input("--format {}: unknown trace format ({})", name, fmt::join(names, ", "));
  return static_cast<TraceFormat>(it - names.begin());
}

std::string trace_format_name(TraceFormat format) {
  switch (format) {
    case TraceFormat::sharegpt: return "sharegpt";
    case TraceFormat::openai: return "openai";
    case TraceFormat::prompt_response: return "prompt-response";
    default: return "auto";
  }
}

Conversation conversation_from_json(const Json& record, TraceFormat format, TraceFormat* detected) {
  if (!record.is_object()) fail_input("record is not a JSON object");
  if (format == TraceFormat::automatic) format = detect(record);
  if (detected) *detected = format;
  Conversation conversation;
  switch (format) {
    case TraceFormat::sharegpt: conversation = read_turns(record, "conversations", "from", "value", true); break;
    case TraceFormat::openai: conversation = read_turns(record, "messages", "role", "content", false); break;
    default: conversation = read_prompt_response(record); break;
  }
  if (assistant_turns(conversation).empty()) fail_input("no assistant turn");
  return conversation;
}

void store_conversation(Json& record, TraceFormat detected, const Conversation& conversation) {
  std::size_t next = 0;
  bool has_system = record.contains("system") && !record["system"].get_ref<const std::string&>().empty();
  if (has_system) record["system"] = conversation.at(next++).content;
  auto store_list = [&](const char* list, const char* text_key) {
    for (auto& turn : record[list]) turn[text_key] = conversation.at(next++).content;
  };
  switch (detected) {
    case TraceFormat::sharegpt: store_list("conversations", "value"); break;
    case TraceFormat::openai: store_list("messages", "content"); break;
    default:
      record["prompt"] = conversation.at(next++).content;
      record["response"] = conversation.at(next++).content;
      break;
  }
}

std::vector<const ChatMessage*> assistant_turns(const Conversation& conversation) {
  std::vector<const ChatMessage*> turns;
  for (const auto& message : conversation) {
    if (message.role == "assistant") turns.push_back(&message);
  }
  return turns;
}

void for_each_trace(const fs::path& path, TraceFormat format, const std::function<void(TraceRecord&)>& on_record,
                    const std::function<void(const BadRecord&)>& on_bad) {
  std::string text = read_input_file(path);
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text.compare(first, 3, "\xEF\xBB\xBF") == 0) first = text.find_first_not_of(" \t\r\n", first + 3);
  bool array = first != std::string::npos && text[first] == '[';
  std::vector<RawRecord> raw = array ? split_json_array(text, first + 1) : split_lines(text);

  for (std::size_t i = 0; i < raw.size(); ++i) {
    const RawRecord& row = raw[i];
    if ((i & 255) == 255) throw_if_stopped();
    std::string reason;
    TraceRecord record;
    record.line = row.line;
    if (!unicode::is_valid_utf8(row.text)) {
      reason = "invalid UTF-8";
    } else {
      try {
        record.json = parse_json<Json>(row.text, "");
        record.conversation = conversation_from_json(record.json, format, &record.format);
      } catch (const InputError& e) {
        reason = e.what();
        if (reason.rfind(": ", 0) == 0) reason.erase(0, 2);  // parse_json's empty "where"
      }
    }
    if (reason.empty()) {
      on_record(record);
    } else if (on_bad) {
      on_bad(BadRecord{row.line, reason, unicode::repair_utf8(row.text)});
    } else {
      fail_input("{}: {}", where(path, row.line), reason);
    }
  }
  throw_if_stopped();
}

}  // namespace cotrain
