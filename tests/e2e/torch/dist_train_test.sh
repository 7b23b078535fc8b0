#!/usr/bin/env bash
# cotrain sft and lora as multi-process jobs on the CPU (Gloo over loopback): 2 ranks launched
# through torchrun (from the installed torch package), 3 through plain RANK/WORLD_SIZE/
# MASTER_ADDR/MASTER_PORT, in every dist.shard mode, each equal to the single-process run with the
# same global batch (per-step loss <= 1e-5 relative, final weights <= 1e-5 absolute); only rank 0
# writes the run directory; checkpoints saved by 3 ranks resume on 2, and by 2 on 1, to the same
# result; a killed rank and a hung rank make the others exit non-zero within dist.timeout_s.
source "$(dirname "$0")/../lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
TOK="$SHARED/tokenizers/qwen2.5"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

expect_exit 0 "$COTRAIN" data synth --out traces.jsonl --n 10 --seed 1
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 0 --out model --tokenizer "$TOK"
# Documents cut to 320 tokens (about 70 targets each) keep the runs quick (the head has Qwen's 151,936 rows).
expect_exit 0 "$COTRAIN" data prepare --data traces.jsonl --tokenizer model --out cache --cutoff 320 --cutoff-policy truncate
# 8 training documents in steps of 3, 3, 2 (on 3 ranks the last leaves one rank without a
# document; on 2 the ranks have 2 and 1: uneven micro-batch counts), 2 held out; activation
# checkpointing on (ZeRO-3 gathers a layer again for its recomputation); clipping active.
cat > tiny.json <<'JSON'
{"model": {"path": "model", "dtype": "fp32", "device": "cpu"},
 "data": {"path": "cache", "cutoff": 320, "val_fraction": 0.2},
 "train": {"epochs": 1, "global_batch": 3, "micro_batch": 1, "lr": 1e-3, "warmup_ratio": 0, "weight_decay": 0.1,
           "max_grad_norm": 0.5, "activation_checkpointing": true},
 "dist": {"timeout_s": 60}}
JSON

# The single-process reference.
expect_exit 0 "$COTRAIN" sft --config tiny.json --out one
expect_contains out 'trained 3 steps'
CFG=(--config tiny.json)

# compare RUN [WORLD]: RUN's steps and final weights equal one/'s; only rank 0's files.
compare() {
  python3 - "$@" <<'PY' || fail "$1 differs from the single-process run"
import json, sys
from safetensors.torch import load_file
run, world = sys.argv[1], int(sys.argv[2])
ref, ref_dir = "one", "one/final/model.safetensors"
def steps(d):
    lines = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
    return [l for l in lines if "loss" in l], [l for l in lines if "val_loss" in l]
(a, va), (b, vb) = steps(run), steps(ref)
assert len(a) == len(b) == 3, (len(a), len(b))
assert max(y["grad_norm"] for y in b) > 0.5, "no step clips: clipping would go unchecked"
for x, y in zip(a + va, b + vb):
    for key in ("loss", "grad_norm", "val_loss"):
        if key in y:
            assert abs(x[key] - y[key]) <= 1e-5 * abs(y[key]), (key, x["step"], x[key], y[key])
    for key in ("target_tokens", "tokens", "lr"):
        if key in y:
            assert x[key] == y[key], (key, x, y)
    if "loss" in x:
        assert x["mem_mib"] == max(x["rank_mem_mib"]), x
assert len(a[-1]["rank_mem_mib"]) == world, a[-1]
info = json.load(open(f"{run}/run.json"))
assert info["status"] == "completed" and info["world_size"] == world, info
ours, theirs = load_file(f"{run}/final/model.safetensors"), load_file(ref_dir)
assert ours.keys() == theirs.keys()
worst = max((ours[k] - theirs[k]).abs().max().item() for k in theirs)
assert worst <= 1e-5, worst
print(f"{run}: loss rel. diff <= {max(abs(x['loss'] - y['loss']) / y['loss'] for x, y in zip(a, b)):.1e}, weights <= {worst:.1e}")
PY
  pass
}

