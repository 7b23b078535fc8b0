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
expect_contains out 'one GPU'
# A CPU's loss goes through Qwen's 151,936 rows in blocks: LoRA's frozen head keeps no chunk of
# logits there (2,048 positions x 151,936 at fp32 size on a GPU), full SFT the chunk's bf16 ones.
expect_exit 0 "$COTRAIN" inspect --model m-qwen2 --json --seq-len 4096
mv out gpu.json
expect_exit 0 "$COTRAIN" inspect --model m-qwen2 --json --seq-len 4096 --device cpu
python3 -c "
import json
gpu, cpu = json.load(open('gpu.json'))['memory'], json.load(open('out'))['memory']
assert (gpu['device'], cpu['device']) == ('cuda', 'cpu'), (gpu['device'], cpu['device'])
chunk, block = 2048 * 151936, 2048 * 4096
assert gpu['lora']['activation_bytes'] - cpu['lora']['activation_bytes'] == 4 * (chunk - block)
assert gpu['full_sft']['activation_bytes'] - cpu['full_sft']['activation_bytes'] == 2 * chunk - 4 * block
assert gpu['lora']['weights_bytes'] == cpu['lora']['weights_bytes']
" || fail "inspect --device cpu: not the CPU loss's blocks"
pass
expect_exit 2 "$COTRAIN" inspect --model m-qwen2 --device gpu
expect_one_line_error 'device'

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

# Hostile input (issue 16): one line, exit 2, never a c10 backtrace or an allocation first.
expect_exit 2 "$COTRAIN" init-model --arch qwen2 --out nan-model --init-std nan
expect_one_line_error '--init-std'
expect_exit 2 "$COTRAIN" init-model --arch qwen2 --out inf-model --init-std 1e308
expect_one_line_error '--init-std'
[ ! -e nan-model ] && [ ! -e inf-model ] && pass || fail "a refused init-model wrote a model"
expect_exit 2 "$COTRAIN" init-model --arch qwen2 --out m-seed --seed -1
expect_one_line_error '--seed'
mkdir -p mine && echo keep >mine/notes.txt
expect_exit 2 "$COTRAIN" init-model --arch qwen2 --out mine --force  # --force replaced any directory
expect_one_line_error 'mine: exists and is not empty'
[ "$(cat mine/notes.txt)" = keep ] && pass || fail "init-model --force deleted a user's directory"
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --out again --force  # its own earlier output: replaced
mkdir -p empty-out
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --out empty-out  # an empty directory is no output to protect
[ -f empty-out/model.safetensors ] && pass || fail "init-model into an empty directory wrote no model"
bad_config() {  # bad_config KEY VALUE PATTERN: m-qwen2 with config.json's KEY set to VALUE is refused
  rm -rf badcfg && mkdir badcfg && ln -s "$WORK/m-qwen2/model.safetensors" badcfg/model.safetensors
  python3 -c "import json,sys; c=json.load(open('m-qwen2/config.json')); c[sys.argv[1]]=json.loads(sys.argv[2]); json.dump(c,open('badcfg/config.json','w'))" "$1" "$2"
  expect_exit 2 timeout -k 5 60 "$COTRAIN" score --model badcfg --input ids.jsonl
  expect_one_line_error "$3"
}
bad_config rms_norm_eps -1e-6 'badcfg/config.json: rms_norm_eps: must be > 0'  # gave null log-probs, exit 0
bad_config hidden_size 64.7 'badcfg/config.json: hidden_size: not an integer'  # was truncated to 64
bad_config rope_theta 0 'badcfg/config.json: rope_theta: must be > 0'
bad_config max_position_embeddings -5 'badcfg/config.json: max_position_embeddings: must be > 0'
bad_config num_hidden_layers 1000000000 'num_hidden_layers: must be at most 4096'  # allocated the model first
bad_config vocab_size 1000000000 'badcfg: config.json describes [0-9]+ parameters but the checkpoint holds [0-9]+'
bad_config intermediate_size 128 'badcfg: 6 mis-shaped tensor'
# A FIFO as config.json or model.safetensors blocked forever.
rm -rf fifo-model && mkdir fifo-model && cp m-qwen2/config.json fifo-model/ && mkfifo fifo-model/model.safetensors
expect_exit 2 timeout -k 5 20 "$COTRAIN" score --model fifo-model --input ids.jsonl
expect_one_line_error 'fifo-model/model.safetensors: is a FIFO'
rm -f fifo-model/config.json && mkfifo fifo-model/config.json
expect_exit 2 timeout -k 5 20 "$COTRAIN" inspect --model fifo-model
expect_one_line_error 'fifo-model/config.json: is a FIFO'
finish
