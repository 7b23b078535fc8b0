#include "cotrain/train/sharding.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "cotrain/core/error.h"
#include "cotrain/model/causal_lm.h"

namespace cotrain {

namespace {
// Reductions of flattened gradient buckets in flight at once under ZeRO-2/3: each holds a copy
// of its group's gradients until it completes, so this bounds that memory.
constexpr std::size_t kMaxBucketsInFlight = 2;

std::int64_t bytes_of(const torch::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

struct GroupMembers {
  bool trainable = false, decay = false;
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
  std::int64_t bytes = 0;
};

// A unit's parameters, in order, into groups of one (trainable, dtype, weight decay) each, a group
// closing when the next parameter would take it past BUCKET_BYTES. Decay is a group's property
// because AdamW steps a group's flat state in one piece.
std::vector<GroupMembers> split_into_groups(const std::vector<std::pair<std::string, torch::Tensor>>& params,
                                            std::int64_t bucket_bytes) {
  std::map<std::tuple<bool, torch::ScalarType, bool>, GroupMembers> open;
  std::vector<GroupMembers> groups;
  for (const auto& [name, param] : params) {
    const bool decay = param.requires_grad() && decays(name);
    GroupMembers& group = open[{param.requires_grad(), param.scalar_type(), decay}];
    if (!group.names.empty() && group.bytes + bytes_of(param) > bucket_bytes) {
      groups.push_back(std::move(group));
      group = GroupMembers{};
    }
    group.trainable = param.requires_grad();
    group.decay = decay;
    group.names.push_back(name);
    group.params.push_back(param);
    group.bytes += bytes_of(param);
  }
  for (auto& [key, group] : open) {
    if (!group.names.empty()) groups.push_back(std::move(group));
  }
  return groups;
}

// Only trainable groups have optimizer state.
bool holds_state(StateKind kind, bool trainable_only, bool trainable) { return trainable || (kind == StateKind::Param && !trainable_only); }

}  // namespace

ShardMode parse_shard_mode(const std::string& text) {
  if (text == "none") return ShardMode::None;
  if (text == "optimizer") return ShardMode::Optimizer;
  if (text == "grads") return ShardMode::Grads;
  if (text == "params") return ShardMode::Params;
  fail_input("dist.shard: must be none, optimizer, grads or params (got '{}')", text);
}

const char* shard_mode_name(ShardMode mode) {
  switch (mode) {
    case ShardMode::None: return "none";
    case ShardMode::Optimizer: return "optimizer";
    case ShardMode::Grads: return "grads";
    case ShardMode::Params: return "params";
  }
  return "?";
}

DecoderUnits decoder_units(CausalLMImpl& model) {
  DecoderUnits d;
  const std::int64_t layers = model.config.num_layers;
  d.units.push_back({"model.embed_tokens", {}});
  for (std::int64_t i = 0; i < layers; ++i) d.units.push_back({"model.layers." + std::to_string(i), {}});
  if (!model.config.tie_word_embeddings) d.units.push_back({"head", {}});
  d.head = model.config.tie_word_embeddings ? d.embed : d.units.size() - 1;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    std::size_t unit = d.head;
    if (starts_with(name, "model.layers.")) {
      unit = d.layer(std::stoll(name.substr(std::string("model.layers.").size())));
    } else if (starts_with(name, "model.embed_tokens.")) {
      unit = d.embed;
    }
    d.units[unit].params.emplace_back(name, item.value());
  }
  return d;
}

// What grad_accumulator returns: std::shared_ptr<Node> in older libtorch (2.11 included),
// c10::intrusive_ptr<Node> in newer (2.13 included).
using AccumulatorPtr = decltype(torch::autograd::impl::grad_accumulator(std::declval<const torch::Tensor&>()));

struct ShardedModel::Group {
  std::size_t unit = 0;
  std::string what;  // the unit's name, with "[i/n]" when it has several groups
  bool trainable = false, decay = false;
  std::unique_ptr<FlatParams> flat;
  std::vector<AccumulatorPtr> accumulators;  // kept alive: they hold our hooks
  std::vector<std::uintptr_t> hook_keys;
  int grads_pending = 0;  // parameters whose gradient this backward has not accumulated yet
  bool ready = false;
  torch::Tensor grad_full;       // none/optimizer: [padded], fp32; the parameters' gradients are folded
                                 // into it after each backward (fold_grads). fp32 parameters' is made with
                                 // the group; others' by the first fold, so never when every step has one
                                 // pass (see grads_in_params_)
  bool grad_full_stale = false;  // holds the last step's gradients: the next fold overwrites instead of adding
  torch::Tensor grad_shard;      // grads/params: this rank's reduced slice, fp32, summed over micro-batches,
                                 // on the state device
  torch::Tensor bucket, reduced;  // grads/params: a reduction in flight
  PendingCollective reduction;
  std::optional<AdamWState> adam;  // trainable groups: over the owned range, on the state device
};

struct ShardedModel::Unit {
  std::string name;
  std::vector<std::size_t> groups;
  bool trainable = false;
  int groups_pending = 0;      // trainable groups whose gradients this backward has not finished
  int open_uses = 0;           // ZeRO-3: uses whose input gradient this backward has not reached
  bool grads_pending = false;  // ZeRO-3: gradients still to come in this backward
};

// Called by autograd after it accumulated a parameter's gradient.
struct ShardedModel::GradHook : torch::autograd::FunctionPostHook {
  GradHook(ShardedModel* model, std::size_t group) : model(model), group(group) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    model->on_grad_accumulated(group);
    return outputs;
  }
  ShardedModel* model;
  std::size_t group;
};

