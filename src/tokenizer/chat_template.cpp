// Each family's template written out in C++ from its Jinja source (quoted in
// scripts/reference/tokenizer_chat.py or in shared/tokenizers/*/tokenizer_config.json), for
// conversations of system, user and assistant messages without tools.
#include "cotrain/tokenizer/chat_template.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {
namespace {

// A piece of rendered text; target pieces are what the model learns to produce.
struct Segment {
  std::string text;
  bool target = false;
};
using Segments = std::vector<Segment>;

const std::vector<std::string> kNames = {"qwen2.5", "qwen25", "qwen3", "llama3", "deepseek-r1", "chatml", "none"};
constexpr const char* kQwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// Python's str.strip/lstrip/rstrip with CHARS, or Unicode whitespace when CHARS is empty.
std::string py_strip(std::string_view s, bool left, bool right, std::string_view chars = {}) {
  auto strippable = [&](std::size_t i, int& len) {
    char32_t c = unicode::decode_at(s, i, len);
    return chars.empty() ? unicode::is_space(c) : chars.find(static_cast<char>(c)) != std::string_view::npos && c < 0x80;
  };
  std::size_t begin = 0, end = s.size();
  int len;
  while (left && begin < end && strippable(begin, len)) begin += len;
  while (right && end > begin) {
    std::size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!strippable(start, len)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

void check_roles(const std::vector<ChatMessage>& messages, const std::string& name) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      fail_input("message {}: role \"{}\" is not supported by template {} (system, user, assistant)", i, role, name);
    }
  }
}

// ChatML: Qwen2.5 inserts its default system turn; plain chatml (SmolLM2 and others) does not.
Segments render_chatml(const std::vector<ChatMessage>& m, bool generation_prompt, const char* default_system) {
  Segments out;
  if (default_system && (m.empty() || m[0].role != "system")) {
    out.push_back({std::string("<|im_start|>system\n") + default_system + "<|im_end|>\n"});
  }
  for (const auto& message : m) {
    bool assistant = message.role == "assistant";
    out.push_back({"<|im_start|>" + message.role + "\n"});
    out.push_back({message.content + "<|im_end|>", assistant});
    out.push_back({"\n"});
  }
  if (generation_prompt) out.push_back({"<|im_start|>assistant\n"});
  return out;
}

// SkyThought's LLaMA-Factory `qwen25` template, the one Sky-T1 was trained with: ChatML headers,
// but every assistant turn ends with <|endoftext|> (LLaMA-Factory's replaced eos) instead of
// "<|im_end|>\n", each user turn carries the assistant header, and a "\n" separates an assistant
// turn from the next user turn. An empty system prompt takes the default one, as there.
Segments render_skythought_qwen25(const std::vector<ChatMessage>& m) {
  std::string system = !m.empty() && m[0].role == "system" ? m[0].content : "";
  Segments out{{"<|im_start|>system\n" + (system.empty() ? std::string(kQwenDefaultSystem) : system) + "<|im_end|>\n"}};
  bool after_assistant = false;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i].role == "system") {
      if (i != 0) fail_input("message {} is a system message; template qwen25 takes one, first", i);
      continue;
    }
    if (m[i].role == "user") {
      out.push_back({std::string(after_assistant ? "\n" : "") + "<|im_start|>user\n" + m[i].content + "<|im_end|>\n<|im_start|>assistant\n"});
    } else {
      out.push_back({m[i].content + "<|endoftext|>", true});
    }
    after_assistant = m[i].role == "assistant";
  }
  return out;
}

Segments render_qwen3(const std::vector<ChatMessage>& m, bool generation_prompt) {
  auto starts_ends = [](const std::string& s, std::string_view a, std::string_view b) {
    return s.starts_with(a) && s.ends_with(b);
  };
  // The last user turn that is not a tool response: reasoning is kept only after it.
  std::ptrdiff_t last_query = static_cast<std::ptrdiff_t>(m.size()) - 1;
  for (std::ptrdiff_t i = last_query; i >= 0; --i) {
    if (m[i].role == "user" && !starts_ends(m[i].content, "<tool_response>", "</tool_response>")) {
      last_query = i;
      break;
    }
  }
  Segments out;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const ChatMessage& message = m[i];
    if (message.role != "assistant") {
      out.push_back({"<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n"});
      continue;
    }
    std::string content = message.content, reasoning;
    if (auto close = content.find("</think>"); close != std::string::npos) {
      std::string before = content.substr(0, close);
      content = py_strip(content.substr(content.rfind("</think>") + 8), true, false, "\n");
      std::string inner = py_strip(before, false, true, "\n");
      if (auto open = inner.rfind("<think>"); open != std::string::npos) inner = inner.substr(open + 7);
      reasoning = py_strip(inner, true, false, "\n");
    }
    out.push_back({"<|im_start|>assistant\n"});
    std::string body = content;
    if (static_cast<std::ptrdiff_t>(i) > last_query && (i + 1 == m.size() || !reasoning.empty())) {
      body = "<think>\n" + py_strip(reasoning, true, true, "\n") + "\n</think>\n\n" + py_strip(content, true, false, "\n");
    }
    out.push_back({body + "<|im_end|>", true});
    out.push_back({"\n"});
  }
  if (generation_prompt) out.push_back({"<|im_start|>assistant\n"});
  return out;
}

