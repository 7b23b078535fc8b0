#!/usr/bin/env bash
# Fetch the math benchmarks for `cotrain eval --bench NAME` into DIR/NAME/test.jsonl
# (default: $COTRAIN_DATA, else ~/.cache/cotrain/benchmarks). Needs internet access: it cannot run
# offline (CI and the sandboxed development machines use ../shared/benchmarks instead).
#
#   scripts/download_benchmarks.sh [DIR]
#
# Sources (the same files as ../shared/benchmarks):
#   math500        hkust-nlp/simpleRL-reason (PRM800K's MATH500 split), MIT
#   aime24, amc23, olympiadbench, minerva_math
#                  QwenLM/Qwen2.5-Math evaluation/data, MIT
set -euo pipefail

dir="${1:-${COTRAIN_DATA:-$HOME/.cache/cotrain/benchmarks}}"
qwen="https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/main/evaluation/data"
simplerl="https://raw.githubusercontent.com/hkust-nlp/simpleRL-reason/main/eval/data"

fetch() {  # fetch NAME URL
  mkdir -p "$dir/$1"
  local tmp="$dir/$1/test.jsonl.part"
  if ! curl -fsSL --retry 3 "$2" -o "$tmp"; then
    rm -f "$tmp"
    echo "error: could not download $2 (no internet access?), $1" >&2
    exit 1
  fi
  mv "$tmp" "$dir/$1/test.jsonl"
  echo "$1: $(wc -l <"$dir/$1/test.jsonl") problems -> $dir/$1/test.jsonl"
}

fetch math500 "$simplerl/math500/test.jsonl"
fetch aime24 "$qwen/aime24/test.jsonl"
fetch amc23 "$qwen/amc23/test.jsonl"
fetch olympiadbench "$qwen/olympiadbench/test.jsonl"
fetch minerva_math "$qwen/minerva_math/test.jsonl"
