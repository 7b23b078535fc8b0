#!/usr/bin/env bash
# init-model, inspect and score end to end, checked against transformers on fresh models.
source "$(dirname "$0")/../lib.sh"
REF="$COTRAIN_SOURCE_DIR/scripts/reference"

expect_exit 0 "$COTRAIN" --version
expect_contains out '^cotrain [0-9]'
expect_contains out '^libtorch [0-9]'
for cmd in init-model inspect score; do
  expect_exit 0 "$COTRAIN" "$cmd" --help
  expect_contains out 'Usage'
done

# Sequences of varied lengths, with ids inside every preset's vocabulary.
python3 - <<'PY' > ids.jsonl
import json, random
r = random.Random(5)
for n in (1, 2, 17, 130, 64, 9, 300, 33):
    print(json.dumps({"input_ids": [r.randrange(128000) for _ in range(n)]}))
PY

for arch in qwen2 qwen3 llama; do
  expect_exit 0 "$COTRAIN" init-model --arch $arch --preset tiny --seed 3 --init-std 0.5 --out m-$arch
  [ -f m-$arch/config.json ] && [ -f m-$arch/model.safetensors ] || fail "init-model wrote no model"
  # Packed into rows of at most 256 tokens, so several sequences share a row.
  expect_exit 0 "$COTRAIN" score --model m-$arch --input ids.jsonl --out scores-$arch.jsonl --max-tokens 256
  [ "$(wc -l < scores-$arch.jsonl)" = 8 ] || fail "expected 8 score lines"
  python3 "$REF/transformers_score.py" --model m-$arch --input ids.jsonl --compare scores-$arch.jsonl --tol 1e-4 \
    || fail "$arch: cotrain score differs from transformers"
  pass
  expect_exit 0 "$COTRAIN" inspect --model m-$arch --json
  python3 -c "
import json, sys
d = json.load(open('out'))
assert d['parameters'] == d['config_parameters'], d['parameters']
assert d['memory']['full_sft']['total_bytes'] > d['memory']['lora']['total_bytes'] > 0
" || fail "inspect --json is inconsistent"
  pass
done
expect_exit 0 "$COTRAIN" inspect --model m-qwen2
expect_contains out 'parameters +[0-9]+'
expect_contains out 'LoRA'

# Same seed, same bytes; another seed, other weights.
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --seed 3 --init-std 0.5 --out again
cmp -s again/model.safetensors m-qwen2/model.safetensors || fail "init-model is not deterministic"
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --seed 4 --out other
cmp -s other/model.safetensors m-qwen2/model.safetensors && fail "different seeds gave the same weights"
pass

# Bad input: exit 2, one line naming the problem, nothing written.
expect_exit 2 "$COTRAIN" init-model --arch qwen2 --out m-qwen2
expect_one_line_error 'm-qwen2 exists'
expect_exit 2 "$COTRAIN" init-model --arch gpt2 --out x
expect_exit 2 "$COTRAIN" score --model m-qwen2 --input ids.jsonl --bogus-flag
printf '{"input_ids": [1, 2, 3]}\n{"input_ids": [1, 999999]}\n' > bad-ids.jsonl
expect_exit 2 "$COTRAIN" score --model m-qwen2 --input bad-ids.jsonl --out never.jsonl
expect_one_line_error 'bad-ids.jsonl:2: input_ids\[1\] = 999999'
[ ! -e never.jsonl ] || fail "a failed score left its output behind"
printf '{"input_ids": [1, 2]}\n{"input_ids": [1,\n' > broken.jsonl
expect_exit 2 "$COTRAIN" score --model m-qwen2 --input broken.jsonl
expect_one_line_error 'broken.jsonl:2: bad JSON'
cp -r m-qwen2 truncated
truncate -s 1000000 truncated/model.safetensors
expect_exit 2 "$COTRAIN" score --model truncated --input ids.jsonl
expect_one_line_error 'truncated/model.safetensors: .*file truncated'
expect_exit 2 "$COTRAIN" inspect --model truncated
expect_one_line_error 'truncated/model.safetensors'
mkdir -p empty
expect_exit 2 "$COTRAIN" inspect --model empty
expect_one_line_error 'no config.json'
expect_exit 2 "$COTRAIN" score --model m-qwen2 --input ids.jsonl --device cuda:7
expect_one_line_error 'device'
finish
