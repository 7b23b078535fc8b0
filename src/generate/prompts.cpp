#include "cotrain/generate/prompts.h"

#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {
namespace {

// SkyThought's Sky-T1 prompt is a Python literal continued over lines with backslashes, so each
// line break became the indentation of the next line (8 spaces after the line's last space), and
// '\n\n' inside it is two real newlines.
std::string sky_t1_prompt() {
  static const char* lines[] = {
      "Your role as an assistant involves thoroughly exploring questions through a systematic long ",
      "thinking process before providing the final precise and accurate solutions. This requires ",
      "engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, ",
      "backtracing, and iteration to develop well-considered thinking process. ",
      "Please structure your response into two main sections: Thought and Solution. ",
      "In the Thought section, detail your reasoning process using the specified format: ",
      "<|begin_of_thought|> {thought with steps separated with '\n\n'} ",
      "<|end_of_thought|> ",
      "Each step should include detailed considerations such as analisying questions, summarizing ",
      "relevant findings, brainstorming new ideas, verifying the accuracy of the current steps, refining ",
      "any errors, and revisiting previous steps. ",
      "In the Solution section, based on various attempts, explorations, and reflections from the Thought ",
      "section, systematically present the final solution that you deem correct. The solution should ",
      "remain a logical, accurate, concise expression style and detail necessary step needed to reach the ",
      "conclusion, formatted as follows: ",
      "<|begin_of_solution|> ",
      "{final formatted, precise, and clear solution} ",
      "<|end_of_solution|> ",
      "Now, try to solve the following question through the above guidelines:"};
  std::string out;
  for (const char* line : lines) out += (out.empty() ? "" : "        ") + std::string(line);
  return out;
}

}  // namespace

const std::vector<std::string>& system_prompt_names() {
  static const std::vector<std::string> names = {"sky-t1", "qwen-cot"};
  return names;
}

std::string resolve_system_prompt(const std::string& name_or_text) {
  if (name_or_text == "sky-t1") return sky_t1_prompt();
  if (name_or_text == "qwen-cot") return "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. You should think step-by-step.";
  return name_or_text;
}

Conversation with_system(Conversation conversation, const std::string& system) {
  if (system.empty() || (!conversation.empty() && conversation[0].role == "system")) return conversation;
  conversation.insert(conversation.begin(), ChatMessage{"system", system});
  return conversation;
}

std::vector<Conversation> read_prompt_file(const std::filesystem::path& path) {
  std::vector<Conversation> out;
  for_each_jsonl(path, [&](nlohmann::json& row, std::size_t line) {
    const std::string at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected an object with \"prompt\" or \"messages\"", at);
    Conversation c;
    if (auto p = row.find("prompt"); p != row.end()) {
      if (!p->is_string()) fail_input("{}: prompt: not a string", at);
      c.push_back({"user", p->get<std::string>()});
    } else if (auto m = row.find("messages"); m != row.end()) {
      if (!m->is_array() || m->empty()) fail_input("{}: messages: not a non-empty list", at);
      for (std::size_t i = 0; i < m->size(); ++i) {
        const auto& msg = (*m)[i];
        if (!msg.is_object() || !msg.contains("role") || !msg.contains("content") || !msg["role"].is_string() ||
            !msg["content"].is_string()) {
          fail_input("{}: messages[{}]: expected {{\"role\": string, \"content\": string}}", at, i);
        }
        c.push_back({msg["role"].get<std::string>(), msg["content"].get<std::string>()});
      }
    } else {
      fail_input("{}: expected an object with \"prompt\" or \"messages\"", at);
    }
    out.push_back(std::move(c));
  });
  if (out.empty()) fail_input("{}: no prompts", path.string());
  return out;
}

}  // namespace cotrain
