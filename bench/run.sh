#!/usr/bin/env bash
# bench/run.sh — build and run Bastion's benchmarks, rewrite bench/RESULTS.md.
# `./build.sh bench` runs this after building. Everything it builds goes to
# build/bench/; it never writes outside build/bench/ and bench/RESULTS.md.
#
# Environment (defaults in brackets):
#   BENCH_RUNS [5]             processes per configuration (medians are of these)
#   BENCH_ITERS [100000]       instantiate iterations per process
#   BENCH_INVOKE_ITERS [20000] GET count invocations per process
#   BENCH_POST_ITERS [20000]   POST join invocations per process
#   BENCH_SYSCALL_RUNS [3], BENCH_SYSCALL_ITERS [10000]
#   WRK_RUNS [3], WRK_DURATION [10s]
#   BENCH_NO_WRK=1, BENCH_NO_CALLGRIND=1 skip those parts
#   BENCH_NO_SIZES=1           skip bench/sizes.sh (module sizes per build setting)
#   BENCH_NO_GROWTH=1          skip bench/growth.py (cost as tables grow; its own block)
#   BENCH_NO_PEERS=1           skip bench/peers.sh (native, Bastion, workerd, V8 and
#                              Wasmtime side by side; its own RESULTS.md block + peers.png)
#   BENCH_NO_STORES=1          skip bench/stores.sh (SQLite vs Redis + PostgreSQL over
#                              HTTP; run last, STORES_* settings in that file; it
#                              rewrites only its own section of RESULTS.md)
# `bash bench/run.sh --report-only` rewrites RESULTS.md from the last run's logs.
# `bash bench/run.sh --quick` (`./build.sh bench --quick`) is a smoke run: one
# round, short loops and wrk runs, no callgrind, stores or sizes; its numbers
# are for checking the benchmarks work, not for quoting.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
if [[ "${1:-}" == --quick ]]; then
    QUICK=1
    export BENCH_RUNS="${BENCH_RUNS:-1}" BENCH_ITERS="${BENCH_ITERS:-10000}"
    export BENCH_INVOKE_ITERS="${BENCH_INVOKE_ITERS:-2000}" BENCH_POST_ITERS="${BENCH_POST_ITERS:-2000}"
    export BENCH_SYSCALL_RUNS="${BENCH_SYSCALL_RUNS:-1}" WRK_RUNS="${WRK_RUNS:-1}"
    export WRK_DURATION="${WRK_DURATION:-2s}" BENCH_NO_CALLGRIND=1 BENCH_NO_STORES=1 BENCH_NO_SIZES=1
