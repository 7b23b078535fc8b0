#include "cotrain/data/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cotrain/data/packing.h"
#include "cotrain/data/reasoning.h"
#include "cotrain/eval/math/extract.h"
#include "cotrain/core/parallel.h"
#include "cotrain/core/signals.h"

namespace cotrain {

double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(rank));
  std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return static_cast<double>(sorted[lo]) + frac * static_cast<double>(sorted[hi] - sorted[lo]);
}

LengthSummary summarize_lengths(std::vector<std::int64_t> lengths) {
  LengthSummary s;
  s.count = lengths.size();
  if (lengths.empty()) return s;
  std::sort(lengths.begin(), lengths.end());
  s.min = lengths.front();
  s.max = lengths.back();
  s.mean = static_cast<double>(std::accumulate(lengths.begin(), lengths.end(), std::int64_t{0})) /
           static_cast<double>(lengths.size());
  s.median = percentile(lengths, 50);
  s.p90 = percentile(lengths, 90);
  s.p99 = percentile(lengths, 99);
  return s;
}

ResponseStats::ResponseStats(std::vector<std::string> keywords)
    : keywords_(std::move(keywords)), keyword_counts_(keywords_.size(), 0) {}

void ResponseStats::add(std::string_view response) {
  ++responses_;
  for (const KeywordMatch& m : find_keywords(response, keywords_)) ++keyword_counts_[m.keyword];
  if (auto thought = find_thought(response)) {
    ++with_thought_;
    steps_ += split_steps(response.substr(thought->begin, thought->end - thought->begin)).steps.size();
  }
  auto boxes = find_boxes(response);
  if (std::any_of(boxes.begin(), boxes.end(), [](const Box& b) { return b.closed; })) ++boxed_;
}

namespace {
double ratio(std::size_t a, std::size_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }
}  // namespace

double ResponseStats::keyword_mean(std::size_t k) const { return ratio(keyword_counts_[k], responses_); }
double ResponseStats::keywords_total_mean() const {
  return ratio(std::accumulate(keyword_counts_.begin(), keyword_counts_.end(), std::size_t{0}), responses_);
}
double ResponseStats::steps_mean() const { return ratio(steps_, with_thought_); }
double ResponseStats::boxed_share() const { return ratio(boxed_, responses_); }

PackingSummary summarize_packing(const std::vector<std::int64_t>& lengths, std::int64_t capacity) {
  std::vector<std::int64_t> fitting;
  PackingSummary summary;
  for (std::int64_t l : lengths) {
    if (l > capacity) ++summary.too_long;
    else fitting.push_back(l);
  }
  PackingPlan plan = plan_packing(fitting, capacity, 0, 0);
  summary.bins = plan.bins.size();
  summary.efficiency = plan.efficiency();
  return summary;
}

nlohmann::ordered_json stats_json(const DataStats& stats) {
  nlohmann::ordered_json j;
  j["samples"] = stats.samples;
  j["responses"] = stats.responses.responses();
  if (stats.lengths) {
    LengthSummary s = summarize_lengths(*stats.lengths);
    j["tokens"] = {{"min", s.min}, {"mean", s.mean}, {"median", s.median}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}};
    j["cutoff"] = stats.cutoff;
    j["over_cutoff"] = std::count_if(stats.lengths->begin(), stats.lengths->end(),
                                     [&](std::int64_t l) { return l > stats.cutoff; });
  } else {
    j["tokens"] = nullptr;
    j["cutoff"] = stats.cutoff;
    j["over_cutoff"] = nullptr;
  }
  nlohmann::ordered_json keywords = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < stats.responses.keywords().size(); ++k) {
    keywords[stats.responses.keywords()[k]] = stats.responses.keyword_mean(k);
  }
  j["keywords"] = keywords;
  j["keywords_total"] = stats.responses.keywords_total_mean();
  j["responses_with_thought"] = stats.responses.with_thought();
  j["steps_per_trace"] = stats.responses.steps_mean();
  j["boxed_share"] = stats.responses.boxed_share();
  if (stats.pack_capacity > 0 && stats.lengths) {
    PackingSummary p = summarize_packing(*stats.lengths, stats.pack_capacity);
    j["packing"] = {{"capacity", stats.pack_capacity}, {"bins", p.bins}, {"efficiency", p.efficiency}, {"too_long", p.too_long}};
  }
  return j;
}

