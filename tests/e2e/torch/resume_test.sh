#!/usr/bin/env bash
# Runs that survive (issue 10) through the CLI, on the tiny model with LoRA dropout: SIGTERM
# saves a checkpoint and exits 143; kill -9 and a second signal during a checkpoint write leave
# the one before intact; each run then resumes with the same command to the bytes of the run that
# never stopped; unusable checkpoints are skipped with a warning naming them, or refused with one
# line, exit 2. The bit-exact resume itself, for SFT and LoRA, packed or not, is
# tests/unit/train/resume_test.cpp.
source "$(dirname "$0")/../lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
TOK="$SHARED/tokenizers/qwen2.5"

# Short traces (about 40 tokens each) keep the 151,936-way logits cheap.
python3 - <<'PY'
import json, random
r = random.Random(1)
with open("traces.jsonl", "w") as f:
    for i in range(12):
        a, b = r.randrange(100), r.randrange(100)
        f.write(json.dumps({"system": "Think.", "conversations": [
            {"from": "user", "value": f"What is {a} + {b}?"},
            {"from": "assistant", "value": f"<|begin_of_thought|> {a} plus {b} <|end_of_thought|> {a + b}."}]}) + "\n")
PY
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 0 --out model --tokenizer "$TOK"
expect_exit 0 "$COTRAIN" data prepare --data traces.jsonl --tokenizer model --template qwen2.5 --cutoff 128 --out cache
# 12 documents, 2 a step: 6 steps, a checkpoint after each.
cat > tiny.json <<'JSON'
{"model": {"path": "model", "dtype": "fp32", "device": "cpu"},
 "data": {"path": "cache", "cutoff": 128},
 "train": {"epochs": 1, "global_batch": 2, "micro_batch": 2, "lr": 1e-2, "warmup_ratio": 0, "activation_checkpointing": false,
           "save_every": 1, "keep_checkpoints": 10},
 "lora": {"rank": 4, "dropout": 0.25}}
JSON

expect_exit 0 "$COTRAIN" lora --help
expect_contains out '--resume-force'
expect_exit 0 "$COTRAIN" lora --config tiny.json --out straight
expect_contains out '^trained 6 steps'
[ "$(ls straight/checkpoints | tr '\n' ' ')" = "step-1 step-2 step-3 step-4 step-5 step-6 " ] || fail "checkpoints: $(ls straight/checkpoints)"; pass

same_as_straight() {  # same_as_straight RUN: the adapter and the last checkpoint are straight's bytes
  cmp -s straight/final/adapter_model.safetensors "$1/final/adapter_model.safetensors" || { fail "$1: the adapter differs"; return 0; }
  for f in model optimizer rng; do
    cmp -s straight/checkpoints/step-6/$f.safetensors "$1/checkpoints/step-6/$f.safetensors" || { fail "$1: step-6 $f differs"; return 0; }
  done
  pass
}
start_paused() {  # start_paused RUN STEP: a run whose checkpoint of STEP waits, written, not renamed
  COTRAIN_TEST_CHECKPOINT_PAUSE=$2 "$COTRAIN" lora --config tiny.json --out "$1" >out 2>err &
  pid=$!
  for _ in $(seq 6000); do
    compgen -G "$1/checkpoints/.step-$2.tmp-*/checkpoint.json" >/dev/null && return 0
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  fail "no checkpoint of step $2 being written in $1: $(tail -3 err)"
}

# SIGTERM while step 2's checkpoint is written: it completes, step 3 runs, its checkpoint is
# saved, exit 143, run.json "stopped"; the same command resumes and ends as the straight run.
start_paused term 2
kill -TERM $pid
code=0; wait $pid || code=$?
[ "$code" = 143 ] || fail "SIGTERM: exit $code, expected 143; $(tail -3 err)"; pass
expect_contains err '^error: interrupted by SIGTERM after step 3/6; saved term/checkpoints/step-3 \(the same command resumes\)'
expect_contains term/run.json '"status": "stopped"'
expect_exit 0 "$COTRAIN" lora --config tiny.json --out term
expect_contains out '^resumed from step 3; trained 6 steps'
same_as_straight term

