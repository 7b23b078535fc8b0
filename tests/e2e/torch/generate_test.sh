#!/usr/bin/env bash
# cotrain generate and eval --model end to end on a tiny random model with Qwen2.5's tokenizer:
# output lines, seeded samples, resuming after a torn line, refusing other settings, bad input.
source "$(dirname "$0")/../lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
require_shared benchmarks/math500/test.jsonl

expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 5 --init-std 0.5 --out m --tokenizer "$SHARED/tokenizers/qwen2.5"
cat > prompts.jsonl <<'JSONL'
{"prompt": "What is 2+2?"}
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."}]}
{"prompt": "Count to three."}
JSONL
GEN=(generate --model m --input prompts.jsonl --n 2 --top-p 0.95 --max-new-tokens 12 --seed 3)
expect_exit 0 "$COTRAIN" "${GEN[@]}" --temperature 0.8 --batch-size 3 --out first.jsonl
[ "$(wc -l < first.jsonl)" = 6 ] || fail "expected 6 sample lines"
python3 - <<'PY' || fail "bad generation lines"
import json
rows = [json.loads(l) for l in open("first.jsonl")]
assert sorted((r["prompt_index"], r["sample_index"]) for r in rows) == [(p, s) for p in range(3) for s in range(2)]
for r in rows:
    assert r["finish_reason"] in ("stop", "length") and 1 <= r["tokens"] <= 12 and isinstance(r["text"], str), r
settings = json.load(open("first.jsonl.settings.json"))
assert settings["n"] == 2 and settings["temperature"] == 0.8 and settings["template"] == "qwen2.5", settings
PY
pass

# Seeded by (seed, prompt, sample): another batch size gives the same samples.
expect_exit 0 "$COTRAIN" "${GEN[@]}" --temperature 0.8 --batch-size 1 --out second.jsonl
[ "$(sort first.jsonl)" = "$(sort second.jsonl)" ] || fail "batch size changed the samples"
pass

# A run killed mid-write: the torn line and the rest of its prompt are redone, the rest kept.
head -c "$(( $(head -n 3 first.jsonl | wc -c) + 20 ))" first.jsonl > resumed.jsonl
cp first.jsonl.settings.json resumed.jsonl.settings.json
expect_exit 0 "$COTRAIN" "${GEN[@]}" --temperature 0.8 --batch-size 2 --out resumed.jsonl
expect_contains err 'torn last line'
[ "$(sort first.jsonl)" = "$(sort resumed.jsonl)" ] || fail "resumed run differs from a whole one"
expect_exit 0 "$COTRAIN" "${GEN[@]}" --temperature 0.8 --out resumed.jsonl
expect_contains err '3 of 3 prompts already done'

# Other settings on an existing output, and bad input: one-line errors, exit 2.
expect_exit 2 "$COTRAIN" "${GEN[@]}" --out first.jsonl --temperature 0.5
expect_one_line_error 'first.jsonl: made with other settings \(temperature'
printf '{"prompt": "ok"}\n{"text": "no prompt"}\n' > bad.jsonl
expect_exit 2 "$COTRAIN" generate --model m --input bad.jsonl --out bad-out.jsonl
expect_one_line_error 'bad.jsonl:2: expected an object with "prompt" or "messages"'
expect_exit 2 "$COTRAIN" generate --model m --input prompts.jsonl --out x.jsonl --top-p 1.5
expect_one_line_error '^error: --top-p: must be in'

# eval --model: the benchmark's prompt, the first N problems, truncation counted.
expect_exit 0 "$COTRAIN" eval --bench math500 --data-dir "$SHARED/benchmarks" --model m --limit 3 --max-new-tokens 8 --batch-size 3 --out ev
python3 - <<'PY' || fail "bad eval report"
import json
r = json.load(open("ev/report.json"))
assert r["problems"] == 3 and r["limit"] == 3 and r["samples"] == 3, r
g = r["generation"]
assert g["samples"] == 3 and g["max_new_tokens"] == 8 and 0 <= g["truncated"] <= 3 and "accuracy_without_truncated" in g, g
assert len(open("ev/generations.jsonl").readlines()) == 3
assert len(open("ev/results.jsonl").readlines()) == 3
PY
pass
expect_contains out 'hit the token limit'
expect_exit 2 "$COTRAIN" eval --bench math500 --data-dir "$SHARED/benchmarks" --model m --limit 3
expect_one_line_error 'error: --model: needs --out'
expect_exit 2 "$COTRAIN" eval --bench nope --model m --out x
expect_one_line_error "--bench nope: unknown benchmark \(known: math500, aime24"
finish
