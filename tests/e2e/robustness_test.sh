# Hostile input (issue 16): one check per class of what an adversarial probe broke. Bad input is
# one line "error: ...", exit 2; a signal stops with exit 128 + N; never a crash, a hang, or lost or
# half-written data. Every command runs under `timeout` so a regression fails instead of hanging.
source "$(dirname "$0")/lib.sh"
T="timeout -k 5 60"  # -k: a binary that ignores SIGTERM (as cotrain once did) is killed too

no_temporaries() {  # no_temporaries DIR: nothing named like a temporary output is left in DIR
  if ls -A "$1" | grep -q '\.tmp-'; then fail "temporaries left in $1: $(ls -A "$1" | tr '\n' ' ')"; else pass; fi
}

# A tiny math benchmark and predictions for eval.
mkdir -p data/math500
printf '%s\n' '{"problem": "p0", "answer": "1", "unique_id": "u0"}' '{"problem": "p1", "answer": "2", "unique_id": "u1"}' \
  >data/math500/test.jsonl
printf '%s\n' '{"idx": 0, "response": "\\boxed{1}"}' '{"idx": 1, "response": "\\boxed{3}"}' >preds.jsonl
printf '%s\n' '{"gold": "1", "pred": "\\boxed{1}"}' '{"gold": "2", "pred": "3"}' >pairs.jsonl
expect_exit 0 $T "$COTRAIN" data synth --n 20 --out traces.jsonl

## Data loss and destruction ##################################################################

# eval --out DIR used to delete whatever DIR held.
mkdir keep && echo x >keep/notes.txt
expect_exit 2 $T "$COTRAIN" eval --bench math500 --data-dir data --predictions preds.jsonl --out keep
expect_one_line_error 'keep: exists and is not empty'
[ "$(cat keep/notes.txt 2>/dev/null)" = x ] && pass || fail "eval --out deleted a user's file"
# --out equal to the predictions file turned the file into a directory.
cp preds.jsonl preds.copy
expect_exit 2 $T "$COTRAIN" eval --bench math500 --data-dir data --predictions preds.jsonl --out preds.jsonl
expect_one_line_error 'exists and is not a directory'
[ -f preds.jsonl ] && cmp -s preds.jsonl preds.copy && pass || fail "eval --out destroyed the predictions file"
# An earlier eval output is the one thing it replaces; another command's output is not.
expect_exit 0 $T "$COTRAIN" eval --bench math500 --data-dir data --predictions preds.jsonl --out run
expect_exit 0 $T "$COTRAIN" eval --bench math500 --data-dir data --predictions preds.jsonl --out run
[ -f run/report.json ] && pass || fail "eval did not replace its own output"

# --out naming a symlink, a FIFO or a device: written through, never renamed over.
echo old >real.jsonl && ln -s real.jsonl link.jsonl
expect_exit 0 $T "$COTRAIN" grade --pairs pairs.jsonl --out link.jsonl
[ -L link.jsonl ] && grep -q '"equal"' real.jsonl && pass || fail "grade --out replaced the symlink"
ln -s /dev/null null.out
expect_exit 0 $T "$COTRAIN" data synth --n 3 --out null.out
[ -L null.out ] && [ -c /dev/null ] && pass || fail "synth --out replaced a link to a device"
mkfifo out.fifo
(timeout 20 cat out.fifo >fifo.got &)
expect_exit 0 $T "$COTRAIN" data perturb --mode shuffle-steps --in traces.jsonl --out out.fifo
sleep 0.2
[ -p out.fifo ] && pass || fail "perturb --out replaced a FIFO with a file"
[ "$(wc -l <fifo.got)" = 20 ] && pass || fail "the FIFO's reader did not get the 20 records"
no_temporaries .

# Two outputs that are one file: the traces were overwritten by the benchmark.
expect_exit 2 $T "$COTRAIN" data synth --n 5 --out same.jsonl --bench same.jsonl
expect_one_line_error '--bench: .*same file as --out'
[ ! -e same.jsonl ] && pass || fail "synth wrote same.jsonl"

# grade --gold --pred --out F never wrote F.
expect_exit 0 $T "$COTRAIN" grade --gold 2 --pred 'x = \boxed{2}' --out one.jsonl
expect_contains one.jsonl '"equal":true'

## Crashes and hangs ##########################################################################