std::string stats_text(const DataStats& stats) {
  std::string out = fmt::format("samples              {}\nresponses            {}\n", stats.samples, stats.responses.responses());
  if (stats.lengths) {
    LengthSummary s = summarize_lengths(*stats.lengths);
    auto over = std::count_if(stats.lengths->begin(), stats.lengths->end(), [&](std::int64_t l) { return l > stats.cutoff; });
    out += fmt::format("tokens per sample    min {} / mean {:.1f} / median {:.1f} / p90 {:.1f} / p99 {:.1f} / max {}\n",
                       s.min, s.mean, s.median, s.p90, s.p99, s.max);
    out += fmt::format("over cutoff {:<8} {} ({:.2f}%)\n", stats.cutoff, over,
                       100.0 * ratio(static_cast<std::size_t>(over), stats.lengths->size()));
  } else {
    out += "tokens per sample    unknown (pass --tokenizer to count tokens of a trace file)\n";
  }
  out += fmt::format("reflection keywords  {:.2f} per response\n", stats.responses.keywords_total_mean());
  for (std::size_t k = 0; k < stats.responses.keywords().size(); ++k) {
    out += fmt::format("  {:<18} {:.2f}\n", stats.responses.keywords()[k], stats.responses.keyword_mean(k));
  }
  out += fmt::format("reasoning steps      {:.2f} per trace ({} of {} responses have a thought section)\n",
                     stats.responses.steps_mean(), stats.responses.with_thought(), stats.responses.responses());
  out += fmt::format("boxed answers        {:.1f}% of responses\n", 100.0 * stats.responses.boxed_share());
  if (stats.pack_capacity > 0 && stats.lengths) {
    PackingSummary p = summarize_packing(*stats.lengths, stats.pack_capacity);
    out += fmt::format("packing              {} bins of {} tokens, {:.2f}% efficiency ({} samples longer than a bin left out)\n",
                       p.bins, stats.pack_capacity, 100.0 * p.efficiency, p.too_long);
  }
  return out;
}

DataStats trace_file_stats(const std::filesystem::path& path, TraceFormat format, std::vector<std::string> keywords,
                           std::int64_t cutoff, const TokenCounting& counting) {
  DataStats stats{0, std::nullopt, cutoff, ResponseStats(std::move(keywords))};
  std::vector<Conversation> conversations;
  for_each_trace(path, format, [&](TraceRecord& record) {
    ++stats.samples;
    for (const ChatMessage* turn : assistant_turns(record.conversation)) stats.responses.add(turn->content);
    if (counting.tokenizer) conversations.push_back(std::move(record.conversation));
  });
  if (counting.tokenizer) {
    std::vector<std::int64_t> lengths(conversations.size());
    parallel_for(conversations.size(), counting.threads, [&](std::size_t i) {
      lengths[i] = static_cast<std::int64_t>(counting.chat_template->render(*counting.tokenizer, conversations[i]).ids.size());
    });
    stats.lengths = std::move(lengths);
  }
  return stats;
}

DataStats token_cache_stats(const TokenCache& cache, const Tokenizer& tokenizer, std::vector<std::string> keywords,
                            std::int64_t cutoff) {
  DataStats stats{cache.size(), cache.lengths(), cutoff, ResponseStats(std::move(keywords))};
  for (std::size_t doc = 0; doc < cache.size(); ++doc) {
    if ((doc & 255) == 0) throw_if_stopped();
    auto ids = cache.ids(doc);
    auto mask = cache.mask(doc);
    for (std::size_t t = 0; t < ids.size();) {
      if (!mask[t]) {
        ++t;
        continue;
      }
      std::size_t end = t;
      while (end < ids.size() && mask[end]) ++end;
      stats.responses.add(tokenizer.decode(ids.subspan(t, end - t)));
      t = end;
    }
  }
  return stats;
}

}  // namespace cotrain
