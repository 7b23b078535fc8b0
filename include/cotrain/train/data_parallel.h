// The trainer's side of data parallelism (docs/distributed.md): joining the job, each rank's
// share of a step, the micro-batch count every rank must run, per-rank numbers for the metrics,
// and the ZeRO-3 model made whole for the export. A job of one goes through the same calls; its
// collectives leave their inputs as they are.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "cotrain/model/causal_lm.h"
#include "cotrain/train/checkpoint.h"
#include "cotrain/train/config.h"
#include "cotrain/train/distributed.h"
#include "cotrain/train/sharding.h"

namespace cotrain {

// Joins the job the launcher's environment describes (train/launch.h; none: a job of one on
// model.device), on cuda:LOCAL_RANK or the CPU. In a job of several, every log line is prefixed
// "rank R/N" and ranks other than 0 log warnings and errors only. CPU ranks sharing a node split
// its cores between them (torch::set_num_threads) unless OMP_NUM_THREADS is set or the launcher
// pinned each to cores of its own.
ProcessGroup join_training_job(const TrainConfig& config);

// This rank's documents of a step: a strided share of STEP_DOCS (train/distributed.h's rank_share).
std::vector<std::size_t> rank_documents(const ProcessGroup& pg, std::span<const std::size_t> step_docs);

// The micro-batches every rank runs this step: the most any rank has. ZeRO-2/3 communicate in
// each micro-batch and every mode reduces gradients in the last, so a rank with fewer rows (or
// none) runs filler_row() for the rest, with its loss multiplied by zero.
std::int64_t micro_batches(ProcessGroup& pg, std::int64_t rows);
const PackedRow& filler_row();  // two tokens, one target

// VALUE of every rank, in rank order (one all-reduce).
std::vector<double> per_rank(ProcessGroup& pg, double value, const std::string& what);

// Every rank's random generator states (checkpoint.h's rng_states), gathered for a checkpoint:
// rank 0's under their own names, rank R's under "rank R/NAME". Every rank must call it.
NamedTensors job_rng_states(ProcessGroup& pg, CausalLM& model);
// This rank's share of what job_rng_states saved: its own states when the checkpoint has them,
// else (resumed on more ranks than saved it) rank 0's.
NamedTensors rank_rng_states(const ProcessGroup& pg, const NamedTensors& saved);

// ZeRO-3 holds each parameter as slices on the ranks: every rank gathers them and rank 0's model
// gets them whole, in CPU memory (a 32B model does not fit one GPU beside its shard). Other modes:
// nothing to do.
void gather_for_export(ProcessGroup& pg, CausalLM& model, ShardedModel& sharded);

}  // namespace cotrain