# 200k levels of nesting crashed (stack overflow re-serialising the row) and left temporaries.
python3 -c "print('{\"gold\": \"1\", \"pred\": \"1\", \"note\": ' + '[' * 200000 + ']' * 200000 + '}')" >deep.jsonl
expect_exit 2 $T "$COTRAIN" grade --pairs deep.jsonl --out graded.jsonl
expect_one_line_error 'deep\.jsonl:1: JSON nested deeper than 128 levels'
python3 -c "print('{\"prompt\": \"p\", \"response\": \"r\", \"x\": ' + '[' * 200000 + ']' * 200000 + '}')" >deep-trace.jsonl
expect_exit 2 $T "$COTRAIN" data perturb --mode corrupt-digits --in deep-trace.jsonl --out p.jsonl
expect_one_line_error 'deep-trace\.jsonl:1: .*nested deeper'
[ ! -e graded.jsonl ] && [ ! -e p.jsonl ] && pass || fail "a refused command wrote output"
no_temporaries .

# A FIFO given as input blocked forever; a directory or a link loop is refused too.
mkfifo in.fifo
expect_exit 2 timeout -k 2 10 "$COTRAIN" grade --pairs in.fifo
expect_one_line_error 'in\.fifo: is a FIFO, expected a regular file'
expect_exit 2 timeout -k 2 10 "$COTRAIN" data stats in.fifo
expect_one_line_error 'in\.fifo: is a FIFO'
expect_exit 2 timeout -k 2 10 "$COTRAIN" data stats /dev/zero
expect_one_line_error '/dev/zero: is a character device'
ln -s loop-b loop-a && ln -s loop-a loop-b
expect_exit 2 timeout -k 2 10 "$COTRAIN" grade --pairs loop-a
expect_one_line_error 'loop-a: symbolic link loop'

# SIGINT/SIGTERM were ignored ("stopping", then the whole run and exit 0): now the command stops
# at the next safe point, writes nothing and exits 128 + signal.
python3 -c "
import json
for i in range(400000): print(json.dumps({'gold': str(i), 'pred': '\\\\frac{%d}{%d}' % (2 * i, 2)}))" >many.jsonl
stop_test() {  # stop_test SIGNAL CODE OUTPUT CMD...: CMD is stopped by SIGNAL, exits CODE, leaves no OUTPUT
  local sig=$1 want=$2 out=$3; shift 3
  "$@" >/dev/null 2>stop.err &  # not under timeout(1): it would pass the signal on twice
  local pid=$! got=0
  sleep 1
  kill -"$sig" $pid
  (sleep 60; kill -9 $pid 2>/dev/null) &  # a binary that ignores the signal still ends
  local watchdog=$!
  wait $pid || got=$?
  kill $watchdog 2>/dev/null || true
  [ "$got" = "$want" ] && pass || fail "'$*' after SIG$sig exited $got, expected $want: $(cat stop.err)"
  grep -q "^error: interrupted by SIG$sig" stop.err && pass || fail "no 'interrupted' line: $(cat stop.err)"
  [ ! -e "$out" ] && pass || fail "'$*' left $out after SIG$sig"
}
stop_test INT 130 many-graded.jsonl "$COTRAIN" grade --pairs many.jsonl --out many-graded.jsonl
stop_test TERM 143 big.jsonl "$COTRAIN" data synth --n 1000000 --out big.jsonl
no_temporaries .

# A temporary left by a process killed outright (a second signal, SIGKILL) is removed by the next
# run that writes beside it; the old naming had no owner and was never reclaimed.
sleep 0 & dead=$!; wait $dead
stale=".reclaimed.jsonl.tmp-$(hostname | tr './' '__').$dead.0badc0de"
head -c 100000 /dev/zero >"$stale"
expect_exit 0 $T "$COTRAIN" grade --pairs pairs.jsonl --out reclaimed.jsonl
[ ! -e "$stale" ] && pass || fail "a dead process's temporary was not reclaimed"

## Unbounded cost from small inputs ##########################################################

# --n -1 wrapped to 2^64 - 1 and looped forever.
expect_exit 2 $T "$COTRAIN" data synth --n -1 --out never.jsonl
expect_one_line_error '--n'
expect_exit 2 $T "$COTRAIN" data synth --n 99999999999999999999 --out never.jsonl
expect_one_line_error '--n'
# /dev/zero on stdin grew a line buffer without bound.
expect_exit 2 timeout -k 5 120 bash -c "ulimit -v 6000000; '$COTRAIN' grade --pairs - </dev/zero"  # 6 GB: a regression fails, never swaps
expect_one_line_error '-:1: line longer than 1073741824 bytes'
# 900 KB of \boxed{1} took 50 s to grade (each box searched for \fbox again).
python3 -c "import json; print(json.dumps({'gold': '1', 'pred': '\\\\boxed{1}' * 100000}))" >boxes.jsonl
expect_exit 0 timeout -k 5 20 "$COTRAIN" grade --pairs boxes.jsonl --out boxes-graded.jsonl

