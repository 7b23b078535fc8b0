#!/usr/bin/env bash
# Builds (via setup.sh) and runs every test: unit, parity against transformers, end-to-end.
# COTRAIN_REQUIRE_SHARED=1 turns a missing ../shared file into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # ctest's Python fixtures and e2e tests use this python3
scripts/setup.sh
ctest --test-dir build --output-on-failure -j "${COTRAIN_JOBS:-2}" "$@"
