# cotrain data synth|stats|perturb|prepare end to end: determinism, errors by file:line with
# exit 2 and nothing written, skipped lines counted, cache reuse.
source "$(dirname "$0")/lib.sh"

# synth: same seed, same bytes; the benchmark has gold answers.
expect_exit 0 "$COTRAIN" data synth --out t.jsonl --n 40 --seed 3 --bench bench.jsonl --bench-n 10
expect_exit 0 "$COTRAIN" data synth --out t2.jsonl --n 40 --seed 3
cmp -s t.jsonl t2.jsonl || fail "synth is not deterministic"; pass
[ "$(wc -l <t.jsonl)" = 40 ] && [ "$(wc -l <bench.jsonl)" = 10 ] || fail "wrong line counts"; pass
expect_contains bench.jsonl '"answer":"[0-9]+"'

# stats on the trace file.
expect_exit 0 "$COTRAIN" data stats t.jsonl --json --keywords wait,"let me",nope
expect_contains out '"samples": 40'
expect_contains out '"wait": 1\.0'
expect_contains out '"nope": 0\.0'
expect_contains out '"boxed_share": 1\.0'

# perturb: seeded, the solution kept, bad flags refused.
for mode in wrong-answer corrupt-digits remove-keywords shuffle-steps delete-steps insert-steps; do
  expect_exit 0 "$COTRAIN" data perturb --mode $mode --ratio 0.5 --seed 7 --in t.jsonl --out p1.jsonl
  expect_exit 0 "$COTRAIN" data perturb --mode $mode --ratio 0.5 --seed 7 --in t.jsonl --out p2.jsonl
  cmp -s p1.jsonl p2.jsonl || fail "$mode: same seed gave different bytes"; pass
  expect_exit 0 "$COTRAIN" data perturb --mode $mode --ratio 0.5 --seed 8 --in t.jsonl --out p3.jsonl
  ! cmp -s p1.jsonl p3.jsonl || fail "$mode: seeds 7 and 8 gave the same output"; pass
  ! cmp -s p1.jsonl t.jsonl || fail "$mode: nothing changed"; pass
  expect_exit 0 "$COTRAIN" data stats p1.jsonl --json
  expect_contains out '"samples": 40'
done
expect_exit 2 "$COTRAIN" data perturb --mode reverse --in t.jsonl --out p.jsonl
expect_one_line_error '--mode reverse: unknown perturbation mode'
expect_exit 2 "$COTRAIN" data perturb --mode delete-steps --ratio 2 --in t.jsonl --out p.jsonl
expect_one_line_error "ratio"
[ ! -e p.jsonl ] || fail "a refused perturb wrote output"; pass

# Bad lines: file:line and exit 2, for stats and perturb too.
{ head -2 t.jsonl; echo '{"prompt": "x", "response": 5}'; echo 'not json'; tail -1 t.jsonl; } >bad.jsonl
expect_exit 2 "$COTRAIN" data stats bad.jsonl
expect_one_line_error "bad\.jsonl:3: field 'response' is not a string"
expect_exit 2 "$COTRAIN" data perturb --mode shuffle-steps --in bad.jsonl --out p.jsonl
expect_one_line_error "bad\.jsonl:3:"

require_shared tokenizers/qwen2.5/tokenizer.json
TOK="$SHARED/tokenizers/qwen2.5/tokenizer.json"

# prepare: a cache, its stats, and nothing at --out when the input is bad.
expect_exit 0 "$COTRAIN" data prepare --data t.jsonl --tokenizer "$TOK" --out cache --threads 2
[ -f cache/manifest.json ] && [ -f cache/ids.bin ] && [ -f cache/mask.bin ] && [ -f cache/offsets.bin ] || fail "cache files missing"; pass
expect_contains cache/manifest.json '"documents": 40'
expect_exit 0 "$COTRAIN" data stats cache --json --pack 4096
expect_contains out '"samples": 40'
expect_contains out '"bins": [1-9]'
expect_contains out '"wait": 1\.0'

# Reuse: an unchanged cache is kept; a changed input or setting rebuilds it.
expect_exit 0 "$COTRAIN" data prepare --data t.jsonl --tokenizer "$TOK" --out cache --threads 2
expect_contains err 'cache is up to date'
cp t.jsonl t_copy.jsonl && sed -i '1s/"system":"Your role/"system":"The role/' t.jsonl
expect_exit 0 "$COTRAIN" data prepare --data t.jsonl --tokenizer "$TOK" --out cache --threads 2
expect_contains err "rebuilding cache: input .*t\.jsonl changed"
expect_exit 0 "$COTRAIN" data prepare --data t.jsonl --tokenizer "$TOK" --out cache --cutoff 400
expect_contains err "rebuilding cache: 'cutoff' differs \(cache: 16384, now: 400\)"
expect_contains cache/manifest.json '"cutoff": 400'
mv t_copy.jsonl t.jsonl
mkdir -p notacache && echo keep >notacache/file.txt
expect_exit 2 "$COTRAIN" data prepare --data t.jsonl --tokenizer "$TOK" --out notacache
expect_one_line_error "notacache: exists and is not empty \\(and not an earlier token-cache output\\)"
[ -f notacache/file.txt ] || fail "prepare replaced a directory that was not a cache"; pass

expect_exit 2 "$COTRAIN" data prepare --data t.jsonl bad.jsonl --tokenizer "$TOK" --out cache2
expect_one_line_error "bad\.jsonl:3: field 'response' is not a string"
[ ! -e cache2 ] || fail "failed prepare left its --out directory"; pass
[ -z "$(ls -A | grep '^\.cache2')" ] || fail "failed prepare left a temporary directory"; pass

expect_exit 0 "$COTRAIN" data prepare --data t.jsonl bad.jsonl --tokenizer "$TOK" --out cache2 --on-error skip
expect_contains err '2 lines skipped'
[ "$(wc -l <cache2/rejects.jsonl)" = 2 ] || fail "rejects.jsonl should hold 2 lines"; pass
expect_contains cache2/rejects.jsonl '"line":4,"reason":"bad JSON'
expect_contains cache2/manifest.json '"skipped": 2'
expect_contains cache2/manifest.json '"documents": 43'

expect_exit 2 "$COTRAIN" data prepare --data missing.jsonl --tokenizer "$TOK" --out cache3
expect_one_line_error "missing\.jsonl"
[ ! -e cache3 ] || fail "failed prepare left its --out directory"; pass
finish
