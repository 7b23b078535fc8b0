// cotrain data prepare: trace files -> a token cache for training.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "cotrain/data/prepare.h"
#include "commands.h"
#include "data_commands.h"

namespace cotrain::cli {
namespace {

struct PrepareArgs {
  std::vector<std::string> data;
  std::string tokenizer, out, template_name, format = "auto", on_error = "fail", cutoff_policy = "drop", system_prompt;
  std::int64_t cutoff = 16384;
  bool train_on_prompt = false, system_prompt_set = false, force = false;
  int threads = 0;
};

void run_prepare(const PrepareArgs& args) {
  PrepareSettings settings;
  settings.inputs.assign(args.data.begin(), args.data.end());
  settings.tokenizer = args.tokenizer;
  settings.template_name = args.template_name;
  settings.format = trace_format_from_name(args.format);
  settings.render.cutoff = args.cutoff;
  settings.render.cutoff_policy = cutoff_policy_from_name(args.cutoff_policy);
  settings.render.train_on_prompt = args.train_on_prompt;
  if (args.system_prompt_set) settings.render.system_prompt = args.system_prompt;
  settings.on_error = on_error_from_name(args.on_error);
  settings.threads = args.threads;

  std::string why;
  if (!args.force && cache_matches(args.out, settings, &why)) {
    spdlog::info("token cache {} is up to date (same inputs and settings); --force rebuilds it", args.out);
    return;
  }
  if (std::filesystem::exists(std::filesystem::path(args.out) / "manifest.json")) {
    spdlog::info("rebuilding {}: {}", args.out, args.force ? "--force" : why);
  }
  PrepareReport r = prepare_token_cache(settings, args.out);
  spdlog::info("prepared {}: {} documents, {} tokens ({} targets) from {} records in {:.1f} s ({:.1f} MB/s)", args.out,
               r.documents, r.tokens, r.target_tokens, r.records, r.seconds,
               r.seconds > 0 ? static_cast<double>(r.input_bytes) / 1e6 / r.seconds : 0.0);
  if (r.dropped > 0) spdlog::warn("{} samples over the cutoff of {} tokens dropped", r.dropped, args.cutoff);
  if (r.truncated > 0) spdlog::warn("{} samples over the cutoff of {} tokens truncated", r.truncated, args.cutoff);
  if (r.documents == 0) spdlog::warn("the cache holds no documents: nothing to train on");
  if (r.skipped > 0) spdlog::warn("{} lines skipped (reasons in {}/rejects.jsonl)", r.skipped, args.out);
}

}  // namespace

void add_data_prepare_command(CLI::App& data) {
  auto args = std::make_shared<PrepareArgs>();
  CLI::App* cmd = data.add_subcommand("prepare", "Tokenise trace files into a token cache for training");
  cmd->add_option("--data", args->data, "trace files (JSONL or JSON arrays)")->required()->expected(1, -1);
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json, .model, or a model directory")->required();
  cmd->add_option("--out", args->out, "cache directory to create (replaced only when complete)")->required();
  cmd->add_option("--template", args->template_name,
                  fmt::format("chat template: {} or auto (the default: the tokenizer's, from chat_template.jinja or tokenizer_config.json)",
                              fmt::join(ChatTemplate::known_names(), ", ")));
  cmd->add_option("--cutoff", args->cutoff, "longest sample in tokens (0 = no limit)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--cutoff-policy", args->cutoff_policy, "drop or truncate (keeps the prompt) samples over the cutoff")
      ->capture_default_str();
  cmd->add_flag("--train-on-prompt", args->train_on_prompt, "train on every token, not only the assistant turns");
  cmd->add_option("--system-prompt", args->system_prompt, "replace every sample's system prompt")
      ->each([args](const std::string&) { args->system_prompt_set = true; });
  cmd->add_option("--format", args->format, fmt::format("trace format: {}", fmt::join(trace_format_names(), ", ")))->capture_default_str();
  cmd->add_option("--on-error", args->on_error, "fail (stop at the first bad line) or skip (to DIR/rejects.jsonl)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "tokenizer threads (0 = all cores)")->check(at_least(0))->capture_default_str();
  cmd->add_flag("--force", args->force, "rebuild even when --out already matches the inputs and settings");
  cmd->callback([args] { run_prepare(*args); });
}

}  // namespace cotrain::cli