fi
B="$ROOT/build/bench"
LOG="$B/logs"
RUNS="${BENCH_RUNS:-5}"
ITERS="${BENCH_ITERS:-100000}"
INVOKE_ITERS="${BENCH_INVOKE_ITERS:-20000}"
POST_ITERS="${BENCH_POST_ITERS:-20000}"
SYSCALL_ITERS="${BENCH_SYSCALL_ITERS:-10000}"
SYSCALL_RUNS="${BENCH_SYSCALL_RUNS:-3}"
CC="${CC:-cc}"
# The host's include directories and libraries are build.sh's (build_host,
# HOST_LIBS), read from it so a new store backend's library needs no edit here.
# shellcheck disable=SC2207
HOST_INCS=($(sed -n '/^build_host()/,/^}/p' build.sh | grep -o ' -I[^ "$]*'))
eval "$(grep '^HOST_LIBS=' build.sh)"
[[ ${#HOST_INCS[@]} -gt 0 && ${#HOST_LIBS[@]} -gt 0 ]] || { echo "run.sh: cannot read build.sh's host flags" >&2; exit 1; }
HOST_CFLAGS=(-std=c11 -D_GNU_SOURCE -O2 -g "${HOST_INCS[@]}")

say() { printf '[bench] %s\n' "$*" >&2; }

if [[ "${1:-}" == --report-only ]]; then
    [[ -f "$LOG/env" ]] || { echo "run.sh: no $LOG/env; run the benchmarks first" >&2; exit 1; }
    set -a
    # shellcheck disable=SC1091
    source "$LOG/env"
    set +a
    python3 bench/report.py >bench/RESULTS.md.tmp
    mv bench/RESULTS.md.tmp bench/RESULTS.md
    say "rewrote bench/RESULTS.md from $LOG"
    exit 0
fi

if [[ ! -x build/bastion || ! -f build/functions/waitlist.wasm || ! -f build/manifest.json ]]; then
    say "build/ is incomplete; running ./build.sh build"
    ./build.sh build
fi

rm -rf "$LOG"
mkdir -p "$B/obj" "$B/gen" "$B/proposed" "$LOG"

# --- build ------------------------------------------------------------------
# The modules under test: one snapshot of each .wasm, compiled exactly as
# build.sh's build_module does, differing only in WASM_RT_MEMCHECK_SIGNAL_HANDLER
# and, for the *-im16 variants, the memory's initial size: 16 pages (1 MiB)
# instead of the 5 wasm-ld picks. wasm2c's output for a module linked with
# -Wl,--initial-memory=1048576 differs from the default in exactly that one
# argument of wasm_rt_allocate_memory, so the variant is made by editing it.
cp build/functions/waitlist.wasm "$B/waitlist.wasm"
cp build/functions/health.wasm "$B/health.wasm"
build_so() { # build_so MODULE NAME MEMCHECK_SIGNAL [INITIAL_PAGES]
    local mod="$1" name="$2" gen="$B/gen/$1-$2"
    mkdir -p "$gen"
    wasm2c "$B/$mod.wasm" -n "$mod" -o "$gen/$mod.c"
    if [[ -n "${4:-}" ]]; then
        sed -i -E "s/(wasm_rt_allocate_memory\(&instance->w2c_memory, )[0-9]+,/\1$4,/" "$gen/$mod.c"
        grep -q "wasm_rt_allocate_memory(&instance->w2c_memory, $4," "$gen/$mod.c"
    fi
    python3 host/tools/glue.py "$gen/$mod.h" "$mod" >"$gen/glue.c"
    "$CC" -std=c11 -D_GNU_SOURCE -O2 -fPIC -shared -w -fvisibility=hidden \
        -DWASM_RT_MEMCHECK_SIGNAL_HANDLER="$3" \
        -I"$ROOT/host/rt" -I"$gen" "$gen/$mod.c" "$gen/glue.c" -o "$B/$mod-$name.so"
}
say "building waitlist.so ×4 (guard pages / bounds checks × 5 / 16 initial pages), health.so"
pids=()
build_so waitlist signal 1 & pids+=($!)
build_so waitlist bounds 0 & pids+=($!)
build_so waitlist signal-im16 1 16 & pids+=($!)
build_so waitlist bounds-im16 0 16 & pids+=($!)
build_so health signal-im16 1 16 & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
# build/manifest.json with health and waitlist pointing at the 16-page modules
python3 - "$ROOT/build/manifest.json" "$B/manifest-im16.json" "$B" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
for name in ("health", "waitlist"):
    m["functions"][name]["so"] = f"{sys.argv[3]}/{name}-signal-im16.so"
json.dump(m, open(sys.argv[2], "w"), indent=2)
EOF

say "building the host objects and bench/instantiate"
objs=()
for f in host/*.c host/*/*.c; do  # as build.sh's HOST_SRCS
    o="$B/obj/$(basename "${f%.c}").o"
    "$CC" "${HOST_CFLAGS[@]}" -c "$f" -o "$o"
    case "$(basename "$f")" in main.c|server.c) ;; *) objs+=("$o") ;; esac
done
"$CC" "${HOST_CFLAGS[@]}" -Wall -Wextra -Werror -c bench/instantiate.c -o "$B/bench_instantiate.o"
"$CC" -rdynamic -o "$B/instantiate" "$B/bench_instantiate.o" "${objs[@]}" "${HOST_LIBS[@]}"

# The proposed host/rt/rt.c (bench/rt-proposal.patch), measured side by side.
PROPOSED=0
cp host/rt/rt.c "$B/proposed/rt.c"
if patch -s --dry-run "$B/proposed/rt.c" <bench/rt-proposal.patch >/dev/null 2>&1; then
    patch -s "$B/proposed/rt.c" <bench/rt-proposal.patch
    "$CC" "${HOST_CFLAGS[@]}" -Wall -Wextra -Werror -c "$B/proposed/rt.c" -o "$B/proposed/rt.o"
    pobjs=()
    for o in "${objs[@]}"; do [[ "$(basename "$o")" == rt.o ]] || pobjs+=("$o"); done
    "$CC" -rdynamic -o "$B/instantiate-proposed" "$B/bench_instantiate.o" "${pobjs[@]}" \
        "$B/proposed/rt.o" "${HOST_LIBS[@]}"
    "$CC" -rdynamic -o "$B/bastion-proposed" "$B/obj/main.o" "$B/obj/server.o" "${pobjs[@]}" \
        "$B/proposed/rt.o" "${HOST_LIBS[@]}"
    PROPOSED=1
else
    say "bench/rt-proposal.patch no longer applies to host/rt/rt.c; skipping the proposal"
fi

# --- machine ------------------------------------------------------------------
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
MELTDOWN="$(lscpu 2>/dev/null | sed -n 's/^Vulnerability Meltdown: *//p')"

# --- runs -------------------------------------------------------------------
# "binary module cases" per configuration; all configurations run once per round.
FULL="instantiate,instantiate_nodl,phases,get_count,post_join"
configs=(
    "instantiate signal $FULL"
    "instantiate bounds instantiate,get_count,post_join"
    "instantiate signal-im16 get_count,post_join"
    "instantiate bounds-im16 get_count,post_join"
)
if [[ $PROPOSED == 1 ]]; then
    configs+=(
        "instantiate-proposed signal $FULL"
        "instantiate-proposed bounds instantiate,instantiate_nodl,get_count,post_join"
        "instantiate-proposed signal-im16 instantiate,get_count,post_join"
        "instantiate-proposed bounds-im16 instantiate,get_count,post_join"
    )
fi

say "checking that instance memory is reset between instances"
for c in "${configs[@]}"; do
    read -r bin v _ <<<"$c"
    st="$(mktemp -d)"
    "$B/$bin" --so "$B/waitlist-$v.so" --state "$st/state" --label "$bin/$v" --only verify \
        >>"$LOG/verify.txt" 2>>"$LOG/stderr.txt"
    rm -rf "$st"
done
if grep -q FAIL "$LOG/verify.txt"; then
    cat "$LOG/verify.txt" >&2
    exit 1
fi

for r in $(seq 1 "$RUNS"); do
    for c in "${configs[@]}"; do
        read -r bin v cases <<<"$c"
        say "round $r/$RUNS: $bin, $v"
        st="$(mktemp -d)"
        "$B/$bin" --so "$B/waitlist-$v.so" --state "$st/state" --label "$bin/$v" \
            --iters "$ITERS" --invoke-iters "$INVOKE_ITERS" --post-iters "$POST_ITERS" \
            --only "$cases" >>"$LOG/results.txt" 2>>"$LOG/stderr.txt"
        rm -rf "$st"
    done
done
say "kernel-call costs alone"
for r in $(seq 1 "$SYSCALL_RUNS"); do
    "$B/instantiate" --so "$B/waitlist-signal.so" --label "syscalls" --iters "$SYSCALL_ITERS" \
        --only syscalls >>"$LOG/results.txt" 2>>"$LOG/stderr.txt"
done

# User-space instruction counts (deterministic, so memcheck modes compare
# without the machine's timing noise). Kernel time is invisible to callgrind.
CG=0
if [[ "${BENCH_NO_CALLGRIND:-0}" != 1 ]] && command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    say "callgrind: instructions per request"
    for v in signal bounds; do
        for c in instantiate:bench_instantiate:2000 get_count:bench_invoke:1000 post_join:bench_invoke:1000; do
            IFS=: read -r name fn n <<<"$c"
            st="$(mktemp -d)"
            valgrind --tool=callgrind --toggle-collect="$fn" --callgrind-out-file="$LOG/cg-$v-$name.out" \
                "$B/instantiate" --so "$B/waitlist-$v.so" --state "$st/state" --label "cg/$v" \
                --only "$name" --iters "$n" --invoke-iters "$n" --post-iters "$n" \
                >>"$LOG/callgrind.txt" 2>>"$LOG/callgrind-stderr.txt"
            rm -rf "$st"
            callgrind_annotate --threshold=100 "$LOG/cg-$v-$name.out" >"$LOG/cg-$v-$name.txt" 2>/dev/null
            # iterations measured + warm-up (instantiate: n/10; invoke: n/10 capped at 1000)
            echo "CG $v $name calls=$((n + n / 10)) file=$LOG/cg-$v-$name.txt" >>"$LOG/callgrind.txt"
        done
    done
    CG=1
fi

# Kernel calls per request, counted (not timed) with strace -c.
ST=0
if command -v strace >/dev/null; then
    say "strace: kernel calls per GET count request"
    st_cfgs=("instantiate signal")
    [[ $PROPOSED == 1 ]] && st_cfgs+=("instantiate-proposed signal" "instantiate-proposed signal-im16")
    for c in "${st_cfgs[@]}"; do
        read -r bin v <<<"$c"
        st="$(mktemp -d)"
        strace -f -c -o "$LOG/strace-$bin-$v.txt" \
            -e trace=mprotect,madvise,mincore,timer_settime,mmap,munmap,fcntl,mkdir,pwrite64,fdatasync \
            "$B/$bin" --so "$B/waitlist-$v.so" --state "$st/state" --label "strace/$bin/$v" \
            --only get_count --invoke-iters 2000 >>"$LOG/strace.txt" 2>>"$LOG/stderr.txt"
        echo "STRACE $bin $v calls=2200 file=$LOG/strace-$bin-$v.txt" >>"$LOG/strace.txt"
        rm -rf "$st"
    done
    ST=1
fi

WRK=0
if [[ "${BENCH_NO_WRK:-0}" != 1 ]]; then
    say "wrk: build/bastion serve, GET /health"
    bash bench/wrk.sh "$LOG/wrk-current.txt" >/dev/null
    WRK=1
    if [[ $PROPOSED == 1 ]]; then
        say "wrk: the same host with the proposed rt.c and 16-page modules"
        BASTION_BIN="$B/bastion-proposed" BASTION_MANIFEST="$B/manifest-im16.json" \
            bash bench/wrk.sh "$LOG/wrk-proposed.txt" >/dev/null
    fi
fi
LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)"
END="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"

