#include "cotrain/generate/generator.h"

#include <torch/torch.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/model/layers.h"

namespace cotrain {
namespace {

// One sample being decoded in a cache row.
struct Active {
  std::size_t prompt = 0;  // position in the prompts list
  Completion completion;
  std::string bytes;       // the raw bytes of the tokens so far (for stop strings)
  std::int64_t limit = 0;  // new tokens allowed (max_new_tokens, or what the context leaves)
  bool done = false;
};

struct Sampler {
  const GenerationSettings& settings;
  const Tokenizer& tokenizer;
  std::set<std::int64_t> eos;

  // Appends TOKEN to A and decides whether the sample has ended.
  void accept(Active& a, std::int64_t token) const {
    auto& c = a.completion;
    c.tokens.push_back(token);
    if (eos.count(token)) {
      c.finish_reason = "stop";
      a.done = true;
      return;
    }
    const std::size_t old_size = a.bytes.size();
    a.bytes += tokenizer.token_bytes(static_cast<TokenId>(token));
    for (const auto& stop : settings.stop) {  // only where the new bytes can complete a match
      std::size_t from = old_size >= stop.size() ? old_size - stop.size() + 1 : 0;
      if (a.bytes.find(stop, from) != std::string::npos) {
        c.finish_reason = "stop";
        c.stop = stop;
        a.done = true;
        return;
      }
    }
    if (static_cast<std::int64_t>(c.tokens.size()) >= a.limit) {
      c.finish_reason = "length";
      a.done = true;
    }
  }

  void finish_text(Completion& c) const {
    std::vector<TokenId> ids(c.tokens.begin(), c.tokens.end());
    c.text = tokenizer.decode(ids, /*skip_special=*/true);
    if (!c.stop.empty()) {
      if (auto at = c.text.find(c.stop); at != std::string::npos) c.text.resize(at);
    }
  }

  // Picks the next token of each row from LOGITS [rows, vocab] (fp32).
  std::vector<std::int64_t> choose(const torch::Tensor& logits, const std::vector<const Active*>& rows) const {
    std::vector<std::int64_t> out(rows.size());
    if (settings.sampling.greedy()) {  // argmax on the device; only the ids move
      auto ids = logits.argmax(1).to(torch::kCPU);
      for (std::size_t i = 0; i < rows.size(); ++i) out[i] = ids[static_cast<std::int64_t>(i)].item<std::int64_t>();
      return out;
    }
    auto cpu = logits.to(torch::kCPU).contiguous();
    const auto vocab = cpu.size(1);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Completion& c = rows[i]->completion;
      std::span<const float> row(cpu.data_ptr<float>() + static_cast<std::int64_t>(i) * vocab, static_cast<std::size_t>(vocab));
      double u = sample_uniform(settings.seed, c.prompt, c.sample, c.tokens.size());
      out[i] = choose_token(row, settings.sampling, u);
    }
    return out;
  }
};

}  // namespace

void check_generation_settings(const GenerationSettings& s) {
  check_sampling_params(s.sampling);
  if (s.n < 1) fail_input("--n: must be >= 1 (got {})", s.n);
  if (s.max_new_tokens < 1) fail_input("--max-new-tokens: must be >= 1 (got {})", s.max_new_tokens);
  if (s.batch_size < 1) fail_input("--batch-size: must be >= 1 (got {})", s.batch_size);
  if (s.prefill_chunk < 1) fail_input("--prefill-chunk: must be >= 1 (got {})", s.prefill_chunk);
  for (const auto& stop : s.stop)
    if (stop.empty()) fail_input("--stop: a stop string must not be empty");
}

