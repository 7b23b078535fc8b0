#!/usr/bin/env bash
# The main job on the embedded default, on this machine: installs and builds (scripts/setup.sh),
# then walks the distillation loop: synthetic long-CoT traces -> statistics and a paper
# perturbation -> token cache -> a tiny Qwen2-architecture model -> LoRA fine-tuning on the traces
# (training and held-out loss going down) -> scoring text through the adapter -> grading answers.
# Everything lands in runs/quickstart/.
#   COTRAIN_TOKENIZER=DIR   a Qwen2.5 tokenizer directory (default: ../shared/tokenizers/qwen2.5)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
scripts/setup.sh

BIN=build/cotrain
OUT=runs/quickstart
TOK=${COTRAIN_TOKENIZER:-${COTRAIN_SHARED:-../shared}/tokenizers/qwen2.5}
if [ ! -f "$TOK/tokenizer.json" ]; then
  echo "error: no Qwen2.5 tokenizer at $TOK (set COTRAIN_TOKENIZER to a directory with tokenizer.json)" >&2
  exit 2
fi
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
rm -rf "$OUT" && mkdir -p "$OUT"

step "1. Synthesise 200 verifiable long-CoT traces (Sky-T1 format) and 50 held-out problems"
$BIN data synth --out $OUT/traces.jsonl --n 200 --seed 0 --bench $OUT/bench.jsonl --bench-n 50
head -c 600 $OUT/traces.jsonl; echo " ..."

step "2. Trace statistics (tokens with the real Qwen2.5 tokenizer, reflection keywords, boxed answers)"
$BIN data stats $OUT/traces.jsonl --tokenizer "$TOK"

step "3. The paper's structure ablation: shuffle 67% of each trace's reasoning steps (seeded)"
$BIN data perturb --mode shuffle-steps --ratio 0.67 --seed 1 --in $OUT/traces.jsonl --out $OUT/traces-shuffled.jsonl
echo "wrote $OUT/traces-shuffled.jsonl"

step "4. Tokenise into a training cache: ChatML template, loss on assistant turns, 4k cutoff"
$BIN data prepare --data $OUT/traces.jsonl --tokenizer "$TOK" --out $OUT/cache --cutoff 4096
$BIN data stats $OUT/cache

step "5. A tiny random Qwen2-architecture model (transformers loads it unchanged)"
$BIN init-model --arch qwen2 --preset tiny --seed 0 --init-std 0.1 --out $OUT/model --tokenizer "$TOK"
$BIN inspect --model $OUT/model --seq-len 16384

step "6. LoRA-fine-tune it on the token cache (configs/tiny-demo.json: rank 16, 10% held out, packed rows)"
$BIN lora --config configs/tiny-demo.json
python3 - "$OUT/train/metrics.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l]
vals = [l for l in lines if "val_loss" in l]
print(f"training loss  {steps[0]['loss']:.3f} (step 1) -> {steps[-1]['loss']:.3f} (step {steps[-1]['step']})")
print("held-out loss  " + " -> ".join(f"{v['val_loss']:.3f} (step {v['step']})" for v in vals))
PY

step "7. The run as one self-contained HTML page (loss, validation loss, lr, grad-norm, tokens/s)"
$BIN report $OUT/train

step "8. Score text through the trained adapter (per-token log-probs; a PEFT adapter peft and vLLM load)"
cat > $OUT/sample.jsonl <<'JSONL'
{"text": "<|begin_of_thought|>\n\nFirst, 12 * 7 = 84.\n\nWait, let me check: 84 / 7 = 12. Correct.\n\n<|end_of_thought|>"}
{"text": "The answer is \\boxed{84}."}
JSONL
$BIN score --model $OUT/model --adapter $OUT/train/final --input $OUT/sample.jsonl --out $OUT/scores.jsonl
cut -c1-100 $OUT/scores.jsonl

step "9. Grade answers the way the benchmarks are graded"
$BIN grade --gold '\frac{1}{2}' --pred 'so the answer is \boxed{0.5}'
$BIN grade --gold '(1, 2]' --pred '\boxed{(1,2)}'

printf '\nDone. Everything is in %s/. Next: scripts/test.sh runs every test.\n' "$OUT"