# --- report -----------------------------------------------------------------
export CPU CORES KERNEL HYPER MELTDOWN START END LOAD0 LOAD1 COMMIT DIRTY RUNS ITERS \
    INVOKE_ITERS POST_ITERS SYSCALL_ITERS SYSCALL_RUNS PROPOSED CG ST WRK LOG CC PVM
export WRK_RUNS="${WRK_RUNS:-3}" WRK_DURATION="${WRK_DURATION:-10s}"
export HOST_CFLAGS_TXT="${HOST_CFLAGS[*]}" HOST_LIBS_TXT="${HOST_LIBS[*]}" # for the report
for v in CPU CORES KERNEL HYPER MELTDOWN START END LOAD0 LOAD1 COMMIT DIRTY RUNS ITERS INVOKE_ITERS \
    POST_ITERS SYSCALL_ITERS SYSCALL_RUNS PROPOSED CG ST WRK LOG CC PVM WRK_RUNS WRK_DURATION \
    HOST_CFLAGS_TXT HOST_LIBS_TXT; do
    printf '%s=%q\n' "$v" "${!v}"
done >"$LOG/env"
python3 bench/report.py >bench/RESULTS.md.tmp
mv bench/RESULTS.md.tmp bench/RESULTS.md
say "wrote bench/RESULTS.md (raw output in build/bench/logs/)"

# Last, so nothing else of this script runs at the same time.
if [[ "${BENCH_NO_STORES:-0}" != 1 ]]; then
    say "stores: SQLite vs Redis + PostgreSQL, one and two hosts (bench/stores.sh)"
    bash bench/stores.sh
fi
if [[ "${BENCH_NO_SIZES:-0}" != 1 ]]; then
    say "sizes: every module under other build settings (bench/sizes.sh)"
    bash bench/sizes.sh
fi
if [[ "${BENCH_NO_GROWTH:-0}" != 1 ]]; then
    say "growth: bookings, lists and enqueue as the tables grow (bench/growth.py)"
    .deps/python/bin/python bench/growth.py $([[ $QUICK == 1 ]] && echo --quick)
fi
if [[ "${BENCH_NO_PEERS:-0}" != 1 ]]; then
    say "peers: native, Bastion, workerd, V8, Wasmtime side by side (bench/peers.sh)"
    bash bench/peers.sh $([[ $QUICK == 1 ]] && echo --quick)
fi
