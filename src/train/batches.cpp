#include "cotrain/train/batches.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cotrain/core/error.h"
#include "cotrain/core/rng.h"
#include "cotrain/data/packing.h"
#include "cotrain/data/prepare.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

constexpr std::uint64_t kValidationStream = 0x76616c6964ull;  // "valid": the held-out split's own stream

std::int64_t document_targets(const TokenCache& cache, std::size_t doc) {
  auto mask = cache.mask(doc);
  return mask.empty() ? 0 : std::count(mask.begin() + 1, mask.end(), std::uint8_t{1});
}

bool has_tokenizer(const fs::path& model_dir) {
  return fs::exists(model_dir / "tokenizer.json") || fs::exists(model_dir / "tokenizer.model");
}

// A cache made elsewhere must have been rendered the way this config asks.
void check_cache_settings(const TokenCache& cache, const TrainConfig& config, const std::string& path) {
  const auto& m = cache.manifest();
  auto differs = [&](const char* key, const std::string& now, const nlohmann::ordered_json& was) {
    fail_input("{}: {} is {} but the token cache {} was prepared with {}; set {} to match or point data.path at the JSONL",
               key, key, now, path, was.dump(), key);
  };
  if (config.data.template_name != "auto" && m.value("template", "") != config.data.template_name) {
    differs("data.template", config.data.template_name, m.value("template", nlohmann::ordered_json()));
  }
  const auto system = m.value("system_prompt", nlohmann::ordered_json());
  if (config.data.system && (!system.is_string() || system.get<std::string>() != *config.data.system)) {
    differs("data.system", nlohmann::ordered_json(*config.data.system).dump(), system);
  }
  const auto cutoff = m.value("cutoff", nlohmann::ordered_json());
  if (!cutoff.is_number_integer() || cutoff.get<std::int64_t>() != config.data.cutoff) {
    differs("data.cutoff", std::to_string(config.data.cutoff), cutoff);
  }
}

// The model's tokenizer must give the ids the cache holds: when its files differ from those the
// cache was made with (manifest "tokenizer": [{"path", "fnv1a64"}, ...]), both decode the first
// document and must agree.
void check_tokenizer(const TokenCache& cache, const fs::path& model_dir, const std::string& path) {
  if (!has_tokenizer(model_dir) || cache.size() == 0) return;
  const std::vector<fs::path> model_files = tokenizer_files(model_dir);
  const auto recorded = cache.manifest().value("tokenizer", nlohmann::ordered_json::array());
  if (!recorded.is_array() || recorded.empty()) return;  // a cache made without cotrain: nothing to compare with
  bool same = recorded.size() == model_files.size();
  for (std::size_t i = 0; same && i < model_files.size(); ++i) {
    same = recorded[i].is_object() && recorded[i].value("fnv1a64", "") == file_hash(model_files[i]);
  }
  if (same) return;
  const fs::path cache_tokenizer = cache.tokenizer_path();
  if (cache_tokenizer.empty()) return;
  if (!fs::exists(cache_tokenizer)) {
    spdlog::warn("{}: made with tokenizer {}, which is gone; cannot check it against {}", path, cache_tokenizer.string(),
                 model_dir.string());
    return;
  }
  auto ours = Tokenizer::load(model_dir), theirs = Tokenizer::load(cache_tokenizer);
  auto ids = cache.ids(0);
  for (auto id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= ours->vocab_size()) {
      fail_input("{}: token id {} is not in model.path's tokenizer ({}): the data was tokenised for another model", path, id,
                 model_dir.string());
    }
  }
  if (ours->decode(ids) != theirs->decode(ids)) {
    fail_input("{}: was tokenised with {}, which reads its ids differently from model.path's tokenizer {}; prepare the data with the model's tokenizer",
               path, cache_tokenizer.string(), model_dir.string());
  }
}

std::shared_ptr<const TokenCache> open_or_prepare(const TrainConfig& config, const std::vector<std::string>& paths,
                                                  const fs::path& cache_dir, const char* key) {
  const std::string shown = paths.size() == 1 ? paths[0] : paths[0] + " (+" + std::to_string(paths.size() - 1) + ")";
  if (paths.size() == 1 && fs::is_directory(paths[0])) {
    auto cache = std::make_shared<TokenCache>(TokenCache::open(paths[0]));
    check_cache_settings(*cache, config, paths[0]);
    check_tokenizer(*cache, config.model.path, paths[0]);
    return cache;
  }
  PrepareSettings settings;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) fail_input("{}: {} is a directory; give one token cache or JSONL files", key, p);
    settings.inputs.push_back(p);
  }
  if (!has_tokenizer(config.model.path)) {
    fail_input("{}: {} holds JSONL traces but model.path {} has no tokenizer.json or tokenizer.model to tokenise them; "
               "prepare a cache with `cotrain data prepare --tokenizer ...` and give its directory", key, shown, config.model.path);
  }
  settings.tokenizer = config.model.path;
  if (config.data.template_name != "auto") settings.template_name = config.data.template_name;
  settings.render.system_prompt = config.data.system;
  settings.render.cutoff = config.data.cutoff;
  std::string why;
  if (cache_matches(cache_dir, settings, &why)) {
    spdlog::info("reusing the token cache {}", cache_dir.string());
  } else {
    if (fs::exists(cache_dir)) spdlog::info("rebuilding the token cache {}: {}", cache_dir.string(), why);
    auto report = prepare_token_cache(settings, cache_dir);
    spdlog::info("tokenised {} documents ({} tokens, {} dropped over the cutoff) into {}", report.documents, report.tokens,
                 report.dropped, cache_dir.string());
  }
  return std::make_shared<TokenCache>(TokenCache::open(cache_dir));
}

