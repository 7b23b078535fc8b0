# Assertions for the end-to-end tests. Source it; $1 of the test script is the cotrain binary.
# Each test runs in a fresh scratch directory ($WORK) and stops at the first failed check.
set -euo pipefail
COTRAIN="$(realpath "$1")"
SHARED="${COTRAIN_SHARED:-$COTRAIN_SOURCE_DIR/../shared}"
WORK="$COTRAIN_BINARY_DIR/test-scratch/e2e/$(basename "$0" .sh)"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
CHECKS=0
FAILS=0

# COTRAIN_E2E_KEEP_GOING=1 reports every failed check instead of stopping at the first (used to
# show which checks an older binary fails).
fail() {
  echo "FAIL: $*" >&2
  [ "${COTRAIN_E2E_KEEP_GOING:-0}" = 1 ] || exit 1
  FAILS=$((FAILS + 1))
  return 0
}
pass() { CHECKS=$((CHECKS + 1)); }

# expect_exit CODE CMD...: runs CMD, keeps stdout in $WORK/out and stderr in $WORK/err.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
  [ "$got" = "$want" ] || { fail "'$*' exited $got, expected $want; stderr: $(head -c 2000 "$WORK/err")"; return 0; }
  pass
}

# expect_one_line_error PATTERN: stderr is exactly one line, starting "error: ", matching PATTERN.
expect_one_line_error() {
  [ "$(wc -l <"$WORK/err")" = 1 ] || { fail "expected one stderr line, got: $(head -c 3000 "$WORK/err")"; return 0; }
  grep -q '^error: ' "$WORK/err" || { fail "stderr does not start with 'error: ': $(cat "$WORK/err")"; return 0; }
  grep -qE -- "$1" "$WORK/err" || { fail "stderr does not match '$1': $(cat "$WORK/err")"; return 0; }
  pass
}

expect_contains() {  # expect_contains FILE PATTERN
  grep -qE -- "$2" "$1" || { fail "$1 does not match '$2': $(head -c 2000 "$1")"; return 0; }
  pass
}

# require_shared PATH: the shared file, or skip (fail under COTRAIN_REQUIRE_SHARED=1).
require_shared() {
  if [ ! -e "$SHARED/$1" ]; then
    [ "${COTRAIN_REQUIRE_SHARED:-0}" = 1 ] && fail "missing shared file $SHARED/$1"
    echo "SKIP: $SHARED/$1 not present"; exit 0
  fi
}

finish() {
  if [ "$FAILS" -gt 0 ]; then echo "$FAILS failed checks, $CHECKS passed"; exit 1; fi
  echo "ok: $CHECKS checks"
}
