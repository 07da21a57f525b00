#!/usr/bin/env bash
# The test run's own Redis and PostgreSQL, on loopback, from Debian's packages.
#   tests/servers.sh start DIR   start both, data under DIR; writes DIR/servers.env
#   tests/servers.sh stop DIR    stop both (only what `start DIR` started); idempotent
# ./build.sh test starts them in a fresh temporary directory before the first
# test layer, exports DIR/servers.env into every layer and stops them at exit.
# DIR/servers.env has:
#   BASTION_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
#   BASTION_TEST_REDIS_PORT    BASTION_TEST_REDIS_PID    BASTION_TEST_REDIS_SERVER (binary)
#   BASTION_TEST_PG_URL        postgresql://bastion@127.0.0.1:PORT/bastion
#   BASTION_TEST_PG_PORT       BASTION_TEST_PG_DATA      BASTION_TEST_PG_BIN (initdb, pg_ctl, psql)
#   BASTION_TEST_PG_OSUSER     the system user that owns the cluster (runs pg_ctl)
#   BASTION_TEST_SERVERS_DIR   DIR
# so a test can stop and restart a server itself ("backend down"): Redis with the
# same flags as below and --pidfile DIR/redis.pid, PostgreSQL with
# `pg_ctl -D $BASTION_TEST_PG_DATA -w start` as BASTION_TEST_PG_OSUSER (its
# settings, port included, live in the data directory).
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` system user (from the Debian package) and runs through runuser.
set -euo pipefail

WAIT_S=10 # bound on Redis answering PING
TRIES=5   # ports tried when the one picked was taken in the meantime

die() {
    echo "servers.sh: $*" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# the newest /usr/lib/postgresql/*/bin (never /usr/local/bin's pg_ctl)
pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] ||
        die "no PostgreSQL under /usr/lib/postgresql/*/bin (Debian package postgresql)"
    echo "$d"
}

pg_osuser() {
    if [[ "$(id -u)" == 0 ]]; then echo postgres; else id -un; fi
}

as_pg() { # as_pg CMD...: as the cluster's owner, from a directory it can read
    if [[ "$(id -u)" == 0 ]]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

log_tail() {
    echo "--- last lines of $1:" >&2
    tail -n 30 "$1" >&2 2>/dev/null || true
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# --- Redis ---------------------------------------------------------------
start_redis() {
    local server
    server="$(command -v redis-server)" || die "redis-server not on PATH (Debian package redis-server)"
    command -v redis-cli >/dev/null || die "redis-cli not on PATH (Debian package redis-tools)"
    mkdir -p "$DIR/redis"
    local try port
    for ((try = 1; try <= TRIES; try++)); do
        port="$(free_port)"
        rm -f "$DIR/redis.pid"
        : >"$DIR/redis.log"
        "$server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$DIR/redis" --daemonize yes --pidfile "$DIR/redis.pid" \
            --logfile "$DIR/redis.log" ||
            { log_tail "$DIR/redis.log"; die "redis-server did not start"; }
        local deadline=$((SECONDS + WAIT_S)) pid="" answer=""
        while ((SECONDS < deadline)); do
            pid="$(cat "$DIR/redis.pid" 2>/dev/null || true)"
            grep -q 'Address already in use' "$DIR/redis.log" && break
            answer="$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)"
            if [[ "$answer" == PONG && -n "$pid" ]]; then
                # PONG from our redis-server, not from whoever else took the port
                local served
                served="$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
                    sed -n 's/^process_id:\([0-9]*\).*/\1/p')"
                [[ "$served" == "$pid" ]] && break
            fi
            sleep 0.1
        done
        if grep -q 'Address already in use' "$DIR/redis.log"; then
            alive "$pid" && kill "$pid" 2>/dev/null || true
            continue # the port was taken after we picked it: another one
        fi
        if [[ "$answer" != PONG ]]; then
            log_tail "$DIR/redis.log"
            die "Redis on 127.0.0.1:$port did not answer PING within ${WAIT_S}s"
        fi
        REDIS_PORT="$port"
        REDIS_PID="$pid"
        REDIS_SERVER="$server"
        return 0
    done
    log_tail "$DIR/redis.log"
    die "Redis: no free port after $TRIES tries"
}

stop_redis() {
    local pid
    pid="$(cat "$DIR/redis.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    alive "$pid" || return 0
    # only a redis-server (a recycled pid is someone else's process)
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server || return 0
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do # 10 s, then it is killed
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# --- PostgreSQL ----------------------------------------------------------
start_pg() {
    local bin owner
    bin="$(pg_bin)"
    owner="$(pg_osuser)"
    # DIR is traversable so the cluster's owner reaches its own folders in it
    chmod a+x "$DIR"
    mkdir -p "$DIR/pg" "$DIR/pg-sock"
    chmod 700 "$DIR/pg"
    : >"$DIR/pg.log"
    chown "$owner" "$DIR/pg" "$DIR/pg-sock" "$DIR/pg.log"
    as_pg "$bin/initdb" -D "$DIR/pg" -A trust -U bastion --no-sync -E UTF8 --locale=C \
        >"$DIR/initdb.log" 2>&1 || { log_tail "$DIR/initdb.log"; die "initdb failed"; }
    cat >>"$DIR/pg/postgresql.conf" <<EOF

# tests/servers.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/pg-sock'
fsync = off
max_connections = 200
shared_buffers = 64MB
include = 'port.conf'
EOF
    local try port
    for ((try = 1; try <= TRIES; try++)); do
        port="$(free_port)"
        as_pg sh -c 'echo "port = $1" >"$2"' sh "$port" "$DIR/pg/port.conf"
        : >"$DIR/pg.log"
        if as_pg "$bin/pg_ctl" -D "$DIR/pg" -w -t 30 -l "$DIR/pg.log" start >"$DIR/pg_ctl.log" 2>&1; then
            PG_PORT="$port"
            PG_BIN="$bin"
            PG_OSUSER="$owner"
            break
        fi
        # the port was taken after we picked it: another one; else give up
        grep -q 'Address already in use' "$DIR/pg.log" ||
            { log_tail "$DIR/pg_ctl.log"; log_tail "$DIR/pg.log"; die "PostgreSQL did not start"; }
    done
    [[ -n "${PG_PORT:-}" ]] || { log_tail "$DIR/pg.log"; die "PostgreSQL: no free port after $TRIES tries"; }
    "$bin/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U bastion -d postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE DATABASE bastion' >>"$DIR/pg_ctl.log" 2>&1 ||
        { log_tail "$DIR/pg_ctl.log"; die "CREATE DATABASE bastion failed"; }
}

stop_pg() {
    [[ -f "$DIR/pg/postmaster.pid" ]] || return 0
    local bin
    bin="$( (set -a && . "$DIR/servers.env" && echo "${BASTION_TEST_PG_BIN:-}") 2>/dev/null || true)"
    [[ -x "${bin:-}/pg_ctl" ]] || bin="$(pg_bin)"
    as_pg "$bin/pg_ctl" -D "$DIR/pg" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

# --- commands ------------------------------------------------------------
[[ $# == 2 ]] || die "usage: $0 start|stop DIR"
cmd="$1"
[[ "$2" =~ [[:space:]] ]] && die "DIR must not contain spaces (servers.env is sourced): $2"
if [[ "$cmd" == stop && ! -d "$2" ]]; then
    exit 0 # nothing was started there
fi
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"

case "$cmd" in
    start)
        # a directory used before: stop what ran there, then start afresh
        stop_redis
        stop_pg
        rm -rf "$DIR/redis" "$DIR/pg" "$DIR/pg-sock" "$DIR/servers.env" "$DIR/redis.pid"
        STARTED=0 # a failed start leaves nothing running
        trap '[[ $STARTED == 1 ]] || { stop_redis; stop_pg; }' EXIT
        start_redis
        start_pg
        cat >"$DIR/servers.env.tmp" <<EOF
BASTION_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
BASTION_TEST_REDIS_PORT=$REDIS_PORT
BASTION_TEST_REDIS_PID=$REDIS_PID
BASTION_TEST_REDIS_SERVER=$REDIS_SERVER
BASTION_TEST_PG_URL=postgresql://bastion@127.0.0.1:$PG_PORT/bastion
BASTION_TEST_PG_PORT=$PG_PORT
BASTION_TEST_PG_DATA=$DIR/pg
BASTION_TEST_PG_BIN=$PG_BIN
BASTION_TEST_PG_OSUSER=$PG_OSUSER
BASTION_TEST_SERVERS_DIR=$DIR
EOF
        mv "$DIR/servers.env.tmp" "$DIR/servers.env"
        STARTED=1
        echo "Redis on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID), PostgreSQL $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$PG_PORT; $DIR/servers.env"
        ;;
    stop)
        stop_redis
        stop_pg
        ;;
    *) die "usage: $0 start|stop DIR" ;;
esac
