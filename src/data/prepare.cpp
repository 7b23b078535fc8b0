#include "cotrain/data/prepare.h"

#include <chrono>
#include <fstream>
#include <memory>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/core/signals.h"
#include "cotrain/core/version.h"
#include "cotrain/data/token_cache.h"
#include "cotrain/core/parallel.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

constexpr std::size_t kBatchRecords = 256;

ChatTemplate resolve_template(const PrepareSettings& settings) {
  return ChatTemplate::for_tokenizer(settings.tokenizer, settings.template_name);
}

nlohmann::ordered_json file_entry(const fs::path& path) {
  std::uint64_t size = check_input_file(path);
  return {{"path", fs::absolute(path).lexically_normal().string()}, {"size", size}, {"fnv1a64", file_hash(path)}};
}

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ull;

std::uint64_t fnv1a64(std::uint64_t hash, std::string_view bytes) {
  for (char c : bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return hash;
}

}  // namespace

OnError on_error_from_name(std::string_view name) {
  if (name == "fail") return OnError::fail;
  if (name == "skip") return OnError::skip;
  fail_input("--on-error {}: unknown value (fail, skip)", name);
}

std::string file_hash(const fs::path& path) {
  std::ifstream in = open_input_file(path);
  std::uint64_t hash = kFnvOffset;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a64(hash, std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())));
  }
  if (in.bad()) fail_runtime("{}: read error", path.string());
  return fmt::format("{:016x}", hash);
}

std::string text_hash(std::string_view text) { return fmt::format("{:016x}", fnv1a64(kFnvOffset, text)); }

nlohmann::ordered_json cache_key(const PrepareSettings& settings) {
  nlohmann::ordered_json key;
  key["format"] = kTokenCacheFormat;
  key["version"] = kTokenCacheVersion;
  key["cotrain_version"] = cotrain::version();
  key["inputs"] = nlohmann::ordered_json::array();
  for (const auto& input : settings.inputs) key["inputs"].push_back(file_entry(input));
  // Every file the ids may come from (a Llama-2 directory's tokenizer.json and tokenizer.model):
  // which one Tokenizer::load takes depends on whether it can read the first.
  key["tokenizer"] = nlohmann::ordered_json::array();
  for (const auto& file : tokenizer_files(settings.tokenizer)) key["tokenizer"].push_back(file_entry(file));
  key["template"] = resolve_template(settings).name();
  key["trace_format"] = trace_format_name(settings.format);
  key["cutoff"] = settings.render.cutoff;
  key["cutoff_policy"] = cutoff_policy_name(settings.render.cutoff_policy);
  key["train_on_prompt"] = settings.render.train_on_prompt;
  key["system_prompt"] = settings.render.system_prompt ? nlohmann::ordered_json(*settings.render.system_prompt) : nullptr;
  key["on_error"] = settings.on_error == OnError::fail ? "fail" : "skip";
  return key;
}

bool cache_matches(const fs::path& dir, const PrepareSettings& settings, std::string* why) {
  auto say = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  nlohmann::ordered_json manifest;
  try {
    manifest = TokenCache::open(dir).manifest();
  } catch (const InputError& e) {
    return say(e.what());
  }
  nlohmann::ordered_json key = cache_key(settings);
  for (const auto& [name, value] : key.items()) {
    if (!manifest.contains(name) || manifest[name] != value) {
      if (name == "inputs" && manifest.contains(name) && manifest[name].size() == value.size()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (manifest[name][i] != value[i]) return say(fmt::format("input {} changed", value[i]["path"].get<std::string>()));
        }
      }
      return say(fmt::format("'{}' differs (cache: {}, now: {})", name, manifest.value(name, nlohmann::ordered_json()).dump(),
                             value.dump()));
    }
  }
  return true;
}

