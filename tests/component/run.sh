#!/usr/bin/env bash
# Self-test of the component check (tests/component/check.mjs):
#   - fixtures/good_min.c   must PASS the check;
#   - fixtures/bad_kv_get.c must be REJECTED (kv.get has no retptr), for that reason.
# Usage: tests/component/run.sh JCO_DIR BUILD_DIR
#   JCO_DIR: the npm prefix holding jco (./build.sh: .deps/npm-tools, pinned in tests/tools/package.json). BUILD_DIR: scratch dir.
# stdout: only `PASS component: <name>` / `FAIL component: <name>` lines.
# Details of any failure go to stderr. Exit status is non-zero on any failure.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 JCO_DIR BUILD_DIR" >&2
  exit 2
fi
JCO_DIR=$1
BUILD_DIR=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WIT="$ROOT/wit/bastion.wit"
CC=${BASTION_WASM_CC:-clang-19}
CFLAGS=(--target=wasm32-wasi --sysroot=/usr -O2 -mexec-model=reactor)

failures=0
pass() { echo "PASS component: $1"; }
fail() {
  echo "FAIL component: $1"
  shift
  printf '  %s\n' "$@" >&2
  failures=$((failures + 1))
}

mkdir -p "$BUILD_DIR" || { fail "setup" "cannot create $BUILD_DIR"; exit 1; }

# build NAME -> BUILD_DIR/NAME.wasm; stderr of the compiler in BUILD_DIR/NAME.build.log
build() {
  "$CC" "${CFLAGS[@]}" -o "$BUILD_DIR/$1.wasm" "$HERE/fixtures/$1.c" >"$BUILD_DIR/$1.build.log" 2>&1
}

# check FILE -> sets CHECK_OUT (stdout+stderr) and CHECK_RC
check() {
  CHECK_OUT=$(node "$HERE/check.mjs" --jco "$JCO_DIR" --wit "$WIT" --world endpoint "$1" 2>&1)
  CHECK_RC=$?
}

# --- good fixture: must pass ---
name=good_min
if ! build "$name"; then
  fail "$name" "build failed: $CC ${CFLAGS[*]} fixtures/$name.c" "$(cat "$BUILD_DIR/$name.build.log")"
else
  check "$BUILD_DIR/$name.wasm"
  if [ "$CHECK_RC" -eq 0 ] && grep -q "^ok   " <<<"$CHECK_OUT"; then
    pass "$name"
  else
    fail "$name" "check.mjs exited $CHECK_RC, expected 0:" "$CHECK_OUT"
  fi
fi

# --- bad fixture: must be rejected, and for the kv.get signature ---
name=bad_kv_get
if ! build "$name"; then
  fail "$name" "build failed: $CC ${CFLAGS[*]} fixtures/$name.c" "$(cat "$BUILD_DIR/$name.build.log")"
else
  check "$BUILD_DIR/$name.wasm"
  if [ "$CHECK_RC" -eq 0 ]; then
    fail "$name" "check.mjs ACCEPTED a module whose kv.get lacks the retptr:" "$CHECK_OUT"
  elif [ "$CHECK_RC" -ne 1 ]; then
    fail "$name" "check.mjs could not run (exit $CHECK_RC), so the rejection proves nothing:" "$CHECK_OUT"
  elif grep -F "FAIL $BUILD_DIR/$name.wasm: " <<<"$CHECK_OUT" | grep -qF '`get`'; then
    pass "$name"
  else
    fail "$name" "check.mjs rejected the module, but not for kv.get:" "$CHECK_OUT"
  fi
fi

[ "$failures" -eq 0 ]
