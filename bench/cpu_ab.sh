#!/usr/bin/env bash
# bench/cpu_ab.sh — two host binaries side by side on the same routes: req/s,
# p99 and the server's own CPU time per request (user + sys from
# /proc/PID/stat over the run, divided by the requests wrk counted), which
# moves less with the machine's other load than req/s does.
#
#   bash bench/cpu_ab.sh OLD_BIN NEW_BIN [RUNS]
#
# Each run starts a fresh `BIN serve` (loopback, migrated temp state, --dev,
# --no-cron, joins unlimited), joins one email so the count route has a row,
# then `wrk -t2 -c32 -d${AB_DURATION:-5s} --latency` on GET
# /api/waitlist/bench/count and on POST /api/waitlist (bench/post.lua: a new
# email per request), and stops it with SIGTERM. Runs alternate A, B, A, B…;
# the table gives each setting's median over RUNS (default 3) and the spread.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
A="$1" B="$2" RUNS="${3:-3}" DUR="${AB_DURATION:-5s}"
HZ="$(getconf CLK_TCK)"
OUT="$(mktemp -d -t bastion-ab.XXXXXX)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

one() { # one LABEL BIN
    local label="$1" bin="$2" st port pid
    st="$(mktemp -d -p "$OUT")"
    port="$(free_port)"
    "$bin" migrate --state "$st" --manifest build/manifest.json >/dev/null 2>&1
    BASTION_VAR_waitlist_joins_per_minute=1000000 "$bin" serve --listen "127.0.0.1:$port" \
        --state "$st" --manifest build/manifest.json --dev --no-cron >"$st/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.05; done
    curl -fs -o /dev/null -H 'content-type: application/json' \
        -d '{"email":"seed@example.com","product_id":"bench"}' "http://127.0.0.1:$port/api/waitlist"
    local route t0 t1 w
    for route in count join; do
        t0="$(cpu_ticks "$pid")"
        if [[ $route == count ]]; then
            w="$(wrk -t2 -c32 -d"$DUR" --latency "http://127.0.0.1:$port/api/waitlist/bench/count")"
        else
            w="$(wrk -t2 -c32 -d"$DUR" --latency -s bench/post.lua "http://127.0.0.1:$port/api/waitlist" -- ab)"
        fi
        t1="$(cpu_ticks "$pid")"
        printf '%s\n' "$w" >"$OUT/wrk.txt"
        python3 - "$label" "$route" "$t0" "$t1" "$HZ" "$OUT/wrk.txt" >>"$OUT/results.tsv" <<'PY'
import re, sys
label, route, t0, t1, hz, wrk = sys.argv[1:]
w = open(wrk).read()
reqs = int(re.search(r"(\d+) requests in", w).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", w)
p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", w)
cpu_us = (int(t1) - int(t0)) / int(hz) * 1e6 / max(reqs, 1)
print(f"{label}\t{route}\t{rps:.0f}\t{p99_ms:.2f}\t{cpu_us:.1f}\t{non2xx.group(1) if non2xx else 0}")
PY
    done
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

for i in $(seq "$RUNS"); do
    one A "$A"
    one B "$B"
done
python3 - "$OUT/results.tsv" "$A" "$B" "$RUNS" "$DUR" <<'PY'
import statistics, sys
path, a, b, runs, dur = sys.argv[1:]
rows = [l.split("\t") for l in open(path).read().splitlines()]
print(f"A = {a}\nB = {b}\n{runs} alternating runs per setting, wrk -t2 -c32 -d{dur}\n")
print("| route | setting | req/s median (min–max) | p99 ms median | server CPU µs/request median (min–max) | non-2xx |")
print("|---|---|---|---|---|---|")
for route in ("count", "join"):
    for label in ("A", "B"):
        r = [x for x in rows if x[0] == label and x[1] == route]
        rps = [float(x[2]) for x in r]; p99 = [float(x[3]) for x in r]; cpu = [float(x[4]) for x in r]
        print(f"| {route} | {label} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
              f"{statistics.median(p99):.2f} | {statistics.median(cpu):.1f} ({min(cpu):.1f}–{max(cpu):.1f}) | "
              f"{sum(int(x[5]) for x in r)} |")
PY
rm -rf "$OUT"
