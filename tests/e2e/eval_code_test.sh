# `cotrain eval --bench livecodebench`: verdicts, pass@k, --jobs invariance, release filter, bad input.
source "$(dirname "$0")/lib.sh"

python3 "$COTRAIN_SOURCE_DIR/scripts/reference/lcb_fixtures.py" --out "$WORK/fx"
DATA="$WORK/fx/problems.jsonl"
PREDS="$WORK/fx/predictions.jsonl"

judge() {  # judge OUTDIR ARGS...
  local out=$1; shift
  expect_exit 0 "$COTRAIN" eval --bench livecodebench --data "$DATA" --predictions "$PREDS" --out "$out" --timeout 2 "$@"
}

judge "$WORK/run1" --jobs 1
# Sample by sample (fx_sum: correct, wrong, quadratic, crashing, syntax error, fence cut off, no fence).
verdicts=$(sed -E 's/.*"question_id":"([^"]*)","sample":([0-9]+).*"verdict":"([^"]*)".*/\1 \2 \3/' "$WORK/run1/results.jsonl")
expected="fx_sum 0 passed
fx_sum 1 wrong answer
fx_sum 2 time limit
fx_sum 3 runtime error
fx_sum 4 compile error
fx_sum 5 passed
fx_sum 6 compile error
fx_twosum 0 passed
fx_half 0 passed
fx_half 1 wrong answer"
[ "$verdicts" = "$expected" ] || fail "verdicts differ: $verdicts"; pass
expect_contains "$WORK/run1/results.jsonl" '"failed_test":3,.*"question_id":"fx_sum","sample":2,.*"verdict":"time limit"'
# pass@1 over the 5 problems asked for (2 without predictions count 0): (2/7 + 1 + 1/2) / 5; pass@2
# is not defined since fx_twosum has one sample.
expect_contains "$WORK/run1/report.json" '"pass@1": 0\.357142857142'
expect_contains "$WORK/run1/report.json" '"problems_without_predictions": 2'
expect_contains "$WORK/run1/report.json" '"unknown": 1'
expect_contains "$WORK/run1/report.json" '"seccomp": true'
expect_contains "$WORK/out" 'pass@1 +0\.3571'
expect_contains "$WORK/out" 'sandbox: namespaces'

# The same results whatever --jobs is (times aside).
judge "$WORK/run2" --jobs 2
diff <(sed -E 's/"time":[0-9.e-]+//' "$WORK/run1/results.jsonl") <(sed -E 's/"time":[0-9.e-]+//' "$WORK/run2/results.jsonl") \
  || fail "--jobs 2 changed the results"; pass

# Release v2 ends 2024-05-31: fx_sum and fx_twosum only.
judge "$WORK/v2" --release v2
[ "$(sed -E 's/.*"question_id":"([^"]*)".*/\1/' "$WORK/v2/results.jsonl" | sort -u | tr '\n' ' ')" = "fx_sum fx_twosum " ] \
  || fail "release filter: $(cat "$WORK/v2/results.jsonl")"; pass
judge "$WORK/window" --since 2024-08-01 --until 2024-12-31
expect_contains "$WORK/window/report.json" '"problems": 1,'

# Bad input: one line on stderr, exit 2, nothing written.
run_bad() { expect_exit 2 "$COTRAIN" eval --bench livecodebench --out "$WORK/bad" "$@"; [ ! -e "$WORK/bad" ] || fail "output written on error"; pass; }
run_bad --data "$DATA" --predictions "$WORK/missing.jsonl"
expect_one_line_error 'missing\.jsonl'
printf '{"question_id": "fx_sum", "response": "x"}\n{"question_id": "fx_half"}\n' > "$WORK/noresp.jsonl"
run_bad --data "$DATA" --predictions "$WORK/noresp.jsonl"
expect_one_line_error 'noresp\.jsonl:2: .*response'
# A second line for a problem is a duplicate, counted and named (the first counts), as for math.
printf '{"question_id": "fx_sum", "response": "x"}\n{"question_id": "fx_sum", "response": "y"}\n' > "$WORK/dup.jsonl"
expect_exit 0 "$COTRAIN" eval --bench livecodebench --data "$DATA" --predictions "$WORK/dup.jsonl" --out "$WORK/dup" --timeout 2
expect_contains "$WORK/dup/report.json" '"duplicates": 1'
expect_contains "$WORK/dup/report.json" 'dup\.jsonl:2 \(fx_sum\)'
run_bad --data "$DATA" --predictions "$PREDS" --release v9
expect_one_line_error '--release v9: unknown LiveCodeBench release'
head -c 300 "$DATA" > "$WORK/cut.jsonl"
run_bad --data "$WORK/cut.jsonl" --predictions "$PREDS"
expect_one_line_error 'cut\.jsonl:1: bad JSON'
run_bad --data "$DATA" --predictions "$PREDS" --python "$WORK/no-such-python"
expect_one_line_error '--python .*no-such-python: cannot run it'
run_bad --data "$DATA" --predictions "$PREDS" --jobs 0
expect_one_line_error 'jobs'

finish