void check_vocabulary(const TokenCache& cache, std::int64_t vocab_size, const std::string& path) {
  for (std::size_t d = 0; d < cache.size(); ++d) {
    for (auto id : cache.ids(d)) {
      if (id < 0 || id >= vocab_size) {
        fail_input("{}: document {} has token id {}, outside model.path's vocabulary of {}: the data was tokenised for another model",
                   path, d, id, vocab_size);
      }
    }
  }
}

}  // namespace

std::int64_t DocumentSet::tokens() const {
  std::int64_t n = 0;
  for (auto d : docs) n += cache->length(d);
  return n;
}

std::int64_t DocumentSet::target_tokens() const {
  std::int64_t n = 0;
  for (auto d : docs) n += document_targets(*cache, d);
  return n;
}

TrainingData load_training_data(const TrainConfig& config, std::int64_t vocab_size, const fs::path& out_dir) {
  TrainingData data;
  auto cache = open_or_prepare(config, config.data.paths, out_dir / "cache", "data.path");
  check_vocabulary(*cache, vocab_size, config.data.paths[0]);
  data.template_name = cache->manifest().value("template", "");

  std::vector<std::size_t> usable;
  for (std::size_t d = 0; d < cache->size(); ++d) {
    if (document_targets(*cache, d) > 0) usable.push_back(d);
  }
  if (usable.empty()) {
    fail_input("{}: no target tokens to train on ({} documents, every loss mask is 0)", config.data.paths[0], cache->size());
  }
  if (usable.size() < cache->size()) {
    spdlog::warn("{}: {} of {} documents have no target token and are left out", config.data.paths[0], cache->size() - usable.size(),
                 cache->size());
  }

  data.train.cache = cache;
  if (!config.data.val_path.empty()) {
    auto val = open_or_prepare(config, {config.data.val_path}, out_dir / "cache-val", "data.val_path");
    check_vocabulary(*val, vocab_size, config.data.val_path);
    data.validation.cache = val;
    for (std::size_t d = 0; d < val->size(); ++d) {
      if (document_targets(*val, d) > 0) data.validation.docs.push_back(d);
    }
    if (data.validation.docs.empty()) fail_input("data.val_path: {} has no target tokens", config.data.val_path);
    data.train.docs = usable;
  } else if (config.data.val_fraction > 0) {
    // The held-out documents depend only on the seed and the data, never on the epoch or step.
    const auto n = usable.size();
    const auto held = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(config.data.val_fraction * static_cast<double>(n))));
    if (held >= n) fail_input("data.val_fraction: {} of {} documents leaves nothing to train on", config.data.val_fraction, n);
    std::vector<std::size_t> shuffled = usable;
    Rng(config.train.seed, kValidationStream).shuffle(shuffled);
    data.validation.cache = cache;
    data.validation.docs.assign(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(held));
    data.train.docs.assign(shuffled.begin() + static_cast<std::ptrdiff_t>(held), shuffled.end());
    std::sort(data.validation.docs.begin(), data.validation.docs.end());
    std::sort(data.train.docs.begin(), data.train.docs.end());
  } else {
    data.train.docs = usable;
  }
  return data;
}

std::string training_data_hash(const TrainingData& data) {
  std::string key;
  for (const char* file : {"manifest.json", "offsets.bin", "mask.bin", "ids.bin"}) key += file_hash(data.train.cache->dir() / file) + ",";
  for (auto d : data.train.docs) key += std::to_string(d) + ",";
  return text_hash(key);
}

std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng(seed, epoch).shuffle(order);
  return order;
}

namespace {

PackedRow row_of(const DocumentSet& set, const std::vector<std::size_t>& docs) {
  std::vector<std::span<const std::int32_t>> ids;
  std::vector<std::span<const std::uint8_t>> masks;
  for (auto d : docs) {
    ids.push_back(set.cache->ids(d));
    masks.push_back(set.cache->mask(d));
  }
  return pack_documents(ids, masks);
}

}  // namespace

std::vector<PackedRow> step_rows(const DocumentSet& set, std::span<const std::size_t> positions, const BatchSettings& s,
                                 std::uint64_t plan_index) {
  std::vector<PackedRow> rows;
  if (!s.pack) {
    for (std::size_t start = 0; start < positions.size(); start += static_cast<std::size_t>(s.micro_batch)) {
      std::vector<std::size_t> docs;
      for (std::size_t i = start; i < std::min(positions.size(), start + static_cast<std::size_t>(s.micro_batch)); ++i) {
        docs.push_back(set.docs[positions[i]]);
      }
      rows.push_back(row_of(set, docs));
    }
    return rows;
  }
  std::vector<std::int64_t> lengths;
  for (auto p : positions) lengths.push_back(set.cache->length(set.docs[p]));
  PackingPlan plan = plan_packing(lengths, s.capacity, s.seed, plan_index);
  for (const auto& bin : plan.bins) {
    std::vector<std::size_t> docs;
    for (auto i : bin) docs.push_back(set.docs[positions[i]]);
    rows.push_back(row_of(set, docs));
  }
  return rows;
}

std::vector<PackedRow> evaluation_rows(const DocumentSet& set, std::int64_t max_tokens) {
  std::vector<PackedRow> rows;
  std::vector<std::size_t> docs;
  std::int64_t tokens = 0;
  for (auto d : set.docs) {
    const auto n = set.cache->length(d);
    if (!docs.empty() && tokens + n > max_tokens) {
      rows.push_back(row_of(set, docs));
      docs.clear();
      tokens = 0;
    }
    docs.push_back(d);
    tokens += n;
  }
  if (!docs.empty()) rows.push_back(row_of(set, docs));
  return rows;
}

}  // namespace cotrain
