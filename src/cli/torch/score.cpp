// cotrain score: per-token log-probabilities of JSONL sequences under a model.
//   in:  {"input_ids": [...]}  or  {"text": "..."} (tokenised with the model's tokenizer)
//   out: {"logprobs": [...], "nll": x, "tokens": n}, one line per input line, in input order;
//        logprobs[t-1] = log p(x_t | x_<t) for t = 1..n-1 and nll = -sum(logprobs).
//   --adapter DIR scores through a PEFT LoRA adapter on top of --model.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/data/token_input.h"
#include "cotrain/model/peft_adapter.h"
#include "cotrain/model/score.h"
#include "cotrain/tokenizer/tokenizer.h"
#include "torch/device_options.h"

namespace cotrain::cli {
namespace {

struct ScoreOptions {
  std::string model, adapter, input, out = "-", tokenizer;
  std::int64_t max_tokens = 8192;
  DeviceOptions device;
};

void run(const ScoreOptions& o) {
  o.device.apply_threads();
  auto model = load_model(o.model, o.device.resolved_dtype(), o.device.resolved_device());
  if (!o.adapter.empty()) load_peft_adapter(model, o.adapter);
  model->eval();
  std::unique_ptr<Tokenizer> tokenizer;
  auto sequences = read_token_sequences(o.input, model->config.vocab_size, [&]() -> const Tokenizer& {
    if (!tokenizer) tokenizer = Tokenizer::load(o.tokenizer.empty() ? o.model : o.tokenizer);
    return *tokenizer;
  });
  std::int64_t total = 0;
  for (const auto& s : sequences) total += static_cast<std::int64_t>(s.size());
  OutputSink out(o.out);  // opened before the work so an unwritable --out fails fast
  Progress progress("scoring", total, "tokens");
  auto scores = score_sequences(model, sequences, o.max_tokens, [&](std::int64_t n) { progress.advance(n); });
  progress.finish();
  for (std::size_t i = 0; i < scores.size(); ++i) {
    nlohmann::json row = {{"logprobs", scores[i].logprobs}, {"nll", scores[i].nll}, {"tokens", sequences[i].size()}};
    out.stream() << row.dump() << "\n";
  }
  out.commit();
  spdlog::info("scored {} sequences, {} tokens", sequences.size(), total);
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto o = std::make_shared<ScoreOptions>();
  auto* cmd = app.add_subcommand("score", "Per-token log-probabilities of JSONL sequences ({\"input_ids\"} or {\"text\"})");
  cmd->add_option("--model", o->model, "model directory")->required();
  cmd->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory to score through (unmerged, as peft runs it)");
  cmd->add_option("--input", o->input, "JSONL file, one {\"input_ids\": [...]} or {\"text\": ...} per line ('-' for stdin)")->required();
  cmd->add_option("--out", o->out, "output JSONL (- for stdout)")->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer for {\"text\"} lines (default: the model directory's)");
  cmd->add_option("--max-tokens", o->max_tokens, "tokens per packed batch row")->check(CLI::PositiveNumber)->capture_default_str();
  o->device.add_to(cmd);
  cmd->callback([o] { run(*o); });
}

}  // namespace cotrain::cli