# 2 ranks through torchrun, every mode (offload with ZeRO-1).
for mode in none optimizer grads params; do
  extra=(); [ "$mode" = optimizer ] && extra=(--set dist.offload=true)
  expect_exit 0 python3 -m torch.distributed.run --no-python --nnodes 1 --nproc-per-node 2 --master-port "$(free_port)" \
    "$COTRAIN" sft "${CFG[@]}" --out "tr2-$mode" --set dist.shard=$mode "${extra[@]}"
  expect_contains out 'trained 3 steps'
  compare "tr2-$mode" 2
done

# 3 ranks through plain environment variables, every mode.
start_ranks() {  # start_ranks WORLD PORT ARGS...: RANK=r processes in the background, logs rank-r.log
  local world=$1 port=$2; shift 2
  PIDS=()
  for ((r = 0; r < world; r++)); do
    local pin=(); [ -n "${PIN:-}" ] && pin=(taskset -c $((r % $(nproc))))  # PIN=1: rank r on CPU r only
    RANK=$r WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "${pin[@]}" "$COTRAIN" "$@" >"rank-$r.out" 2>"rank-$r.log" &
    PIDS+=($!)
  done
}
# wait_for_step RUN: until RUN has logged its first step, while every rank runs (on a loaded
# machine three ranks sharing two cores can take well over half a minute to get there).
wait_for_step() {
  local run=$1 r
  for _ in $(seq 3000); do
    [ -s "$run/metrics.jsonl" ] && return 0
    for r in "${!PIDS[@]}"; do
      kill -0 "${PIDS[$r]}" 2>/dev/null || fail "$run: rank $r exited before the first step: $(tail -c 2000 rank-$r.log)"
    done
    sleep 0.1
  done
  fail "$run: no step within 300 s: $(tail -c 2000 rank-0.log)"
}
for mode in none optimizer grads params; do
  start_ranks 3 "$(free_port)" sft "${CFG[@]}" --out "env3-$mode" --set dist.shard=$mode
  for ((r = 0; r < 3; r++)); do
    code=0; wait "${PIDS[$r]}" || code=$?
    [ "$code" = 0 ] || fail "env3-$mode: rank $r exited $code: $(tail -c 2000 rank-$r.log)"
  done
  pass
  [ -s rank-1.out ] && fail "rank 1 printed a result: $(cat rank-1.out)"
  # Three ranks on this node's cores: one thread each (two cores here) instead of one per core each.
  expect_contains rank-0.log "[0-9]+ CPU thread\\(s\\) per rank: 3 ranks share this node's cores"
  compare "env3-$mode" 3
done

# LoRA under ZeRO-3 on 2 ranks: the frozen base is sharded too; the adapter equals one process's.
# The reference on one thread as each rank: BLAS's fp32 sums split differently on two threads, and
# Adam at this learning rate turns those last bits into ~3e-5 in the adapter after three steps.
LORA=(lora "${CFG[@]}" --rank 4 --set train.lr=1e-2)
OMP_NUM_THREADS=1 expect_exit 0 "$COTRAIN" "${LORA[@]}" --out lora-one
OMP_NUM_THREADS=1 start_ranks 2 "$(free_port)" "${LORA[@]}" --out lora-env2 --set dist.shard=params
for r in 0 1; do wait "${PIDS[$r]}" || fail "lora-env2: rank $r failed: $(tail -c 2000 rank-$r.log)"; done
grep -q "CPU thread" rank-0.log && fail "OMP_NUM_THREADS=1 did not override the thread split: $(cat rank-0.log)"
python3 - <<'PY' || fail "the 2-rank ZeRO-3 adapter differs from the single-process one"
from safetensors.torch import load_file
a, b = load_file("lora-env2/final/adapter_model.safetensors"), load_file("lora-one/final/adapter_model.safetensors")
assert a.keys() == b.keys() and len(a) > 0
worst = max((a[k] - b[k]).abs().max().item() for k in a)
assert worst <= 1e-5, worst
print(f"lora params x2: adapter <= {worst:.1e}")
PY
pass

