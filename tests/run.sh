#!/usr/bin/env bash
# Runs every test layer and ends with one line: "N passed, M failed, K skipped".
# Called by ./build.sh test after the build; each layer prints its own
# "<layer>: N passed, M failed[, K skipped]" line, which is summed here.
# No test here is meant to be skipped: under CI (CI=true) a skip fails the run.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
# every pytest layer runs on the tests' virtual environment (./build.sh deps: .deps/python)
PYTHON="${BASTION_PYTHON:-$ROOT/.deps/python/bin/python}"
cd "$ROOT"
PASSED=0
FAILED=0
SKIPPED=0
OUT="$BUILD/test/results"
mkdir -p "$OUT"

# layer NAME COMMAND...: runs a layer, adds its "name: N passed, M failed" line
layer() {
    local name="$1"; shift
    local t0 log="$OUT/$name.log"
    t0=$(date +%s)
    echo "== $name"
    "$@" 2>&1 | tee "$log" | grep -E '^(FAIL|FAILED|ERROR|not ok)|failed|Error' | grep -v ' 0 failed' | head -40
    local rc=${PIPESTATUS[0]}
    local line; line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
    if [[ -z "$line" ]]; then
        echo "$name: no result line (exit $rc); see $log"
        FAILED=$((FAILED + 1))
        return
    fi
    local p f k
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*, ([0-9]+) failed.*/\1/' <<<"$line")
    k=0
    [[ $line =~ ,\ ([0-9]+)\ skipped ]] && k=${BASH_REMATCH[1]}
    if [[ $rc != 0 && $f == 0 ]]; then
        f=1 # a layer that exits non-zero has failed, whatever it counted
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    SKIPPED=$((SKIPPED + k))
    echo "$name: $p passed, $f failed, $k skipped ($(( $(date +%s) - t0 ))s)"
}

pytest_layer() { # pytest_layer NAME PATHS...
    local name="$1"; shift
    local xml="$OUT/$name.xml"
    "$PYTHON" -m pytest -q -p no:cacheprovider --junitxml="$xml" "$@"
    local rc=$?
    "$PYTHON" - "$xml" "$name" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(f"{sys.argv[2]}: 0 passed, 1 failed"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
total = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(f"{sys.argv[2]}: {total - bad - skipped} passed, {bad} failed, {skipped} skipped")
PY
    return $rc
}

component_layer() {
    local p=0 f=0 line
    while IFS= read -r line; do
        echo "$line"
        case "$line" in ok*) p=$((p + 1)) ;; FAIL*) f=$((f + 1)) ;; esac
    done < <(node tests/component/check.mjs --jco "$ROOT/.deps/npm-tools" --wit wit/bastion.wit \
                 --world endpoint "$BUILD"/functions/*.wasm "$BUILD"/test/functions/probe.wasm \
                 "$BUILD"/test/functions/roundtrip.wasm 2>&1)
    while IFS= read -r line; do
        echo "$line"
        case "$line" in PASS*) p=$((p + 1)) ;; FAIL*) f=$((f + 1)) ;; esac
    done < <(bash tests/component/run.sh "$ROOT/.deps/npm-tools" "$BUILD/test/component" 2>&1)
    echo "component: $p passed, $f failed"
    [[ $f == 0 ]]
}

# ./build.sh test PATH...: only the named pytest files (host fixtures built),
# for a quick loop while working on one area.
if [[ $# -gt 0 ]]; then
    layer selected pytest_layer selected "$@"
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    [[ $FAILED == 0 ]]
    exit
fi

# Every tracked C file is laid out as .clang-format says (./build.sh format).
format_layer() {
    local p=0 f=0 file
    while IFS= read -r file; do
        if clang-format-19 --dry-run --Werror "$file" >/dev/null 2>&1; then
            p=$((p + 1))
        else
            echo "FAIL format: $file (run ./build.sh format)"
            f=$((f + 1))
        fi
    done < <(git ls-files '*.c' '*.h')
    echo "format: $p passed, $f failed"
    [[ $f == 0 ]]
}

[[ -f tests/unit/run.sh ]] && layer unit bash tests/unit/run.sh "$BUILD/unit"
layer host pytest_layer host tests/host
layer functions pytest_layer functions tests/functions
# The function suite again with kv on Redis and sql on PostgreSQL (the test
# run's own servers, tests/servers.sh): every function's SQL and schema on
# both engines. Tests that look into SQLite's files are deselected.
BASTION_TEST_BACKEND=redis+postgres \
    layer functions-remote pytest_layer functions-remote tests/functions -m "not sqlite_only"
# The function suite on the native-handler build (serve --native, host/native/):
# the benchmark's baseline must answer as the modules do for its numbers to count.
BASTION_TEST_NATIVE=1 layer functions-native pytest_layer functions-native tests/functions
# Two hosts on one Redis + PostgreSQL (tests/scale): the CONC guards hold across hosts.
layer scale pytest_layer scale tests/scale
# The host and binding tests again with the host under ASan + UBSan. The host
# installs its own SIGSEGV handler (guard-page traps), which ASan must allow;
# a small quarantine keeps the RSS-flatness test about the host, not ASan.
ASAN_OPTIONS="allow_user_segv_handler=1:detect_leaks=1:exitcode=66:quarantine_size_mb=4:thread_local_quarantine_size_kb=64" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" BASTION_BIN="$BUILD/asan/bastion" \
    layer host-asan pytest_layer host-asan tests/host
layer component component_layer
# Wasmtime, the reference engine (tests/wasmtime/host.py): the fixtures' traps, the
# core modules' imports, then every corpus request through both engines (tests/conformance).
layer wasmtime pytest_layer wasmtime tests/wasmtime
layer conformance pytest_layer conformance tests/conformance
layer format format_layer
layer fuzz bash tests/fuzz/run.sh

if [[ "${CI:-}" == true && $SKIPPED -gt 0 ]]; then
    echo "CI: $SKIPPED tests were skipped; no test is meant to be (see the layer logs in $OUT)"
    FAILED=$((FAILED + SKIPPED))
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[[ $FAILED == 0 ]]
