#include "cotrain/model/loss.h"

#include <torch/torch.h>

#include <limits>
#include <utility>
#include <vector>

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

// H times the head's block^T, [positions, rows], each row 64 bytes longer than the block: with the
// block's 4,096 rows a row of 8 KB put the column that MKL's transposed product reads for the
// head's gradient (transposed_product_into below) into one set of every cache, and that product ran
// at 1,750 GFLOP/s here against 2,400 with the longer rows (docs/performance.md).
torch::Tensor block_logits(const torch::Tensor& h, const torch::Tensor& block) {
  constexpr std::int64_t kRowPadding = 32;
  auto rows = torch::empty({h.size(0), block.size(0) + kRowPadding}, h.options()).narrow(1, 0, block.size(0));
  return at::mm_out(rows, h, block.t());
}

// The online softmax's fold through ATen (where the CPU kernels do not run): each row's running
// maximum and sum of exponentials, fp32; returns the block's exponentials against the new maximum
// and each row's factor for what was summed before, fp32.
std::pair<torch::Tensor, torch::Tensor> fold_composite(const torch::Tensor& logits, const torch::Tensor& max, const torch::Tensor& sum) {
  const auto l = logits.to(torch::kFloat32);
  const auto new_max = torch::maximum(max, l.amax(1));
  auto shrink = (max - new_max).exp_();
  auto e = (l - new_max.unsqueeze(1)).exp_();
  sum.mul_(shrink).add_(e.sum(1));
  max.copy_(new_max);
  return {e, shrink};
}

// The online softmax over the vocabulary's blocks: each row's running maximum and sum of
// exponentials, fp32.
void fold_logsumexp(const torch::Tensor& logits, const torch::Tensor& max, const torch::Tensor& sum) {
  if (cpu_elementwise_applies({&logits})) return cpu_fold_logsumexp(logits, max, sum);
  fold_composite(logits, max, sum);
}