# Checkpoints independent of the world size: a job of SAVED ranks checkpoints every step; its
# directory as a kill after step 1's checkpoint leaves it is resumed by a job of WORLD ranks and
# ends where the single-process run does.
resume_across() {  # resume_across MODE SAVED WORLD
  local mode=$1 saved=$2 world=$3 run="resume-$1-$2to$3"
  start_ranks "$saved" "$(free_port)" sft "${CFG[@]}" --out "$run" --set dist.shard="$mode" --set train.save_every=1 \
    --set train.keep_checkpoints=3
  for ((r = 0; r < saved; r++)); do wait "${PIDS[$r]}" || fail "$run: rank $r failed: $(tail -c 2000 rank-$r.log)"; done
  rm -r "$run/final" "$run/checkpoints/step-2" "$run/checkpoints/step-3"
  if [ "$world" = 1 ]; then
    expect_exit 0 "$COTRAIN" sft "${CFG[@]}" --out "$run" --set dist.shard="$mode" --set train.save_every=1 \
      --set train.keep_checkpoints=3 --resume
  else
    expect_exit 0 python3 -m torch.distributed.run --no-python --nnodes 1 --nproc-per-node "$world" --master-port "$(free_port)" \
      "$COTRAIN" sft "${CFG[@]}" --out "$run" --set dist.shard="$mode" --set train.save_every=1 --set train.keep_checkpoints=3 --resume
  fi
  expect_contains out 'resumed from step 1; trained 3 steps'
  compare "$run" "$world"
}
resume_across params 3 2
resume_across optimizer 2 1

# SIGTERM to one rank of a job (srun signals all; any one is enough): every rank stops after the
# same step, one checkpoint is saved, every rank exits 143; the run then finishes on one process.
# Each rank pinned to a CPU of its own (as srun's CPU binding does): torch's default already counts
# only those, so the cores are not split again.
PIN=1 start_ranks 2 "$(free_port)" sft "${CFG[@]}" --out term --set dist.shard=grads --set train.max_steps=40 --set data.val_fraction=0
wait_for_step term
if [ "$(nproc)" -gt 1 ]; then
  grep -q "CPU thread" rank-0.log && fail "ranks pinned to their own CPUs split them again: $(cat rank-0.log)"
  pass
fi
kill -TERM "${PIDS[1]}"
for r in 0 1; do
  code=0; wait "${PIDS[$r]}" || code=$?
  [ "$code" = 143 ] || fail "SIGTERM: rank $r exited $code, expected 143: $(tail -c 2000 rank-$r.log)"
done
pass
expect_contains term/run.json '"status": "stopped"'
[ "$(ls term/checkpoints | wc -l)" = 1 ] || fail "SIGTERM: expected one checkpoint, found: $(ls term/checkpoints)"
expect_exit 0 "$COTRAIN" sft "${CFG[@]}" --out term --set dist.shard=grads --set train.max_steps=40 --set data.val_fraction=0 --resume
expect_contains out 'trained 40 steps'
expect_contains out 'resumed from step'

# Failures: with dist.timeout_s=10, a rank killed mid-run (connection reset) or stopped (no answer)
# makes the others exit 1 within the timeout, each naming its rank and the collective. The timeout
# bounds every collective, so it must exceed how far the ranks drift apart on a loaded machine.
for how in KILL STOP; do
  start_ranks 3 "$(free_port)" sft "${CFG[@]}" --out "fail-$how" --set train.max_steps=100000 --set dist.timeout_s=10 \
    --set data.val_fraction=0
  wait_for_step "fail-$how"
  kill -$how "${PIDS[2]}"
  t0=$(date +%s.%N)
  for r in 0 1; do
    code=0; wait "${PIDS[$r]}" || code=$?
    [ "$code" = 1 ] || fail "$how: rank $r exited $code, expected 1: $(tail -c 2000 rank-$r.log)"
    grep -qE "^error: rank $r/3: .*failed" "rank-$r.log" || fail "$how: rank $r's error: $(tail -c 2000 rank-$r.log)"
  done
  took=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "$how: the others exited after ${took}s"
  # Bounded by the timeout plus the rest of the step they were computing (slow on a loaded machine,
  # where a first step has taken over 30 s), and well under the 60 s the other runs here wait.
  [ "$(echo "$took < 10 + 30" | bc)" = 1 ] || fail "$how: the others took ${took}s (dist.timeout_s=10)"
  kill -KILL "${PIDS[2]}" 2>/dev/null || true; wait "${PIDS[2]}" 2>/dev/null || true
  expect_contains "fail-$how/run.json" '"status": "failed"'
done
finish
