#!/usr/bin/env bash
# cotrain data filter: Sky-T1's rejection sampling on math traces (gold field and bench data).
source "$(dirname "$0")/lib.sh"

cat > traces.jsonl <<'JSONL'
{"system": "s", "conversations": [{"from": "user", "value": "Return your final response within \\boxed{}. What is 1/2 + 1/4?"}, {"from": "assistant", "value": "<|begin_of_thought|>\n\nadd\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{\\frac{3}{4}}<|end_of_solution|>"}], "gold": "0.75"}
{"system": "s", "conversations": [{"from": "user", "value": "Return your final response within \\boxed{}. What is 2+2?"}, {"from": "assistant", "value": "So \\boxed{5}."}], "gold": "4"}
{"system": "s", "conversations": [{"from": "user", "value": "Return your final response within \\boxed{}. Name the color of the sky."}, {"from": "assistant", "value": "It is blue, I think, probably, in the daytime mostly."}], "gold": "blue"}
{"messages": [{"role": "user", "content": "What is 3*3?"}, {"role": "assistant", "content": "The answer is $9$."}]}
JSONL
expect_exit 0 "$COTRAIN" data filter --traces traces.jsonl --gold-field gold --out kept.jsonl
expect_contains out 'kept 1 of 4 traces \(3 rejected\)'
[ "$(wc -l < kept.jsonl)" = 1 ] && grep -q 'frac{3}{4}' kept.jsonl || fail "the correct trace was not kept as it was"
python3 - <<'PY' || fail "bad rejects or summary"
import json
rejects = [json.loads(l) for l in open("kept.rejects.jsonl")]
assert [(r["line"], r["reason"]) for r in rejects] == [(2, "wrong answer"), (3, "no answer found"), (4, "no gold")], rejects
assert rejects[0]["record"]["gold"] == "4" and "extracted 5" in rejects[0]["detail"]
s = json.load(open("kept.jsonl.summary.json"))
assert s["kept"] == 1 and s["rejected"] == 3 and s["rejected_by_reason"]["wrong answer"] == 1, s
PY
pass

# Golds from a benchmark file, matched by the problem text of the user turn.
cat > bench.jsonl <<'JSONL'
{"problem": "What is 2+2?", "answer": "4"}
{"problem": "What is 3*3?", "answer": "9"}
JSONL
expect_exit 0 "$COTRAIN" data filter --traces traces.jsonl --bench-data bench.jsonl --out kept2.jsonl --rejects rej2.jsonl
expect_contains out 'kept 1 of 4 traces'
grep -q '3\*3' kept2.jsonl || fail "the 3*3 trace was not kept"
expect_contains rej2.jsonl '"reason":"no matching problem"'

expect_exit 2 "$COTRAIN" data filter --traces traces.jsonl --out k.jsonl
expect_one_line_error 'error: --gold-field or --bench-data: give exactly one'
[ ! -e k.jsonl ] || fail "an output appeared after an error"
finish
