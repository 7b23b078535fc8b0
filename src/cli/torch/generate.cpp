// cotrain generate: samples from a model for JSONL prompts ({"prompt"} or {"messages"} lines).
#include <spdlog/spdlog.h>

#include "commands.h"
#include "cotrain/generate/run.h"
#include "generation_flags.h"

namespace cotrain::cli {
namespace {

struct GenerateArgs {
  GenerationJob job;
  std::string input, out;
};

void run(const GenerateArgs& a) {
  auto conversations = read_prompt_file(a.input);
  auto result = run_generation(a.job, conversations, a.out);
  std::size_t samples = 0, truncated = 0;
  for (const auto& prompt : result.samples) {
    samples += prompt.size();
    for (const auto& s : prompt) truncated += s.finish_reason == "length";
  }
  spdlog::info("{}: {} prompts ({} resumed), {} samples, {} hit the token limit; {} new tokens in {:.1f} s ({:.1f} tokens/s)",
               a.out, result.samples.size(), result.resumed_prompts, samples, truncated, result.new_tokens, result.seconds,
               result.seconds > 0 ? static_cast<double>(result.new_tokens) / result.seconds : 0.0);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Sample from a model for JSONL prompts (resumable)");
  add_generation_flags(cmd, a->job, /*with_model=*/true);
  cmd->add_option("--input", a->input, "JSONL: {\"prompt\": ...} or {\"messages\": [{\"role\", \"content\"}]} per line")->required();
  cmd->add_option("--out", a->out, "JSONL, one line per sample; OUT.settings.json records the settings")->required();
  cmd->callback([a] { run(*a); });
}

}  // namespace cotrain::cli
