// What `cotrain data stats` reports about a trace file or a token cache: sample count, token
// lengths, samples over a cutoff, reflection keywords, reasoning steps and \boxed{} answers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/data/token_cache.h"
#include "cotrain/data/trace.h"
#include "cotrain/tokenizer/chat_template.h"

namespace cotrain {

// Percentiles interpolate linearly between order statistics (numpy.percentile's default).
struct LengthSummary {
  std::size_t count = 0;
  std::int64_t min = 0, max = 0;
  double mean = 0, median = 0, p90 = 0, p99 = 0;
};
LengthSummary summarize_lengths(std::vector<std::int64_t> lengths);
double percentile(const std::vector<std::int64_t>& sorted, double p);  // p in [0, 100]

// Statistics of assistant responses, one response at a time.
class ResponseStats {
 public:
  explicit ResponseStats(std::vector<std::string> keywords);
  void add(std::string_view response);

  std::size_t responses() const { return responses_; }
  const std::vector<std::string>& keywords() const { return keywords_; }
  double keyword_mean(std::size_t k) const;  // occurrences of keyword k per response
  double keywords_total_mean() const;
  std::size_t with_thought() const { return with_thought_; }
  double steps_mean() const;  // reasoning steps per response that has a thought section
  double boxed_share() const;

 private:
  std::vector<std::string> keywords_;
  std::vector<std::size_t> keyword_counts_;
  std::size_t responses_ = 0, with_thought_ = 0, steps_ = 0, boxed_ = 0;
};

struct DataStats {
  std::size_t samples = 0;
  std::optional<std::vector<std::int64_t>> lengths;  // tokens per sample, when known
  std::int64_t cutoff = 0;
  ResponseStats responses;
  std::int64_t pack_capacity = 0;  // > 0: also report best-fit-decreasing packing into bins this long
};

// Packing of the samples that fit into bins of CAPACITY tokens (plan_packing, seed 0, epoch 0).
struct PackingSummary {
  std::size_t bins = 0, too_long = 0;  // too_long: samples over the capacity, left out
  double efficiency = 1.0;
};
PackingSummary summarize_packing(const std::vector<std::int64_t>& lengths, std::int64_t capacity);

// {"samples", "responses", "tokens": {min, mean, median, p90, p99, max} | null, "cutoff",
//  "over_cutoff" | null, "keywords": {"<keyword>": mean per response, ...}, "keywords_total",
//  "responses_with_thought", "steps_per_trace", "boxed_share",
//  "packing": {"capacity", "bins", "efficiency", "too_long"} when pack_capacity > 0 and lengths are known}
nlohmann::ordered_json stats_json(const DataStats& stats);
std::string stats_text(const DataStats& stats);

// A trace file: one sample per record, every assistant turn a response. With a tokenizer and a
// template, a sample's length is its rendered length (what training sees before the cutoff).
struct TokenCounting {
  const Tokenizer* tokenizer = nullptr;
  const ChatTemplate* chat_template = nullptr;
  int threads = 0;
};
DataStats trace_file_stats(const std::filesystem::path& path, TraceFormat format, std::vector<std::string> keywords,
                           std::int64_t cutoff, const TokenCounting& counting = {});

// A token cache: one sample per document; the responses are the decoded target spans (each
// maximal run of mask = 1), so the tokenizer the cache was made with is needed.
DataStats token_cache_stats(const TokenCache& cache, const Tokenizer& tokenizer, std::vector<std::string> keywords,
                            std::int64_t cutoff);

}  // namespace cotrain
