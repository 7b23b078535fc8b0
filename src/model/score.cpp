#include "cotrain/model/score.h"

#include <torch/torch.h>

#include <numeric>

#include "cotrain/core/signals.h"
#include "cotrain/core/error.h"
#include "cotrain/model/logprobs.h"

namespace cotrain {

std::vector<SequenceScore> score_sequences(CausalLM& model, const std::vector<std::vector<std::int64_t>>& sequences,
                                           std::int64_t max_tokens, const std::function<void(std::int64_t)>& on_tokens) {
  torch::NoGradGuard no_grad;
  std::vector<std::size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return sequences[a].size() > sequences[b].size(); });

  std::vector<SequenceScore> results(sequences.size());
  std::size_t next = 0;
  while (next < order.size()) {
    throw_if_stopped();
    // Longest first, then fill the row with the next ones that fit.
    std::vector<std::size_t> members;
    std::int64_t tokens = 0;
    while (next < order.size()) {
      auto n = static_cast<std::int64_t>(sequences[order[next]].size());
      if (!members.empty() && tokens + n > max_tokens) break;
      members.push_back(order[next++]);
      tokens += n;
    }
    std::vector<std::vector<std::int64_t>> docs;
    for (auto i : members) docs.push_back(sequences[i]);
    auto row = pack_documents(docs);
    auto lp = row_logprobs(model, row).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* data = lp.data_ptr<double>();
    for (std::size_t d = 0; d < members.size(); ++d) {
      auto& r = results[members[d]];
      const auto start = row.cu_seqlens[d], n = row.cu_seqlens[d + 1] - start;
      r.logprobs.assign(data + start, data + start + n - 1);
      r.nll = -std::accumulate(r.logprobs.begin(), r.logprobs.end(), 0.0);
    }
    if (on_tokens) on_tokens(tokens);
  }
  return results;
}

}  // namespace cotrain
