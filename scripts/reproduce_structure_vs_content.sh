#!/usr/bin/env bash
# Reruns the perturbation study of Li et al. 2025 (Table 2, "structure, not content, is what
# matters") with cotrain: for every condition the same synthetic long-CoT traces are perturbed
# (seeded), the same base model is fine-tuned on them, the result answers held-out problems, and
# one table compares the conditions. docs/reproduction.md explains the scales and the table.
#
#   scripts/reproduce_structure_vs_content.sh [--scale smoke|cpu|gpu] [--seeds N] [--out DIR]
#       [--conditions a,b,...] [--method lora|sft] [--time-budget MIN] [--cotrain BIN]
#
# Every step writes its output under OUT and is skipped when that output is already complete, so
# an interrupted or partial study continues where it stopped, and more seeds can be added later.
# The same command on the same OUT gives the same table.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --scale S          smoke (tiny random model, minutes; CI), cpu (Qwen2.5-0.5B on this machine),
                     gpu (Qwen2.5-7B-Instruct, the real 17k traces; see docs/reproduction.md)
  --seeds N          training seeds 1..N per condition (default: 1 smoke, 1 cpu, 3 gpu)
  --out DIR          study directory (default runs/structure-vs-content-SCALE)
  --conditions LIST  only these conditions (comma-separated names, see below); the table covers
                     the conditions that are complete
  --method M         lora (default) or sft
  --time-budget MIN  start no new run after MIN minutes; rerun the same command to continue
  --cotrain BIN      the cotrain binary (default: $COTRAIN, else build/cotrain)
Conditions:
EOF
  print_conditions | awk -F'\t' '{printf "  %-22s %s\n", $1, $4}'
  exit "${1:-0}"
}

die() { echo "error: $*" >&2; exit 2; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# quiet LOG CMD...: runs CMD with its output in LOG; on failure shows LOG's end and stops (a
# stop signal passes its exit code on: what was finished is kept, rerunning continues).
quiet() {
  local log_file=$1 rc=0; shift
  "$@" >"$log_file" 2>&1 || rc=$?
  [ $rc = 0 ] && return
  tail -n 5 "$log_file" >&2
  [ $rc -gt 128 ] && { echo "error: interrupted; rerun the same command to continue" >&2; exit $rc; }
  echo "error: '$*' failed (log: $log_file)" >&2; exit 1
}

# name, `cotrain data perturb` mode, ratio, label, the paper's average over MATH500/AIME24/AMC23/
# OlympiadBench for Qwen2.5-32B-Instruct (../shared/reference/sky-t1-recipe.md). "base" is the
# model before fine-tuning; "original" trains on the unperturbed traces.
print_conditions() {
  cat <<'EOF'
base	-	-	base model, not fine-tuned	56.7
original	-	-	original traces	66.3
wrong-answer	wrong-answer	1	wrong final answers	63.1
digits-20	corrupt-digits	0.2	corrupted digits 20%	64.5
digits-50	corrupt-digits	0.5	corrupted digits 50%	64.2
digits-70	corrupt-digits	0.7	corrupted digits 70%	62.0
digits-100	corrupt-digits	1	corrupted digits 100%	2.7
keywords-20	remove-keywords	0.2	removed reflection keywords 20%	62.3
keywords-50	remove-keywords	0.5	removed reflection keywords 50%	65.9
keywords-100	remove-keywords	1	removed reflection keywords 100%	63.0
shuffle-33	shuffle-steps	0.33	shuffled steps 33%	62.3
shuffle-67	shuffle-steps	0.67	shuffled steps 67%	57.2
shuffle-100	shuffle-steps	1	shuffled steps 100%	56.1
delete-33	delete-steps	0.33	deleted steps 33%	62.3
delete-67	delete-steps	0.67	deleted steps 67%	53.5
delete-100	delete-steps	1	deleted steps 100%	49.5
insert-33	insert-steps	0.33	inserted steps 33%	63.7
insert-67	insert-steps	0.67	inserted steps 67%	52.0
insert-100	insert-steps	1	inserted steps 100%	44.5
EOF
}

SCALE=smoke SEEDS="" OUT="" ONLY="" METHOD=lora BUDGET_MIN=0
COTRAIN="${COTRAIN:-build/cotrain}"
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="${2:?--scale needs a value}"; shift 2 ;;
    --seeds) SEEDS="${2:?--seeds needs a value}"; shift 2 ;;
    --out) OUT="${2:?--out needs a value}"; shift 2 ;;
    --conditions) ONLY="${2:?--conditions needs a value}"; shift 2 ;;
    --method) METHOD="${2:?--method needs a value}"; shift 2 ;;
    --time-budget) BUDGET_MIN="${2:?--time-budget needs a value}"; shift 2 ;;
    --cotrain) COTRAIN="${2:?--cotrain needs a value}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "error: unknown option '$1'" >&2; usage 2 >&2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${COTRAIN_SHARED:-$HERE/../../shared}"
