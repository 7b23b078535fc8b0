// Single-process checks of the sharding layer (a job of one: no c10d); the multi-process
// behaviour is in distributed_test.cpp.
#include "cotrain/train/sharding.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cotrain/core/error.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/model/loss.h"
#include "unit/train/tiny_model.h"

namespace cotrain {
namespace {

std::vector<std::string> names_of(const ParamUnit& unit) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : unit.params) names.push_back(name);
  return names;
}

TEST(Sharding, ParsesModes) {
  EXPECT_EQ(parse_shard_mode("params"), ShardMode::Params);
  EXPECT_STREQ(shard_mode_name(parse_shard_mode("optimizer")), "optimizer");
  try {
    parse_shard_mode("zero3");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "dist.shard: must be none, optimizer, grads or params (got 'zero3')");
  }
}

TEST(Sharding, DecoderUnitsFollowTheForwardOrder) {
  CausalLM untied = tiny_model(false);
  DecoderUnits units = decoder_units(*untied);
  ASSERT_EQ(units.units.size(), 4u);
  EXPECT_EQ(units.embed, 0u);
  EXPECT_EQ(units.layer(1), 2u);
  EXPECT_EQ(units.head, 3u);
  EXPECT_EQ(names_of(units.units[0]), std::vector<std::string>{"model.embed_tokens.weight"});
  EXPECT_EQ(names_of(units.units[3]), (std::vector<std::string>{"model.norm.weight", "lm_head.weight"}));
  EXPECT_EQ(units.units[2].params.size(), 12u);  // q/k/v weight+bias, o, gate/up/down, 2 norms
  for (const auto& [name, t] : units.units[2].params) EXPECT_EQ(name.rfind("model.layers.1.", 0), 0u) << name;

  CausalLM tied = tiny_model(true);
  DecoderUnits tied_units = decoder_units(*tied);
  ASSERT_EQ(tied_units.units.size(), 3u);  // the embedding is also the head
  EXPECT_EQ(tied_units.head, tied_units.embed);
  EXPECT_EQ(names_of(tied_units.units[0]),
            (std::vector<std::string>{"model.embed_tokens.weight", "model.norm.weight"}));
}

TEST(Sharding, ParametersBecomeViewsOfBucketsAndKeepTheirValues) {
  CausalLM model = tiny_model(false);
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : model->named_parameters()) before[item.key()] = item.value().detach().clone();
  ProcessGroup single;
  ShardOptions options;
  options.bucket_bytes = 8192;  // a layer's 7,808 parameters (31 KB) take several buckets
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(single, units.units, options);
  EXPECT_GT(sharded.num_groups(), units.units.size());
  for (const auto& item : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), before[item.key()])) << item.key();
    EXPECT_FALSE(item.value().grad().defined()) << item.key();  // autograd's until a backward's fold
  }
  std::map<std::string, torch::Tensor> saved;
  sharded.for_each_full(StateKind::Param, [&](const std::string& name, const torch::Tensor& t) { saved[name] = t; });
  EXPECT_EQ(saved.size(), before.size());
  for (const auto& [name, t] : saved) EXPECT_TRUE(torch::equal(t, before[name])) << name;
  // On a CPU, unsharded, the buffers themselves: a checkpoint adds no copy of the state to the peak.
  auto params = model->named_parameters();
  for (const auto& [name, t] : saved) EXPECT_EQ(t.data_ptr(), params[name].data_ptr()) << name;
}

// A checkpoint writes its files' headers from full_specs before gathering anything: they must be
// for_each_full's tensors, in its order, for every kind, frozen groups included.
TEST(Sharding, FullSpecsAreWhatForEachFullHandsOverInItsOrder) {
  CausalLM model = tiny_model(false);
  model->named_parameters()["model.embed_tokens.weight"].requires_grad_(false);
  model->to(torch::kBFloat16);
  ProcessGroup single;
  ShardOptions options;
  options.bucket_bytes = 8192;  // several groups a layer
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(single, units.units, options);
  for (StateKind kind : {StateKind::Param, StateKind::Master, StateKind::ExpAvg, StateKind::ExpAvgSq}) {
    for (bool trainable_only : {false, true}) {
      std::vector<TensorSpec> handed;
      sharded.for_each_full(kind, [&](const std::string& name, const torch::Tensor& t) {
        handed.push_back({name, t.scalar_type(), t.sizes().vec()});
      }, trainable_only);
      const auto specs = sharded.full_specs(kind, trainable_only);
      ASSERT_EQ(specs.size(), handed.size());
      for (std::size_t i = 0; i < specs.size(); ++i) {
        EXPECT_EQ(specs[i].name, handed[i].name);
        EXPECT_EQ(specs[i].dtype, handed[i].dtype) << specs[i].name;
        EXPECT_EQ(specs[i].shape, handed[i].shape) << specs[i].name;
      }
      const bool has_embedding = std::any_of(specs.begin(), specs.end(), [](const TensorSpec& s) { return s.name == "model.embed_tokens.weight"; });
      EXPECT_EQ(has_embedding, kind == StateKind::Param && !trainable_only);
      EXPECT_EQ(specs.front().dtype, kind == StateKind::Param ? torch::kBFloat16 : torch::kFloat32);
    }
  }
}