Segments render_llama3(const std::vector<ChatMessage>& m, bool generation_prompt) {
  Segments out;
  for (std::size_t i = 0; i < m.size(); ++i) {
    std::string header = i == 0 ? "<|begin_of_text|>" : "";
    out.push_back({header + "<|start_header_id|>" + m[i].role + "<|end_header_id|>\n\n"});
    out.push_back({py_strip(m[i].content, true, true) + "<|eot_id|>", m[i].role == "assistant"});
  }
  if (generation_prompt) out.push_back({"<|start_header_id|>assistant<|end_header_id|>\n\n"});
  return out;
}

Segments render_deepseek_r1(const std::vector<ChatMessage>& m, bool generation_prompt) {
  std::string system;
  bool first_system = true;
  for (const auto& message : m) {
    if (message.role != "system") continue;
    if (!first_system) system += "\n\n";
    system += message.content;
    first_system = false;
  }
  Segments out{{"<｜begin▁of▁sentence｜>" + system}};
  for (const auto& message : m) {
    if (message.role == "user") out.push_back({"<｜User｜>" + message.content});
    if (message.role != "assistant") continue;
    // The template drops the reasoning: only what follows the last </think> is kept.
    std::string content = message.content;
    if (auto close = content.rfind("</think>"); close != std::string::npos) content = content.substr(close + 8);
    out.push_back({"<｜Assistant｜>"});
    out.push_back({content + "<｜end▁of▁sentence｜>", true});
  }
  if (generation_prompt) out.push_back({"<｜Assistant｜><think>\n"});
  return out;
}

Segments render_none(const std::vector<ChatMessage>& m) {
  Segments out;
  for (const auto& message : m) out.push_back({message.content, message.role == "assistant"});
  return out;
}

}  // namespace

const std::vector<std::string>& ChatTemplate::known_names() { return kNames; }

ChatTemplate ChatTemplate::for_tokenizer(const std::filesystem::path& tokenizer, const std::string& name) {
  return name.empty() || name == "auto" ? detect(tokenizer) : by_name(name);
}

ChatTemplate ChatTemplate::by_name(const std::string& name) {
  if (std::find(kNames.begin(), kNames.end(), name) == kNames.end()) {
    fail_input("--template {}: unknown chat template (known: {})", name, fmt::join(kNames, ", "));
  }
  return ChatTemplate(name);
}