void generate(CausalLM& model, const Tokenizer& tokenizer, const std::vector<PromptIds>& prompts, const GenerationSettings& settings,
              const std::function<void(std::vector<Completion>&&)>& on_prompt, const std::function<void(std::int64_t)>& on_token) {
  check_generation_settings(settings);
  torch::NoGradGuard no_grad;
  const AttentionWithoutCudnnPlans plan_free;
  if (prompts.empty()) return;
  const std::int64_t context = model->config.max_position_embeddings;
  std::int64_t longest = 0;
  for (const auto& p : prompts) {
    if (p.ids.empty()) fail_input("prompt {}: no tokens", p.index);
    for (auto id : p.ids)
      if (id < 0 || id >= model->config.vocab_size) fail_input("prompt {}: token id {} is not in the model's vocabulary", p.index, id);
    if (static_cast<std::int64_t>(p.ids.size()) >= context)
      fail_input("prompt {}: {} tokens leave no room in the model's context of {}", p.index, p.ids.size(), context);
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(p.ids.size()));
  }
  const std::int64_t rows = std::min<std::int64_t>(settings.batch_size, static_cast<std::int64_t>(prompts.size()) * settings.n);
  KVCache cache(model->config, rows, std::min(longest + settings.max_new_tokens, context),
                torch::TensorOptions().dtype(model->dtype()).device(model->device()));
  Sampler sampler{settings, tokenizer, std::set<std::int64_t>(settings.eos_token_ids.begin(), settings.eos_token_ids.end())};

  std::deque<std::pair<std::size_t, std::size_t>> waiting;  // (prompt position, sample)
  for (std::size_t p = 0; p < prompts.size(); ++p)
    for (std::int64_t s = 0; s < settings.n; ++s) waiting.emplace_back(p, static_cast<std::size_t>(s));
  std::vector<std::optional<Active>> slots(static_cast<std::size_t>(rows));
  std::map<std::size_t, std::vector<Completion>> finished;  // by prompt position, until all n are done

  auto retire = [&](std::size_t row) {
    const std::size_t prompt = slots[row]->prompt;
    sampler.finish_text(slots[row]->completion);
    auto& done = finished[prompt];
    done.push_back(std::move(slots[row]->completion));
    slots[row].reset();
    if (static_cast<std::int64_t>(done.size()) < settings.n) return;
    std::vector<Completion> samples = std::move(done);
    finished.erase(prompt);
    std::sort(samples.begin(), samples.end(), [](const Completion& x, const Completion& y) { return x.sample < y.sample; });
    on_prompt(std::move(samples));
  };

  // Fills free rows with waiting samples: each prompt is prefilled once into its first row, the
  // other rows of the prompt copy that row, and every sample draws its first token.
  auto fill = [&] {
    std::vector<std::size_t> free_rows;
    for (std::size_t r = 0; r < slots.size(); ++r)
      if (!slots[r]) free_rows.push_back(r);
    std::vector<std::pair<std::size_t, std::vector<std::size_t>>> groups;  // prompt position -> rows
    for (std::size_t r : free_rows) {
      if (waiting.empty()) break;
      auto [p, s] = waiting.front();
      waiting.pop_front();
      if (groups.empty() || groups.back().first != p) groups.push_back({p, {}});
      groups.back().second.push_back(r);
      Active a;
      a.prompt = p;
      a.completion.prompt = prompts[p].index;
      a.completion.sample = s;
      a.limit = std::min(settings.max_new_tokens, context - static_cast<std::int64_t>(prompts[p].ids.size()));
      slots[r] = std::move(a);
      cache.clear_row(static_cast<std::int64_t>(r));
    }
    if (groups.empty()) return;
    // Prefill passes of at most prefill_chunk tokens; a prompt's last chunk gives its logits.
    std::vector<torch::Tensor> first_logits(groups.size());
    std::vector<std::size_t> fed(groups.size(), 0);
    for (std::size_t g = 0; g < groups.size();) {
      std::vector<std::vector<std::int64_t>> tokens;
      std::vector<std::int64_t> pass_rows;
      std::vector<std::size_t> ends;  // groups whose prompt ends in this pass
      std::int64_t budget = settings.prefill_chunk;
      for (std::size_t h = g; h < groups.size() && budget > 0; ++h) {
        const auto& ids = prompts[groups[h].first].ids;
        const auto n = std::min<std::int64_t>(budget, static_cast<std::int64_t>(ids.size() - fed[h]));
        tokens.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(fed[h]), ids.begin() + static_cast<std::ptrdiff_t>(fed[h] + n));
        pass_rows.push_back(static_cast<std::int64_t>(groups[h].second[0]));
        fed[h] += static_cast<std::size_t>(n);
        budget -= n;
        if (fed[h] == ids.size()) ends.push_back(h);
      }
      auto logits = model->next_token_logits(tokens, pass_rows, cache);
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::size_t h = g + i;
        if (fed[h] == prompts[groups[h].first].ids.size()) first_logits[h] = logits[static_cast<std::int64_t>(i)];
      }
      while (g < groups.size() && fed[g] == prompts[groups[g].first].ids.size()) ++g;
    }
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& group_rows = groups[g].second;
      for (std::size_t k = 1; k < group_rows.size(); ++k)
        cache.copy_row(static_cast<std::int64_t>(group_rows[0]), static_cast<std::int64_t>(group_rows[k]));
      std::vector<const Active*> actives;
      for (auto r : group_rows) actives.push_back(&*slots[r]);
      auto logits = first_logits[g].unsqueeze(0).expand({static_cast<std::int64_t>(group_rows.size()), -1});
      auto chosen = sampler.choose(logits, actives);
      for (std::size_t k = 0; k < group_rows.size(); ++k) sampler.accept(*slots[group_rows[k]], chosen[k]);
      if (on_token) on_token(static_cast<std::int64_t>(group_rows.size()));
    }
    for (std::size_t r = 0; r < slots.size(); ++r)
      if (slots[r] && slots[r]->done) retire(r);
  };

  for (;;) {
    if (stop_requested()) return;
    fill();
    std::vector<std::int64_t> step_rows;
    std::vector<std::vector<std::int64_t>> step_tokens;
    std::vector<const Active*> actives;
    for (std::size_t r = 0; r < slots.size(); ++r) {
      if (!slots[r]) continue;
      step_rows.push_back(static_cast<std::int64_t>(r));
      step_tokens.push_back({slots[r]->completion.tokens.back()});
      actives.push_back(&*slots[r]);
    }
    if (step_rows.empty()) {
      if (waiting.empty()) return;
      continue;
    }
    auto logits = model->next_token_logits(step_tokens, step_rows, cache);
    auto chosen = sampler.choose(logits, actives);
    for (std::size_t i = 0; i < step_rows.size(); ++i) {
      const auto r = static_cast<std::size_t>(step_rows[i]);
      sampler.accept(*slots[r], chosen[i]);
      if (slots[r]->done) retire(r);
    }
    if (on_token) on_token(static_cast<std::int64_t>(step_rows.size()));
  }
}

}  // namespace cotrain
