# cotrain eval on a math benchmark: true accuracy with missing/duplicate/unknown predictions,
# pass@k, breakdowns, atomic output directory, and bad input.
source "$(dirname "$0")/lib.sh"
require_shared benchmarks/math500/test.jsonl

# A small benchmark of our own in the math500 format, found through --data-dir.
mkdir -p data/math500
cat >data/math500/test.jsonl <<'JSONL'
{"problem": "p0", "solution": "", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 1, "unique_id": "test/a/0.json"}
{"problem": "p1", "solution": "", "answer": "(3, 4)", "subject": "Geometry", "level": 2, "unique_id": "test/b/1.json"}
{"problem": "p2", "solution": "", "answer": "7", "subject": "Algebra", "level": 2, "unique_id": "test/a/2.json"}
{"problem": "p3", "solution": "", "answer": "10", "subject": "Algebra", "level": 1, "unique_id": "test/a/3.json"}
JSONL
# problem 0: 2 of 2 right; problem 1: 1 of 2 (by its unique_id); problem 2: 0 of 2;
# problem 3: missing. Plus a duplicate for 0 and an unknown idx.
cat >preds.jsonl <<'JSONL'
{"idx": 0, "responses": ["so \\boxed{0.5}", "<think>hmm \\boxed{3}</think> The answer is \\boxed{\\dfrac12}"]}
{"unique_id": "test/b/1.json", "responses": ["Wait, \\boxed{(3,4)}", "\\boxed{(4,3)}"]}
{"idx": 2, "responses": ["\\boxed{8}", "no idea"]}
{"idx": 0, "responses": ["\\boxed{1}", "\\boxed{1}"]}
{"idx": 17, "response": "\\boxed{1}"}
JSONL
expect_exit 0 "$COTRAIN" eval --bench math500 --predictions preds.jsonl --data-dir data --out run
[ -f run/results.jsonl ] && [ -f run/report.json ] || fail "missing outputs"
[ "$(wc -l <run/results.jsonl)" = 6 ] || fail "expected 6 result lines (3 problems x 2 samples)"
python3 - run/report.json <<'PY' || fail "report.json values"
import json, sys
r = json.load(open(sys.argv[1]))
def near(a, b): return abs(a - b) < 1e-9
assert near(r["accuracy"], (1 + 0.5 + 0 + 0) / 4), r["accuracy"]
assert near(r["pass_at_k"]["1"], 1.5 / 4) and near(r["pass_at_k"]["2"], 2 / 4), r["pass_at_k"]
assert r["missing"] == 1 and r["duplicates"] == 1 and r["unknown"] == 1, r
assert r["no_answer_extracted"] == 1, r
assert near(r["by_level"]["level 1"]["accuracy"], 0.5) and r["by_level"]["level 1"]["problems"] == 2, r["by_level"]
assert near(r["by_subject"]["Geometry"]["accuracy"], 0.5), r["by_subject"]
assert r["reflection_keywords"]["wait"] == 1 and r["reflection_keywords"]["hmm"] == 1, r["reflection_keywords"]
PY
pass
expect_contains "$WORK/out" 'accuracy \(avg over samples\) +0\.3750'
expect_contains "$WORK/out" 'missing 1  duplicate 1  unknown 1'
expect_contains run/results.jsonl '"reason":'

# --data FILE and $COTRAIN_DATA find the same file
expect_exit 0 "$COTRAIN" eval --bench math500 --predictions preds.jsonl --data data/math500/test.jsonl
expect_contains "$WORK/out" '0\.3750'
expect_exit 0 env COTRAIN_DATA="$WORK/data" "$COTRAIN" eval --bench math500 --predictions preds.jsonl
expect_contains "$WORK/out" '0\.3750'

# The real AIME24 file: predictions that box each gold score 1.
python3 - "$SHARED/benchmarks/aime24/test.jsonl" >aime_preds.jsonl <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    print(json.dumps({"idx": i, "response": "The answer is \\boxed{%s}." % int(json.loads(line)["answer"])}))
PY
expect_exit 0 "$COTRAIN" eval --bench aime24 --predictions aime_preds.jsonl --data-dir "$SHARED/benchmarks"
expect_contains "$WORK/out" 'accuracy \(avg over samples\) +1\.0000'

# --tokenizer adds the mean response length in tokens (real Qwen2.5 tokenizer)
if [ -e "$SHARED/tokenizers/qwen2.5/tokenizer.json" ]; then
  expect_exit 0 "$COTRAIN" eval --bench math500 --predictions preds.jsonl --data-dir data --out tok \
    --tokenizer "$SHARED/tokenizers/qwen2.5/tokenizer.json"
  expect_contains tok/report.json '"mean_response_tokens": [0-9]'
  expect_contains "$WORK/out" 'tokens'
fi

# --bench livecodebench goes to the code judge (its own errors)
printf '{"question_id": "x", "response": "print(1)"}\n' >lcb_preds.jsonl
expect_exit 2 "$COTRAIN" eval --bench livecodebench --predictions lcb_preds.jsonl --data nowhere_lcb.jsonl
expect_one_line_error 'nowhere_lcb.jsonl'

# bad input: exit 2, one line naming the file and line; the output directory is not created
printf '{"idx": 0, "response": 5}\n' >bad.jsonl
expect_exit 2 "$COTRAIN" eval --bench math500 --predictions bad.jsonl --data-dir data --out never
expect_one_line_error 'bad.jsonl:1: field "response" is not a string'
[ ! -e never ] || fail "output directory created on bad input"
printf '{"idx": "0", "response": "1"}\n' >bad_idx.jsonl
expect_exit 2 "$COTRAIN" eval --bench math500 --predictions bad_idx.jsonl --data-dir data
expect_one_line_error 'bad_idx.jsonl:1: field "idx" is not an integer'
expect_exit 2 "$COTRAIN" eval --bench math501 --predictions preds.jsonl --data-dir data
expect_one_line_error '--bench math501: unknown benchmark'
expect_exit 2 "$COTRAIN" eval --bench aime24 --predictions preds.jsonl --data-dir data
expect_one_line_error 'data/aime24/test.jsonl: benchmark file not found'
printf '{"problem": "p"}\n' >data/math500/test.jsonl
expect_exit 2 "$COTRAIN" eval --bench math500 --predictions preds.jsonl --data-dir data
expect_one_line_error 'test.jsonl:1: missing field "answer"'
finish
