#include "cotrain/generate/run.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/core/signals.h"
#include "cotrain/generate/generation_config.h"
#include "cotrain/generate/generator.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/peft_adapter.h"
#include "cotrain/model/weights.h"

namespace cotrain {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::uint64_t fnv1a(std::uint64_t h, std::int64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ static_cast<std::uint8_t>(v >> (8 * i))) * 0x100000001B3ull;
  return h;
}

json record_json(const SampleRecord& r) {
  json line = {{"prompt_index", r.prompt}, {"sample_index", r.sample}, {"text", r.text}, {"tokens", r.tokens},
               {"finish_reason", r.finish_reason}};
  if (!r.stop.empty()) line["stop"] = r.stop;
  return line;
}

SampleRecord record_of(const json& row, const std::string& at) {
  if (!row.is_object()) fail_input("{}: not a generation line (prompt_index, sample_index, text, tokens, finish_reason)", at);
  return with_json_errors(at, [&] {
    SampleRecord r;
    r.prompt = row.at("prompt_index").get<std::size_t>();
    r.sample = row.at("sample_index").get<std::size_t>();
    r.text = row.at("text").get<std::string>();
    r.tokens = row.at("tokens").get<std::int64_t>();
    r.finish_reason = row.at("finish_reason").get<std::string>();
    r.stop = row.value("stop", "");
    return r;
  });
}

// The complete prompts of an earlier run of OUT: a torn last line (no newline) and prompts with
// fewer than n samples are dropped, and OUT is rewritten without them.
std::map<std::size_t, std::vector<SampleRecord>> resume(const fs::path& out, std::size_t prompts, std::int64_t n) {
  std::map<std::size_t, std::vector<SampleRecord>> done;
  if (!fs::exists(out)) return done;
  const std::string text = read_input_file(out);
  bool changed = !text.empty() && text.back() != '\n';
  if (changed) spdlog::warn("{}: dropping a torn last line (the run was killed while writing it)", out.string());
  std::map<std::size_t, std::map<std::size_t, SampleRecord>> seen;
  std::size_t line_no = 0, begin = 0;
  for (std::size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    ++line_no;
    const std::string at = out.string() + ":" + std::to_string(line_no);
    SampleRecord r = record_of(parse_json(std::string_view(text).substr(begin, end - begin), at), at);
    if (r.prompt >= prompts || r.sample >= static_cast<std::size_t>(n)) fail_input("{}: prompt {} sample {} is outside this run", at, r.prompt, r.sample);
    const std::size_t prompt = r.prompt, sample = r.sample;
    seen[prompt][sample] = std::move(r);
  }
  for (auto& [prompt, samples] : seen) {
    if (static_cast<std::int64_t>(samples.size()) < n) {
      changed = true;
      continue;
    }
    for (auto& [_, r] : samples) done[prompt].push_back(std::move(r));
  }
  if (changed) {
    AtomicFile rewrite(out);
    for (const auto& [_, samples] : done)
      for (const auto& r : samples) rewrite.stream() << record_json(r).dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    rewrite.commit();
  }
  return done;
}

}  // namespace

