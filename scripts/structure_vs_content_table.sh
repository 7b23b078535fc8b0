#!/usr/bin/env bash
# The table of scripts/reproduce_structure_vs_content.sh, computed from the per-run result files
# only: OUT/runs/CONDITION/seed-S/eval/BENCH/results.jsonl (one graded answer per line) and
# report.json (output tokens, reflection keywords). Writes OUT/table.json and OUT/table.md.
#
#   scripts/structure_vs_content_table.sh OUT SEEDS
#
# A condition is in the table when all its seeds (1..SEEDS; "base" has one) have every benchmark
# graded; the others are listed as incomplete.
#
# Accuracy per condition and benchmark is the mean of y[s][p] (seed s, problem p: the share of
# correct samples). Its 95% interval is mean ± 1.96·sqrt(V), clipped to [0, 1], where V is the
# variance of the mean in a crossed seeds × problems design, from the two-way ANOVA mean squares
# with each variance component truncated at 0:
#   V = σ²_seed/S + σ²_problem/P + σ²_residual/(S·P)
#   σ²_seed = max(0, (MS_seed - MS_res)/P), σ²_problem = max(0, (MS_problem - MS_res)/S),
#   σ²_residual = MS_res.
# With one seed this is the usual standard error over problems, sd(y)/sqrt(P). Both sources of
# variation count: another draw of training seeds and another draw of problems.
set -euo pipefail
OUT="${1:?usage: structure_vs_content_table.sh OUT SEEDS}"
SEEDS="${2:?usage: structure_vs_content_table.sh OUT SEEDS}"
[ -f "$OUT/conditions.tsv" ] || { echo "error: $OUT/conditions.tsv: not a study directory" >&2; exit 2; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# One line per graded answer: condition, bench, seed, problem index, correct (0/1).
answers="$scratch/answers.tsv"
# One line per run and bench: condition, bench, seed, mean output tokens, keywords per response.
per_run="$scratch/runs.tsv"
touch "$answers" "$per_run"
complete=() incomplete=()
while IFS=$'\t' read -r name _; do
  seeds=$SEEDS
  [ "$name" = base ] && seeds=1
  ok=1
  for seed in $(seq 1 "$seeds"); do
    [ -f "$OUT/runs/$name/seed-$seed/.complete" ] || { ok=0; break; }
  done
  [ $ok = 1 ] || { [ -d "$OUT/runs/$name" ] && incomplete+=("$name"); continue; }
  complete+=("$name")
  for seed in $(seq 1 "$seeds"); do
    for dir in "$OUT/runs/$name/seed-$seed"/eval/*/; do
      bench="$(basename "$dir")"
      jq -r --arg c "$name" --arg b "$bench" --arg s "$seed" \
        '[$c, $b, $s, .idx, (if .equal then 1 else 0 end)] | @tsv' "$dir/results.jsonl" >>"$answers"
      jq -r --arg c "$name" --arg b "$bench" --arg s "$seed" \
        '[$c, $b, $s, (.generation.new_tokens / .generation.samples), .reflection_keywords_per_response] | @tsv' \
        "$dir/report.json" >>"$per_run"
    done
  done
done <"$OUT/conditions.tsv"
[ ${#complete[@]} -gt 0 ] || { echo "error: $OUT: no condition has all its runs yet" >&2; exit 1; }

# Per condition and bench: seeds, problems, accuracy, interval, mean tokens, keywords per response.
rows="$scratch/rows.tsv"
awk -F'\t' '
  FNR == NR { key = $1 "\t" $2; tokens[key] += $4; keywords[key] += $5; nruns[key]++; next }
  {
    key = $1 "\t" $2
    if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
    # Several samples of one problem average into one y[s][p].
    cell = key SUBSEP $3 SUBSEP $4
    sum[cell] += $5; cnt[cell]++
    if (!((key, "s", $3) in has)) { has[key, "s", $3] = 1; seed_list[key] = seed_list[key] " " $3; S[key]++ }
    if (!((key, "p", $4) in has)) { has[key, "p", $4] = 1; prob_list[key] = prob_list[key] " " $4; P[key]++ }
  }
  END {
    for (k = 1; k <= nkeys; k++) {
      key = order[k]; ns = split(seed_list[key], sd, " "); np = split(prob_list[key], pd, " ")
      total = 0
      for (i = 1; i <= ns; i++) for (j = 1; j <= np; j++) {
        c = key SUBSEP sd[i] SUBSEP pd[j]
        if (!(c in cnt)) { printf "error: %s seed %s: no answer for problem %s\n", key, sd[i], pd[j] > "/dev/stderr"; exit 2 }
        y[i, j] = sum[c] / cnt[c]; total += y[i, j]
      }
      m = total / (ns * np)
      for (i = 1; i <= ns; i++) { r[i] = 0; for (j = 1; j <= np; j++) r[i] += y[i, j] / np }
      for (j = 1; j <= np; j++) { col[j] = 0; for (i = 1; i <= ns; i++) col[j] += y[i, j] / ns }
      ss_s = 0; ss_p = 0; ss_e = 0
      for (i = 1; i <= ns; i++) ss_s += np * (r[i] - m) ^ 2
      for (j = 1; j <= np; j++) ss_p += ns * (col[j] - m) ^ 2
      for (i = 1; i <= ns; i++) for (j = 1; j <= np; j++) ss_e += (y[i, j] - r[i] - col[j] + m) ^ 2
      if (np < 2) var = 0
      else if (ns < 2) var = ss_p / (np - 1) / np
      else {
        ms_s = ss_s / (ns - 1); ms_p = ss_p / (np - 1); ms_e = ss_e / ((ns - 1) * (np - 1))
        v_s = (ms_s - ms_e) / np; if (v_s < 0) v_s = 0
        v_p = (ms_p - ms_e) / ns; if (v_p < 0) v_p = 0
        var = v_s / ns + v_p / np + ms_e / (ns * np)
      }
      half = 1.96 * sqrt(var); lo = m - half; hi = m + half
      if (lo < 0) lo = 0
      if (hi > 1) hi = 1
      printf "%s\t%d\t%d\t%.6f\t%.6f\t%.6f\t%.2f\t%.4f\n", key, ns, np, m, lo, hi,
        tokens[key] / nruns[key], keywords[key] / nruns[key]
    }
  }' "$per_run" "$answers" >"$rows"

# table.json: the conditions in the study's order, each with its benchmarks.
jq -n --rawfile conditions "$OUT/conditions.tsv" --rawfile rows "$rows" --slurpfile experiment "$OUT/experiment.json" \
  --argjson seeds "$SEEDS" --args '
  ($rows | split("\n") | map(select(. != "") | split("\t"))) as $r
  | {experiment: $experiment[0], seeds: $seeds, incomplete: $ARGS.positional,
     conditions: [$conditions | split("\n")[] | select(. != "") | split("\t") as $c
       | select(any($r[]; .[0] == $c[0]))
       | {name: $c[0], label: $c[3], perturbation: (if $c[1] == "-" then null else {mode: $c[1], ratio: ($c[2] | tonumber)} end),
          paper_average: ($c[4] | tonumber),
          benchmarks: ([$r[] | select(.[0] == $c[0]) | {key: .[1], value: {
            seeds: (.[2] | tonumber), problems: (.[3] | tonumber), accuracy: (.[4] | tonumber),
            ci95: [(.[5] | tonumber), (.[6] | tonumber)], mean_output_tokens: (.[7] | tonumber),
            reflection_keywords_per_response: (.[8] | tonumber)}}] | from_entries)}]}' \
  ${incomplete[@]+"${incomplete[@]}"} >"$OUT/table.json.tmp"
mv "$OUT/table.json.tmp" "$OUT/table.json"

# table.md: accuracy in percent with its interval; tokens and keywords per bench.
jq -r '
  def pct: . * 1000 | round / 10 | tostring;
  def acc($b): if .benchmarks[$b] then .benchmarks[$b] | "\(.accuracy | pct) [\(.ci95[0] | pct), \(.ci95[1] | pct)]" else "–" end;
  def num($b; $f; $d): if .benchmarks[$b] then .benchmarks[$b][$f] * $d | round / $d | tostring else "–" end;
  "# Structure vs content: \(.experiment.scale) scale, \(.experiment.method), \(.seeds) seed(s)",
  "",
  "Base model: \(.experiment.base_model). Accuracy in % with its 95% interval over seeds and problems;",
  "tokens and reflection keywords are means per response. Paper: Qwen2.5-32B-Instruct, average of",
  "MATH500, AIME24, AMC23 and OlympiadBench (Li et al. 2025, Table 2).",
  "",
  "| condition | held-out synthetic | MATH500 subset | tokens (synth / MATH500) | keywords (synth / MATH500) | paper |",
  "|---|---|---|---|---|---|",
  (.conditions[] | "| \(.label) | \(acc("synth")) | \(acc("math500")) | \(num("synth"; "mean_output_tokens"; 1)) / \(num("math500"; "mean_output_tokens"; 1)) | \(num("synth"; "reflection_keywords_per_response"; 100)) / \(num("math500"; "reflection_keywords_per_response"; 100)) | \(.paper_average) |"),
  (if (.incomplete | length) > 0 then "", "Not complete yet: \(.incomplete | join(", "))." else empty end)
' "$OUT/table.json" >"$OUT/table.md.tmp"
mv "$OUT/table.md.tmp" "$OUT/table.md"