ShardedModel::ShardedModel(ProcessGroup& group, std::vector<ParamUnit> units, const ShardOptions& options)
    : pg_(group), options_(options) {
  if (options_.bucket_bytes <= 0) fail_input("dist: the bucket size must be > 0 (got {})", options_.bucket_bytes);
  torch::NoGradGuard no_grad;
  for (std::size_t u = 0; u < units.size(); ++u) {
    Unit unit;
    unit.name = units[u].name;
    auto members = split_into_groups(units[u].params, options_.bucket_bytes);
    for (std::size_t i = 0; i < members.size(); ++i) {
      Group g;
      g.unit = u;
      g.what = members.size() > 1 ? fmt::format("{} [{}/{}]", unit.name, i + 1, members.size()) : unit.name;
      g.trainable = members[i].trainable;
      g.decay = members[i].decay;
      g.flat = std::make_unique<FlatParams>(std::move(members[i].names), std::move(members[i].params),
                                            pg_.world_size(), pg_.rank(), options_.mode == ShardMode::Params);
      unit.groups.push_back(groups_.size());
      unit.trainable = unit.trainable || g.trainable;
      groups_.push_back(std::move(g));
    }
    units_.push_back(std::move(unit));
  }

  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    if (!g.trainable) continue;
    const FlatLayout& layout = g.flat->layout();
    const torch::Device device = g.flat->shard().device();
    state_device_ = options_.offload ? torch::Device(torch::kCPU) : device;
    if (shards_grads()) {
      // Only the optimizer reads it: with offload it lives in CPU memory too.
      g.grad_shard = torch::zeros({layout.shard_numel}, torch::TensorOptions().dtype(torch::kFloat32).device(state_device_));
    } else if (g.flat->dtype() == torch::kFloat32) {
      // Every fold of fp32 gradients goes into it (they never stay in the parameters): made here,
      // before the first step's activations, not amid its backward (where the allocator then
      // placed it so that the next forward faulted in ~180 MB more at 8,192 tokens, ~5% slower).
      g.grad_full = torch::zeros({layout.padded_numel()}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
      g.grad_full_stale = true;
    }
    // bf16 parameters beside their optimizer state are the upper half of their masters (optimizer.h).
    const bool split = g.flat->dtype() == torch::kBFloat16 && !options_.offload;
    g.adam.emplace(shards_state() ? g.flat->shard() : g.flat->full(), g.decay, state_device_, split);
    for (const auto& param : g.flat->params()) {
      auto accumulator = torch::autograd::impl::grad_accumulator(param);
      g.hook_keys.push_back(accumulator->add_post_hook(std::make_unique<GradHook>(this, gi)));
      g.accumulators.push_back(std::move(accumulator));
    }
  }
  for (std::size_t gi = groups_.size(); gi-- > 0;) {
    if (groups_[gi].trainable) reduce_order_.push_back(gi);
  }
}