ChatTemplate ChatTemplate::detect(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config = path.filename() == "tokenizer_config.json" ? path : dir / "tokenizer_config.json";
  // transformers >= 4.43 saves the template beside tokenizer_config.json and reads it from there first.
  const fs::path jinja = dir / "chat_template.jinja";
  std::string text, source;
  if (fs::exists(jinja)) {
    text = read_input_file(jinja, kMaxJsonFileBytes);
    source = jinja.string();
  } else if (fs::exists(config)) {
    nlohmann::json root = read_json_file(config);
    source = config.string();
    auto field = root.is_object() ? root.find("chat_template") : root.end();
    if (field == root.end() || field->is_null()) {
    } else if (field->is_string()) {
      text = field->get<std::string>();
    } else if (field->is_array()) {  // [{"name": "default", "template": ...}, ...]
      for (const auto& entry : *field) {
        auto name = entry.is_object() ? entry.find("name") : entry.end();
        if (name == entry.end() || *name != "default") continue;
        auto body = entry.find("template");
        if (body == entry.end() || !body->is_string()) fail_input("{}: chat_template's default entry has no string \"template\"", source);
        text = body->get<std::string>();
      }
    } else {
      fail_input("{}: chat_template is neither a string nor a list of named templates", source);
    }
  } else {
    fail_input("{}: no chat_template.jinja or tokenizer_config.json, so the chat template cannot be detected (choose one with "
               "--template: {})", dir.string(), fmt::join(kNames, ", "));
  }
  if (text.empty()) fail_input("{}: no chat_template (choose one with --template: {})", source, fmt::join(kNames, ", "));
  auto has = [&](std::string_view s) { return text.find(s) != std::string::npos; };
  if (has("<｜Assistant｜>") && has("<｜User｜>") && has("</think>")) return ChatTemplate("deepseek-r1");
  if (has("<|start_header_id|>") && !has("Cutting Knowledge Date")) return ChatTemplate("llama3");
  if (has("<|im_start|>") && has(kQwenDefaultSystem)) return ChatTemplate("qwen2.5");
  if (has("<|im_start|>") && has("reasoning_content") && has("<think>")) return ChatTemplate("qwen3");
  if (has("<|im_start|>") && has("<|im_end|>")) {
    if (has("loop.first and messages[0]['role'] != 'system'")) {
      spdlog::warn("{}: a ChatML template with a default system turn of its own; rendering it as chatml, which adds none "
                   "(give the system prompt explicitly to have one)", source);
    }
    return ChatTemplate("chatml");
  }
  fail_input("{}: chat_template is none of the known templates (choose one with --template: {})", source, fmt::join(kNames, ", "));
}

namespace {

Segments render_segments(const std::string& name, const std::vector<ChatMessage>& messages, bool generation_prompt) {
  check_roles(messages, name);
  if (name == "qwen2.5") return render_chatml(messages, generation_prompt, kQwenDefaultSystem);
  if (name == "qwen25") return render_skythought_qwen25(messages);  // its user turns end in the assistant header
  if (name == "chatml") return render_chatml(messages, generation_prompt, nullptr);
  if (name == "qwen3") return render_qwen3(messages, generation_prompt);
  if (name == "llama3") return render_llama3(messages, generation_prompt);
  if (name == "deepseek-r1") return render_deepseek_r1(messages, generation_prompt);
  return render_none(messages);
}

}  // namespace

std::string ChatTemplate::render_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  std::string text;
  for (const auto& segment : render_segments(name_, messages, add_generation_prompt)) text += segment.text;
  return text;
}

RenderedChat ChatTemplate::render(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                                  const RenderOptions& options) const {
  Segments segments = render_segments(name_, messages, options.add_generation_prompt);
  RenderedChat out;
  // Ids come from the whole text (tokens may cross segment borders). To place the borders among
  // the tokens, segments are normalised one by one (normalisation never joins across these
  // borders) and the tokens' decoded bytes are counted against them.
  std::string normalized;
  std::vector<std::pair<std::size_t, std::size_t>> targets;  // byte ranges in `normalized`
  for (const auto& segment : segments) {
    out.text += segment.text;
    std::size_t start = normalized.size();
    normalized += tokenizer.normalize(segment.text);
    if (segment.target && normalized.size() > start) targets.emplace_back(start, normalized.size());
  }
  out.ids = tokenizer.encode(normalized);
  out.mask.assign(out.ids.size(), options.train_on_prompt ? 1 : 0);
  std::vector<std::size_t> lengths(out.ids.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < out.ids.size(); ++i) total += lengths[i] = tokenizer.token_bytes(out.ids[i]).size();
  // sentencepiece adds a leading space ("▁") that is not in the text: count from before it.
  std::ptrdiff_t position = -static_cast<std::ptrdiff_t>(total > normalized.size() ? total - normalized.size() : 0);
  std::size_t next_target = 0;
  for (std::size_t i = 0; i < out.ids.size(); ++i) {
    std::ptrdiff_t begin = position, end = position + static_cast<std::ptrdiff_t>(lengths[i]);
    position = end;
    while (next_target < targets.size() && static_cast<std::ptrdiff_t>(targets[next_target].second) <= begin) ++next_target;
    // A token that overlaps assistant text is a target, also one that straddles its border.
    if (next_target < targets.size() && static_cast<std::ptrdiff_t>(targets[next_target].first) < end && end > begin) out.mask[i] = 1;
  }
  if (!options.add_generation_prompt && std::find(out.mask.begin(), out.mask.end(), 1) == out.mask.end()) {
    fail_input("nothing to train on (no assistant content) with template {}", name_);
  }
  return out;
}

}  // namespace cotrain
