#!/usr/bin/env bash
# cotrain sft and lora end to end on tiny models and synthetic traces: the run directory of
# CONTRACTS.md, the exported model loading in transformers, the trained adapter giving cotrain's
# log-probs in peft on sequences it never saw and merging into base + adapter, bad input (exit 2,
# one line, nothing half-written), a non-finite loss (exit 1 naming the step) and SIGINT (finish
# the step, exit 130).
source "$(dirname "$0")/../lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
REF="$COTRAIN_SOURCE_DIR/scripts/reference"
TOK="$SHARED/tokenizers/qwen2.5"

expect_exit 0 "$COTRAIN" sft --help
expect_contains out 'set train.lr'
expect_exit 0 "$COTRAIN" lora --help
expect_contains out 'LoRA rank'

expect_exit 0 "$COTRAIN" data synth --out traces.jsonl --n 12 --seed 1
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 0 --out model --tokenizer "$TOK"
cat > tiny.json <<'JSON'
{"model": {"path": "model", "dtype": "fp32", "device": "cpu"},
 "data": {"path": "traces.jsonl", "cutoff": 2048, "val_fraction": 0.25},
 "train": {"epochs": 1, "global_batch": 4, "micro_batch": 2, "lr": 1e-3, "warmup_ratio": 0.2, "eval_every": 2}}
JSON

# A run from JSONL: the cache is prepared into OUT/cache; 9 training documents = 3 steps (4, 4, 1).
expect_exit 0 "$COTRAIN" sft --config tiny.json --out run --set train.seed=3
expect_contains out 'trained 3 steps: loss [0-9.]+, validation loss [0-9.]+'
expect_contains out 'final model: run/final'
python3 - <<'PY' || fail "run directory does not follow CONTRACTS.md"
import json
cfg = json.load(open("run/config.json"))
assert cfg["train"]["seed"] == 3 and cfg["train"]["lr"] == 1e-3 and cfg["train"]["schedule"] == "cosine", cfg
assert cfg["output"]["dir"] == "run" and cfg["data"]["pack"] is False, cfg
run = json.load(open("run/run.json"))
assert run["command"] == "sft" and run["status"] == "completed" and run["steps_done"] == 3 == run["total_steps"], run
for key in ("started_at", "finished_at", "elapsed_s", "peak_rss_mib", "cotrain_version", "libtorch_version", "device", "dtype", "world_size"):
    assert key in run, key
lines = [json.loads(l) for l in open("run/metrics.jsonl")]
steps = [l for l in lines if "loss" in l]
vals = [l for l in lines if "val_loss" in l]
assert [s["step"] for s in steps] == [1, 2, 3], steps
for s in steps:
    for key in ("epoch", "lr", "grad_norm", "tokens", "target_tokens", "tokens_per_s", "elapsed_s"):
        assert key in s, key
assert steps[0]["lr"] == 0.0 and abs(steps[-1]["epoch"] - 1.0) < 1e-12, steps
assert [v["step"] for v in vals] == [2, 3] and all("loss" not in v for v in vals), vals
assert vals[-1]["val_loss"] < vals[0]["val_loss"], vals
PY
pass
[ -f run/cache/manifest.json ] || fail "no token cache in the run directory"; pass
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
  [ -f run/final/$f ] || fail "final/ lacks $f"
done
pass
python3 - <<'PY' || fail "transformers cannot load the exported model"
import torch
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained("run/final", dtype=torch.float32)
assert m.config.vocab_size == 151936
PY
pass

# A rerun into a new directory reuses nothing; into a stopped one it reuses the cache.
expect_exit 0 "$COTRAIN" sft --config tiny.json --out run2 --set train.max_steps=1 --set train.global_batch=2 --set data.val_fraction=0
expect_contains run2/run.json '"status": "completed"'
expect_exit 2 "$COTRAIN" sft --config tiny.json --out run2
expect_one_line_error 'already holds a finished run'

# LoRA from a model with O(1) logits: peft's adapter files, equal log-probs in peft on unseen
# sequences, and the merged export equal to base + adapter.
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 1 --init-std 0.3 --out model-o1 --tokenizer "$TOK"
expect_exit 0 "$COTRAIN" lora --config tiny.json --model model-o1 --data run/cache --out lrun --rank 4 \
  --set train.max_steps=2 --set train.warmup_ratio=0 --set train.lr=2e-2 --set data.val_fraction=0 --set 'lora.targets=["q_proj","v_proj","down_proj"]'
expect_contains out 'trained 2 steps'
python3 - <<'PY' || fail "the LoRA run directory is not a peft adapter"
import json
from safetensors import safe_open
c = json.load(open("lrun/final/adapter_config.json"))
assert c["peft_type"] == "LORA" and c["r"] == 4 and c["lora_alpha"] == 8 and sorted(c["target_modules"]) == ["down_proj", "q_proj", "v_proj"], c
names = set(safe_open("lrun/final/adapter_model.safetensors", "pt").keys())
assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in names and len(names) == 2 * 3 * 2, names
cfg = json.load(open("lrun/config.json"))
assert cfg["lora"]["rank"] == 4 and cfg["lora"]["alpha"] == 8, cfg["lora"]
PY
pass
python3 - <<'PY' > unseen.jsonl
import json, random
r = random.Random(9)
for n in (5, 40, 130, 17):
    print(json.dumps({"input_ids": [r.randrange(151643) for _ in range(n)]}))
PY
expect_exit 0 "$COTRAIN" score --model model-o1 --adapter lrun/final --input unseen.jsonl --out lscores.jsonl
python3 "$REF/transformers_score.py" --model model-o1 --adapter lrun/final --input unseen.jsonl --compare lscores.jsonl --tol 1e-4 \
  || fail "peft's log-probs through the trained adapter differ from cotrain's"
