#!/usr/bin/env bash
# bench/wrk.sh — HTTP throughput/latency of `bastion serve` on GET /health.
#
#   bash bench/wrk.sh [OUT_FILE]
#
# Starts build/bastion (or $BASTION_BIN) on a free 127.0.0.1 port with a
# fresh temporary state dir, waits for /health to answer 200, runs
#   wrk -t2 -c64 -d10s --latency http://127.0.0.1:PORT/health
# $WRK_RUNS times (default 3), then stops the server with SIGTERM.
# Prints one line per run and the median of the runs:
#   WRK run=N rps=… p50_ms=… p99_ms=… non2xx=…
#   WRK median runs=3 rps=… p50_ms=… p99_ms=…
# and, with OUT_FILE, writes the same lines plus each run's raw wrk output there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${BASTION_BIN:-$ROOT/build/bastion}"
MANIFEST="${BASTION_MANIFEST:-$ROOT/build/manifest.json}"
RUNS="${WRK_RUNS:-3}"
DURATION="${WRK_DURATION:-10s}"
OUT="${1:-}"

for f in "$BIN" "$MANIFEST"; do
    [[ -e "$f" ]] || { echo "wrk.sh: $f is missing; run ./build.sh build" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT="$(free_port)"
URL="http://127.0.0.1:$PORT/health"
# No .env in the temp cwd; --dev supplies development secrets.
"$BIN" serve --listen "127.0.0.1:$PORT" --state "$TMP/state" --manifest "$MANIFEST" --dev \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

up=0
for _ in $(seq 1 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "wrk.sh: server exited during start-up:" >&2
        cat "$TMP/server.log" >&2
        exit 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' "$URL" || true)"
    if [[ "$code" == 200 ]]; then up=1; break; fi
    sleep 0.1
done
if [[ $up != 1 ]]; then
    echo "wrk.sh: $URL did not answer 200 within 10 s (last: ${code:-none})" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi

# wrk prints latencies as 1.23us / 4.56ms / 1.20s and rates as 1234.56 or 12.34k.
parse() { # parse RAW_FILE → "rps p50_ms p99_ms non2xx"
    python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    n, u = float(m.group(1)), m.group(2)
    return n * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s*50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s*99%\s+(\S+)", text, re.M).group(1))
m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
errs = re.search(r"Socket errors:.*", text)
print(f"{rps:.2f} {p50:.3f} {p99:.3f} {m.group(1) if m else 0}"
      + (" socket_errors" if errs else ""))
EOF
}

lines=()
[[ -n "$OUT" ]] && : >"$OUT"
for r in $(seq 1 "$RUNS"); do
    raw="$TMP/wrk-$r.txt"
    wrk -t2 -c64 -d"$DURATION" --latency "$URL" >"$raw"
    read -r rps p50 p99 non2xx extra <<<"$(parse "$raw")"
    line="WRK run=$r rps=$rps p50_ms=$p50 p99_ms=$p99 non2xx=$non2xx${extra:+ $extra}"
    echo "$line"
    lines+=("$line")
    if [[ -n "$OUT" ]]; then
        echo "$line" >>"$OUT"
        sed 's/^/    /' "$raw" >>"$OUT"
    fi
done

median="$(printf '%s\n' "${lines[@]}" | python3 -c '
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in sys.stdin if l.strip()]
med = {k: statistics.median(float(r[k]) for r in rows) for k in ("rps", "p50_ms", "p99_ms")}
print("WRK median runs=%d rps=%.2f p50_ms=%.3f p99_ms=%.3f"
      % (len(rows), med["rps"], med["p50_ms"], med["p99_ms"]))
')"
echo "$median"
[[ -n "$OUT" ]] && echo "$median" >>"$OUT"

kill -TERM "$SERVER_PID"
if ! wait "$SERVER_PID"; then
    echo "wrk.sh: server exited non-zero after SIGTERM:" >&2
    tail -5 "$TMP/server.log" >&2
fi
SERVER_PID=""