ShardedModel::~ShardedModel() {
  for (auto& g : groups_) {
    for (std::size_t i = 0; i < g.accumulators.size(); ++i) g.accumulators[i]->del_post_hook(g.hook_keys[i]);
  }
}

std::size_t ShardedModel::num_groups() const { return groups_.size(); }

torch::Tensor ShardedModel::run_unit(std::size_t u, const torch::Tensor& input,
                                     const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  if (options_.mode != ShardMode::Params) return forward(input);
  gather_unit(u);
  torch::Tensor out;
  try {
    out = forward(input);
  } catch (...) {
    release_unit(u);
    throw;
  }
  release_unit(u);
  if (out.requires_grad()) {
    Unit& unit = units_[u];
    unit.grads_pending = unit.trainable;
    if (input.requires_grad()) {
      ++unit.open_uses;
      input.register_hook([this, u](const torch::Tensor&) { on_unit_input_grad(u); });
    }
    // Runs when the output's gradient is complete, before the unit's own backward nodes (and
    // before a checkpoint of the unit recomputes its forward).
    out.register_hook([this, u](const torch::Tensor&) { gather_unit(u); });
  }
  return out;
}

void ShardedModel::gather_unit(std::size_t u) {
  std::vector<PendingCollective> pending;
  for (std::size_t g : units_[u].groups) pending.push_back(groups_[g].flat->gather(pg_, "parameters of " + groups_[g].what));
  for (auto& p : pending) p.wait();
}

void ShardedModel::release_unit(std::size_t u) {
  for (std::size_t g : units_[u].groups) groups_[g].flat->release();
}

void ShardedModel::release_unit_after_backward(std::size_t u) {
  if (units_[u].open_uses == 0 && !units_[u].grads_pending) release_unit(u);
}

void ShardedModel::on_unit_input_grad(std::size_t u) {
  --units_[u].open_uses;
  release_unit_after_backward(u);
}

void ShardedModel::begin_backward(bool sync) {
  if (in_backward_) fail_runtime("ShardedModel: begin_backward() called twice without finish_backward()");
  in_backward_ = true;
  if (grads_in_params_) {  // the step goes on after a pass that kept its gradients: they are its first fold
    grads_in_params_ = false;
    for (std::size_t gi = 0; gi < groups_.size(); ++gi) fold_grads(gi);
  }
  ++passes_in_step_;
  grads_in_params_ = sync && passes_in_step_ == 1 && pg_.world_size() == 1 && !shards_grads();
  reduce_now_ = (sync || shards_grads()) && !grads_in_params_;
  next_reduction_ = 0;
  for (auto& unit : units_) unit.groups_pending = 0;
  for (auto& g : groups_) {
    if (!g.trainable) continue;
    g.grads_pending = static_cast<int>(g.flat->params().size());
    g.ready = false;
    ++units_[g.unit].groups_pending;
  }
}

void ShardedModel::on_grad_accumulated(std::size_t gi) {
  if (!in_backward_) fail_runtime("ShardedModel: backward() outside begin_backward() and finish_backward()");
  Group& g = groups_[gi];
  if (g.grads_pending <= 0 || --g.grads_pending > 0) return;
  g.ready = true;
  fold_grads(gi);
  Unit& unit = units_[g.unit];
  if (--unit.groups_pending == 0 && options_.mode == ShardMode::Params) {
    unit.grads_pending = false;
    release_unit_after_backward(g.unit);
  }
  if (options_.overlap) launch_ready_reductions();
}

// Strictly in reduce_order_, so every rank issues the same collectives in the same order
// whatever order its hooks fired in.
void ShardedModel::launch_ready_reductions() {
  if (!reduce_now_) return;
  while (next_reduction_ < reduce_order_.size() && groups_[reduce_order_[next_reduction_]].ready) {
    launch_reduction(reduce_order_[next_reduction_++]);
  }
}

