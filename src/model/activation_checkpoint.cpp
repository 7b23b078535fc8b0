#include "cotrain/model/activation_checkpoint.h"

#include <torch/torch.h>

namespace cotrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Everything the backward pass needs to run the layer again, kept in the autograd context.
struct LayerCall : torch::CustomClassHolder {
  std::shared_ptr<DecoderLayerImpl> layer;
  RopeTables rope;
  std::vector<std::int64_t> cu_seqlens;
  at::Generator generator;
  torch::Tensor generator_state;  // at the start of the forward pass
};

struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  // PARAMS are the layer's trainable parameters; passing them as a TensorList is what makes
  // autograd route their gradients through this function.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList params, c10::intrusive_ptr<LayerCall> call) {
    if (call->generator.defined()) call->generator_state = call->generator.get_state();
    torch::Tensor out;
    {
      torch::NoGradGuard no_grad;
      out = call->layer->forward(x, call->rope, call->cu_seqlens);
    }
    ctx->save_for_backward({x});
    ctx->saved_data["call"] = c10::IValue::make_capsule(std::move(call));
    ctx->saved_data["params"] = static_cast<std::int64_t>(params.size());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto call = c10::static_intrusive_pointer_cast<LayerCall>(ctx->saved_data["call"].toCapsule());
    const auto x_saved = ctx->get_saved_variables()[0];
    auto x = x_saved.detach().requires_grad_(x_saved.requires_grad());
    std::vector<torch::Tensor> params;
    for (const auto& p : call->layer->parameters()) {
      if (p.requires_grad()) params.push_back(p);
    }
    TORCH_INTERNAL_ASSERT(static_cast<std::int64_t>(params.size()) == ctx->saved_data["params"].toInt());

    torch::Tensor out, resume_state;
    {
      torch::AutoGradMode grad_on(true);
      if (call->generator.defined()) {
        resume_state = call->generator.get_state();
        call->generator.set_state(call->generator_state);
      }
      out = call->layer->forward(x, call->rope, call->cu_seqlens);
      if (call->generator.defined()) call->generator.set_state(resume_state);
    }
    variable_list inputs = params;
    if (x.requires_grad()) inputs.insert(inputs.begin(), x);
    auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    variable_list result;  // one per forward input: x, each parameter, the call (none)
    result.push_back(x.requires_grad() ? grads[0] : torch::Tensor());
    result.insert(result.end(), grads.begin() + (x.requires_grad() ? 1 : 0), grads.end());
    result.emplace_back();
    return result;
  }
};

}  // namespace

torch::Tensor checkpointed_forward(const std::shared_ptr<DecoderLayerImpl>& layer, const torch::Tensor& x, const RopeTables& rope,
                                   const std::vector<std::int64_t>& cu_seqlens, const at::Generator& dropout_generator) {
  auto call = c10::make_intrusive<LayerCall>();
  call->layer = layer;
  call->rope = rope;
  call->cu_seqlens = cu_seqlens;
  call->generator = dropout_generator;
  std::vector<torch::Tensor> params;
  for (const auto& p : layer->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  return CheckpointedLayer::apply(x, at::TensorList(params), std::move(call));
}

}  // namespace cotrain
