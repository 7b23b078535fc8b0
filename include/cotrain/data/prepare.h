// `cotrain data prepare`: trace files -> a token cache (token_cache.h), written to a temporary
// directory and renamed into place, so a failed or interrupted run leaves no output behind.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/data/render.h"
#include "cotrain/data/trace.h"

namespace cotrain {

enum class OnError { fail, skip };
OnError on_error_from_name(std::string_view name);  // "fail" or "skip"

struct PrepareSettings {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path tokenizer;  // tokenizer.json, .model, or a model directory
  std::string template_name;        // empty: detected from the tokenizer's tokenizer_config.json
  TraceFormat format = TraceFormat::automatic;
  RenderSettings render;            // cutoff 16384 / drop unless set
  OnError on_error = OnError::fail;
  int threads = 0;                  // 0 = all cores
};

struct PrepareReport {
  std::size_t records = 0;    // valid records read
  std::size_t documents = 0;  // written to the cache
  std::size_t dropped = 0, truncated = 0, skipped = 0;
  std::int64_t tokens = 0, target_tokens = 0;
  std::int64_t input_bytes = 0;
  double seconds = 0;
};

// Builds the cache at OUT, replacing a cache already there (but refusing to replace anything that
// is not a token cache or an empty directory). Bad records: with OnError::fail the first one throws InputError
// "FILE:LINE: reason" and nothing is written; with skip they go to OUT/rejects.jsonl. A stop
// request (Ctrl-C) throws RuntimeFailure and leaves nothing.
PrepareReport prepare_token_cache(const PrepareSettings& settings, const std::filesystem::path& out);

// The manifest fields that decide whether a cache can be reused: the format version, cotrain's
// version, every input's absolute path, size and hash, the tokenizer's hash, the resolved
// template and every setting that changes the ids or masks.
nlohmann::ordered_json cache_key(const PrepareSettings& settings);

// True when DIR holds a readable cache made from exactly these inputs and settings. Otherwise
// false, with the first difference in *why (e.g. "input a.jsonl changed").
bool cache_matches(const std::filesystem::path& dir, const PrepareSettings& settings, std::string* why = nullptr);

// 64-bit FNV-1a of a file's bytes, as 16 hex digits.
std::string file_hash(const std::filesystem::path& path);
// The same of TEXT.
std::string text_hash(std::string_view text);

}  // namespace cotrain