void ShardedModel::launch_reduction(std::size_t gi) {
  Group& g = groups_[gi];
  const std::string what = "grads of " + g.what;
  if (!shards_grads()) {
    g.reduction = pg_.all_reduce_sum_async(g.grad_full, what);
    in_flight_.push_back(gi);
    return;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& param : g.flat->params()) grads.push_back(param.grad());
  g.bucket = flatten_padded(g.flat->layout(), grads, g.flat->shard().options());
  for (const auto& param : g.flat->params()) param.mutable_grad().reset();
  g.reduced = torch::empty({g.flat->layout().shard_numel}, g.bucket.options());
  g.reduction = pg_.reduce_scatter_flat_async(g.reduced, g.bucket, what);
  in_flight_.push_back(gi);
  while (in_flight_.size() > kMaxBucketsInFlight) {
    complete_reduction(in_flight_.front());
    in_flight_.pop_front();
  }
}

void ShardedModel::complete_reduction(std::size_t gi) {
  Group& g = groups_[gi];
  g.reduction.wait();
  if (shards_grads()) {
    torch::NoGradGuard no_grad;
    g.grad_shard.add_(g.reduced.to(g.grad_shard.device()));
    g.bucket = torch::Tensor();
    g.reduced = torch::Tensor();
  }
}

// none/optimizer: adds the parameters' gradients to the group's fp32 buffer; the step's first fold
// copies or converts them into it, one pass instead of zeroing, converting and adding (fp32
// parameters too: as views of the buffer that autograd added into, theirs cost a zeroing pass and
// an addition per parameter each step).
void ShardedModel::fold_grads(std::size_t gi) {
  Group& g = groups_[gi];
  if (!g.trainable || shards_grads() || grads_in_params(g)) return;
  torch::NoGradGuard no_grad;
  if (!g.grad_full.defined()) {  // fp32 whatever the parameters' dtype: passes are summed in full precision
    g.grad_full = torch::zeros({g.flat->layout().padded_numel()}, torch::TensorOptions().dtype(torch::kFloat32).device(g.flat->full().device()));
    g.grad_full_stale = true;
  }
  auto views = unflatten(g.flat->layout(), g.grad_full);
  for (std::size_t i = 0; i < views.size(); ++i) {
    auto& grad = g.flat->params()[i].mutable_grad();
    if (!grad.defined()) {
      if (g.grad_full_stale) views[i].zero_();
      continue;
    }
    if (g.grad_full_stale) {
      views[i].copy_(grad);
    } else {
      views[i].add_(grad);
    }
    grad.reset();  // the next micro-batch's gradient is autograd's anew, not added to this one
  }
  g.grad_full_stale = false;
}

void ShardedModel::finish_backward() {
  if (!in_backward_) fail_runtime("ShardedModel: finish_backward() without begin_backward()");
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) fold_grads(gi);  // groups some parameter of which got no gradient
  if (reduce_now_) {
    // Groups whose hooks did not all fire (a parameter unused by this micro-batch) or that
    // were held back (overlap off) are reduced now, in the same fixed order.
    while (next_reduction_ < reduce_order_.size()) launch_reduction(reduce_order_[next_reduction_++]);
    while (!in_flight_.empty()) {
      complete_reduction(in_flight_.front());
      in_flight_.pop_front();
    }
  }
  if (options_.mode == ShardMode::Params) {
    for (std::size_t u = 0; u < units_.size(); ++u) {
      release_unit(u);
      units_[u].open_uses = 0;
      units_[u].grads_pending = false;
    }
  }
  in_backward_ = false;
}

// Elements [begin, begin + n) of this rank's gradient of group G on the state device, in fp32 or
// (the parameters' own gradients) their dtype: the optimizer reads it, writing it is a bug.
torch::Tensor ShardedModel::owned_grad(const Group& g, std::int64_t begin, std::int64_t n) const {
  if (shards_grads()) return g.grad_shard.narrow(0, begin, n);
  const FlatLayout& layout = g.flat->layout();
  if (grads_in_params(g)) {
    std::vector<torch::Tensor> grads;
    for (const auto& param : g.flat->params()) grads.push_back(param.grad());
    // Most blocks lie inside one parameter: its gradient itself, no copy.
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const std::int64_t offset = layout.offsets[i];
      const torch::Tensor& grad = grads[i];
      if (grad.defined() && grad.is_contiguous() && grad.device() == state_device_ && offset <= begin && begin + n <= offset + grad.numel()) {
        return grad.view(-1).narrow(0, begin - offset, n);
      }
    }
    return flatten_range(layout, grads, begin, n, torch::TensorOptions().dtype(g.flat->dtype()).device(state_device_));
  }
  if (shards_state()) begin += layout.shard_begin(pg_.rank());
  return g.grad_full.narrow(0, begin, n).to(state_device_);
}