GenerationRun run_generation(const GenerationJob& job, const std::vector<Conversation>& conversations, const fs::path& out) {
  GenerationSettings settings = job.settings;
  check_generation_settings(settings);
  if (conversations.empty()) fail_input("no prompts to generate for");
  if (job.threads > 0) torch::set_num_threads(job.threads);
  const auto device = parse_device(job.device);
  const auto dtype = parse_scalar_type(job.dtype, device);
  auto tokenizer = Tokenizer::load(job.model);
  const ChatTemplate chat = ChatTemplate::for_tokenizer(job.model, job.template_name);
  if (settings.eos_token_ids.empty()) settings.eos_token_ids = read_eos_token_ids(job.model);
  if (settings.eos_token_ids.empty()) spdlog::warn("{}: no eos_token_id; samples end only at stop strings or the length limit", job.model.string());
  const std::string system = resolve_system_prompt(job.system);

  std::vector<PromptIds> prompts;
  std::uint64_t hash = 0xCBF29CE484222325ull;
  RenderOptions render;
  render.add_generation_prompt = true;
  for (std::size_t i = 0; i < conversations.size(); ++i) {
    auto ids = chat.render(*tokenizer, with_system(conversations[i], system), render).ids;
    prompts.push_back({i, std::vector<std::int64_t>(ids.begin(), ids.end())});
    for (auto id : ids) hash = fnv1a(hash, id);
    hash = fnv1a(hash, -1);
  }
  GenerationRun run;
  run.settings = {{"model", fs::absolute(job.model).lexically_normal().string()},
                  {"adapter", job.adapter.empty() ? "" : fs::absolute(job.adapter).lexically_normal().string()},
                  {"template", chat.name()},
                  {"system", system},
                  {"dtype", dtype == torch::kFloat32 ? "float32" : dtype == torch::kBFloat16 ? "bfloat16" : "float16"},
                  {"n", settings.n},
                  {"temperature", settings.sampling.temperature},
                  {"top_p", settings.sampling.top_p},
                  {"top_k", settings.sampling.top_k},
                  {"max_new_tokens", settings.max_new_tokens},
                  {"seed", settings.seed},
                  {"stop", settings.stop},
                  {"eos_token_ids", settings.eos_token_ids},
                  {"prompts", prompts.size()},
                  {"prompts_hash", fmt::format("{:016x}", hash)}};

  const fs::path sidecar = out.string() + ".settings.json";
  if (fs::exists(out) || fs::exists(sidecar)) {
    if (!fs::exists(sidecar)) fail_input("{}: exists without {}; give another output or remove it", out.string(), sidecar.string());
    const json before = read_json_file(sidecar);
    if (!before.is_object()) fail_input("{}: expected a JSON object", sidecar.string());
    for (auto& [key, value] : run.settings.items()) {
      if (!before.contains(key) || before[key] != value) {
        fail_input("{}: made with other settings ({}: {} then, {} now); give another output or remove it", out.string(), key,
                   before.contains(key) ? before[key].dump() : "absent", value.dump());
      }
    }
  } else {
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    AtomicFile file(sidecar);
    file.stream() << run.settings.dump(2) << '\n';
    file.commit();
  }

  auto done = resume(out, prompts.size(), settings.n);
  run.samples.resize(prompts.size());
  std::vector<PromptIds> todo;
  for (auto& p : prompts) {
    if (auto it = done.find(p.index); it != done.end()) {
      run.samples[p.index] = std::move(it->second);
      ++run.resumed_prompts;
    } else {
      todo.push_back(std::move(p));
    }
  }
  if (run.resumed_prompts) spdlog::info("{}: {} of {} prompts already done", out.string(), run.resumed_prompts, prompts.size());
  if (todo.empty()) return run;

  auto model = load_model(job.model, dtype, device);
  if (!job.adapter.empty()) {  // merged as `cotrain export` merges it: decoding then costs what the base model's does
    load_peft_adapter(model, job.adapter);
    merge_lora(model);
  }
  model->eval();
  model->pack_for_inference(settings.batch_size);
  std::ofstream file(out, std::ios::binary | std::ios::app);
  if (!file) fail_runtime("{}: cannot open for appending", out.string());
  Progress progress("generating", static_cast<std::int64_t>(todo.size()), "prompts");
  std::size_t finished = 0;
  const auto start = std::chrono::steady_clock::now();
  generate(model, *tokenizer, todo, settings, [&](std::vector<Completion>&& samples) {
    std::string lines;
    for (auto& c : samples) {
      SampleRecord r{c.prompt, c.sample, std::move(c.text), static_cast<std::int64_t>(c.tokens.size()), c.finish_reason, c.stop};
      lines += record_json(r).dump(-1, ' ', false, json::error_handler_t::replace) + '\n';
      run.new_tokens += r.tokens;
      run.samples[r.prompt].push_back(std::move(r));
    }
    file << lines << std::flush;  // one write per prompt: a kill tears at most its last line
    if (!file) fail_runtime("{}: write failed", out.string());
    ++finished;
    progress.advance();
  });
  progress.finish();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (finished < todo.size()) {  // generate() stops early only when a stop was requested
    throw_if_stopped(fmt::format("{} of {} prompts done in {}; run the same command again to continue", run.resumed_prompts + finished,
                                 prompts.size(), out.string())
                         .c_str());
    fail_runtime("{}: {} of {} prompts done", out.string(), run.resumed_prompts + finished, prompts.size());
  }
  return run;
}

}  // namespace cotrain
