#!/usr/bin/env bash
# bench/stores.sh — the same function requests on each store deployment (issue #9):
#   sqlite      SQLite in the state directory, one host
#   redis-pg    kv on Redis, sql on PostgreSQL, one host
#   redis-pg-2  kv on Redis, sql on PostgreSQL, two hosts sharing them
# Requests (the waitlist function, manifest.toml):
#   GET   GET /api/waitlist/bench-product/count
#   POST  POST /api/waitlist, content-type application/json,
#         {"email":"<unique>@example.com","product_id":"bench-product"} (bench/post.lua)
# Each: `wrk -t1 -c32 -d10s --latency` per host, $STORES_RUNS times; with two
# hosts, two wrk processes at once, one per host.
#
#   bash bench/stores.sh                rerun, then rewrite bench/RESULTS.md's stores section
#   bash bench/stores.sh --report-only  rewrite that section from the last run's logs
# bench/run.sh (`./build.sh bench`) runs it last. Raw output: build/bench/stores/.
# It writes nothing outside build/bench/stores/, bench/RESULTS.md and temporary
# directories (removed at exit), and stops every server it started at exit.
#
# Environment (defaults in brackets):
#   STORES_RUNS [3]          wrk runs per case and request (medians are of these)
#   STORES_DURATION [10s]    wrk -d
#   STORES_CONNECTIONS [32]  wrk -c, per host
#   STORES_CASES [sqlite redis-pg redis-pg-2]   which cases, in this order
# Redis and PostgreSQL come from tests/servers.sh (Debian's redis-server and
# postgresql), started on 127.0.0.1 in a temporary directory; each case gets a
# fresh PostgreSQL database (CREATE DATABASE) and its own Redis key prefix.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/build/bench/stores"
BIN="$ROOT/build/bastion"
MANIFEST="$ROOT/build/manifest.json"
RUNS="${STORES_RUNS:-3}"
DURATION="${STORES_DURATION:-10s}"
CONNS="${STORES_CONNECTIONS:-32}"
CASES="${STORES_CASES:-sqlite redis-pg redis-pg-2}"
WARMUP=2s # one GET wrk run per host before the measured runs, not recorded

say() { printf '[stores] %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

if [[ "${1:-}" == --report-only ]]; then
    [[ -f "$OUT/env" ]] || die "no $OUT/env; run bash bench/stores.sh first"
    set -a
    # shellcheck disable=SC1091
    source "$OUT/env"
    set +a
    python3 bench/stores_report.py "$OUT" bench/RESULTS.md
    say "rewrote the stores section of bench/RESULTS.md from $OUT"
    exit 0
fi

for c in $CASES; do
    case "$c" in sqlite | redis-pg | redis-pg-2) ;; *) die "STORES_CASES: unknown case '$c'" ;; esac
done
[[ -x /usr/bin/wrk ]] || die "/usr/bin/wrk is missing (Debian package wrk; ./build.sh deps)"
WRK=/usr/bin/wrk
if [[ ! -x "$BIN" || ! -f "$MANIFEST" || ! -f build/functions/waitlist.so ]]; then
    say "build/ is incomplete; running ./build.sh build"
    ./build.sh build
fi

rm -rf "$OUT"
mkdir -p "$OUT"
TMP="$(mktemp -d -t bastion-stores.XXXXXX)"
SERVERS="" # tests/servers.sh's directory, once started
HOST_PIDS=()
MONITOR_PID="" # redis-cli monitor, during redis_probe

