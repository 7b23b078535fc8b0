#!/usr/bin/env bash
# scripts/reproduce_structure_vs_content.sh at the smoke scale (tiny random model, 2 seeds): every
# condition of the paper's Table 2 is perturbed, trained, evaluated and tabled; the table's numbers
# are recomputed here from the per-run files by a second implementation; a rerun trains nothing
# and gives the same bytes, and a deleted run is retrained to the same numbers.
source "$(dirname "$0")/../lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
require_shared benchmarks/math500/test.jsonl
SCRIPT="$COTRAIN_SOURCE_DIR/scripts/reproduce_structure_vs_content.sh"
export COTRAIN_SHARED="$SHARED"
study() { "$SCRIPT" --cotrain "$COTRAIN" --out study "$@"; }

expect_exit 0 "$SCRIPT" --help
expect_contains out 'inserted steps 100%'
expect_exit 2 "$SCRIPT" --cotrain "$COTRAIN" --scale huge
expect_contains err '^error: --scale: smoke, cpu or gpu'
expect_exit 2 "$SCRIPT" --cotrain "$COTRAIN" --conditions original,nonsense
expect_contains err "unknown condition 'nonsense'"

expect_exit 0 study --scale smoke
expect_contains err 'ran 19 of 19 runs'   # 18 trained conditions + the base model, one seed
for f in table.md table.json experiment.json runs/original/seed-1/config.json runs/original/seed-1/final/adapter_config.json; do
  [ -f "study/$f" ] || fail "study/$f missing"
done
pass
expect_contains study/runs/original/seed-1/eval/synth/generations.jsonl.settings.json 'runs/original/seed-1/final'
if "$COTRAIN" --help | grep -qE '^ +report '; then
  [ -s study/report.html ] || fail "cotrain report exists but study/report.html was not written"; pass
fi
expect_contains study/table.md '^\| corrupted digits 100% \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \| [0-9.]+ \['

