#include "cotrain/model/logprobs.h"

#include <torch/torch.h>

namespace cotrain {

torch::Tensor token_logprobs(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets, std::int64_t chunk) {
  const auto total = hidden.size(0);
  auto targets_dev = targets.to(hidden.device());
  std::vector<torch::Tensor> parts;
  for (std::int64_t start = 0; start < total; start += chunk) {
    const auto n = std::min(chunk, total - start);
    auto logits = at::linear(hidden.narrow(0, start, n), head).to(torch::kFloat32);
    auto t = targets_dev.narrow(0, start, n);
    auto valid = t.ge(0);
    auto picked = torch::log_softmax(logits, -1).gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);
    parts.push_back(torch::where(valid, picked, torch::zeros_like(picked)));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

torch::Tensor row_logprobs(CausalLM& model, const PackedRow& row, std::int64_t chunk) {
  auto hidden = model->hidden_states(row).squeeze(0);
  return token_logprobs(hidden, model->head_weight(), row.targets, chunk);
}

}  // namespace cotrain