pass
expect_exit 0 "$COTRAIN" score --model model-o1 --input unseen.jsonl --out base-scores.jsonl
! cmp -s base-scores.jsonl lscores.jsonl || fail "the trained adapter changes nothing"; pass
expect_exit 0 "$COTRAIN" export --model model-o1 --adapter lrun/final --out merged
expect_exit 0 "$COTRAIN" score --model merged --input unseen.jsonl --out mscores.jsonl
python3 "$REF/transformers_score.py" --model model-o1 --adapter lrun/final --input unseen.jsonl --compare mscores.jsonl --tol 1e-4 \
  || fail "the merged export differs from base + adapter"
pass
# Generation through the adapter (unmerged) samples what the merged model samples; the base does not.
printf '{"prompt": "What is 2+2?"}\n{"prompt": "Name a prime."}\n' >gprompts.jsonl
for m in adapter merged base; do
  case $m in
    adapter) args=(--model model-o1 --adapter lrun/final) ;;
    merged) args=(--model merged) ;;
    base) args=(--model model-o1) ;;
  esac
  expect_exit 0 "$COTRAIN" generate "${args[@]}" --input gprompts.jsonl --out gen-$m.jsonl --max-new-tokens 12 --template chatml
done
python3 - <<'PY' || fail "generate --adapter differs from the merged model, or equals the base"
import json
text = lambda f: [json.loads(l)["text"] for l in open(f)]
assert text("gen-adapter.jsonl") == text("gen-merged.jsonl"), (text("gen-adapter.jsonl"), text("gen-merged.jsonl"))
assert text("gen-adapter.jsonl") != text("gen-base.jsonl")
assert json.load(open("gen-adapter.jsonl.settings.json"))["adapter"].endswith("lrun/final")
PY
pass

# Bad configs: exit 2, one line naming the key, nothing written.
expect_exit 2 "$COTRAIN" sft --config tiny.json --out bad1 --set train.lr=fast
expect_one_line_error 'train.lr: expected a number \(got "fast"\)'
expect_exit 2 "$COTRAIN" sft --config tiny.json --out bad1 --set train.lerning_rate=1
expect_one_line_error 'unknown key \(did you mean train.warmup_ratio\?\)|unknown key'
echo '{"train": {"epochs": "three"}}' > typo.json
expect_exit 2 "$COTRAIN" sft --config typo.json --model model --data traces.jsonl --out bad1
expect_one_line_error 'typo.json: train.epochs: expected a number \(got "three"\)'
[ ! -e bad1 ] || fail "a bad config left a run directory"; pass

# Data tokenised for another model: a tokenizer whose ids mean other strings.
python3 - <<'PY'
import json, shutil
shutil.copytree("model", "other", dirs_exist_ok=True)
tok = json.load(open("other/tokenizer.json"))
vocab = tok["model"]["vocab"]
vocab["\u0120the"], vocab["\u0120of"] = vocab["\u0120of"], vocab["\u0120the"]
json.dump(tok, open("other/tokenizer.json", "w"))
PY
expect_exit 2 "$COTRAIN" sft --config tiny.json --model other --data run/cache --out bad2 --set data.val_fraction=0
expect_one_line_error 'reads its ids differently'

# A cache with no target token.
python3 - <<'PY'
import json, os, struct
os.makedirs("notargets", exist_ok=True)
open("notargets/ids.bin", "wb").write(struct.pack("<6i", 1, 2, 3, 4, 5, 6))
open("notargets/mask.bin", "wb").write(bytes(6))
open("notargets/offsets.bin", "wb").write(struct.pack("<3q", 0, 3, 6))
json.dump({"format": "cotrain-token-cache", "version": 2, "template": "none", "cutoff": 2048, "system_prompt": None}, open("notargets/manifest.json", "w"))
PY
expect_exit 2 "$COTRAIN" sft --config tiny.json --data notargets --out bad3 --set data.val_fraction=0
expect_one_line_error 'notargets: no target tokens to train on'
expect_contains bad3/run.json '"status": "failed"'
[ ! -e bad3/final ] || fail "a failed run exported a model"; pass

# A loss that blows up: the first step with a non-finite loss is named, nothing exported.
expect_exit 1 "$COTRAIN" --log-level error sft --config tiny.json --out nan --set train.max_steps=2 --set train.lr=1e30 --set train.warmup_ratio=0 --set train.max_grad_norm=0
expect_one_line_error 'step [0-9]+: the loss is (nan|inf|-nan)'
expect_contains nan/run.json '"status": "failed"'
[ ! -e nan/final ] || fail "a failed run exported a model"; pass

# SIGINT: the current step finishes, run.json says "stopped", exit 130, no final model.
"$COTRAIN" sft --config tiny.json --out stopped --set train.epochs=50 --set data.val_fraction=0 >out 2>err &
pid=$!
for _ in $(seq 1200); do
  [ -s stopped/metrics.jsonl ] && break
  sleep 0.1
done
kill -INT $pid
code=0; wait $pid || code=$?
[ "$code" = 130 ] || fail "SIGINT: exit $code, expected 130; $(tail -3 err)"; pass
expect_contains err '^error: interrupted by SIGINT after step [0-9]+/'
expect_contains stopped/run.json '"status": "stopped"'
python3 -c "
import json
lines = [json.loads(l) for l in open('stopped/metrics.jsonl')]
run = json.load(open('stopped/run.json'))
assert lines and lines[-1]['step'] == run['steps_done'], (lines[-1], run)
" || fail "metrics.jsonl and run.json disagree after a stop"
pass
[ ! -e stopped/final ] || fail "a stopped run exported a model"; pass
finish