stop_hosts() {
    local p
    for p in "${HOST_PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    HOST_PIDS=()
}
cleanup() {
    if [[ -n "$MONITOR_PID" ]]; then kill "$MONITOR_PID" 2>/dev/null || true; fi
    stop_hosts
    if [[ -n "$SERVERS" ]]; then
        cp "$SERVERS"/redis.log "$SERVERS"/pg.log "$OUT/" 2>/dev/null || true
        bash tests/servers.sh stop "$SERVERS" >/dev/null 2>&1 || true
        rm -rf "$SERVERS"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- machine -------------------------------------------------------------------
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
WRK_VERSION="$("$WRK" -v 2>&1 | head -1 | sed 's/ \[.*//' || true)"
REDIS_VERSION=""
PG_VERSION=""

# --- servers ---------------------------------------------------------------------
export BASTION_VAR_waitlist_joins_per_minute=1000000 # the rate limit never answers 429
PG_PSQL=""
if [[ " $CASES " == *" redis-pg"* ]]; then
    # its own temporary directory: servers.sh makes it traversable for the postgres user
    SERVERS="$(mktemp -d -t bastion-stores-servers.XXXXXX)"
    say "Redis + PostgreSQL on loopback (tests/servers.sh start)"
    bash tests/servers.sh start "$SERVERS" >"$OUT/servers.txt" 2>&1 ||
        { cat "$OUT/servers.txt" >&2; die "tests/servers.sh start failed"; }
    set -a
    # shellcheck disable=SC1091
    source "$SERVERS/servers.env"
    set +a
    PG_PSQL="$BASTION_TEST_PG_BIN/psql"
    REDIS_VERSION="$("$BASTION_TEST_REDIS_SERVER" --version | grep -o 'v=[^ ]*' | cut -d= -f2)"
    PG_VERSION="$("$BASTION_TEST_PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) //')"
fi

# A case's runtime config: Redis with its own key prefix, a fresh PG database.
remote_config() { # remote_config CASE → path of its runtime.toml
    local db="bench_${1//-/_}"
    "$PG_PSQL" -X -q -h 127.0.0.1 -p "$BASTION_TEST_PG_PORT" -U bastion -d postgres \
        -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >>"$OUT/psql.txt" 2>&1 ||
        { cat "$OUT/psql.txt" >&2; die "CREATE DATABASE $db failed"; }
    local path="$TMP/$1.runtime.toml"
    cat >"$path" <<EOF
[kv.default]
backend = "redis"
url = "$BASTION_TEST_REDIS_URL"
key_prefix = "bench-$1:"

[sql.default]
backend = "postgres"
url = "postgresql://bastion@127.0.0.1:$BASTION_TEST_PG_PORT/$db"
EOF
    cp "$path" "$OUT/$1.runtime.toml"
    echo "$path"
}

# start_host CASE NAME [RUNTIME_CONFIG] → sets HOST_URL; logs to $OUT/CASE-NAME.log
start_host() {
    local c="$1" name="$2" rc_file="${3:-}"
    local state="$TMP/$c-$name-state" port
    port="$(free_port)"
    local args=(--state "$state" --manifest "$MANIFEST")
    [[ -n "$rc_file" ]] && args+=(--runtime-config "$rc_file")
    # No .env: --env-file names a file that does not exist; --dev makes throw-away secrets.
    "$BIN" serve --listen "127.0.0.1:$port" "${args[@]}" --dev --env-file "$TMP/no.env" \
        >"$OUT/$c-$name.log" 2>&1 &
    local pid=$!
    HOST_PIDS+=("$pid")
    echo "$c $name: build/bastion serve --listen 127.0.0.1:PORT --state TMP/$c-$name-state" \
        "--manifest build/manifest.json${rc_file:+ --runtime-config $c.runtime.toml} --dev" \
        "--env-file TMP/no.env" >>"$OUT/commands.txt"
    local code="" i
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { cat "$OUT/$c-$name.log" >&2; die "$c $name exited during start-up"; }
        code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)"
        [[ "$code" == 200 ]] && break
        sleep 0.1
    done
    [[ "$code" == 200 ]] || { tail -20 "$OUT/$c-$name.log" >&2; die "$c $name: /health not 200 within 15 s (last: ${code:-none})"; }
    curl -s "http://127.0.0.1:$port/health" >"$OUT/$c-$name.health.json"
    HOST_URL="http://127.0.0.1:$port"
}