bool ShardedModel::grads_in_params(const Group& g) const {
  return grads_in_params_ && g.trainable && g.flat->dtype() != torch::kFloat32;
}

double ShardedModel::grad_norm() {
  torch::NoGradGuard no_grad;
  auto total = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat64).device(pg_.device()));
  std::vector<torch::Tensor> in_params;  // one rank's gradients in the parameters: summed in one call
  for (const auto& g : groups_) {
    if (!g.trainable) continue;
    const FlatLayout& layout = g.flat->layout();
    if (grads_in_params(g)) {
      for (const auto& param : g.flat->params()) {
        if (param.grad().defined()) in_params.push_back(param.grad());
      }
      continue;
    }
    // Each rank sums the squares of its own slice only; the all-reduce adds the slices up.
    torch::Tensor slice = shards_grads() ? g.grad_shard
                                         : g.grad_full.narrow(0, layout.shard_begin(pg_.rank()), layout.shard_numel);
    total += squared_norm(slice).to(total.device());
  }
  if (!in_params.empty()) total += squared_norm_sum(in_params).to(total.device());
  pg_.all_reduce_sum(total, "gradient norm");
  return std::sqrt(total.item<double>());
}

void ShardedModel::step(double lr, double grad_scale) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> updated(groups_.size());
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    if (!g.trainable) continue;
    auto grad = [&](std::int64_t begin, std::int64_t n) { return owned_grad(g, begin, n); };
    adamw_step(*g.adam, grad, lr, options_.adamw, grad_scale);
    if (g.adam->steps_params()) {  // the step updated this rank's parameters in place
      if (options_.mode == ShardMode::Optimizer || options_.mode == ShardMode::Grads) updated[gi] = g.flat->shard().clone();
      continue;
    }
    const torch::Tensor& master = g.adam->master;
    torch::Tensor params = g.flat->dtype() == torch::kBFloat16 ? bf16_of_master(master) : master.to(g.flat->dtype());
    switch (options_.mode) {
      case ShardMode::None: g.flat->full().copy_(params); break;
      case ShardMode::Params: g.flat->shard().copy_(params); break;
      default: updated[gi] = params.to(g.flat->shard().device()); break;
    }
  }
  // ZeRO-1/2: every rank's updated slice goes back into every rank's full parameters.
  std::vector<PendingCollective> pending;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    if (updated[gi].defined()) {
      pending.push_back(pg_.all_gather_flat_async(groups_[gi].flat->full(), updated[gi], "parameters of " + groups_[gi].what));
    }
  }
  for (auto& p : pending) p.wait();
  ++steps_;
}

void ShardedModel::zero_grad() {
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    if (grads_in_params(g)) {
      for (const auto& param : g.flat->params()) param.mutable_grad().reset();
    }
    if (g.grad_full.defined()) g.grad_full_stale = true;  // overwritten by the next step's first fold
    if (g.grad_shard.defined()) g.grad_shard.zero_();
  }
  grads_in_params_ = false;
  passes_in_step_ = 0;
}

std::vector<TensorSpec> ShardedModel::full_specs(StateKind kind, bool trainable_only) const {
  std::vector<TensorSpec> out;
  for (const auto& g : groups_) {
    if (!holds_state(kind, trainable_only, g.trainable)) continue;
    const FlatLayout& layout = g.flat->layout();
    const auto dtype = kind == StateKind::Param ? g.flat->dtype() : torch::kFloat32;
    for (std::size_t i = 0; i < layout.names.size(); ++i) out.push_back({layout.names[i], dtype, layout.shapes[i]});
  }
  return out;
}

