#!/usr/bin/env bash
# bench/peers.sh — the same functions side by side: Bastion (a fresh wasm2c
# instance per request), the native-handler build (serve --native: the same
# sources compiled natively, the physical limit), workerd running the same
# .wasm with a fresh WebAssembly.Instance per request, and, without HTTP, V8 in
# Node and Wasmtime instantiating it. Rewrites its own block of
# bench/RESULTS.md and bench/peers.png (bench/peers_report.py).
#
#   bash bench/peers.sh [--quick]      (./build.sh bench runs it)
#
# Routes (bench/peers/routes.mjs holds the requests; wrk_lua.mjs turns them
# into wrk scripts, so every setup gets the same bytes):
#   stripe-401     pure compute: a Stripe signature that does not verify → 401
#   ratelimit-429  kv only: POST /api/waitlist from a client over its limit → 429
#   count, join    GET /api/waitlist/bench-product/count, POST /api/waitlist (a
#                  new email each, bench/post.lua): Bastion and native only, the
#                  peers have no SQL
# Each measurement starts a fresh server on a free 127.0.0.1 port (Bastion:
# migrated temporary state, --dev --no-cron), checks one request answers the
# expected status, then runs `wrk -t2 -c$PEERS_CONNECTIONS -d$PEERS_DURATION
# --latency` and reads the server's user + system CPU time from
# /proc/PID/stat before and after: CPU-µs per request. Rounds alternate the
# setups; the report gives medians over rounds and the spread.
#
# Environment: PEERS_RUNS [3; --quick 1], PEERS_DURATION [5s; --quick 2s],
# PEERS_CONNECTIONS [32], PEERS_ITERS [20000; --quick 2000] (in-process loops).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
[[ "${1:-}" == --quick ]] && QUICK=1
RUNS="${PEERS_RUNS:-$([[ $QUICK == 1 ]] && echo 1 || echo 3)}"
DUR="${PEERS_DURATION:-$([[ $QUICK == 1 ]] && echo 2s || echo 5s)}"
CONNS="${PEERS_CONNECTIONS:-32}"
ITERS="${PEERS_ITERS:-$([[ $QUICK == 1 ]] && echo 2000 || echo 20000)}"
LOG="$ROOT/build/bench/peers"
NPM="$ROOT/.deps/bench-npm"
PYTHON="$ROOT/.deps/python/bin/python"
HZ="$(getconf CLK_TCK)"
say() { printf '[peers] %s\n' "$*" >&2; }

for f in build/bastion build/manifest.json build/functions/waitlist.wasm build/native/waitlist.so; do
    [[ -e "$f" ]] || { echo "peers.sh: $f is missing; run ./build.sh bench (or ./build.sh native)" >&2; exit 1; }
done

# workerd, pinned in bench/peers/package.json, into .deps/bench-npm
workerd_current() {
    node -e '
        const fs = require("fs");
        const [pkg, dir] = process.argv.slice(1);
        for (const [n, v] of Object.entries(JSON.parse(fs.readFileSync(pkg)).dependencies)) {
            const f = `${dir}/node_modules/${n}/package.json`;
            if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f)).version !== v) process.exit(1);
        }' bench/peers/package.json "$NPM"
}
if ! workerd_current; then
    say "installing workerd (bench/peers/package.json) into $NPM"
    mkdir -p "$NPM"
    cp bench/peers/package.json "$NPM/package.json"
    npm install --prefix "$NPM" --no-package-lock --no-audit --no-fund >&2
    workerd_current
fi
WORKERD="$NPM/node_modules/.bin/workerd"

rm -rf "$LOG"
mkdir -p "$LOG/wrk"
# shellcheck source=bench/machine.sh
source bench/machine.sh
{
    echo "CPU=$CPU"; echo "CORES=$CORES"; echo "KERNEL=$KERNEL"; echo "HYPER=$HYPER"
    echo "START=$START"; echo "LOAD0=$LOAD0"; echo "COMMIT=$COMMIT$DIRTY"
    echo "RUNS=$RUNS"; echo "DUR=$DUR"; echo "CONNS=$CONNS"; echo "ITERS=$ITERS"
    echo "WORKERD=$("$WORKERD" --version 2>&1 | head -1)"; echo "NODE=$(node --version)"
    echo "WASMTIME=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("wasmtime"))')"
    echo "QUICK=$QUICK"
} >"$LOG/env"
for r in stripe-401 ratelimit-429; do node bench/peers/wrk_lua.mjs "$r" >"$LOG/$r.lua"; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
PID=""
stop() {
    [[ -n "$PID" ]] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}
trap stop EXIT