migrate() { # migrate CASE [RUNTIME_CONFIG]: the state dir of the case's host a
    local c="$1" rc_file="${2:-}"
    local args=(--state "$TMP/$c-a-state" --manifest "$MANIFEST")
    [[ -n "$rc_file" ]] && args+=(--runtime-config "$rc_file")
    "$BIN" migrate "${args[@]}" >"$OUT/$c-migrate.log" 2>&1 ||
        { cat "$OUT/$c-migrate.log" >&2; die "$c: bastion migrate failed"; }
    echo "$c: build/bastion migrate --state TMP/$c-a-state --manifest build/manifest.json${rc_file:+ --runtime-config $c.runtime.toml}" \
        >>"$OUT/commands.txt"
}

# counters CASE PHASE: Redis commands and PostgreSQL transactions so far, so the
# report can give round trips per request. A PostgreSQL backend that stays
# connected publishes its counts only after 10 s idle (PGSTAT_IDLE_INTERVAL;
# measured here: nothing new after 8 s, everything after 12 s), hence the pause.
counters() {
    local c="$1" phase="$2" db="bench_${1//-/_}"
    [[ "$c" == sqlite ]] && return 0
    sleep 12
    local redis pg
    redis="$(redis-cli -h 127.0.0.1 -p "$BASTION_TEST_REDIS_PORT" info commandstats |
        sed -n 's/^cmdstat_\([a-z|_-]*\):calls=\([0-9]*\),.*/redis_\1=\2/p' | tr -d '\r' | tr '|\n' '_ ')"
    pg="$("$PG_PSQL" -X -At -F ' ' -h 127.0.0.1 -p "$BASTION_TEST_PG_PORT" -U bastion -d postgres \
        -c "SELECT 'pg_xact=' || (xact_commit + xact_rollback), 'pg_rollback=' || xact_rollback,
                   'pg_inserted=' || tup_inserted
            FROM pg_stat_database WHERE datname = '$db'")"
    echo "COUNTERS case=$c phase=$phase $pg $redis" >>"$OUT/counters.txt"
}