TEST(Sharding, LoadingRejectsMissingMisshapedAndMistypedTensorsByName) {
  CausalLM model = tiny_model(false);
  ProcessGroup single;
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(single, units.units, ShardOptions{});
  std::map<std::string, torch::Tensor> state;
  sharded.for_each_full(StateKind::ExpAvg, [&](const std::string& name, const torch::Tensor& t) { state[name] = t; });
  auto lookup = [&](const std::string& name) {
    auto it = state.find(name);
    return it == state.end() ? torch::Tensor() : it->second;
  };
  EXPECT_NO_THROW(sharded.load_full(StateKind::ExpAvg, lookup));
  state["model.layers.0.mlp.up_proj.weight"] = torch::zeros({48, 31});
  try {
    sharded.load_full(StateKind::ExpAvg, lookup);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "checkpoint: exp_avg model.layers.0.mlp.up_proj.weight: shape 48x31 vs 48x32");
  }
  state["model.layers.0.mlp.up_proj.weight"] = torch::zeros({48, 32}, torch::kBFloat16);
  try {
    sharded.load_full(StateKind::ExpAvg, lookup);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "checkpoint: exp_avg model.layers.0.mlp.up_proj.weight: dtype BFloat16 vs Float");
  }
  state["model.layers.0.mlp.up_proj.weight"] = torch::zeros({48, 32});
  state.erase("lm_head.weight");
  try {
    sharded.load_full(StateKind::Param, lookup);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "checkpoint: parameter lm_head.weight is missing");
  }
}

// bf16 parameters: each micro-batch's bf16 gradients are added into an fp32 buffer, as the
// single-process trainer always did, not summed in bf16 by autograd.
TEST(Sharding, Bf16GradientsAccumulateInFp32AcrossMicroBatches) {
  CausalLM model = tiny_model(false);
  model->to(torch::kBFloat16);
  const std::vector<PackedRow> rows = {pack_documents({{1, 2, 3, 4, 5, 6}}), pack_documents({{7, 8, 9, 10, 11}})};
  auto nll = [&](const PackedRow& row) {
    return summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build);
  };
  std::map<std::string, torch::Tensor> sum;  // fp32 sum of each micro-batch's bf16 gradient
  for (const auto& row : rows) {
    nll(row).backward();
    for (auto& item : model->named_parameters()) {
      torch::Tensor g = item.value().grad().to(torch::kFloat32);
      sum[item.key()] = sum.count(item.key()) ? sum[item.key()] + g : g;
      item.value().mutable_grad().reset();
    }
  }
  double squares = 0, bf16_squares = 0;
  for (const auto& [name, g] : sum) {
    squares += g.to(torch::kFloat64).square().sum().item<double>();
    bf16_squares += g.to(torch::kBFloat16).to(torch::kFloat64).square().sum().item<double>();
  }
  ASSERT_GT(std::abs(std::sqrt(bf16_squares) / std::sqrt(squares) - 1), 1e-5);  // bf16 sums would show

  ProcessGroup single;
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(single, units.units, ShardOptions{});
  for (std::size_t m = 0; m < rows.size(); ++m) {
    auto loss = nll(rows[m]);
    sharded.begin_backward(m + 1 == rows.size());
    loss.backward();
    sharded.finish_backward();
    for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());  // folded into the fp32 buffer
  }
  EXPECT_NEAR(sharded.grad_norm(), std::sqrt(squares), 1e-6 * std::sqrt(squares));

  // The next step's first fold replaces the buffer (zero_grad leaves it to that): a parameter
  // that gets no gradient in it counts zero, the others this step's gradient only.
  sharded.zero_grad();
  const torch::Tensor ids = torch::tensor({1, 2, 2}).reshape({1, -1});
  auto embedding_loss = [&] { return model->model->embed_tokens(ids).to(torch::kFloat32).square().sum(); };
  const torch::Tensor weight = model->model->embed_tokens->weight;
  const double expected = torch::autograd::grad({embedding_loss()}, {weight})[0].to(torch::kFloat64).norm().item<double>();
  ASSERT_GT(expected, 0);
  for (bool sync : {false, true}) {
    sharded.begin_backward(sync);
    embedding_loss().backward();
    sharded.finish_backward();
  }
  EXPECT_NEAR(sharded.grad_norm(), 2 * expected, 2e-6 * expected);
}

