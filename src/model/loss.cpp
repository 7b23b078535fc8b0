#include "cotrain/model/loss.h"

#include <torch/torch.h>

#include <limits>

#include "cotrain/core/error.h"
#include "cotrain/model/cpu_elementwise.h"
#include "cotrain/model/layers.h"
#include "cotrain/model/weight_gradient.h"

namespace cotrain {
namespace {

using torch::autograd::AutogradContext;

template <typename F>
void for_each_block(std::int64_t count, std::int64_t block, F fn) {  // fn(first, size)
  for (std::int64_t first = 0; first < count; first += block) fn(first, std::min(block, count - first));
}

// Each position's target as a column of the block of vocabulary rows [first, first + rows), or -1.
torch::Tensor target_columns(const torch::Tensor& targets, std::int64_t first, std::int64_t rows) {
  auto column = targets - first;
  return torch::where(column.ge(0).logical_and(column.lt(rows)), column, -1);
}

// The online softmax over the vocabulary's blocks: each row's running maximum and sum of
// exponentials, fp32.
void fold_logsumexp(const torch::Tensor& logits, const torch::Tensor& max, const torch::Tensor& sum) {
  if (cpu_elementwise_applies({&logits})) return cpu_fold_logsumexp(logits, max, sum);
  const auto l = logits.to(torch::kFloat32);
  const auto new_max = torch::maximum(max, l.amax(1));
  sum.mul_((max - new_max).exp_()).add_((l - new_max.unsqueeze(1)).exp_().sum(1));
  max.copy_(new_max);
}

// d NLL / d logits of a block, in the logits' dtype: exp(logit - lse) - one_hot(target), rows
// without a target zero (cpu_elementwise.h's cpu_softmax_gradient_, which works in place).
torch::Tensor softmax_gradient(const torch::Tensor& logits, const torch::Tensor& lse, const torch::Tensor& columns, const torch::Tensor& valid) {
  if (cpu_elementwise_applies({&logits})) {
    cpu_softmax_gradient_(logits, lse, columns, valid);
    return logits;
  }
  auto g = (logits.to(torch::kFloat32) - lse.unsqueeze(1)).exp_();
  g.scatter_add_(1, columns.clamp_min(0).unsqueeze(1), -columns.ge(0).to(torch::kFloat32).unsqueeze(1));
  return g.mul_(valid.unsqueeze(1)).to(logits.scalar_type());
}

// Two passes over the head per chunk of positions (the cut cross-entropy of Wijmans et al.): the
// first folds the logits of each vocabulary block into every position's log-sum-exp, the second
// makes them again and turns them into their gradient, which goes at once into the products for
// the hidden states' and the head's gradients (fp32 sums, model/weight_gradient.h). One more
// product of the head than autograd's three buys that no [positions, vocab] tensor exists and that
// the head's gradient is written once per chunk of 2,048 positions, with the positions as a long
// contraction, instead of read and added for every 256 (docs/performance.md).
struct FusedNll : torch::autograd::Function<FusedNll> {
  // CTX null: the value only.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& head,
                               const torch::Tensor& targets, std::int64_t chunk) {
    const bool grad_hidden = ctx && hidden.requires_grad(), grad_head = ctx && head.requires_grad();
    const auto f32 = torch::kFloat32;
    const auto positions = hidden.size(0), vocab = head.size(0);
    const auto valid = targets.ge(0).to(f32);
    auto lse = torch::empty({positions}, hidden.options().dtype(f32));
    auto target_logit = torch::zeros({positions}, hidden.options().dtype(f32));
    for_each_block(positions, chunk, [&](std::int64_t start, std::int64_t n) {
      auto h = hidden.narrow(0, start, n);
      auto t = targets.narrow(0, start, n);
      auto max = torch::full({n}, -std::numeric_limits<float>::infinity(), lse.options()), sum = torch::zeros({n}, lse.options());
      auto picked = target_logit.narrow(0, start, n);
      for_each_block(vocab, kLossVocabBlock, [&](std::int64_t first, std::int64_t rows) {
        auto logits = at::linear(h, head.narrow(0, first, rows));
        fold_logsumexp(logits, max, sum);
        auto columns = target_columns(t, first, rows);
        picked.copy_(torch::where(columns.ge(0), logits.gather(1, columns.clamp_min(0).unsqueeze(1)).squeeze(1).to(f32), picked));
      });
      lse.narrow(0, start, n).copy_(max + sum.log());
    });
    auto total = ((lse - target_logit) * valid).sum();
    if (!grad_hidden && !grad_head) return total;

    // fp32 sums, each written by its first product; with no positions the head's gradient is zero.
    torch::Tensor d_hidden = grad_hidden ? torch::empty(hidden.sizes(), hidden.options().dtype(f32)) : torch::Tensor();
    torch::Tensor d_head;
    if (grad_head) {
      const auto options = head.options().dtype(f32);
      d_head = positions > 0 ? torch::empty(head.sizes(), options) : torch::zeros(head.sizes(), options);
    }
    for_each_block(vocab, kLossVocabBlock, [&](std::int64_t first, std::int64_t rows) {
      const auto block = head.narrow(0, first, rows);
      for_each_block(positions, chunk, [&](std::int64_t start, std::int64_t n) {
        const auto h = hidden.narrow(0, start, n);
        const auto g = softmax_gradient(at::linear(h, block), lse.narrow(0, start, n),
                                        target_columns(targets.narrow(0, start, n), first, rows), valid.narrow(0, start, n));
        if (grad_hidden) product_into(d_hidden.narrow(0, start, n), g, block, /*accumulate=*/first > 0);
        if (grad_head) transposed_product_into(d_head.narrow(0, first, rows), g, h, /*accumulate=*/start > 0);
      });
    });
    if (!ctx) return total;
    ctx->saved_data["d_hidden"] = grad_hidden ? d_hidden.to(hidden.scalar_type()) : torch::Tensor();
    ctx->saved_data["d_head"] = d_head;
    ctx->saved_data["head_dtype"] = static_cast<std::int64_t>(head.scalar_type());
    return total;
  }

  static torch::autograd::tensor_list backward(AutogradContext* ctx, torch::autograd::tensor_list grad_out) {
    auto scale = grad_out[0];
    auto d_hidden = ctx->saved_data["d_hidden"].toTensor();
    auto d_head = ctx->saved_data["d_head"].toTensor();
    auto head_dtype = static_cast<torch::ScalarType>(ctx->saved_data["head_dtype"].toInt());
    ctx->saved_data.clear();  // saved_data outlives the backward (only saved variables are released): free them now
    return {d_hidden.defined() ? d_hidden * scale.to(d_hidden.scalar_type()) : torch::Tensor(),
            d_head.defined() ? d_head.mul_(scale).to(head_dtype) : torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor summed_nll(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets, LossGradients gradients,
                         std::int64_t chunk) {
  // Its exponentials may be a process's first vector-math call (the loss alone, as in its tests).
  if (hidden.device().is_cpu()) set_up_cpu_vector_math();
  if (gradients == LossGradients::skip) {
    torch::NoGradGuard no_grad;
    return FusedNll::forward(nullptr, hidden, head, targets.to(hidden.device()), chunk);
  }
  if (!torch::GradMode::is_enabled()) fail_runtime("summed_nll: gradients requested under NoGradGuard");
  return FusedNll::apply(hidden, head, targets.to(hidden.device()), chunk);
}

}  // namespace cotrain
