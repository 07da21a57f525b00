#!/usr/bin/env bash
# Native unit tests of the core: tests/unit/<module>_test.c for shared/src/<module>.c.
#
#   bash tests/unit/run.sh BUILD_DIR
#
# Each test file #includes the .c under test (h2o style) and links the rest of
# the core plus fake_host.c, which stands in for the host imports. Everything
# is built with AddressSanitizer + UBSan and run under cmocka with TAP output.
# Prints one line per failing test, then exactly one final line
# "unit: N passed, M failed" (N, M count individual cmocka tests; a test file
# that fails to build or a binary that dies counts its missing tests as failed,
# and a binary whose tests all pass but which leaks counts one failure).
# Exits non-zero when anything failed.
set -uo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    echo "unit: 0 passed, 1 failed"
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UNIT="$ROOT/tests/unit"
mkdir -p "$1" || { echo "unit: 0 passed, 1 failed"; exit 2; }
BUILD="$(cd "$1" && pwd)"
CC="${CC:-gcc}"
CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1
        -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
        -I"$ROOT/shared/include" -I/usr/include/bearssl)
LIBS=(-lcmocka -lcjson -lbearssl -lm)

# LeakSanitizer is on. Under core.h's memory rule everything a request
# allocates (bastion_alloc, every cJSON value through the hooks fake_host.c
# installs, cabi_realloc's blocks) is arena memory, which stays linked from
# the arena and so is never reported; a report is a real malloc that nothing
# owns. (A test's forked child, unit_run_isolated, exits without the check.)
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export CMOCKA_MESSAGE_OUTPUT=TAP

PASSED=0
FAILED=0
mkdir -p "$BUILD/obj" "$BUILD/log"
rm -f "$BUILD"/obj/*.o "$BUILD"/*_test "$BUILD"/log/*

# The core's objects, once. bindings.c is left out: it needs the module's route
# table (bastion_app_routes), which only bindings_test.c defines.
CORE_OBJS=()
for src in "$ROOT"/shared/src/*.c; do
    m="$(basename "$src" .c)"
    [[ $m == bindings ]] && continue
    [[ -f "$UNIT/${m}_test.c" ]] || echo "note: no tests/unit/${m}_test.c for shared/src/$m.c"
    if "$CC" "${CFLAGS[@]}" -c "$src" -o "$BUILD/obj/$m.o" 2>"$BUILD/log/$m.o.log"; then
        CORE_OBJS+=("$BUILD/obj/$m.o")
    else
        FAILED=$((FAILED + 1)) # the core must build natively, tested or not
        echo "FAIL build shared/src/$m.c: $(grep -m1 -E 'error' "$BUILD/log/$m.o.log")"
    fi
done
# (a fake_host.c that does not build fails every test below at link time)
"$CC" "${CFLAGS[@]}" -c "$UNIT/fake_host.c" -o "$BUILD/obj/fake_host.o" 2>"$BUILD/log/fake_host.o.log" \
    || echo "FAIL build tests/unit/fake_host.c: $(grep -m1 -E 'error' "$BUILD/log/fake_host.o.log")"

# count_tests FILE: how many tests a test file registers (for build failures).
count_tests() {
    local n
    n=$(grep -cE '^\s*cmocka_unit_test(_setup|_teardown|_setup_teardown)?\(' "$1")
    [[ ${n:-0} -gt 0 ]] && echo "$n" || echo 1
}

for test_src in "$UNIT"/*_test.c; do
    name="$(basename "$test_src" .c)"
    m="${name%_test}"
    bin="$BUILD/$name"
    log="$BUILD/log/$name.log"
    # every core object except the module's own, which the test #includes
    objs=()
    for o in "${CORE_OBJS[@]}"; do
        [[ "$(basename "$o" .o)" == "$m" ]] || objs+=("$o")
    done
    if ! "$CC" "${CFLAGS[@]}" "$test_src" "${objs[@]}" "$BUILD/obj/fake_host.o" "${LIBS[@]}" \
            -o "$bin" 2>"$BUILD/log/$name.build.log"; then
        n=$(count_tests "$test_src")
        FAILED=$((FAILED + n))
        echo "FAIL $name: does not build ($n tests): $(grep -m1 -E 'error|undefined' "$BUILD/log/$name.build.log")"
        continue
    fi
    "$bin" >"$log" 2>"$log.stderr"
    rc=$?
    planned=$(grep -m1 -E '^1\.\.[0-9]+' "$log" | sed 's/^1\.\.//')
    ok=$(grep -cE '^ok [0-9]+' "$log")
    bad=$(grep -cE '^not ok [0-9]+' "$log")
    # one line per failing test, with cmocka's first diagnostic
    awk -v n="$name" '
        function flush() { if (t != "") print "FAIL " n ": " t (d != "" ? " -- " d : ""); t = ""; d = ""; k = 0 }
        /^not ok [0-9]+/ { flush(); sub(/^not ok [0-9]+ - /, ""); t = $0; next }
        /^ok [0-9]+/ { flush(); next }
        /^# / && t != "" && k < 2 { sub(/^# /, ""); sub(/^.*\/tests\/unit\//, ""); d = d (k ? " @ " : "") $0; k++; if (k == 2) flush(); next }
        END { flush() }
    ' "$log"
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
    if [[ -z "$planned" ]]; then
        planned=$((ok + bad))
        [[ $planned -gt 0 ]] || planned=1
    fi
    missing=$((planned - ok - bad))
    if [[ $missing -eq 0 && $rc -ne 0 && $bad -eq 0 ]] && grep -q 'ERROR: LeakSanitizer' "$log.stderr"; then
        # every test passed, then LeakSanitizer found malloc memory nothing owns
        FAILED=$((FAILED + 1))
        from=$(grep -m1 -oE 'in [A-Za-z0-9_]+ [^ ]*/(shared/src|tests/unit)/[^ ]+' "$log.stderr" |
               sed -E 's|^in ([^ ]+) .*/(shared/src\|tests/unit)/|\1 \2/|')
        echo "FAIL $name: leaks after its $planned tests passed${from:+, first from $from}: $(grep -m1 -E 'SUMMARY' "$log.stderr" | cut -c1-120)"
    elif [[ $missing -gt 0 || ( $rc -ne 0 && $bad -eq 0 ) ]]; then
        [[ $missing -gt 0 ]] || missing=1
        FAILED=$((FAILED + missing))
        where=$(grep -m1 -oE 'in test_[A-Za-z0-9_]+' "$log.stderr" | sed 's/^in //')
        why=$(grep -m1 -E 'ERROR: AddressSanitizer|runtime error|SUMMARY' "$log.stderr" | cut -c1-160)
        echo "FAIL $name: died (exit $rc) with $missing of $planned tests not run${where:+ in $where}${why:+: $why}"
    fi
done

echo "unit: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
