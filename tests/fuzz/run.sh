#!/usr/bin/env bash
# libFuzzer targets for every core parser of untrusted bytes.
#   tests/fuzz/run.sh                 every target for $FUZZ_SECONDS (default 20) each
#   tests/fuzz/run.sh NAME SECONDS    one target, longer (./build.sh fuzz NAME SECONDS)
# A target is tests/fuzz/<name>_fuzz.c defining LLVMFuzzerTestOneInput; its
# committed seeds are tests/fuzz/corpus/<name>/. New inputs the fuzzer finds
# go to build/fuzz/corpus/<name>/, never into the repo. Ends with
# "fuzz: N passed, M failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/build/fuzz"
CC=clang-19
FLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer
       -Ishared/include -I/usr/include/bearssl)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$OUT/obj" "$OUT/bin" "$OUT/artifacts"

CORE_OBJS=() # of the sources there are now: a renamed file's old object is left out
build_core() {
    local f o
    for f in shared/src/*.c tests/fuzz/stubs.c; do
        o="$OUT/obj/$(basename "${f%.c}").o"
        CORE_OBJS+=("$o")
        if [[ ! -e "$o" || "$f" -nt "$o" ]] || find shared/include shared/src -name '*.h' -newer "$o" | grep -q .; then
            "$CC" "${FLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer-no-link -c "$f" -o "$o" || return 1
        fi
    done
}

build_target() {
    local name="$1" bin="$OUT/bin/$1"
    "$CC" "${FLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer "tests/fuzz/${name}_fuzz.c" "${CORE_OBJS[@]}" \
        -lcjson -lbearssl -lm -o "$bin"
}

run_target() { # run_target NAME SECONDS
    local name="$1" secs="$2" work="$OUT/corpus/$1" seeds="tests/fuzz/corpus/$1"
    mkdir -p "$work" "$seeds"
    "$OUT/bin/$name" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$name-" "$work" "$seeds" >"$OUT/$name.log" 2>&1
}

targets=()
if [[ $# -ge 1 ]]; then
    targets=("$1")
    secs="${2:-300}"
else
    for f in tests/fuzz/*_fuzz.c; do targets+=("$(basename "${f%_fuzz.c}")"); done
    secs="${FUZZ_SECONDS:-20}"
fi

passed=0 failed=0
if ! build_core; then
    echo "FAIL fuzz: core did not build"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
for t in "${targets[@]}"; do
    if ! build_target "$t" >"$OUT/$t.build.log" 2>&1; then
        echo "FAIL fuzz $t: does not build (see $OUT/$t.build.log)"
        cat "$OUT/$t.build.log" | head -20
        failed=$((failed + 1))
        continue
    fi
    if run_target "$t" "$secs"; then
        runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$OUT/$t.log" | grep -oE '[0-9]+$')
        echo "PASS fuzz $t: ${runs:-?} runs in ${secs}s"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz $t: crash, see $OUT/$t.log and $OUT/artifacts/"
        grep -E 'ERROR|SUMMARY|runtime error' "$OUT/$t.log" | head -5
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed == 0 ]]