# Each condition trained on its own perturbation of the same traces, with the run's seed.
python3 - <<'PY' || fail "the runs do not train what their condition says"
import json, hashlib
def digest(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
def data_path(run):
    path = json.load(open(f"study/runs/{run}/config.json"))["data"]["path"]
    return path[0] if isinstance(path, list) else path
assert data_path("original/seed-1").endswith("data/synth-train.jsonl")
seen = {digest("study/data/synth-train.jsonl")}
for cond in ("wrong-answer", "digits-100", "keywords-100", "shuffle-100", "delete-100", "insert-100"):
    path = data_path(f"{cond}/seed-1")
    assert path.endswith(f"data/{cond}-seed1.jsonl"), (cond, path)
    assert digest(path) not in seen, f"{cond}: the same traces as another condition"
    seen.add(digest(path))
a = digest("study/runs/original/seed-1/final/adapter_model.safetensors")
b = digest("study/runs/digits-100/seed-1/final/adapter_model.safetensors")
assert a != b, "the adapters of two conditions are identical"
PY
pass

# The table recomputed by a second implementation: accuracy and interval from results.jsonl,
# tokens from generations.jsonl. On the smoke study (a random model: every answer wrong) this
# checks the plumbing; on a made-up study with known answers (below) the arithmetic.
cat > recompute.py <<'PY'
import json, math, sys
study, expect_complete = sys.argv[1], int(sys.argv[2])
table = json.load(open(f"{study}/table.json"))
assert len(table["conditions"]) == expect_complete, [c["name"] for c in table["conditions"]]
for cond in table["conditions"]:
    seeds = [1] if cond["name"] == "base" else range(1, table["seeds"] + 1)
    for bench, got in cond["benchmarks"].items():
        y, tokens = [], []  # y[s][p]: the share of correct samples of problem p for seed s
        for s in seeds:
            run = f"{study}/runs/{cond['name']}/seed-{s}/eval/{bench}"
            by_problem = {}
            for line in open(f"{run}/results.jsonl"):
                r = json.loads(line)
                by_problem.setdefault(r["idx"], []).append(1.0 if r["equal"] else 0.0)
            y.append([sum(v) / len(v) for _, v in sorted(by_problem.items())])
            tokens += [json.loads(l)["tokens"] for l in open(f"{run}/generations.jsonl")]
        S, P = len(y), len(y[0])
        m = sum(map(sum, y)) / (S * P)
        if S == 1:
            var = sum((v - m) ** 2 for v in y[0]) / (P - 1) / P
        else:
            r = [sum(row) / P for row in y]
            c = [sum(y[i][j] for i in range(S)) / S for j in range(P)]
            ms_s = P * sum((v - m) ** 2 for v in r) / (S - 1)
            ms_p = S * sum((v - m) ** 2 for v in c) / (P - 1)
            ms_e = sum((y[i][j] - r[i] - c[j] + m) ** 2 for i in range(S) for j in range(P)) / ((S - 1) * (P - 1))
            var = max(0, (ms_s - ms_e) / P) / S + max(0, (ms_p - ms_e) / S) / P + ms_e / (S * P)
        half = 1.96 * math.sqrt(var)
        want = (m, max(0, m - half), min(1, m + half), sum(tokens) / len(tokens))
        have = (got["accuracy"], got["ci95"][0], got["ci95"][1], got["mean_output_tokens"])
        assert got["seeds"] == S and got["problems"] == P, (cond["name"], bench, got)
        assert all(abs(a - b) < 1e-5 for a, b in zip(want[:3], have[:3])) and abs(want[3] - have[3]) < 0.01, \
            (cond["name"], bench, want, have)
print("recomputed", len(table["conditions"]), "conditions")
PY
python3 recompute.py study 19 >recompute.out 2>&1 || fail "the table differs from the per-run files: $(tail -3 recompute.out)"; pass

# Rerunning trains and evaluates nothing and writes the same table.
cp study/table.json table-first.json
cp study/table.md table-first.md
expect_exit 0 study --scale smoke
expect_contains err 'ran 0 of 19 runs'
cmp -s table-first.json study/table.json && cmp -s table-first.md study/table.md || fail "a rerun changed the table"; pass

# A second seed for two conditions: the table holds the conditions with every seed, names the rest.
expect_exit 0 study --scale smoke --seeds 2 --conditions original,digits-100
expect_contains err 'ran 2 of 4 runs'
python3 recompute.py study 3 >recompute.out 2>&1 || fail "the two-seed table differs from the per-run files: $(tail -3 recompute.out)"; pass
expect_contains study/table.md '^Not complete yet: wrong-answer, digits-20, '
python3 -c "
import json, hashlib
d = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()
assert d('study/data/digits-100-seed1.jsonl') != d('study/data/digits-100-seed2.jsonl')
assert json.load(open('study/runs/digits-100/seed-2/config.json'))['train']['seed'] == 2
" || fail "seed 2 is not its own perturbation and training seed"; pass

# A run deleted is trained and evaluated again to the same numbers (everything is seeded).
cp study/table.json table-two-seeds.json
rm -rf study/runs/digits-100/seed-2
expect_exit 0 study --scale smoke --seeds 2 --conditions original,digits-100
expect_contains err 'ran 1 of 4 runs'
cmp -s table-two-seeds.json study/table.json || fail "a retrained run changed the table: $(diff table-two-seeds.json study/table.json | head -5)"; pass

# The arithmetic on a made-up study: 3 seeds, 2 samples per problem in one condition, answers
# drawn at random with a different accuracy per condition.
python3 - <<'PY'
import json, os, random, shutil
rnd = random.Random(5)
os.makedirs("made-up", exist_ok=True)
shutil.copy("study/conditions.tsv", "made-up/conditions.tsv")
shutil.copy("study/experiment.json", "made-up/experiment.json")
for k, cond in enumerate(["base", "original", "digits-100", "shuffle-67"]):
    for s in ([1] if cond == "base" else [1, 2, 3]):
        run = f"made-up/runs/{cond}/seed-{s}"
        for bench, problems in (("synth", 9), ("math500", 5)):
            d = f"{run}/eval/{bench}"
            os.makedirs(d)
            n = 2 if cond == "shuffle-67" else 1
            skill = [0.2, 0.7, 0.05, 0.5][k] + 0.1 * s
            with open(f"{d}/results.jsonl", "w") as res, open(f"{d}/generations.jsonl", "w") as gen:
                total = 0
                for p in range(problems):
                    for i in range(n):
                        ok = rnd.random() < skill * (0.5 + p / problems)
                        res.write(json.dumps({"idx": p, "sample": i, "equal": ok}) + "\n")
                        t = rnd.randrange(10, 500)
                        total += t
                        gen.write(json.dumps({"prompt_index": p, "sample_index": i, "tokens": t}) + "\n")
            json.dump({"generation": {"new_tokens": total, "samples": problems * n},
                       "reflection_keywords_per_response": rnd.random()}, open(f"{d}/report.json", "w"))
        open(f"{run}/.complete", "w").close()
PY
expect_exit 0 "$COTRAIN_SOURCE_DIR/scripts/structure_vs_content_table.sh" made-up 3
python3 recompute.py made-up 4 >recompute.out 2>&1 || fail "the table's arithmetic is wrong: $(tail -3 recompute.out)"; pass
python3 -c "
import json
t = json.load(open('made-up/table.json'))
acc = [c['benchmarks']['synth']['accuracy'] for c in t['conditions']]
assert len(set(acc)) == 4 and all(c['benchmarks']['synth']['ci95'][1] > c['benchmarks']['synth']['ci95'][0] for c in t['conditions'][1:]), t
" || fail "the made-up study does not exercise the arithmetic"; pass

# Another study into the same directory is refused; the table script refuses a non-study.
expect_exit 2 study --scale smoke --method sft
expect_contains err 'holds a study with other settings'
expect_exit 2 "$COTRAIN_SOURCE_DIR/scripts/structure_vs_content_table.sh" . 2
expect_contains err 'not a study directory'
finish