GET_PATH=/api/waitlist/bench-product/count
POST_PATH=/api/waitlist
PROBE_N=20
# redis_probe CASE URL: Redis round trips per request, exactly. INFO commandstats
# also counts the commands a script (EVAL) runs inside Redis; MONITOR tells them
# apart ("[0 lua]"). $PROBE_N GETs then $PROBE_N POSTs, one at a time, through
# curl, between ECHO markers, with MONITOR on; after the measured runs.
redis_probe() {
    local c="$1" url="$2" mon="$OUT/$1-monitor.txt" i
    redis-cli -h 127.0.0.1 -p "$BASTION_TEST_REDIS_PORT" monitor >"$mon" &
    MONITOR_PID=$!
    sleep 0.5
    rcli() { redis-cli -h 127.0.0.1 -p "$BASTION_TEST_REDIS_PORT" "$@" >/dev/null; }
    rcli echo probe-get
    for ((i = 1; i <= PROBE_N; i++)); do curl -s -o /dev/null "$url$GET_PATH"; done
    rcli echo probe-post
    for ((i = 1; i <= PROBE_N; i++)); do
        curl -s -o /dev/null -X POST -H 'content-type: application/json' \
            -d "{\"email\":\"$c.probe.$i@example.com\",\"product_id\":\"bench-product\"}" "$url$POST_PATH"
    done
    rcli echo probe-end
    sleep 0.5
    kill "$MONITOR_PID" 2>/dev/null || true
    wait "$MONITOR_PID" 2>/dev/null || true
    MONITOR_PID=""
    echo "PROBE case=$c n=$PROBE_N file=$c-monitor.txt" >>"$OUT/probe.txt"
}
# the machine's "cpu" line of /proc/stat: busy and total jiffies
cpu_jiffies() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# wrk_all CASE REQ RUN URL... : one wrk per URL, all at once; raw output per host
wrk_all() {
    local c="$1" req="$2" run="$3"
    shift 3
    local busy0 total0 busy1 total1
    read -r busy0 total0 <<<"$(cpu_jiffies)"
    local pids=() names=(a b c d) i=0 url
    for url in "$@"; do
        local name="${names[$i]}" raw="$OUT/$c-$req-$run-${names[$i]}.txt" cmd
        if [[ "$req" == get ]]; then
            cmd=("$WRK" -t1 -c"$CONNS" -d"$DURATION" --latency "$url$GET_PATH")
        else
            cmd=("$WRK" -t1 -c"$CONNS" -d"$DURATION" --latency -s bench/post.lua "$url$POST_PATH"
                 -- "$c.r$run.$name")
        fi
        [[ "$run" == 1 ]] && echo "$c $req host $name: ${cmd[*]}" | sed "s|$url|http://127.0.0.1:PORT|" \
            >>"$OUT/commands.txt"
        "${cmd[@]}" >"$raw" 2>&1 &
        pids+=($!)
        i=$((i + 1))
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    read -r busy1 total1 <<<"$(cpu_jiffies)"
    [[ $rc == 0 ]] || die "$c $req run $run: wrk failed (see $OUT/$c-$req-$run-*.txt)"
    for ((i = 0; i < $#; i++)); do
        echo "RUN case=$c req=$req run=$run host=${names[$i]} file=$c-$req-$run-${names[$i]}.txt" \
            "cpu_busy=$((busy1 - busy0)) cpu_total=$((total1 - total0))" >>"$OUT/runs.txt"
    done
}

run_case() { # run_case CASE
    local c="$1" rc_file="" urls=()
    case "$c" in
        sqlite)
            migrate "$c"
            start_host "$c" a
            urls=("$HOST_URL")
            ;;
        redis-pg | redis-pg-2)
            rc_file="$(remote_config "$c")"
            migrate "$c" "$rc_file"
            start_host "$c" a "$rc_file"
            urls=("$HOST_URL")
            if [[ "$c" == redis-pg-2 ]]; then
                start_host "$c" b "$rc_file"
                urls+=("$HOST_URL")
            fi
            ;;
    esac
    local url wpids=() p
    for url in "${urls[@]}"; do
        "$WRK" -t1 -c"$CONNS" -d"$WARMUP" "$url$GET_PATH" >/dev/null 2>&1 &
        wpids+=($!)
    done
    for p in "${wpids[@]}"; do wait "$p"; done
    # GET first, on the case's fresh (empty) database: every case counts the same 0 rows.
    local before
    before="$(curl -s "${urls[0]}$GET_PATH")"
    counters "$c" start
    local r
    for r in $(seq 1 "$RUNS"); do
        say "$c: GET run $r/$RUNS"
        wrk_all "$c" get "$r" "${urls[@]}"
    done
    counters "$c" get
    for r in $(seq 1 "$RUNS"); do
        say "$c: POST run $r/$RUNS"
        wrk_all "$c" post "$r" "${urls[@]}"
    done
    counters "$c" post
    local after
    after="$(curl -s "${urls[0]}$GET_PATH")"
    # rows the POST runs left: at least the 2xx wrk counted (all joins, none "already_joined")
    echo "ROWS case=$c before=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["count"])' "$before")" \
        "after=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["count"])' "$after")" >>"$OUT/rows.txt"
    [[ "$c" == sqlite ]] || redis_probe "$c" "${urls[0]}"
    stop_hosts
}

for c in $CASES; do
    say "case $c"
    run_case "$c"
done

LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)"
END="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
for v in CPU CORES KERNEL HYPER PVM START END LOAD0 LOAD1 COMMIT DIRTY RUNS DURATION CONNS CASES \
    WARMUP WRK_VERSION REDIS_VERSION PG_VERSION; do
    printf '%s=%q\n' "$v" "${!v}"
done >"$OUT/env"
export CPU CORES KERNEL HYPER PVM START END LOAD0 LOAD1 COMMIT DIRTY RUNS DURATION CONNS CASES \
    WARMUP WRK_VERSION REDIS_VERSION PG_VERSION
python3 bench/stores_report.py "$OUT" bench/RESULTS.md
say "wrote the stores section of bench/RESULTS.md (raw output in build/bench/stores/)"