# kill -9 during the write of step 4's checkpoint: step 3's is intact, the run resumes from it.
start_paused killed 4
kill -KILL $pid
{ wait $pid; } 2>/dev/null || true
[ ! -e killed/checkpoints/step-4 ] || fail "a checkpoint killed mid-write was published"; pass
for f in model optimizer rng; do
  cmp -s straight/checkpoints/step-3/$f.safetensors killed/checkpoints/step-3/$f.safetensors || fail "kill -9 changed step-3 $f"
done
pass
expect_exit 0 "$COTRAIN" lora --config tiny.json --out killed --resume
expect_contains out '^resumed from step 3; trained 6 steps'
same_as_straight killed
! compgen -G "killed/checkpoints/.step-*" >/dev/null || fail "the killed write's temporary was not reclaimed"; pass

# A second signal during a write (the hook holds it two seconds after the first): exit 143 at
# once, the checkpoint being written is not published, the one before is intact.
start_paused twice 5
kill -TERM $pid; sleep 0.1; kill -TERM $pid
code=0; wait $pid || code=$?
[ "$code" = 143 ] || fail "two SIGTERMs: exit $code, expected 143; $(tail -3 err)"; pass
[ ! -e twice/checkpoints/step-5 ] || fail "the second signal let the write finish"; pass
expect_exit 0 "$COTRAIN" lora --config tiny.json --out twice
expect_contains out '^resumed from step 4; trained 6 steps'
same_as_straight twice

# A truncated file and a broken checkpoint.json: skipped, each with a warning naming it.
mkdir -p bad/checkpoints
cp -r straight/checkpoints/step-{2,3,4} bad/checkpoints/
head -c 1000 straight/checkpoints/step-3/optimizer.safetensors > bad/checkpoints/step-3/optimizer.safetensors
echo '{"format": "cotrain-checkpoint", "vers' > bad/checkpoints/step-4/checkpoint.json
expect_exit 0 "$COTRAIN" lora --config tiny.json --out bad
expect_contains err 'skipping checkpoint bad/checkpoints/step-4: bad/checkpoints/step-4/checkpoint.json: bad JSON'
expect_contains err 'skipping checkpoint bad/checkpoints/step-3: bad/checkpoints/step-3/optimizer.safetensors: 1000 bytes, expected [0-9]+ \(truncated or replaced\)'
expect_contains out '^resumed from step 2; trained 6 steps'
same_as_straight bad

# Other math is refused by name, exit 2, unless --resume-force; another model's checkpoint too.
mkdir -p changed/checkpoints && cp -r straight/checkpoints/step-2 changed/checkpoints/
expect_exit 2 "$COTRAIN" lora --config tiny.json --out changed --set train.lr=2e-2 --rank 8
expect_one_line_error '^error: changed/checkpoints/step-2: trained with other settings \(lora.alpha, lora.rank, train.lr\); resume with --resume-force'
expect_exit 0 "$COTRAIN" lora --config tiny.json --out changed --set train.lr=2e-2 --set train.max_steps=3 --resume-force
expect_contains err 'trained with other settings \(train.lr, train.max_steps\); resuming anyway'
expect_contains out '^resumed from step 2; trained 3 steps'
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 5 --out model2 --tokenizer "$TOK"
mkdir -p other/checkpoints && cp -r straight/checkpoints/step-2 other/checkpoints/
expect_exit 2 "$COTRAIN" lora --config tiny.json --model model2 --out other
expect_one_line_error 'other/checkpoints/step-2: trained with other settings \(model.path\)'
expect_exit 2 "$COTRAIN" lora --config tiny.json --out fresh --resume
expect_one_line_error '^error: --resume: fresh/checkpoints: no usable checkpoint to resume from'
finish