// fold_logsumexp where only the hidden states take a gradient: also writes over the logits their
// exponentials exp(logit - max), max the new running maximum, in the logits' dtype, and where a
// row's maximum moved scales its row of SUMS (undefined for the first block) as its sum
// (cpu_elementwise.h's cpu_fold_exponentials_).
void fold_exponentials(const torch::Tensor& logits, const torch::Tensor& max, const torch::Tensor& sum, const torch::Tensor& sums) {
  if (cpu_elementwise_applies({&logits})) return cpu_fold_exponentials_(logits, max, sum, sums);
  const auto [e, shrink] = fold_composite(logits, max, sum);
  if (sums.defined()) sums.mul_(shrink.unsqueeze(1));
  logits.copy_(e);
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

// A chunk's loss over the whole vocabulary at once (a GPU's, and a CPU's up to kLossVocabBlock
// rows): log_softmax widens the logits to fp32 and reduces them in one kernel on a GPU, where the
// blocks' online softmax takes about eleven generic passes (docs/performance.md). Writes each
// position's log-sum-exp and target logit, as the blocks' fold does, and when GRADIENTS returns
// softmax - one-hot rounded once to the logits' dtype, [positions, vocab], in the logits' storage;
// the caller masks rows without a target on their [positions, hidden] side.
torch::Tensor whole_vocabulary(const torch::Tensor& h, const torch::Tensor& head, const torch::Tensor& targets, const torch::Tensor& lse,
                               const torch::Tensor& target_logit, bool gradients) {
  auto logits = at::mm(h, head.t());
  const auto columns = targets.clamp_min(0).unsqueeze(1);
  target_logit.copy_(logits.gather(1, columns).squeeze(1));
  // A quarter of a full chunk's positions at a time: their fp32 log-probabilities (311 MiB at
  // Qwen's vocabulary) are what this adds to the logits at the peak.
  for_each_block(h.size(0), kLossChunk / 4, [&](std::int64_t first, std::int64_t n) {
    auto rows = logits.narrow(0, first, n);
    const auto logp = at::log_softmax(rows, 1, torch::kFloat32);
    const auto picked = logp.gather(1, columns.narrow(0, first, n)).squeeze(1);
    lse.narrow(0, first, n).copy_(target_logit.narrow(0, first, n) - picked);
    if (!gradients) return;
    at::exp_out(rows, logp);  // the softmax, rounded once into the logits' storage
    rows.scatter_(1, columns.narrow(0, first, n), picked.exp().sub_(1).to(rows.scalar_type()).unsqueeze(1));
  });
  return gradients ? logits : torch::Tensor();
}

// The head's gradient: its fp32 sums D_HEAD times the loss's gradient SCALE in the head's dtype.
torch::Tensor scaled_head_gradient(torch::Tensor& d_head, const torch::Tensor& scale, torch::ScalarType head_dtype) {
  if (head_dtype == torch::kBFloat16 && d_head.is_cpu() && cpu_elementwise_applies({})) {
    return cpu_scaled_bf16(d_head, scale.item<float>());
  }
  return d_head.mul_(scale).to(head_dtype);
}

// Per chunk of positions, two passes over the vocabulary's blocks (the cut cross-entropy of Wijmans
// et al.): the first makes each block's logits and folds them into every position's log-sum-exp,
// the second turns them into their gradient, which goes at once into the products for the hidden
// states' and the head's gradients (fp32 sums, model/weight_gradient.h). Where gradients are
// built the first pass keeps the chunk's logits ([chunk, vocab] in the head's dtype, 594 MiB at
// 2,048 positions of Qwen's vocabulary), each block released once the second has used it: making
// them again was a fourth product of the head, ~4% of a 2,048-token step. Without gradients one
// block at a time is kept. No [positions, vocab] tensor of a whole row exists, and the head's
// gradient is written once per chunk, with the positions as a long contraction, instead of read
// and added for every 256 (docs/performance.md). The sums add their parts in the same order as
// with the blocks outside, so the loop order changes no bit. A vocabulary of one block (a GPU's)
// takes whole_vocabulary's one pass instead.
//
// Where only the hidden states take a gradient (LoRA's frozen head), one pass over the blocks:
// each block's exponentials exp(logit - max) against the running maximum, as in the online softmax
// of flash attention, go at once into the fp32 sums of the hidden states' gradient, whose rows
// shrink where their maximum moves; at the end each row is divided by its sum of exponentials, and
// the target's row of the head subtracted. No block is kept (a LoRA step's peak RSS 573 MiB less at
// 2,048 positions), each is used while still in cache, and one pass of exponentials does the work
// of two (the loss's operators ~575 -> ~515 ms of that step; docs/performance.md). The head's
// gradient cannot be had so: its rows are sums over the positions, each of which would need its
// final log-sum-exp before the products.
struct FusedNll : torch::autograd::Function<FusedNll> {
  // CTX null: the value only.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& head,
                               const torch::Tensor& targets, std::int64_t chunk) {
    const bool grad_hidden = ctx && hidden.requires_grad(), grad_head = ctx && head.requires_grad();
    const bool gradients = grad_hidden || grad_head;
    const auto f32 = torch::kFloat32;
    const auto positions = hidden.size(0), vocab = head.size(0);
    const auto valid = targets.ge(0).to(f32);
    auto lse = torch::empty({positions}, hidden.options().dtype(f32));
    auto target_logit = torch::zeros({positions}, hidden.options().dtype(f32));
    // fp32 sums, each written by its first product; with no positions the head's gradient is zero.
    torch::Tensor d_hidden = grad_hidden ? torch::empty(hidden.sizes(), hidden.options().dtype(f32)) : torch::Tensor();
    torch::Tensor d_head;
    if (grad_head) {
      const auto options = head.options().dtype(f32);
      d_head = positions > 0 ? torch::empty(head.sizes(), options) : torch::zeros(head.sizes(), options);
    }
    const bool whole = !hidden.is_cpu() || vocab <= kLossVocabBlock;  // whole_vocabulary, else blocks
    std::vector<torch::Tensor> logits_of_block;
    for_each_block(positions, chunk, [&](std::int64_t start, std::int64_t n) {
      const auto h = hidden.narrow(0, start, n);
      const auto t = targets.narrow(0, start, n);
      if (whole) {
        const auto chunk_valid = valid.narrow(0, start, n);
        auto g = whole_vocabulary(h, head, t, lse.narrow(0, start, n), target_logit.narrow(0, start, n), gradients);
        if (grad_hidden) {
          const auto rows = d_hidden.narrow(0, start, n);
          product_into(rows, g, head, /*accumulate=*/false);
          rows.mul_(chunk_valid.unsqueeze(1));
        }
        if (grad_head) transposed_product_into(d_head, g, h * chunk_valid.unsqueeze(1).to(h.scalar_type()), /*accumulate=*/start > 0);
        return;
      }
      auto max = torch::full({n}, -std::numeric_limits<float>::infinity(), lse.options()), sum = torch::zeros({n}, lse.options());
      auto picked = target_logit.narrow(0, start, n);
      const bool one_pass = grad_hidden && !grad_head;
      const auto sums = one_pass ? d_hidden.narrow(0, start, n) : torch::Tensor();
      for_each_block(vocab, kLossVocabBlock, [&](std::int64_t first, std::int64_t rows) {
        const auto block = head.narrow(0, first, rows);
        auto logits = block_logits(h, block);
        auto columns = target_columns(t, first, rows);
        picked.copy_(torch::where(columns.ge(0), logits.gather(1, columns.clamp_min(0).unsqueeze(1)).squeeze(1).to(f32), picked));
        if (one_pass) {
          fold_exponentials(logits, max, sum, first > 0 ? sums : torch::Tensor());
          product_into(sums, logits, block, /*accumulate=*/first > 0);
          return;
        }
        fold_logsumexp(logits, max, sum);
        if (gradients) logits_of_block.push_back(std::move(logits));
      });
      const auto chunk_lse = lse.narrow(0, start, n);
      chunk_lse.copy_(max + sum.log());
      if (!gradients) return;
      const auto chunk_valid = valid.narrow(0, start, n);
      if (one_pass) {  // softmax - one_hot(target) times the head, rows without a target zero
        const auto has_target = chunk_valid.unsqueeze(1);
        sums.div_(sum.unsqueeze(1)).sub_(head.index_select(0, t.clamp_min(0)).to(f32)).mul_(has_target);
        return;
      }
      std::size_t b = 0;
      for_each_block(vocab, kLossVocabBlock, [&](std::int64_t first, std::int64_t rows) {
        const auto block = head.narrow(0, first, rows);
        const auto g = softmax_gradient(std::exchange(logits_of_block[b++], torch::Tensor()), chunk_lse, target_columns(t, first, rows), chunk_valid);
        if (grad_hidden) product_into(d_hidden.narrow(0, start, n), g, block, /*accumulate=*/first > 0);
        if (grad_head) transposed_product_into(d_head.narrow(0, first, rows), g, h, /*accumulate=*/start > 0);
      });
      logits_of_block.clear();
    });
    auto total = ((lse - target_logit) * valid).sum();
    if (!ctx) return total;
    ctx->saved_data["d_hidden"] = d_hidden;
    ctx->saved_data["d_head"] = d_head;
    ctx->saved_data["hidden_dtype"] = static_cast<std::int64_t>(hidden.scalar_type());
    ctx->saved_data["head_dtype"] = static_cast<std::int64_t>(head.scalar_type());
    return total;
  }

  static torch::autograd::tensor_list backward(AutogradContext* ctx, torch::autograd::tensor_list grad_out) {
    auto scale = grad_out[0];
    auto d_hidden = ctx->saved_data["d_hidden"].toTensor();
    auto d_head = ctx->saved_data["d_head"].toTensor();
    auto hidden_dtype = static_cast<torch::ScalarType>(ctx->saved_data["hidden_dtype"].toInt());
    auto head_dtype = static_cast<torch::ScalarType>(ctx->saved_data["head_dtype"].toInt());
    ctx->saved_data.clear();  // saved_data outlives the backward (only saved variables are released): free them now
    // Both gradients take the scale in fp32 and are rounded once: a bf16 scale (1/3 is 0.2% off
    // in bf16) would bias every gradient below the loss by its rounding.
    return {d_hidden.defined() ? d_hidden.mul_(scale).to(hidden_dtype) : torch::Tensor(),
            d_head.defined() ? scaled_head_gradient(d_head, scale, head_dtype) : torch::Tensor(), torch::Tensor(), torch::Tensor()};
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