MODELS="${COTRAIN_MODELS:-$HOME/.cache/cotrain/models}"
[ -x "$COTRAIN" ] || die "--cotrain: $COTRAIN is not an executable (build cotrain first, or pass --cotrain BIN)"
COTRAIN="$(realpath "$COTRAIN")"
command -v jq >/dev/null || die "jq: not installed (scripts/setup.sh installs it)"
case "$METHOD" in lora|sft) ;; *) die "--method: lora or sft (got '$METHOD')" ;; esac
[[ "$BUDGET_MIN" =~ ^[0-9]+$ ]] || die "--time-budget: minutes as a whole number (got '$BUDGET_MIN')"

# --- The scales. Everything that decides a result is here and recorded in OUT/experiment.json.
#   TRAIN_N / HELDOUT_N   synthetic training traces / held-out synthetic problems (`data synth`)
#   MATH500_N             the first N problems of MATH500 (0: none)
#   TRAIN_SET             `--set` overrides of the training config (configs are written below)
#   MAX_NEW               generation limit in tokens (greedy, one sample per problem)
TRAIN_SET=()
case "$SCALE" in
  smoke)
    # A 2-layer random model: the numbers are noise; this checks that every step runs and the
    # table is produced, in a few minutes on 2 cores.
    # fp32: bf16 does not pay off at this size. ~10 s per condition and seed.
    SEEDS="${SEEDS:-1}" BASE_MODEL="" TRAIN_N=12 HELDOUT_N=6 MATH500_N=3 MAX_NEW=16 DTYPE=fp32 EVAL_DTYPE=float32
    TRAIN_SET=(train.max_steps=2 train.global_batch=2 train.micro_batch=2 train.lr=1e-3 lora.rank=4
      data.cutoff=2048 train.activation_checkpointing=false)
    ;;
  cpu)
    # Qwen2.5-Coder-0.5B-Instruct (the real 0.5B checkpoint of scripts/get_real_models.sh), bf16
    # LoRA rank 16 on 2 cores: 24 traces (~12k tokens, 6 steps, ~3 min at ~60-75 tokens/s) and
    # greedy answers to 24 held-out synthetic and 8 MATH500 problems (up to 512 tokens: fine-tuned
    # answers run ~300 tokens, and 256 cut most of them off; ~3-4 min), so ~7 min per condition
    # and seed and ~2 h 15 min for the whole table: run it in parts with --time-budget.
    # docs/reproduction.md has the measured times.
    SEEDS="${SEEDS:-1}" BASE_MODEL="$MODELS/qwen2.5-coder-0.5b-instruct" TRAIN_N=24 HELDOUT_N=24 MATH500_N=8
    MAX_NEW=512 DTYPE=bf16 EVAL_DTYPE=bfloat16
    TRAIN_SET=(train.epochs=1 train.global_batch=4 train.micro_batch=4 train.lr=1e-3 lora.rank=16
      data.cutoff=2048)
    ;;
  gpu)
    # The paper's setting on a lent GPU or a cluster: Qwen2.5-7B-Instruct, LoRA rank 64 over the
    # real Sky-T1 17k traces. Not run here (no GPU on the development machines); see
    # docs/reproduction.md for what to set.
    SEEDS="${SEEDS:-3}" BASE_MODEL="${COTRAIN_GPU_MODEL:-$MODELS/Qwen2.5-7B-Instruct}"
    TRAIN_N=0 HELDOUT_N=100 MATH500_N=500 MAX_NEW=16384 DTYPE=bf16 EVAL_DTYPE=bfloat16
    TRAIN_SET=(train.epochs=3 train.global_batch=96 train.micro_batch=1 train.lr=1e-4 lora.rank=64
      data.cutoff=16384)
    [ -n "${COTRAIN_GPU_TRACES:-}" ] || die "--scale gpu: set COTRAIN_GPU_TRACES to the Sky-T1 17k trace file (docs/reproduction.md)"
    [ -d "$BASE_MODEL" ] || die "--scale gpu: $BASE_MODEL: no such model directory (set COTRAIN_GPU_MODEL)"
    ;;
  *) die "--scale: smoke, cpu or gpu (got '$SCALE')" ;;