void ShardedModel::for_each_full(StateKind kind, const std::function<void(const std::string&, const torch::Tensor&)>& fn,
                                 bool trainable_only) {
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    if (!holds_state(kind, trainable_only, g.trainable)) continue;
    const FlatLayout& layout = g.flat->layout();
    torch::Tensor local;  // this rank's part: the whole padded buffer when nothing is sharded
    bool sharded = false;
    if (kind == StateKind::Param) {
      sharded = g.flat->sharded();
      local = sharded ? g.flat->shard() : g.flat->full();
    } else {
      sharded = shards_state();
      local = kind == StateKind::Master ? g.adam->master_fp32() : kind == StateKind::ExpAvg ? g.adam->exp_avg : g.adam->exp_avg_sq;
    }
    torch::Tensor full;
    if (sharded) {
      local = local.to(pg_.device());  // offloaded state travels through the group's device
      full = torch::empty({layout.padded_numel()}, local.options());
      pg_.all_gather_flat(full, local, "checkpoint of " + g.what);
      full = full.to(torch::kCPU);
    } else {
      // On a CPU the buffer itself: a copy would add the state's size to a checkpoint's peak memory.
      full = local.to(torch::kCPU);
    }
    auto views = unflatten(layout, full);
    for (std::size_t i = 0; i < views.size(); ++i) fn(layout.names[i], views[i]);
  }
}

void ShardedModel::load_full(StateKind kind, const std::function<torch::Tensor(const std::string&)>& lookup, bool trainable_only) {
  torch::NoGradGuard no_grad;
  static const char* kind_names[] = {"parameter", "master weight", "exp_avg", "exp_avg_sq"};
  const char* kind_name = kind_names[static_cast<int>(kind)];
  for (auto& g : groups_) {
    if (!holds_state(kind, trainable_only, g.trainable)) continue;
    const FlatLayout& layout = g.flat->layout();
    const bool is_param = kind == StateKind::Param;
    const torch::ScalarType dtype = is_param ? g.flat->dtype() : torch::kFloat32;
    std::vector<torch::Tensor> tensors;
    for (std::size_t i = 0; i < layout.names.size(); ++i) {
      torch::Tensor t = lookup(layout.names[i]);
      if (!t.defined()) fail_input("checkpoint: {} {} is missing", kind_name, layout.names[i]);
      if (t.sizes() != c10::IntArrayRef(layout.shapes[i])) {
        fail_input("checkpoint: {} {}: shape {} vs {}", kind_name, layout.names[i], fmt::join(t.sizes(), "x"),
                   fmt::join(layout.shapes[i], "x"));
      }
      // A silent cast would resume other numbers than were saved (a bf16 run's fp32 masters, say).
      if (t.scalar_type() != dtype) {
        fail_input("checkpoint: {} {}: dtype {} vs {}", kind_name, layout.names[i], c10::toString(t.scalar_type()),
                   c10::toString(dtype));
      }
      tensors.push_back(t);
    }
    auto flat = flatten_padded(layout, tensors, torch::TensorOptions().dtype(dtype));
    torch::Tensor own = flat.narrow(0, layout.shard_begin(pg_.rank()), layout.shard_numel);
    if (is_param) {
      if (g.flat->sharded()) {
        g.flat->shard().copy_(own);
      } else {
        g.flat->full().copy_(flat);
      }
      if (g.trainable) g.adam->set_master((shards_state() ? own : flat).to(torch::kFloat32));
    } else if (kind == StateKind::Master) {
      g.adam->set_master(shards_state() ? own : flat);
    } else {
      torch::Tensor& state = kind == StateKind::ExpAvg ? g.adam->exp_avg : g.adam->exp_avg_sq;
      state.copy_(shards_state() ? own : flat);
    }
  }
}

void ShardedModel::set_steps_done(std::int64_t steps) {
  steps_ = steps;
  for (auto& g : groups_) {
    if (g.adam) g.adam->step.fill_(static_cast<double>(steps));
  }
}

ShardMemory ShardedModel::memory() const {
  ShardMemory m;
  std::int64_t grad_shards = 0;
  for (const auto& g : groups_) {
    m.params += g.flat->resident_bytes();
    m.grads += bytes_of(g.grad_full) + bytes_of(g.grad_shard) + bytes_of(g.bucket) + bytes_of(g.reduced);
    if (grads_in_params(g)) {
      for (const auto& param : g.flat->params()) m.grads += bytes_of(param.grad());
    }
    if (g.adam) m.optimizer += g.adam->bytes();
    grad_shards += bytes_of(g.grad_shard);
  }
  if (options_.offload) m.offloaded = m.optimizer + grad_shards;
  return m;
}

}  // namespace cotrain