// fp32 parameters: autograd's gradients of each pass are folded into the group's buffer (the
// step's first fold copies them, later ones add), so the parameters hold none after a backward;
// after zero_grad a parameter that gets no gradient counts zero, not the last step's.
TEST(Sharding, Fp32GradientsAreFoldedIntoTheBufferAndAStaleOneCountsZero) {
  CausalLM model = tiny_model(false);
  const std::vector<PackedRow> rows = {pack_documents({{1, 2, 3, 4, 5, 6}}), pack_documents({{7, 8, 9, 10, 11}})};
  auto nll = [&](const PackedRow& row) {
    return summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build);
  };
  double squares = 0;  // of autograd's sum of the two passes' gradients
  {
    auto loss = nll(rows[0]) + nll(rows[1]);
    const auto params = model->parameters();
    for (const auto& g : torch::autograd::grad({loss}, params)) squares += g.to(torch::kFloat64).square().sum().item<double>();
  }
  ProcessGroup single;
  ShardedModel sharded(single, decoder_units(*model).units, ShardOptions{});
  for (int step = 0; step < 2; ++step) {  // the second step's first fold overwrites the first's sums
    for (std::size_t m = 0; m < rows.size(); ++m) {
      auto loss = nll(rows[m]);
      sharded.begin_backward(m + 1 == rows.size());
      loss.backward();
      sharded.finish_backward();
      for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
    }
    EXPECT_NEAR(sharded.grad_norm(), std::sqrt(squares), 1e-6 * std::sqrt(squares));
    sharded.zero_grad();
  }
  const torch::Tensor ids = torch::tensor({1, 2, 2}).reshape({1, -1});
  auto embedding_loss = [&] { return model->model->embed_tokens(ids).square().sum(); };
  const torch::Tensor weight = model->model->embed_tokens->weight;
  const double expected = torch::autograd::grad({embedding_loss()}, {weight})[0].to(torch::kFloat64).norm().item<double>();
  ASSERT_GT(expected, 0);
  sharded.begin_backward(true);
  embedding_loss().backward();
  sharded.finish_backward();
  EXPECT_NEAR(sharded.grad_norm(), expected, 1e-6 * expected);
}

// A step of one backward pass on one rank keeps the bf16 gradients autograd produced (no fp32
// buffer exists) and steps exactly as the fp32 sum of that pass and a pass of zero gradients. A
// pass after a kept one sums in fp32 as any two passes do (bf16 sums of two rows' gradients would
// round differently). The vocabulary makes the embedding and the head 2.4 of the optimizer's
// blocks each: it reads blocks inside one tensor in place, others from several tensors' copies.
TEST(Sharding, OnePassBf16StepKeepsItsGradientsInTheParametersAndStepsAsTheFp32Sum) {
  const PackedRow row = pack_documents({{1, 2, 3, 4, 5, 6, 7}}), other = pack_documents({{9, 8, 30, 41, 2, 17}});
  struct Run {
    CausalLM model = tiny_model(false, 5000);
    ProcessGroup single;
    std::unique_ptr<ShardedModel> sharded;
    Run() {
      model->to(torch::kBFloat16);
      sharded = std::make_unique<ShardedModel>(single, decoder_units(*model).units, ShardOptions{});
    }
    void pass(const PackedRow& row, bool sync, double weight) {
      auto nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build);
      sharded->begin_backward(sync);
      (nll * weight).backward();
      sharded->finish_backward();
    }
    std::map<std::string, torch::Tensor> masters() {
      std::map<std::string, torch::Tensor> out;
      sharded->for_each_full(StateKind::Master, [&](const std::string& name, const torch::Tensor& t) { out[name] = t.clone(); });
      return out;
    }
  };
  Run one, two, resumed, summed;
  one.pass(row, true, 1.0);
  std::int64_t bf16_bytes = 0;
  for (const auto& p : one.model->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kBFloat16);
    bf16_bytes += p.grad().numel() * 2;
  }
  EXPECT_EQ(one.sharded->memory().grads, bf16_bytes);
  two.pass(row, false, 1.0);
  two.pass(row, true, 0.0);
  EXPECT_EQ(two.sharded->memory().grads, 2 * bf16_bytes);  // the fp32 buffer
  resumed.pass(row, true, 1.0);  // a pass after the step's sync pass folds the kept gradients first
  resumed.pass(other, true, 1.0);
  summed.pass(row, false, 1.0);
  summed.pass(other, true, 1.0);

  const double norm = two.sharded->grad_norm();
  ASSERT_GT(norm, 0.1);  // clipped below
  EXPECT_NEAR(one.sharded->grad_norm(), norm, 1e-6 * norm);
  EXPECT_EQ(resumed.sharded->grad_norm(), summed.sharded->grad_norm());
  for (Run* run : {&one, &two, &resumed, &summed}) {
    run->sharded->step(1e-3, 0.1 / norm);
    run->sharded->zero_grad();
  }
  for (const auto& p : one.model->parameters()) EXPECT_FALSE(p.grad().defined());
  const auto expected = two.masters(), got = one.masters();
  for (const auto& [name, master] : expected) EXPECT_TRUE(torch::allclose(got.at(name), master, 0, 1e-9)) << name;
  const auto expected_summed = summed.masters(), got_resumed = resumed.masters();
  for (const auto& [name, master] : expected_summed) EXPECT_TRUE(torch::equal(got_resumed.at(name), master)) << name;
}

