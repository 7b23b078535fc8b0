# cotrain grade: one pair, a pairs file in order, and bad input (exit 2, one line, no output file).
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$COTRAIN" grade --gold '\frac{1}{2}' --pred 'So the answer is $\boxed{0.5}$.'
expect_contains "$WORK/out" '^equal \(exact value\)'
expect_exit 0 "$COTRAIN" grade --gold '3' --pred '4'
expect_contains "$WORK/out" '^not equal'

cat >pairs.jsonl <<'JSONL'
{"gold": "(x+1)^2", "pred": "x^2+2x+1", "id": "a"}
{"gold": "10", "pred": "\\boxed{12}", "id": "b"}

{"gold": 27.0, "pred": "27", "id": "c"}
{"gold": "[0,1)", "pred": "(0,1)", "id": "d"}
JSONL
expect_exit 0 "$COTRAIN" grade --pairs pairs.jsonl --out graded.jsonl
[ "$(wc -l <graded.jsonl)" = 4 ] || fail "expected 4 graded lines"
[ "$(sed -n 1p graded.jsonl | grep -c '"equal":true')" = 1 ] || fail "line 1 should be equal: $(sed -n 1p graded.jsonl)"
[ "$(sed -n 2p graded.jsonl | grep -c '"equal":false')" = 1 ] || fail "line 2 should differ"
[ "$(sed -n 3p graded.jsonl | grep -c '"equal":true')" = 1 ] || fail "line 3 should be equal"
[ "$(sed -n 4p graded.jsonl | grep -c '"equal":false')" = 1 ] || fail "line 4 should differ (brackets)"
expect_contains graded.jsonl '"id":"d"'
expect_contains graded.jsonl '"reason":'
pass

# stdin to stdout
expect_exit 0 bash -c "echo '{\"gold\": \"5\", \"pred\": \"five\"}' | '$COTRAIN' grade --pairs -"
expect_contains "$WORK/out" '"equal":true'

# bad input: one line on stderr naming file and line, exit 2, nothing written
printf '{"gold": "1", "pred": "1"}\n{"gold": "1"}\n' >missing.jsonl
expect_exit 2 "$COTRAIN" grade --pairs missing.jsonl --out never.jsonl
expect_one_line_error 'missing.jsonl:2: missing field "pred"'
[ ! -e never.jsonl ] || fail "never.jsonl was written"
printf '{"gold": "1", "pred": \n' >broken.jsonl
expect_exit 2 "$COTRAIN" grade --pairs broken.jsonl
expect_one_line_error 'broken.jsonl:1: bad JSON'
expect_exit 2 "$COTRAIN" grade --pairs nowhere.jsonl
expect_one_line_error 'nowhere.jsonl'
expect_exit 2 "$COTRAIN" grade --gold 1
expect_one_line_error 'give --pairs FILE, or both --gold and --pred'
finish