## Wrong exit code, several lines, silent wrong answers #######################################

# nlohmann's errors escaped as exit 1 with the library's raw text and no file name.
printf '%s\n' '{"gold": "1", "pred": "1"}' '{"gold": 1e999, "pred": "1"}' >overflow.jsonl
expect_exit 2 $T "$COTRAIN" grade --pairs overflow.jsonl
expect_one_line_error 'overflow\.jsonl:2: bad JSON \(number overflow'
# Invalid UTF-8 in a path or a flag; an empty --out.
expect_exit 2 $T "$COTRAIN" grade --pairs "$(printf 'bad\xff.jsonl')"
expect_one_line_error 'not valid UTF-8'
expect_exit 2 $T "$COTRAIN" grade --pairs pairs.jsonl --out ''
expect_one_line_error 'output path is empty'
# Negative or huge numbers wrapped or clamped silently.
expect_exit 2 $T "$COTRAIN" data perturb --mode shuffle-steps --seed -1 --in traces.jsonl --out p.jsonl
expect_one_line_error '--seed'
expect_exit 2 $T "$COTRAIN" data perturb --mode shuffle-steps --ratio nan --in traces.jsonl --out p.jsonl
expect_one_line_error '--ratio'
expect_exit 2 $T "$COTRAIN" data stats traces.jsonl --cutoff -5
expect_one_line_error '--cutoff'
expect_exit 2 $T "$COTRAIN" data stats traces.jsonl --threads -1
expect_one_line_error '--threads'
# Values past the grader's exact range were called equal (2^{5000} = 3^{5000}, 1000! = 999!).
expect_exit 0 $T "$COTRAIN" grade --gold '2^{5000}' --pred '3^{5000}'
expect_contains out '^not equal \(cannot decide'
expect_exit 0 $T "$COTRAIN" grade --gold '1000!' --pred '999!'
expect_contains out '^not equal'
# A LiveCodeBench problem with zero tests passed every program.
printf '%s\n' '{"question_id": "q0", "platform": "atcoder", "difficulty": "easy", "contest_date": "2024-01-01T00:00:00", "public_test_cases": "[]"}' >lcb.jsonl
printf '%s\n' '{"question_id": "q0", "response": "```python\nprint(1)\n```"}' >lcb-preds.jsonl
expect_exit 2 $T "$COTRAIN" eval --bench livecodebench --data lcb.jsonl --predictions lcb-preds.jsonl
expect_one_line_error 'lcb\.jsonl:1: problem q0 has no test cases'
# --python naming an interpreter that never answers hung the evaluation.
printf '%s\n' '{"question_id": "q0", "platform": "atcoder", "difficulty": "easy", "contest_date": "2024-01-01T00:00:00", "public_test_cases": "[{\"input\": \"\", \"output\": \"1\", \"testtype\": \"stdin\"}]"}' >lcb-ok.jsonl
printf '#!/bin/sh\nexec sleep 1000\n' >silent-python && chmod +x silent-python
expect_exit 2 $T "$COTRAIN" eval --bench livecodebench --data lcb-ok.jsonl --predictions lcb-preds.jsonl --python ./silent-python
expect_one_line_error '--python \./silent-python: the interpreter did not answer within 10 s'

## Needs the shared Qwen tokenizer ############################################################
require_shared tokenizers/qwen2.5/tokenizer.json
TOK="$SHARED/tokenizers/qwen2.5/tokenizer.json"
# --decode wrapped id 4294967297 to 1.
printf '%s\n' '{"ids": [4294967297]}' >ids.jsonl
expect_exit 2 $T "$COTRAIN" tokenize --tokenizer "$TOK" --input ids.jsonl --decode
expect_one_line_error 'ids\.jsonl:1: ids\[0\] = 4294967297 is not a token id'
expect_exit 2 $T "$COTRAIN" data prepare --data traces.jsonl --tokenizer "$TOK" --out cache --cutoff -5
expect_one_line_error '--cutoff'
# data prepare still refuses a user's directory (it always did; now through the shared rule).
expect_exit 2 $T "$COTRAIN" data prepare --data traces.jsonl --tokenizer "$TOK" --out keep
expect_one_line_error 'keep: exists and is not empty'
[ "$(cat keep/notes.txt)" = x ] && pass || fail "prepare touched keep/"

finish