esac
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || die "--seeds: a positive whole number (got '$SEEDS')"
[ "$METHOD" = sft ] && [ "$SCALE" != smoke ] && TRAIN_SET+=(train.lr=1e-5)  # the paper's full-SFT rate
OUT="${OUT:-runs/structure-vs-content-$SCALE}"
[ -f "$SHARED/tokenizers/qwen2.5/tokenizer.json" ] || die "$SHARED: no shared data (set COTRAIN_SHARED)"
if [ "$SCALE" = cpu ] && [ ! -f "$BASE_MODEL/model.safetensors" ]; then
  die "$BASE_MODEL: not found (run scripts/get_real_models.sh first)"
fi

CONDITIONS=()
while IFS=$'\t' read -r name _; do CONDITIONS+=("$name"); done < <(print_conditions)
if [ -n "$ONLY" ]; then
  IFS=, read -ra wanted <<<"$ONLY"
  for w in "${wanted[@]}"; do
    print_conditions | cut -f1 | grep -qxF -- "$w" || die "--conditions: unknown condition '$w' (see --help)"
  done
  CONDITIONS=("${wanted[@]}")
fi

mkdir -p "$OUT"
OUT="$(realpath "$OUT")"

# What the study is. A rerun into OUT must be the same study (seeds and conditions may grow).
experiment_json() {
  jq -n --arg scale "$SCALE" --arg method "$METHOD" --arg base "${BASE_MODEL:-tiny random qwen2 (init-model --seed 0)}" \
    --argjson train_n "$TRAIN_N" --argjson heldout_n "$HELDOUT_N" --argjson math500_n "$MATH500_N" \
    --argjson max_new "$MAX_NEW" --arg dtype "$DTYPE" --arg eval_dtype "$EVAL_DTYPE" --arg traces "${COTRAIN_GPU_TRACES:-data synth --seed 0}" \
    --args '{scale: $scale, method: $method, base_model: $base, dtype: $dtype, training_traces: $traces,
            train_traces: $train_n, heldout_problems: $heldout_n, math500_problems: $math500_n,
            generation: {temperature: 0, n: 1, max_new_tokens: $max_new, dtype: $eval_dtype}, train_overrides: $ARGS.positional}' \
    "${TRAIN_SET[@]}"
}
if [ -f "$OUT/experiment.json" ]; then
  experiment_json | cmp -s - "$OUT/experiment.json" ||
    die "$OUT: holds a study with other settings (see $OUT/experiment.json); use another --out"
else
  experiment_json >"$OUT/experiment.json.tmp" && mv "$OUT/experiment.json.tmp" "$OUT/experiment.json"
fi
print_conditions >"$OUT/conditions.tsv"

STARTED=$SECONDS
out_of_time() { [ "$BUDGET_MIN" -gt 0 ] && [ $((SECONDS - STARTED)) -ge $((BUDGET_MIN * 60)) ]; }

# --- Data: the training traces and the held-out problems (disjoint; `data synth` guarantees it).
mkdir -p "$OUT/data"
DATA="$OUT/data"
if [ ! -f "$DATA/heldout.jsonl" ]; then
  log "writing the synthetic traces and held-out problems"
  synth_n=$TRAIN_N
  [ "$SCALE" = gpu ] && synth_n=1  # the gpu scale trains on the real traces; synth gives the held-out set
  quiet "$DATA/synth.log" "$COTRAIN" data synth --out "$DATA/synth-train.jsonl" --n "$synth_n" --seed 0 \
    --bench "$DATA/heldout.jsonl.tmp" --bench-n "$HELDOUT_N"
  mv "$DATA/heldout.jsonl.tmp" "$DATA/heldout.jsonl"
fi
TRACES="$DATA/synth-train.jsonl"
[ "$SCALE" = gpu ] && TRACES="$COTRAIN_GPU_TRACES"
# The system prompt the traces were written with is the one the fine-tuned models answer under.
SYSTEM="$(head -n 1 "$TRACES" | jq -r '.system // empty')"

# --- The base model.
if [ "$SCALE" = smoke ]; then
  BASE_MODEL="$OUT/base-model"
  [ -f "$BASE_MODEL/model.safetensors" ] ||
    quiet "$OUT/base-model.log" "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 0 --out "$BASE_MODEL" \
      --force --tokenizer "$SHARED/tokenizers/qwen2.5"
fi

# The training config every run shares; each run's resolved copy is RUN/config.json.
jq -n --arg model "$BASE_MODEL" --arg dtype "$DTYPE" \
  '{model: {path: $model, dtype: $dtype}, data: {template: "qwen2.5"},
    train: {schedule: "cosine", warmup_ratio: 0.1, log_every: 1}}' >"$OUT/train-config.json"
