#include "cotrain/model/loss.h"

#include <torch/torch.h>

#include "cotrain/core/error.h"
#include "cotrain/model/layers.h"
#include "cotrain/model/weight_gradient.h"

namespace cotrain {
namespace {

using torch::autograd::AutogradContext;

// The head is taken in blocks of vocabulary rows: each block's logits are converted to fp32, and
// each block's gradient product added to the fp32 head gradient, while still in cache. No
// [chunk, vocab] logits or [vocab, hidden] product in the head's dtype exists, and the CPU runs
// the blocked products faster (their outputs stay in cache for the conversion or the sum).
constexpr std::int64_t kVocabBlock = 4096;

template <typename F>
void for_each_vocab_block(std::int64_t vocab, F fn) {  // fn(first row, rows)
  for (std::int64_t r = 0; r < vocab; r += kVocabBlock) fn(r, std::min(kVocabBlock, vocab - r));
}

struct FusedNll : torch::autograd::Function<FusedNll> {
  // CTX null: the value only.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& head,
                               const torch::Tensor& targets, std::int64_t chunk) {
    const bool grad_hidden = ctx && hidden.requires_grad(), grad_head = ctx && head.requires_grad();
    const auto f32 = torch::kFloat32;
    const std::int64_t vocab = head.size(0);
    auto total = torch::zeros({}, hidden.options().dtype(f32));
    torch::Tensor d_hidden = grad_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor d_head;  // fp32, from the first chunk on
    torch::Tensor buffer = torch::empty({std::min(chunk, hidden.size(0)), vocab}, hidden.options().dtype(f32));
    for (std::int64_t start = 0; start < hidden.size(0); start += chunk) {
      const auto n = std::min(chunk, hidden.size(0) - start);
      auto h = hidden.narrow(0, start, n);
      auto t = targets.narrow(0, start, n);
      auto valid = t.ge(0).to(f32);
      auto index = t.clamp_min(0).unsqueeze(1);
      auto logits = buffer.narrow(0, 0, n);  // [n, vocab]
      for_each_vocab_block(vocab, [&](std::int64_t r, std::int64_t rows) {
        logits.narrow(1, r, rows).copy_(at::linear(h, head.narrow(0, r, rows)));
      });
      // On the CPU in place (its kernel reads a row before writing it); elsewhere into a new tensor.
      auto logp = logits.is_cpu() ? at::_log_softmax_out(logits, logits, 1, false) : at::_log_softmax(logits, 1, false);
      total -= (logp.gather(1, index).squeeze(1) * valid).sum();
      if (!grad_hidden && !grad_head) continue;
      // d nll / d logits = softmax - one_hot(target). Rows without a target are left as they are
      // and count nothing: their hidden rows are zeroed for the head's gradient and their rows of
      // the hidden states' gradient after it ([n, hidden] work instead of another [n, vocab] pass).
      auto g = logp.exp_();
      g.scatter_add_(1, index, -valid.unsqueeze(1));
      auto gd = g.to(head.scalar_type());
      auto mask = valid.to(hidden.scalar_type()).unsqueeze(1);
      if (grad_hidden) {
        auto slice = d_hidden.narrow(0, start, n);
        at::mm_out(slice, gd, head);
        slice.mul_(mask);
      }
      if (grad_head) {
        auto hv = h * mask;
        const bool first = !d_head.defined();
        if (first) d_head = torch::empty(head.sizes(), head.options().dtype(f32));
        for_each_vocab_block(vocab, [&](std::int64_t r, std::int64_t rows) {
          transposed_product_into(d_head.narrow(0, r, rows), gd.narrow(1, r, rows), hv, /*accumulate=*/!first);
        });
      }
    }
    if (!ctx) return total;
    if (grad_head && !d_head.defined()) d_head = torch::zeros(head.sizes(), head.options().dtype(f32));  // no positions
    ctx->saved_data["d_hidden"] = d_hidden;
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
  // Its gradient's exp may be a process's first vector-math call (the loss alone, as in its tests).
  if (hidden.device().is_cpu()) set_up_cpu_vector_math();
  if (gradients == LossGradients::skip) {
    torch::NoGradGuard no_grad;
    return FusedNll::forward(nullptr, hidden, head, targets.to(hidden.device()), chunk);
  }
  if (!torch::GradMode::is_enabled()) fail_runtime("summed_nll: gradients requested under NoGradGuard");
  return FusedNll::apply(hidden, head, targets.to(hidden.device()), chunk);
}

}  // namespace cotrain
