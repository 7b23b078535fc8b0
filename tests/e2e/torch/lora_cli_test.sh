#!/usr/bin/env bash
# score --adapter and export end to end, against peft and transformers on a fresh random model
# and a random peft adapter; bad adapters and outputs refused with one line, nothing written.
source "$(dirname "$0")/../lib.sh"
REF="$COTRAIN_SOURCE_DIR/scripts/reference"
require_shared tokenizers/qwen2.5/tokenizer.json

expect_exit 0 "$COTRAIN" export --help
expect_contains out 'Usage'
expect_exit 0 "$COTRAIN" score --help
expect_contains out 'adapter DIR|PEFT LoRA adapter'

python3 - <<'PY' > ids.jsonl
import json, random
r = random.Random(7)
for n in (1, 2, 40, 130, 9, 64):
    print(json.dumps({"input_ids": [r.randrange(151000) for _ in range(n)]}))
PY
printf '{"file": "generation_config.json"}\n' > gen.json

# A base model with the Qwen tokenizer beside it, and an rsLoRA adapter on a subset made by peft.
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 1 --init-std 0.5 --out base \
  --tokenizer "$SHARED/tokenizers/qwen2.5/tokenizer.json"
cp gen.json base/generation_config.json
python3 "$REF/random_adapter.py" --model base --out adapter --targets q_proj v_proj down_proj gate_proj --rslora --seed 3 \
  2>/dev/null || fail "random_adapter.py failed"

# Through the adapter, unmerged, cotrain gives peft's log-probs; and transformers alone (no peft)
# on the merged export gives those same log-probs (one Python start checks both).
expect_exit 0 "$COTRAIN" score --model base --adapter adapter --input ids.jsonl --out through.jsonl --max-tokens 128
expect_exit 0 "$COTRAIN" score --model base --input ids.jsonl --out plain.jsonl
cmp -s plain.jsonl through.jsonl && fail "the adapter changed nothing"
pass
expect_exit 0 "$COTRAIN" export --model base --adapter adapter --out merged
python3 "$REF/transformers_score.py" --tol 1e-4 --case base adapter ids.jsonl through.jsonl --case merged - ids.jsonl through.jsonl \
  || fail "score --adapter differs from peft, or the merged export from base + adapter"
pass
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  [ -f merged/$f ] || fail "export wrote no $f"
done
cmp -s merged/generation_config.json gen.json || fail "generation_config.json was not copied"
pass
expect_exit 0 "$COTRAIN" export --model base --adapter adapter --out merged-bf16 --dtype bfloat16
expect_exit 0 "$COTRAIN" inspect --model merged-bf16 --json
python3 -c "
import json
d = json.load(open('out'))
assert d['config']['torch_dtype'] == 'bfloat16', d['config']
assert d['checkpoint']['dtypes'] == {'BF16': d['checkpoint']['tensors']}, d['checkpoint']
" || fail "export --dtype bfloat16 wrote another dtype"
pass

# Bad input: exit 2, one line naming the problem, nothing written.
expect_exit 2 "$COTRAIN" export --model base --adapter adapter --out merged
expect_one_line_error 'error: --out merged exists \(use --force to replace it\)'
expect_exit 2 "$COTRAIN" export --model base --adapter nowhere --out never
expect_one_line_error 'nowhere: no such adapter directory'
expect_exit 0 "$COTRAIN" init-model --arch qwen3 --preset tiny --out other-base
expect_exit 2 "$COTRAIN" export --model other-base --adapter adapter --out never
# (Qwen3's q_proj puts out 4 heads x 32 = 128, Qwen2's 4 x 16 = 64.)
expect_one_line_error 'adapter/adapter_model.safetensors: tensor base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight: shape 64x8 vs 128x8 \(r = 8'
cp -r adapter dora
python3 -c "
import json
c = json.load(open('dora/adapter_config.json')); c['use_dora'] = True
json.dump(c, open('dora/adapter_config.json', 'w'))"
expect_exit 2 "$COTRAIN" export --model base --adapter dora --out never
expect_one_line_error 'dora/adapter_config.json: use_dora: DoRA is not supported'
expect_exit 2 "$COTRAIN" score --model base --adapter dora --input ids.jsonl --out never.jsonl
expect_one_line_error 'use_dora'
cp -r adapter truncated
truncate -s 2000 truncated/adapter_model.safetensors
expect_exit 2 "$COTRAIN" export --model base --adapter truncated --out never
expect_one_line_error 'truncated/adapter_model.safetensors'
expect_exit 2 "$COTRAIN" export --model base --adapter adapter --out never --dtype float64
expect_one_line_error "error: --dtype: 'float64' is not a dtype"
[ ! -e never ] && [ ! -e never.jsonl ] || fail "a refused command left output behind"
[ -z "$(ls -a | grep '\.tmp-')" ] || fail "a temporary directory was left behind"
pass
finish
