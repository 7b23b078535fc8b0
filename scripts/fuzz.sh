#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, torch-free areas, clang + ASan/UBSan) into build-fuzz/
# and runs each for SECONDS, JOBS at a time, starting from the seed corpus tests/fuzz/corpus/<name>/
# (copied: the repository's corpus is never modified). Any crash, sanitizer report, timeout
# (> 1 s for one input) or memory past 2 GB fails the run; the input that did it is kept in
# build-fuzz/findings/<name>/ (reproduce: build-fuzz/fuzz/<name> FILE).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 30 s each, every target
#   COTRAIN_FUZZ_JOBS=N                       targets run at once (default 2)
#   COTRAIN_FUZZ_BUILD=DIR                    build tree (default build-fuzz)
#   COTRAIN_FUZZ_KEEP=1                       keep the grown corpora in build-fuzz/corpus/
#   COTRAIN_FUZZ_TIMEOUT=S                    per-input limit while fuzzing (default 1). libFuzzer's limit is
#                                             wall time: on a machine busy with other work, a longer one avoids
#                                             false alarms; the grown corpus is then replayed at 1 s per input.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
jobs="${COTRAIN_FUZZ_JOBS:-2}"
CXX_FUZZ="${COTRAIN_FUZZ_CXX:-clang++-14}"
command -v "$CXX_FUZZ" >/dev/null || { echo "fuzz: $CXX_FUZZ not found (scripts/setup.sh installs clang-14)"; exit 1; }

B="${COTRAIN_FUZZ_BUILD:-build-fuzz}"
start=$(date +%s)
if [ ! -f "$B/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # -O1: what libFuzzer recommends, and the build is a good part of the CI budget
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
    -DCOTRAIN_WITH_TORCH=OFF -DCOTRAIN_FUZZ=ON "${launcher[@]}" >/dev/null
fi
cmake --build "$B" -j "${COTRAIN_JOBS:-2}" --target fuzz_all
built=$(date +%s)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for cpp in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$cpp" .cpp)"); done
fi

run_one() {  # run_one NAME: fuzz NAME for $seconds, log to $B/logs/NAME.log
  local name=$1 corpus="$B/corpus/$1" findings="$B/findings/$1"
  rm -rf "$corpus" && mkdir -p "$corpus" "$findings" "$B/logs"
  cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
  local dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  if "$B"/fuzz/"$name" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout="${COTRAIN_FUZZ_TIMEOUT:-1}" -rss_limit_mb=2048 \
       -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
       >"$B/logs/$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$B/logs/$name.log" | grep -oE '[0-9]+$') runs, $(ls "$corpus" | wc -l) corpus entries)"
    if [ "${COTRAIN_FUZZ_TIMEOUT:-1}" != 1 ]; then  # every input found, once more, at the real limit
      "$B"/fuzz/"$name" "$corpus" -runs=0 -timeout=1 -rss_limit_mb=2048 -artifact_prefix="$findings/" \
        >"$B/logs/$name.replay.log" 2>&1 || { echo "fuzz: $name replay FAILED ($B/logs/$name.replay.log)"; return 1; }
    fi
  else
    echo "fuzz: $name FAILED (log $B/logs/$name.log, inputs in $findings/):"
    grep -E 'ERROR|SUMMARY|unexpected exception|Test unit written' "$B/logs/$name.log" | head -5
    return 1
  fi
  [ "${COTRAIN_FUZZ_KEEP:-0}" = 1 ] || rm -rf "$corpus"
}

failed=0
pids=()
for name in "${targets[@]}"; do
  run_one "$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
echo "fuzz: build $((built - start)) s, fuzzing $(($(date +%s) - built)) s, ${#targets[@]} targets x ${seconds} s"
exit $failed
