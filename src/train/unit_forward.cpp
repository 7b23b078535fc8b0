#include "cotrain/train/unit_forward.h"

#include <torch/torch.h>

#include "cotrain/model/activation_checkpoint.h"

namespace cotrain {

PackedRow row_on_device(const PackedRow& row, torch::Device device) {
  if (row.input_ids.device() == device) return row;
  const bool pin = device.is_cuda() && row.input_ids.device().is_cpu();
  auto move = [&](const torch::Tensor& t) { return (pin ? t.pin_memory() : t).to(device, /*non_blocking=*/pin); };
  PackedRow moved = row;
  moved.input_ids = move(row.input_ids);
  moved.position_ids = move(row.position_ids);
  moved.targets = move(row.targets);
  return moved;
}

torch::Tensor unit_summed_nll(CausalLM& model, ShardedModel& sharded, const DecoderUnits& units, const PackedRow& row,
                              LossGradients gradients) {
  const auto device = model->device();
  const auto rope = rope_tables(model->inv_freq, row.position_ids.to(device), model->dtype());
  const bool recompute = model->activation_checkpointing && model->is_training() && torch::GradMode::is_enabled();
  torch::Tensor x = sharded.run_unit(units.embed, row.input_ids.to(device).reshape({1, -1}),
                                     [&](const torch::Tensor& ids) { return model->model->embed_tokens(ids); });
  std::int64_t i = 0;
  for (const auto& module : *model->model->layers) {
    auto layer = std::dynamic_pointer_cast<DecoderLayerImpl>(module);
    // The checkpoint runs inside run_unit: ZeRO-3 gathers the layer once for its recomputation
    // and backward.
    x = sharded.run_unit(units.layer(i++), x, [&](const torch::Tensor& h) {
      return recompute ? checkpointed_forward(layer, h, rope, row.cu_seqlens, model->lora_dropout_generator)
                       : layer->forward(h, rope, row.cu_seqlens);
    });
  }
  return sharded.run_unit(units.head, x, [&](const torch::Tensor& h) {
    return summed_nll(model->model->norm(h).view({-1, model->config.hidden_size}), model->head_weight(), row.targets, gradients);
  });
}

}  // namespace cotrain