# start SETUP LIMIT: a fresh server for SETUP (bastion, native, workerd); sets PORT, PID
start() {
    local setup="$1" limit="$2" dir
    dir="$(mktemp -d -p "$LOG")"
    PORT="$(free_port)"
    if [[ $setup == workerd ]]; then
        cp bench/peers/{abi,routes,worker}.mjs build/functions/{waitlist,stripe-webhook}.wasm "$dir/"
        cat >"$dir/config.capnp" <<EOF
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .bench)],
  sockets = [(name = "http", address = "127.0.0.1:$PORT", http = (), service = "main")],
);
const bench :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "abi.mjs", esModule = embed "abi.mjs"),
    (name = "routes.mjs", esModule = embed "routes.mjs"),
    (name = "waitlist.wasm", wasm = embed "waitlist.wasm"),
    (name = "stripe-webhook.wasm", wasm = embed "stripe-webhook.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);
EOF
        "$WORKERD" serve "$dir/config.capnp" >"$dir/log" 2>&1 &
    else
        local native=()
        [[ $setup == native ]] && native=(--native)
        build/bastion migrate --state "$dir" --manifest build/manifest.json >/dev/null 2>&1
        BASTION_VAR_waitlist_joins_per_minute="$limit" build/bastion serve "${native[@]}" \
            --listen "127.0.0.1:$PORT" --state "$dir" --manifest build/manifest.json --dev \
            --no-cron >"$dir/log" 2>&1 &
    fi
    PID=$!
    for _ in $(seq 200); do
        curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/api/webhooks/stripe" && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "peers.sh: $setup did not start:" >&2
    cat "$dir/log" >&2
    exit 1
}

status_of() { # status_of ROUTE: one request as the benchmark sends it
    local r="$1" u="http://127.0.0.1:$PORT"
    case "$r" in
        count) curl -s -o /dev/null -w '%{http_code}' "$u/api/waitlist/bench-product/count" ;;
        join) curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
                  -d "{\"email\":\"probe.$RANDOM@example.com\",\"product_id\":\"bench-product\"}" "$u/api/waitlist" ;;
        *) node -e '
               import("./bench/peers/routes.mjs").then(async ({ROUTES}) => {
                   const r = ROUTES[process.argv[1]];
                   const res = await fetch(process.argv[2] + r.path, {method: r.method, body: r.body,
                                                                      headers: r.headers});
                   console.log(res.status);
               })' "$r" "$u" ;;
    esac
}

# measure SETUP ROUTE RUN: one wrk run, a line in results.tsv
measure() {
    local setup="$1" route="$2" run="$3" want limit=10 args=() path
    case "$route" in
        stripe-401) want=401; path=/api/webhooks/stripe; args=(-s "$LOG/$route.lua") ;;
        ratelimit-429) want=429; path=/api/waitlist; args=(-s "$LOG/$route.lua") ;;
        count) want=200; path=/api/waitlist/bench-product/count; limit=1000000 ;;
        join) want=201; path=/api/waitlist; limit=1000000; args=(-s bench/post.lua) ;;
    esac
    start "$setup" "$limit"
    [[ $route == count ]] && status_of join >/dev/null # a row to count
    local got n=0
    got="$(status_of "$route")"
    # past the limit (10 a minute; a window may turn over meanwhile)
    while [[ $route == ratelimit-429 && "$got" != 429 && $((n++)) -lt 30 ]]; do
        got="$(status_of "$route")"
    done
    if [[ "$got" != "$want" ]]; then
        echo "peers.sh: $setup $route answered $got, not $want" >&2
        exit 1
    fi
    local raw="$LOG/wrk/$setup-$route-$run.txt" t0 t1
    [[ $route == join ]] && args+=(-- "peers.$setup.$run")
    t0="$(cpu_ticks "$PID")"
    wrk -t2 -c"$CONNS" -d"$DUR" --latency "${args[@]:0:2}" "http://127.0.0.1:$PORT$path" \
        "${args[@]:2}" >"$raw"
    t1="$(cpu_ticks "$PID")"
    stop
    python3 - "$setup" "$route" "$run" "$t0" "$t1" "$HZ" "$raw" >>"$LOG/results.tsv" <<'PY'
import re, sys
setup, route, run, t0, t1, hz, raw = sys.argv[1:]
w = open(raw).read()
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]
reqs = int(re.search(r"(\d+) requests in", w).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
p50 = ms(re.search(r"^\s*50%\s+(\S+)", w, re.M).group(1))
p99 = ms(re.search(r"^\s*99%\s+(\S+)", w, re.M).group(1))
errs = re.search(r"Socket errors: (.*)", w)
cpu_us = (int(t1) - int(t0)) / int(hz) * 1e6 / max(reqs, 1)
print(f"{setup}\t{route}\t{run}\t{reqs}\t{rps:.1f}\t{p50:.3f}\t{p99:.3f}\t{cpu_us:.2f}\t"
      f"{errs.group(1) if errs else ''}")
PY
    say "$setup $route run $run: $(tail -1 "$LOG/results.tsv" | cut -f5) req/s"
}

for run in $(seq "$RUNS"); do
    for route in stripe-401 ratelimit-429; do
        for setup in bastion native workerd; do measure "$setup" "$route" "$run"; done
    done
    for route in count join; do
        for setup in bastion native; do measure "$setup" "$route" "$run"; done
    done
done

say "in-process: V8 in Node ($ITERS iterations a case), Wasmtime"
for run in $(seq "$RUNS"); do
    node bench/peers/node.mjs build/functions "$ITERS" | sed "s/^/run=$run /" >>"$LOG/inprocess.txt"
    "$PYTHON" bench/peers/wasmtime_instantiate.py build/functions/waitlist.wasm "$ITERS" |
        sed "s/^/run=$run /" >>"$LOG/inprocess.txt"
done
echo "END=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" >>"$LOG/env"
echo "LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$LOG/env"
python3 bench/peers_report.py "$LOG" bench/RESULTS.md bench/peers.png
say "wrote the side-by-side block of bench/RESULTS.md and bench/peers.png"
