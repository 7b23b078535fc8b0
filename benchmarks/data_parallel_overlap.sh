#!/usr/bin/env bash
# What overlapping the gradient reduction with the backward pass buys on this machine: two ranks
# over Gloo (loopback), launched by torchrun, overlap on and off alternating REPEAT times per
# shard mode; prints every run's JSON line, then the medians and their ratio.
#   cmake --build build --target bench_data_parallel
#   benchmarks/data_parallel_overlap.sh [REPEAT] [bench_data_parallel flags, e.g. --seq-len 1024]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
repeat=${1:-3}
shift || true
runs=$(mktemp)
for mode in none grads; do
  for _ in $(seq "$repeat"); do
    for overlap in 1 0; do
      python3 -m torch.distributed.run --no-python --nproc-per-node 2 --master-port $((20000 + RANDOM % 20000)) \
        build/benchmarks/bench_data_parallel --mode "$mode" --overlap "$overlap" "$@" 2>/dev/null | grep '^{' | tee -a "$runs"
    done
  done
done
python3 - "$runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for mode in ("none", "grads"):
    on = statistics.median(r["step_s"] for r in runs if r["mode"] == mode and r["overlap"])
    off = statistics.median(r["step_s"] for r in runs if r["mode"] == mode and not r["overlap"])
    print(f"{mode}: median step {on:.3f} s with overlap, {off:.3f} s without: ratio {on / off:.3f}")
PY
rm -f "$runs"
