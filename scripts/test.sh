#!/usr/bin/env bash
# Builds (via setup.sh) and runs every test: unit, parity against transformers, end-to-end, then
# every fuzz target for COTRAIN_FUZZ_SECONDS (default 30; 0 skips fuzzing; docs/robustness.md).
# COTRAIN_REQUIRE_SHARED=1 turns a missing ../shared file into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # ctest's Python fixtures and e2e tests use this python3
scripts/setup.sh
ctest --test-dir build --output-on-failure -j "${COTRAIN_JOBS:-2}" "$@"
if [ "${COTRAIN_FUZZ_SECONDS:-30}" != 0 ] && [ $# -eq 0 ]; then
  scripts/fuzz.sh "${COTRAIN_FUZZ_SECONDS:-30}"
fi