set_args=()
for kv in "${TRAIN_SET[@]}"; do set_args+=(--set "$kv"); done

# The traces of condition $1 for seed $2 (the perturbation is seeded with the training seed).
traces_for() {
  local name=$1 seed=$2 mode ratio
  IFS=$'\t' read -r _ mode ratio _ < <(awk -F'\t' -v n="$name" '$1 == n' "$OUT/conditions.tsv")
  if [ "$mode" = - ]; then echo "$TRACES"; return; fi
  local file="$DATA/$name-seed$seed.jsonl"
  [ -f "$file" ] || quiet "$file.log" "$COTRAIN" data perturb --mode "$mode" --ratio "$ratio" --seed "$seed" \
    --in "$TRACES" --out "$file"
  echo "$file"
}

# Greedy answers to benchmark $1 into RUN $2 (RUN/eval/BENCH, CONTRACTS.md) from the model
# arguments that follow (--model DIR [--adapter LORA]). Both benchmarks are asked under the
# system prompt of the training traces (Sky-T1's format), with SkyThought's user prompt.
evaluate() {
  local bench=$1 run=$2 data_args
  shift 2
  [ -f "$run/eval/$bench/report.json" ] && return
  if [ "$bench" = synth ]; then
    data_args=(--bench math500 --data "$DATA/heldout.jsonl")
  else
    data_args=(--bench math500 --data "$SHARED/benchmarks/math500/test.jsonl" --limit "$MATH500_N")
  fi
  quiet "$run/eval-$bench.log" "$COTRAIN" eval "${data_args[@]}" "$@" --out "$run/eval/$bench" \
    --system "${SYSTEM:-sky-t1}" --temperature 0 --n 1 --max-new-tokens "$MAX_NEW" --dtype "$EVAL_DTYPE" --batch-size 8 --seed 0
}

BENCHES=(synth)
[ "$MATH500_N" -gt 0 ] && BENCHES+=(math500)

# One condition and seed: fine-tune, then answer both benchmarks. The base model is evaluated once.
run_one() {
  local name=$1 seed=$2 run="$OUT/runs/$1/seed-$2" model_args
  if [ "$name" = base ]; then
    mkdir -p "$run"
    model_args=(--model "$BASE_MODEL")
  else
    if ! grep -qs '"status": "completed"' "$run/run.json"; then
      local traces
      traces="$(traces_for "$name" "$seed")"
      mkdir -p "$OUT/runs/$name"
      quiet "$run.train.log" "$COTRAIN" "$METHOD" --config "$OUT/train-config.json" --data "$traces" \
        --out "$run" "${set_args[@]}" --set train.seed="$seed"
    fi
    model_args=(--model "$run/final")
    [ "$METHOD" = lora ] && model_args=(--model "$BASE_MODEL" --adapter "$run/final")
  fi
  for bench in "${BENCHES[@]}"; do evaluate "$bench" "$run" "${model_args[@]}"; done
  touch "$run/.complete"  # what the table and a rerun go by
}

total=0 done_now=0
for name in "${CONDITIONS[@]}"; do
  seeds=$SEEDS
  [ "$name" = base ] && seeds=1  # greedy answers of an untrained model do not depend on a seed
  for seed in $(seq 1 "$seeds"); do
    total=$((total + 1))
    [ -f "$OUT/runs/$name/seed-$seed/.complete" ] && continue
    if out_of_time; then
      log "time budget of $BUDGET_MIN min used; rerun the same command to continue"
      break 2
    fi
    log "$name seed $seed"
    t0=$SECONDS
    run_one "$name" "$seed"
    done_now=$((done_now + 1))
    log "$name seed $seed done in $((SECONDS - t0)) s"
  done
done

# --- The table, from the per-run result files, and the runs side by side.
"$HERE/structure_vs_content_table.sh" "$OUT" "$SEEDS"
# `cotrain report` lands from another branch; a cotrain without it still gives the table.
if "$COTRAIN" --help | grep -qE '^ +report '; then
  runs=()
  for name in "${CONDITIONS[@]}"; do
    for r in "$OUT/runs/$name"/seed-*; do [ -f "$r/run.json" ] && runs+=("$r"); done
  done
  [ ${#runs[@]} -gt 0 ] && quiet "$OUT/report.log" "$COTRAIN" report "${runs[@]}" --out "$OUT/report.html" \
    --title "structure vs content ($SCALE)"
else
  log "this cotrain has no 'report' command; skipped the run charts"
fi
log "ran $done_now of $total runs ($((SECONDS - STARTED)) s); table: $OUT/table.md"
