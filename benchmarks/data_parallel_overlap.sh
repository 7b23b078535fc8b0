#!/usr/bin/env bash
# What overlapping the gradient reduction with the backward pass buys on this machine: two ranks
# over Gloo (loopback), launched by torchrun, overlap on and off alternating REPEAT times per
# shard mode, plus one rank alone (the same work per rank without any communication); prints
# every run's JSON line, then the medians.
#   cmake --build build --target bench_data_parallel
#   benchmarks/data_parallel_overlap.sh [REPEAT] [bench_data_parallel flags, e.g. --seq-len 1024]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
repeat=${1:-3}
shift || true
runs=$(mktemp)
launch() {  # launch NPROC ARGS...
  local nproc=$1
  shift
  python3 -m torch.distributed.run --no-python --nproc-per-node "$nproc" --master-port $((20000 + RANDOM % 20000)) \
    build/benchmarks/bench_data_parallel "$@" 2>/dev/null | grep '^{' | tee -a "$runs"
}
for _ in $(seq "$repeat"); do
  for mode in none grads; do
    launch 2 --mode "$mode" --overlap 1 "$@"
    launch 2 --mode "$mode" --overlap 0 "$@"
  done
  launch 1 --mode none --overlap 1 "$@"
done
python3 - "$runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
def median(**match):
    return statistics.median(r["step_s"] for r in runs if all(r[k] == v for k, v in match.items()))
alone = median(ranks=1)
print(f"one rank alone (no communication): median step {alone:.3f} s")
for mode in ("none", "grads"):
    on, off = median(ranks=2, mode=mode, overlap=True), median(ranks=2, mode=mode, overlap=False)
    print(f"{mode}: median step {on:.3f} s with overlap, {off:.3f} s without (ratio {on / off:.3f}); "
          f"communication costs {off - alone:.3f} s without overlap, {on - alone:.3f} s with")
PY
rm -f "$runs"
