# cotrain report: run directories as `cotrain sft|lora` writes them (three runs, one stopped with a
# torn last metrics line, benchmark reports from `cotrain eval` on the real MATH500 and AIME24
# files) rendered to one page, then loaded in headless Chromium: no console errors, every metrics
# line a data point of its chart, a screenshot. Bad input exits 2 with one line.
source "$(dirname "$0")/lib.sh"
require_shared benchmarks/math500/test.jsonl
require_shared benchmarks/aime24/test.jsonl

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  # scripts/setup.sh installs Debian's chromium; CI must not pass without the browser check.
  [ "${COTRAIN_REQUIRE_SHARED:-0}" = 1 ] || [ "${CI:-}" = true ] && fail "chromium not installed (scripts/setup.sh installs it)"
  echo "SKIP: chromium not installed"; exit 0
fi

# Three runs: a baseline, a higher learning rate, and a run stopped mid-write (status "stopped",
# a torn last line). Noisy exponentially decaying loss, warmup + cosine lr, validation every 50 steps.
python3 - "$WORK" <<'PY'
import json, math, os, random, sys
work = sys.argv[1]
def make(name, steps, lr, seed, stop_at=None, command="sft", device="cpu"):
    d = os.path.join(work, name); os.makedirs(d)
    rnd = random.Random(seed)
    config = {"model": {"path": "models/qwen2.5-0.5b", "dtype": "bf16", "device": "cpu"},
              "data": {"path": "traces.jsonl", "template": "qwen2.5", "cutoff": 4096, "pack": True},
              "train": {"epochs": 3, "lr": lr, "schedule": "cosine", "warmup_ratio": 0.1, "global_batch": 8,
                        "micro_batch": 1, "seed": seed, "eval_every": 50},
              "output": {"dir": d}}
    json.dump(config, open(os.path.join(d, "config.json"), "w"), indent=2)
    done = stop_at or steps
    warmup = math.ceil(0.1 * steps)
    lines = []
    for s in range(1, done + 1):
        p = s / steps
        sched = s / warmup if s <= warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
        loss = 0.45 + 1.9 * math.exp(-4 * p * (1 + 3 * lr / 1e-4) / 4) + rnd.gauss(0, 0.04)
        lines.append({"step": s, "epoch": 3 * p, "loss": loss, "lr": lr * sched,
                      "grad_norm": 0.6 + abs(rnd.gauss(0, 0.25)) + (3.0 if rnd.random() < 0.01 else 0),
                      "tokens": 32768, "target_tokens": 21000 + rnd.randint(-900, 900),
                      "tokens_per_s": 5400 + rnd.gauss(0, 180), "elapsed_s": 6.1 * s})
        if device != "cpu": lines[-1]["peak_device_memory_mib"] = 61000.0 + s
        if s % 50 == 0:
            lines.append({"step": s, "epoch": 3 * p, "val_loss": loss + 0.08, "val_target_tokens": 41000,
                          "elapsed_s": 6.1 * s + 2})
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for line in lines: f.write(json.dumps(line) + "\n")
        if stop_at: f.write('{"step": %d, "epoch": 1.9, "loss": 0.61' % (stop_at + 1))  # killed mid-write
    run = {"command": command, "status": "stopped" if stop_at else "completed",
           "started_at": "2025-03-01T09:00:00Z", "finished_at": "2025-03-01T09:%02d:00Z" % (done * 6.1 // 60 % 60),
           "elapsed_s": 6.1 * done, "steps_done": done, "total_steps": steps, "peak_rss_mib": 9120.5,
           "cotrain_version": "0.1.0", "libtorch_version": "2.13.0", "device": device, "dtype": "bf16", "world_size": 1}
    if device != "cpu": run["peak_device_memory_mib"] = 61000.0 + done
    json.dump(run, open(os.path.join(d, "run.json"), "w"), indent=2)
make("baseline", 300, 1e-5, 1)
make("lr-1e-4", 300, 1e-4, 2, device="cuda:0")
make("stopped", 300, 3e-5, 3, stop_at=180, command="lora")
PY

# Benchmark reports written by cotrain eval itself: predictions that box the gold answer for some problems.
make_predictions() {  # make_predictions BENCH_FILE EVERY_NTH_WRONG > preds.jsonl
  python3 - "$1" "$2" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    gold = json.loads(line)["answer"]
    answer = "-1" if i % int(sys.argv[2]) == 0 else gold
    print(json.dumps({"idx": i, "response": "Wait, let me check. The answer is \\boxed{%s}." % answer}))
PY
}
make_predictions "$SHARED/benchmarks/math500/test.jsonl" 3 >math500_a.jsonl
make_predictions "$SHARED/benchmarks/math500/test.jsonl" 2 >math500_b.jsonl
make_predictions "$SHARED/benchmarks/aime24/test.jsonl" 4 >aime24_a.jsonl
expect_exit 0 "$COTRAIN" eval --bench math500 --predictions math500_a.jsonl --data-dir "$SHARED/benchmarks" --out baseline/eval/math500
expect_exit 0 "$COTRAIN" eval --bench math500 --predictions math500_b.jsonl --data-dir "$SHARED/benchmarks" --out lr-1e-4/eval/math500
expect_exit 0 "$COTRAIN" eval --bench aime24 --predictions aime24_a.jsonl --data-dir "$SHARED/benchmarks" --out baseline/eval/aime24

# One run: RUN/report.html by default.
expect_exit 0 "$COTRAIN" report baseline
[ -s baseline/report.html ] || fail "no baseline/report.html"; pass
expect_contains "$WORK/out" '^wrote baseline/report.html: 1 run, 4 charts, 1206 points, 2 benchmark tables$'

# The stopped run alone: its torn line is ignored, counted and named (stderr and the page).
expect_exit 0 "$COTRAIN" report stopped --out stopped.html
expect_contains "$WORK/err" 'warn.*stopped/metrics.jsonl:184: torn last line ignored'
expect_contains stopped.html 'stopped/metrics.jsonl:184: torn last line ignored'
expect_contains "$WORK/out" '1 note on the input'

# All three on shared charts.
expect_exit 0 "$COTRAIN" report baseline lr-1e-4 stopped --out compare.html --title 'lr ablation <draft>'
expect_contains compare.html '<title>lr ablation &lt;draft&gt;</title>'
expect_contains compare.html '<tr><th>train.lr</th><td>1e-05</td><td>0.0001</td><td>3e-05</td></tr>'
expect_contains compare.html '<th>peak device memory</th><td></td><td>[^<]*59.9 GiB'
! grep -qE '<script|(src|href)=|https?://' compare.html || fail "the page must not load anything"; pass

# Bad input: one line, exit 2, nothing written.
mkdir -p not_a_run
expect_exit 2 "$COTRAIN" report not_a_run
expect_one_line_error 'not_a_run: not a run directory'
expect_exit 2 "$COTRAIN" report missing_dir
expect_one_line_error 'missing_dir: not a directory'
mkdir -p bad && echo '{"train": {' >bad/config.json
expect_exit 2 "$COTRAIN" report bad
expect_one_line_error 'bad/config.json: bad JSON'
mkdir -p mid && printf '{"step": 1, "loss": 2}\n{"step": 2, "lo\n{"step": 3, "loss": 1}\n' >mid/metrics.jsonl
expect_exit 2 "$COTRAIN" report mid
expect_one_line_error 'mid/metrics.jsonl:2: bad JSON'
expect_exit 2 "$COTRAIN" report baseline lr-1e-4
expect_one_line_error 'error: --out: required when comparing several runs'
expect_exit 2 "$COTRAIN" report baseline --smooth 1.5
expect_one_line_error 'error: --smooth: must be in \[0, 1\)'
[ ! -e not_a_run/report.html ] && [ ! -e bad/report.html ] && [ ! -e mid/report.html ] || fail "a report was written for bad input"; pass

# A real run as the quickstart makes it (synthetic traces, a tiny model, configs/tiny-demo.json),
# rendered like the others: its page is loaded in the browser below.
require_shared tokenizers/qwen2.5/tokenizer.json
expect_exit 0 "$COTRAIN" data synth --out q/traces.jsonl --n 60 --seed 0
expect_exit 0 "$COTRAIN" init-model --arch qwen2 --preset tiny --seed 0 --init-std 0.1 --out q/model --tokenizer "$SHARED/tokenizers/qwen2.5"
expect_exit 0 "$COTRAIN" lora --config "$COTRAIN_SOURCE_DIR/configs/tiny-demo.json" --model q/model --data q/traces.jsonl --out q/train \
  --set train.eval_every=2 --set train.max_steps=4
expect_exit 0 "$COTRAIN" report q/train --out real.html
expect_contains "$WORK/out" '^wrote real.html: 1 run, 6 charts'  # + the training state's memory and the peak RSS, which real runs log

# Headless Chromium (we run as root: --no-sandbox). Console messages are logged to stderr as CONSOLE lines.
chrome() {
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome-profile" \
    --no-first-run --enable-logging=stderr --v=0 "$@"
}
chrome --dump-dom "file://$WORK/compare.html" >dom.html 2>chrome.log || fail "chromium --dump-dom failed: $(tail -5 chrome.log)"
! grep -E 'CONSOLE|Uncaught|:ERROR:.*(svg|html|attribute)' chrome.log || fail "console errors loading the page"; pass
grep -q '</html>' dom.html || fail "the dumped DOM is incomplete"; pass

# Each chart in the rendered DOM holds one point per metrics line of each run (torn line excluded),
# counted from the metrics files independently of cotrain.
cat >points.py <<'PY'
import json, sys
from collections import Counter
from html.parser import HTMLParser
class Points(HTMLParser):
    def __init__(self):
        super().__init__(); self.chart = None; self.series = None; self.points = Counter(); self.charts = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in a.get("class", ""):
            self.chart = a["data-metric"]; self.charts.append(self.chart)
        elif tag == "g" and a.get("class") == "series":
            self.series = (a["data-run"], a["data-role"])
        elif tag == "circle" and a.get("class") == "pt":
            float(a["data-value"]); int(a["data-step"])
            self.points[(self.chart,) + self.series] += 1
dom = Points(); dom.feed(open(sys.argv[1]).read())
want, charts = Counter(), ["loss", "lr", "grad_norm", "tokens_per_s", "mem_mib", "peak_rss_mib", "peak_device_memory_mib"]
for path in sys.argv[2:]:
    run = path.rstrip("/").split("/")[-1]
    for line in open(path + "/metrics.jsonl"):
        try: row = json.loads(line)
        except ValueError: continue  # the torn line
        if "val_loss" in row: want[("loss", run, "validation")] += 1
        else:
            for chart in charts:
                if chart in row: want[(chart, run, "training")] += 1
assert dom.charts == [c for c in charts if any(k[0] == c for k in want)], dom.charts
assert dom.points == want, (dom.points, want)
print(json.dumps({" ".join(k): v for k, v in want.items()}))
PY
python3 points.py dom.html baseline lr-1e-4 stopped >points.json || fail "data points in the rendered page"
python3 -c "
import json; p = json.load(open('points.json'))
assert p['loss stopped training'] == 180 and p['loss baseline validation'] == 6, p" || fail "points of the synthetic runs"
pass
chrome --dump-dom "file://$WORK/real.html" >real-dom.html 2>real-chrome.log || fail "chromium --dump-dom failed: $(tail -5 real-chrome.log)"
! grep -E 'CONSOLE|Uncaught|:ERROR:.*(svg|html|attribute)' real-chrome.log || fail "console errors loading the real run's page"; pass
python3 points.py real-dom.html q/train >real-points.json || fail "data points in the real run's page"
python3 -c "
import json; p = json.load(open('real-points.json'))
assert p['loss train training'] >= 4 and p['loss train validation'] >= 2, p" || fail "the real run's curves"
pass

# A screenshot of the page: a real PNG of the requested size with more than a blank page in it.
chrome --screenshot="$WORK/compare.png" --window-size=1400,2600 --hide-scrollbars "file://$WORK/compare.html" \
  >/dev/null 2>>chrome.log || fail "chromium --screenshot failed"
python3 - compare.png <<'PY' || fail "screenshot"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert (width, height) == (1400, 2600), (width, height)
assert len(data) > 60000, f"only {len(data)} bytes: an empty page?"
PY
pass
echo "screenshot: $WORK/compare.png"
finish
