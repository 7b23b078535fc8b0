// cotrain data stats: what a trace file or a token cache holds.
#include <fmt/ranges.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cotrain/core/error.h"
#include "cotrain/data/reasoning.h"
#include "cotrain/data/stats.h"
#include "cotrain/data/token_cache.h"
#include "commands.h"
#include "data_commands.h"

namespace fs = std::filesystem;

namespace cotrain::cli {
namespace {

struct StatsArgs {
  std::string path, tokenizer, template_name, format = "auto";
  std::vector<std::string> keywords = default_reflection_keywords();
  std::int64_t cutoff = 16384, pack = 0;
  bool json = false;
  int threads = 0;
};

DataStats cache_stats(const StatsArgs& args) {
  TokenCache cache = TokenCache::open(args.path);
  // Responses are decoded, so the tokenizer the cache was made with is needed.
  fs::path tokenizer_path = args.tokenizer.empty() ? cache.tokenizer_path() : fs::path(args.tokenizer);
  if (tokenizer_path.empty() || !fs::exists(tokenizer_path)) {
    fail_input("{}: the cache's tokenizer '{}' is not there; pass --tokenizer", args.path, tokenizer_path.string());
  }
  auto tokenizer = Tokenizer::load(tokenizer_path);
  return token_cache_stats(cache, *tokenizer, args.keywords, args.cutoff);
}

DataStats file_stats(const StatsArgs& args) {
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat_template;
  if (!args.tokenizer.empty()) {
    tokenizer = Tokenizer::load(args.tokenizer);
    chat_template = std::make_unique<ChatTemplate>(ChatTemplate::for_tokenizer(args.tokenizer, args.template_name));
  }
  return trace_file_stats(args.path, trace_format_from_name(args.format), args.keywords, args.cutoff,
                                {tokenizer.get(), chat_template.get(), args.threads});
}

void run_stats(const StatsArgs& args) {
  bool is_cache = fs::is_directory(args.path);
  DataStats stats = is_cache ? cache_stats(args) : file_stats(args);
  stats.pack_capacity = args.pack;
  if (args.json) {
    std::cout << stats_json(stats).dump(2) << '\n';
  } else {
    std::cout << stats_text(stats);
  }
}

}  // namespace

void add_data_stats_command(CLI::App& data) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = data.add_subcommand("stats", "Statistics of a trace file or a token cache");
  cmd->add_option("path", args->path, "trace file (JSONL or JSON array) or token cache directory")->required();
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->add_option("--keywords", args->keywords, "reflection keywords to count (comma-separated)")
      ->delimiter(',')
      ->default_str(fmt::format("{}", fmt::join(default_reflection_keywords(), ",")));
  cmd->add_option("--tokenizer", args->tokenizer, "count tokens of a trace file with this tokenizer (a cache knows its own)");
  cmd->add_option("--template", args->template_name,
                  fmt::format("chat template for token counts: {} or auto (the default: the tokenizer's)",
                              fmt::join(ChatTemplate::known_names(), ", ")));
  cmd->add_option("--cutoff", args->cutoff, "count samples longer than this many tokens")->check(at_least(0))->capture_default_str();
  cmd->add_option("--pack", args->pack, "also report packing into bins of this many tokens (needs token lengths)")->check(at_least(0));
  cmd->add_option("--format", args->format, fmt::format("trace format: {}", fmt::join(trace_format_names(), ", ")))->capture_default_str();
  cmd->add_option("--threads", args->threads, "tokenizer threads (0 = all cores)")->check(at_least(0))->capture_default_str();
  cmd->callback([args] { run_stats(*args); });
}

}  // namespace cotrain::cli