PrepareReport prepare_token_cache(const PrepareSettings& settings, const fs::path& out) {
  auto start = std::chrono::steady_clock::now();
  if (settings.inputs.empty()) fail_input("--data: no input files");
  // A cache replaces only a cache: never a user's directory given as --out by mistake.
  check_output_dir(out, kTokenCacheKind);
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::load(settings.tokenizer);
  ChatTemplate chat_template = resolve_template(settings);
  nlohmann::ordered_json manifest = cache_key(settings);

  AtomicDir dir(out, kTokenCacheKind);
  TokenCacheWriter writer(dir.path());
  std::ofstream rejects;
  PrepareReport report;
  Progress progress("prepare", 0, "samples");

  const fs::path* file = nullptr;
  auto reject = [&](std::size_t line, const std::string& reason, const std::string& text) {
    if (settings.on_error == OnError::fail) fail_input("{}: {}", where(*file, line), reason);
    if (!rejects.is_open()) rejects.open(dir.path() / "rejects.jsonl", std::ios::binary);
    nlohmann::ordered_json row = {{"file", file->string()}, {"line", line}, {"reason", reason}, {"text", text}};
    rejects << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    ++report.skipped;
  };

  std::vector<TraceRecord> batch;
  auto render_batch = [&] {
    std::vector<RenderedSample> rendered(batch.size());
    std::vector<std::string> errors(batch.size());
    parallel_for(batch.size(), settings.threads, [&](std::size_t i) {
      try {
        rendered[i] = render_sample(*tokenizer, chat_template, batch[i].conversation, settings.render);
      } catch (const InputError& e) {
        errors[i] = e.what();
      }
    });
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!errors[i].empty()) {
        reject(batch[i].line, errors[i], batch[i].json.dump());
        continue;
      }
      ++report.records;
      if (rendered[i].outcome == RenderOutcome::dropped) {
        ++report.dropped;
        continue;
      }
      if (rendered[i].outcome == RenderOutcome::truncated) ++report.truncated;
      writer.add(rendered[i].ids, rendered[i].mask);
    }
    progress.advance(static_cast<std::int64_t>(batch.size()));
    batch.clear();
    throw_if_stopped("no token cache written");
  };

  for (const fs::path& input : settings.inputs) {
    file = &input;
    report.input_bytes += static_cast<std::int64_t>(fs::file_size(input));
    for_each_trace(
        input, settings.format,
        [&](TraceRecord& record) {
          batch.push_back(std::move(record));
          if (batch.size() >= kBatchRecords) render_batch();
        },
        [&](const BadRecord& bad) {
          render_batch();  // earlier lines first, so the error (or rejects order) follows the file
          reject(bad.line, bad.reason, bad.text);
        });
    render_batch();
  }
  writer.finish();
  progress.finish();

  report.documents = writer.documents();
  report.tokens = writer.tokens();
  report.target_tokens = writer.target_tokens();
  manifest["counts"] = {{"records", report.records + report.skipped},
                        {"documents", report.documents},
                        {"tokens", report.tokens},
                        {"target_tokens", report.target_tokens},
                        {"dropped_over_cutoff", report.dropped},
                        {"truncated", report.truncated},
                        {"skipped", report.skipped}};
  manifest["length_histogram"] = length_histogram(writer.offsets());
  manifest["files"] = {{"ids", "ids.bin: int32 little-endian token ids"},
                       {"mask", "mask.bin: uint8 per token, 1 = training target"},
                       {"offsets", "offsets.bin: int64 little-endian, documents + 1 entries"}};
  if (rejects.is_open()) {
    rejects.close();
    if (!rejects) fail_runtime("{}: write error", (dir.path() / "rejects.jsonl").string());
  }
  {
    std::ofstream manifest_file(dir.path() / "manifest.json", std::ios::binary);
    manifest_file << manifest.dump(2) << '\n';
    if (!manifest_file.flush()) fail_runtime("{}: write error on manifest.json", out.string());
  }
  dir.commit();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace cotrain