// bf16 parameters on the optimizer's device hold the upper half of their fp32 masters; the masters'
// rest takes 2 bytes per parameter. Offloaded, the masters are whole fp32 tensors: the same steps
// give the same masters and parameters, bit for bit, and a checkpoint's masters load into either.
TEST(Sharding, Bf16MastersAreTheParametersPlusARestAndStepAsWholeFp32Masters) {
  struct Run {
    CausalLM model = tiny_model(false);
    ProcessGroup single;
    std::unique_ptr<ShardedModel> sharded;
    explicit Run(bool offload) {
      model->to(torch::kBFloat16);
      ShardOptions options;
      options.offload = offload;
      options.adamw.weight_decay = 0.1;
      sharded = std::make_unique<ShardedModel>(single, decoder_units(*model).units, options);
    }
    void step(const PackedRow& row) {
      auto nll = summed_nll(model->hidden_states(row).squeeze(0), model->head_weight(), row.targets, LossGradients::build);
      sharded->begin_backward(true);
      nll.backward();
      sharded->finish_backward();
      sharded->step(1e-2, 0.5);
      sharded->zero_grad();
    }
    std::map<std::string, torch::Tensor> full(StateKind kind) {
      std::map<std::string, torch::Tensor> out;
      sharded->for_each_full(kind, [&](const std::string& name, const torch::Tensor& t) { out[name] = t.clone(); });
      return out;
    }
  };
  Run split(false), whole(true);
  std::int64_t params = 0;
  for (const auto& p : split.model->parameters()) params += p.numel();
  EXPECT_EQ(split.sharded->memory().optimizer, 10 * params);  // rest + two fp32 moments
  EXPECT_EQ(whole.sharded->memory().optimizer, 12 * params);
  for (const auto& row : {pack_documents({{1, 2, 3, 4, 5, 6, 7}}), pack_documents({{9, 8, 30, 41, 2, 17}})}) {
    split.step(row);
    whole.step(row);
  }
  const auto masters = whole.full(StateKind::Master), got = split.full(StateKind::Master);
  const auto params_whole = whole.full(StateKind::Param), params_split = split.full(StateKind::Param);
  int moved = 0;
  for (const auto& [name, master] : masters) {
    EXPECT_TRUE(torch::equal(got.at(name), master)) << name;
    EXPECT_TRUE(torch::equal(params_split.at(name), params_whole.at(name))) << name;
    EXPECT_TRUE(torch::equal(params_split.at(name), bf16_of_master(master))) << name;
    // Steps of 1e-2 move bf16 parameters by a few of their units; the rests hold what is below that.
    moved += !torch::equal(master, params_split.at(name).to(torch::kFloat32));
  }
  EXPECT_EQ(moved, static_cast<int>(masters.size()));

  Run loaded(false);
  loaded.sharded->load_full(StateKind::Param, [&](const std::string& name) { return params_split.at(name); });
  loaded.sharded->load_full(StateKind::Master, [&](const std::string& name) { return masters.at(name); });
  const auto loaded_masters = loaded.full(StateKind::Master), loaded_params = loaded.full(StateKind::Param);
  for (const auto& [name, master] : masters) {
    EXPECT_TRUE(torch::equal(loaded_masters.at(name), master)) << name;
    EXPECT_TRUE(torch::equal(loaded_params.at(name), params_split.at(name))) << name;
  }
}

TEST(Sharding, BackwardOutsideBeginAndFinishIsAnError) {
  CausalLM model = tiny_model(false);
  ProcessGroup single;
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(single, units.units, ShardOptions{});
  PackedRow row = pack_documents({{1, 2, 3, 4}});
  auto loss = model->hidden_states(row).sum();
  EXPECT_THROW(loss.backward(), std::exception);
  EXPECT_THROW(sharded.finish_backward(), RuntimeFailure);
  sharded.begin_backward(true);
  EXPECT_THROW(sharded.begin_backward(true), RuntimeFailure);
}

}  // namespace
}  // namespace cotrain
