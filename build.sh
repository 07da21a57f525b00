#!/usr/bin/env bash
# Bastion's one entry point.
#   ./build.sh [build]   compile everything (incremental)
#   ./build.sh deps      install/fetch what the build needs
#   ./build.sh test      deps + build + every test; last line "N passed, N failed, N skipped"
#   ./build.sh test PATH...  the same set-up, then only the named pytest files
#   ./build.sh serve     deps + build + migrate + serve on 127.0.0.1:8080 (--dev)
#   ./build.sh bench     run the benchmarks, write bench/RESULTS.md
#   ./build.sh wasmtime-invoke FUNCTION --method M --path P [--body B]
#                        run one function once under Wasmtime (tests/wasmtime/host.py)
#   ./build.sh native    the native-handler build (build/native/, serve --native): a
#                        benchmark baseline, not a production mode
#   ./build.sh format    rewrite the C files to .clang-format
#   ./build.sh clean     remove build/ (keeps .deps/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$ROOT/build"
DEPS="$ROOT/.deps"
cd "$ROOT"

# --- toolchain -------------------------------------------------------------
CC="${CC:-cc}"
if [[ -n "${WASI_SDK_PATH:-}" ]]; then
    WASM_CC="$WASI_SDK_PATH/bin/clang"
    WASM_AR="$WASI_SDK_PATH/bin/llvm-ar"
    WASM_SYSROOT="$WASI_SDK_PATH/share/wasi-sysroot"
else
    WASM_CC=clang-19
    WASM_AR=llvm-ar-19
    WASM_SYSROOT=/usr
fi
CFLAGS_COMMON=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror)
WASM_CFLAGS=(--target=wasm32-wasi "--sysroot=$WASM_SYSROOT" -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
             -I"$ROOT/shared/include" -I"$BUILD/wasm/include" -I"$DEPS/src/bearssl/inc")
WASM_LDFLAGS=(--target=wasm32-wasi "--sysroot=$WASM_SYSROOT" -mexec-model=reactor
              -Wl,--stack-first -Wl,-z,stack-size=262144 -Wl,--strip-debug
              -Wl,--initial-memory=1048576) # 1 MiB: a typical request never grows memory (bench/RESULTS.md §5)
# 1 = guard pages, 0 = explicit bounds checks; see bench/RESULTS.md for the choice.
MEMCHECK_SIGNAL="${BASTION_MEMCHECK_SIGNAL:-1}"

APT_PKGS=(clang-19 lld-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32 libclang-rt-19-dev wabt
          libcjson-dev libbearssl-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev
          libhiredis-dev libpq-dev libcmocka-dev clang-format-19 python3 python3-pytest python3-venv wrk dpkg-dev pkg-config
          curl redis-server postgresql # the last two: the test run's own servers (tests/servers.sh)
          openssl) # the outbound TLS tests' self-signed certificates (tests/host/test_http_out.py)

BENCH_PKGS=(gnuplot-nox) # ./build.sh bench only

# --- progress --------------------------------------------------------------
STEP=0
STEPS=0
COUNTING=0
step() { # step "title" command...
    if [[ $COUNTING == 1 ]]; then # the first pass over a plan only counts its steps
        STEPS=$((STEPS + 1))
        return 0
    fi
    local title="$1"; shift
    STEP=$((STEP + 1))
    local t0; t0=$(date +%s%N)
    printf '[%d/%d] %s … ' "$STEP" "$STEPS" "$title"
    local log="$BUILD/logs/step-$STEP.log"
    mkdir -p "$BUILD/logs"
    # A subshell outside any condition, so `set -e` holds inside the step.
    local rc=0
    set +e
    (set -e; "$@") >"$log" 2>&1
    rc=$?
    set -e
    if [[ $rc == 0 ]]; then
        printf 'done in %s\n' "$(elapsed "$t0")"
    else
        printf 'FAILED after %s\n' "$(elapsed "$t0")"
        cat "$log" >&2
        exit 1
    fi
}

elapsed() { # elapsed T0_NS → "3.2s"
    local ds=$(( ($(date +%s%N) - $1) / 100000000 ))
    printf '%d.%ds' $((ds / 10)) $((ds % 10))
}

# newer OUT IN...: true when OUT is missing or older than any IN
stale() {
    local out="$1"; shift
    [[ -e "$out" ]] || return 0
    local f
    for f in "$@"; do [[ "$f" -nt "$out" ]] && return 0; done
    return 1
}

# --- deps ------------------------------------------------------------------
missing_pkgs() { # missing_pkgs PKG...
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    echo "${missing[@]:-}"
}

install_pkgs() { # install_pkgs PKG...
    local missing; missing="$(missing_pkgs "$@")"
    [[ -z "$missing" ]] && return 0
    if [[ "$(id -u)" != 0 ]]; then
        echo "missing Debian packages; run as root:" >&2
        echo "  sudo apt-get install -y $missing" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
}

# A deb-src twin of each deb entry in the system's own apt sources, in a
# private apt tree under .deps/apt (/etc/apt is never modified).
write_src_sources() {
    local out="$1"
    : >"$out"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -e "$f" ]] || continue
        sed -E 's/^Types:.*$/Types: deb-src/' "$f" >>"$out"
        echo >>"$out"
    done
    if [[ -e /etc/apt/sources.list ]]; then
        grep -E '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list |
            sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' >"${out%.sources}.list" || true
    fi
}

fetch_sources() {
    [[ -f "$DEPS/src/cjson/cJSON.c" && -f "$DEPS/src/bearssl/inc/bearssl.h" ]] && return 0
    local apt="$DEPS/apt"
    rm -rf "$apt" "$DEPS/src"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$DEPS/src"
    write_src_sources "$apt/sources.list.d/deb-src.sources"
    local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
                -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
    apt-get "${opts[@]}" update
    (cd "$DEPS/src" && apt-get "${opts[@]}" source --download-only cjson bearssl)
    # dpkg-source applies Debian's patches (security fixes included)
    (cd "$DEPS/src" && dpkg-source -x cjson_*.dsc cjson && dpkg-source -x bearssl_*.dsc bearssl)
}

# The tests' PyPI tools (tests/tools/requirements.txt, exact versions:
# wasmtime-py carries the Wasmtime engine) in a virtual environment under
# .deps/python that also sees Debian's python3-pytest; every pytest layer
# runs on its interpreter. Skipped when the installed set already matches.
PY_ENV="$DEPS/python"
PYTHON="$PY_ENV/bin/python"
py_tools_current() {
    [[ -x "$PYTHON" ]] && cmp -s tests/tools/requirements.txt "$PY_ENV/requirements.txt"
}
py_tools() {
    if py_tools_current; then
        echo "PyPI tools already installed in $PY_ENV"
        return 0
    fi
    rm -rf "$PY_ENV"
    /usr/bin/python3 -m venv --system-site-packages "$PY_ENV"
    "$PYTHON" -m pip install --disable-pip-version-check -q -r tests/tools/requirements.txt
    "$PYTHON" -c 'import wasmtime, wasmtime.component, pytest'
    cp tests/tools/requirements.txt "$PY_ENV/requirements.txt"
}

deps() {
    step "Debian packages" install_pkgs "${APT_PKGS[@]}"
    step "cJSON + BearSSL Debian source packages" fetch_sources
    step "PyPI test tools (tests/tools/requirements.txt) → .deps/python" py_tools
}

# --- build -----------------------------------------------------------------
build_third_party() {
    local out="$BUILD/wasm/lib"
    mkdir -p "$out" "$BUILD/wasm/include/cjson" "$BUILD/wasm/obj/cjson" "$BUILD/wasm/obj/bearssl"
    cp "$DEPS/src/cjson/cJSON.h" "$BUILD/wasm/include/cjson/cJSON.h"
    if stale "$out/libcjson.a" "$DEPS/src/cjson/cJSON.c"; then
        "$WASM_CC" --target=wasm32-wasi "--sysroot=$WASM_SYSROOT" -O2 -c "$DEPS/src/cjson/cJSON.c" \
            -o "$BUILD/wasm/obj/cjson/cJSON.o"
        rm -f "$out/libcjson.a"
        "$WASM_AR" rcs "$out/libcjson.a" "$BUILD/wasm/obj/cjson/cJSON.o"
    fi
    if [[ ! -f "$out/libbearssl.a" ]]; then
        local f objs=()
        # the TLS engine and OS entropy/time sources are not needed in modules
        while IFS= read -r f; do
            local o="$BUILD/wasm/obj/bearssl/$(echo "${f#$DEPS/src/bearssl/src/}" | tr / _).o"
            "$WASM_CC" --target=wasm32-wasi "--sysroot=$WASM_SYSROOT" -O2 \
                -I"$DEPS/src/bearssl/inc" -I"$DEPS/src/bearssl/src" -c "$f" -o "$o" &
            objs+=("$o")
            (( ${#objs[@]} % 8 == 0 )) && wait
        done < <(find "$DEPS/src/bearssl/src" -name '*.c' \
                     -not -path '*/ssl/*' -not -path '*/x509/*' -not -name 'sysrng.c' | sort)
        wait
        "$WASM_AR" rcs "$out/libbearssl.a" "${objs[@]}"
    fi
}

CORE_SRCS=(shared/src/*.c)
CORE_HDRS=(shared/include/bastion/*.h shared/src/*.h)

build_core() {
    mkdir -p "$BUILD/wasm/obj/core"
    local f objs=()
    for f in "${CORE_SRCS[@]}"; do
        local o="$BUILD/wasm/obj/core/$(basename "${f%.c}").o"
        if stale "$o" "$f" "${CORE_HDRS[@]}" build.sh; then
            "$WASM_CC" "${WASM_CFLAGS[@]}" -c "$f" -o "$o"
        fi
        objs+=("$o")
    done
    if stale "$BUILD/wasm/lib/libbastion.a" "${objs[@]}"; then
        rm -f "$BUILD/wasm/lib/libbastion.a"
        "$WASM_AR" rcs "$BUILD/wasm/lib/libbastion.a" "${objs[@]}"
    fi
}

# build_module NAME SRC_DIR OUT_DIR: .c → .wasm → wasm2c → .so
build_module() {
    local name="$1" dir="$2" out="$3"
    local cname="${name//-/_}"
    local wasm="$out/$name.wasm" so="$out/$name.so" gen="$BUILD/gen/$name"
    mkdir -p "$out" "$gen"
    local srcs=("$dir"/*.c)
    if stale "$wasm" "${srcs[@]}" "$BUILD/wasm/lib/libbastion.a" "${CORE_HDRS[@]}"; then
        "$WASM_CC" "${WASM_CFLAGS[@]}" "${WASM_LDFLAGS[@]}" "${srcs[@]}" \
            -L"$BUILD/wasm/lib" -Wl,--whole-archive -lbastion -Wl,--no-whole-archive -lcjson -lbearssl -o "$wasm.tmp"
        mv "$wasm.tmp" "$wasm"
    fi
    if stale "$so" "$wasm" host/rt/wasm-rt.h host/rt/module_desc.h host/tools/glue.py; then
        wasm2c "$wasm" -n "$cname" -o "$gen/$cname.c"
        python3 host/tools/glue.py "$gen/$cname.h" "$name" >"$gen/glue.c"
        # Generated code: warnings are wasm2c's, not ours.
        "$CC" -std=c11 -D_GNU_SOURCE -O2 -fPIC -shared -w -fvisibility=hidden -Wl,-z,now \
            -DWASM_RT_MEMCHECK_SIGNAL_HANDLER="$MEMCHECK_SIGNAL" \
            -I"$ROOT/host/rt" -I"$gen" "$gen/$cname.c" "$gen/glue.c" -o "$so.tmp"
        mv "$so.tmp" "$so"
    fi
}

build_functions() {
    local d pids=()
    for d in functions/*/; do
        build_module "$(basename "$d")" "$d" "$BUILD/functions" &
        pids+=($!)
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

# host/*.c and one level of folders (imports/, instance/, stores/, rt/, backup/); an object
# is named after its path, so two folders may hold files of the same name.
HOST_SRCS=(host/*.c host/*/*.c)
HOST_HDRS=(host/*.h host/*/*.h)
# libbearssl-dev (APT_PKGS): SHA-256 of a backup's members (host/backup/ustar.c)
HOST_LIBS=(-lsqlite3 -lpq -lhiredis -lmicrohttpd -lcurl -lcjson -lbearssl -ldl -lpthread -lm)

build_host() {
    local out="${1:-$BUILD/bastion}" objdir="${2:-$BUILD/host}"; shift 2 || true
    local extra=("$@")
    mkdir -p "$objdir"
    local f objs=()
    for f in "${HOST_SRCS[@]}"; do
        local o="$objdir/$(tr / _ <<<"${f#host/}" | sed 's/\.c$//').o"
        if stale "$o" "$f" "${HOST_HDRS[@]}" build.sh; then
            "$CC" "${CFLAGS_COMMON[@]}" -O2 -g "${extra[@]}" -Ihost -Ihost/rt -Ihost/stores -I/usr/include/postgresql -Ishared/include -Ishared/src -c "$f" -o "$o"
        fi
        objs+=("$o")
    done
    if stale "$out" "${objs[@]}"; then
        "$CC" "${extra[@]}" -rdynamic -o "$out" "${objs[@]}" "${HOST_LIBS[@]}"
    fi
}

build_manifest() {
    python3 host/tools/manifest.py "${MANIFEST:-manifest.toml}" "$ROOT" "$BUILD" "$BUILD/manifest.json"
}

# Host-test fixture modules and their manifests, under build/test/.
build_fixtures() {
    local d pids=()
    for d in tests/host/fixtures/*/; do
        build_module "$(basename "$d")" "$d" "$BUILD/test/functions" &
        pids+=($!)
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [[ $rc == 0 ]] || return 1
    python3 host/tools/manifest.py tests/host/manifest.toml "$ROOT" "$BUILD/test" "$BUILD/test/manifest.json"
    # the host again under AddressSanitizer + UBSan, for the host test layer
    build_host "$BUILD/asan/bastion" "$BUILD/asan" -fsanitize=address,undefined \
        -fno-sanitize-recover=undefined -fno-omit-frame-pointer
    python3 host/tools/manifest.py tests/host/badimport.toml "$ROOT" "$BUILD/test" "$BUILD/test/badimport.json"
}

# The native-handler build (host/native/native.c, `serve --native`), the
# benchmark's baseline: each function with the core and cJSON compiled
# natively into build/native/<name>.so. The imports resolve to the host's
# native layer at dlopen; the map keeps every other symbol local.
NATIVE_CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -fPIC
               -I"$ROOT/shared/include" -I"$BUILD/wasm/include" -I"$DEPS/src/bearssl/inc")
build_native() {
    local obj="$BUILD/native/obj" f o objs=() pids=()
    mkdir -p "$obj"
    for f in "${CORE_SRCS[@]}" "$DEPS/src/cjson/cJSON.c"; do
        o="$obj/$(basename "${f%.c}").o"
        objs+=("$o")
        stale "$o" "$f" "${CORE_HDRS[@]}" build.sh || continue
        local flags=("${NATIVE_CFLAGS[@]}")
        [[ "$f" == */cJSON.c ]] && flags=(-std=c11 -O2 -fPIC) # third-party: its warnings are not ours
        "$CC" "${flags[@]}" -c "$f" -o "$o" &
        pids+=($!)
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [[ $rc == 0 ]] || return 1
    pids=()
    for f in functions/*/; do
        local name so srcs
        name="$(basename "$f")"
        so="$BUILD/native/$name.so"
        srcs=("$f"*.c)
        stale "$so" "${srcs[@]}" "${objs[@]}" host/native/native.map || continue
        "$CC" "${NATIVE_CFLAGS[@]}" -shared -Wl,-z,now -Wl,-z,relro \
            -Wl,--version-script=host/native/native.map \
            -Wl,--wrap=clock_gettime -Wl,--wrap=getentropy \
            "${srcs[@]}" "${objs[@]}" -lbearssl -lm -o "$so" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

build() {
    mkdir -p "$BUILD"
    step "manifest.toml → build/manifest.json" build_manifest
    step "cJSON + BearSSL for wasm32-wasi (cached)" build_third_party
    step "core (shared/) for wasm32-wasi" build_core
    step "functions → .wasm → wasm2c → .so" build_functions
    step "host → build/bastion" build_host "$BUILD/bastion" "$BUILD/host"
}

# --- commands ----------------------------------------------------------------
# Each command's steps are a plan; it runs twice, once to count the steps for
# the "[n/N]" progress and once for real, so no total is kept by hand.
migrate_state() {
    "$BUILD/bastion" migrate --state "$ROOT/.bastion" --manifest "$BUILD/manifest.json"
}

# The test run's own Redis and PostgreSQL (tests/servers.sh), on loopback in a
# fresh temporary directory, for the whole run; stopped at exit, pass or fail.
TEST_SERVERS=""
test_servers() {
    if [[ $COUNTING == 0 ]]; then
        TEST_SERVERS="$(mktemp -d -t bastion-servers.XXXXXX)"
        trap stop_test_servers EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    step "Redis + PostgreSQL on loopback (tests/servers.sh)" bash tests/servers.sh start "$TEST_SERVERS"
}
stop_test_servers() {
    [[ -n "$TEST_SERVERS" ]] || return 0
    bash tests/servers.sh stop "$TEST_SERVERS" >/dev/null 2>&1 || true
    rm -rf "$TEST_SERVERS" 2>/dev/null || true
}

# The tests' npm tools (tests/tools/package.json, exact versions: Stripe's own
# library signs the webhook tests' events) in .deps/npm-tools. No lock file
# is kept (it would name the registry); skipped when every pinned version is
# already there.
NPM_TOOLS="$DEPS/npm-tools"
npm_tools_current() {
    node -e '
        const fs = require("fs"), path = require("path");
        const [pkg, dir] = process.argv.slice(1);
        for (const [name, want] of Object.entries(JSON.parse(fs.readFileSync(pkg)).dependencies)) {
            const f = path.join(dir, "node_modules", name, "package.json");
            if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f)).version !== want) process.exit(1);
        }' tests/tools/package.json "$NPM_TOOLS"
}
npm_tools() {
    if npm_tools_current; then
        echo "npm tools already installed in $NPM_TOOLS"
        return 0
    fi
    mkdir -p "$NPM_TOOLS"
    cp tests/tools/package.json "$NPM_TOOLS/package.json"
    npm install --prefix "$NPM_TOOLS" --no-package-lock --no-audit --no-fund
    npm_tools_current
}

# Each function (and test fixture) as a component for Wasmtime: jco embeds
# wit/bastion.wit and adapts WASI preview1 (tests/component/check.mjs --out).
wasmtime_components() {
    local out="$BUILD/wasmtime" f name todo=()
    mkdir -p "$out"
    for f in "$BUILD"/functions/*.wasm "$BUILD"/test/functions/*.wasm; do
        [[ -e "$f" ]] || continue
        name="$(basename "$f" .wasm)"
        [[ "$name" == badimport ]] && continue # imports what the WIT lacks, on purpose
        if stale "$out/$name.component.wasm" "$f" wit/bastion.wit; then todo+=("$f"); fi
    done
    [[ ${#todo[@]} == 0 ]] && { echo "components up to date"; return 0; }
    node tests/component/check.mjs --jco "$NPM_TOOLS" --wit wit/bastion.wit --world endpoint \
        --out "$out" "${todo[@]}"
}

plan_deps() { deps; }
plan_build() { deps; build; }
plan_serve() { deps; build; step "migrate (.bastion/)" migrate_state; }
plan_test() {
    deps; build
    step "test fixtures → build/test/" build_fixtures
    step "npm test tools (tests/tools/package.json) → .deps/npm-tools" npm_tools
    step "components for Wasmtime → build/wasmtime/" wasmtime_components
    step "native-handler build (benchmark baseline) → build/native/" build_native
    test_servers
}
plan_wasmtime-invoke() {
    deps; build
    step "migrate (.bastion/)" migrate_state
    step "npm test tools (tests/tools/package.json) → .deps/npm-tools" npm_tools
    step "components for Wasmtime → build/wasmtime/" wasmtime_components
}
plan_native() {
    deps; build
    step "native-handler build (benchmark baseline) → build/native/" build_native
}
plan_bench() {
    deps
    step "Debian packages for the benchmarks (bench/peers.sh's chart)" install_pkgs "${BENCH_PKGS[@]}"
    build
    step "native-handler build (benchmark baseline) → build/native/" build_native
}
plan_fuzz() { deps; build; }

cmd="${1:-build}"
shift || true
case "$cmd" in
    deps|build|serve|test|bench|fuzz|wasmtime-invoke|native)
        COUNTING=1; "plan_$cmd"; COUNTING=0
        "plan_$cmd"
        ;;
    clean) rm -rf "$BUILD"; exit 0 ;;
    format) # rewrite every tracked C file to .clang-format (the test layer "format" checks it)
        git ls-files '*.c' '*.h' | xargs clang-format-19 -i
        exit 0
        ;;
    *) echo "usage: $0 [deps|build|test|serve|bench|fuzz|wasmtime-invoke|native|format|clean]" >&2; exit 2 ;;
esac
case "$cmd" in
    serve)
        exec "$BUILD/bastion" serve --listen 127.0.0.1:8080 --state "$ROOT/.bastion" \
            --manifest "$BUILD/manifest.json" --dev "$@"
        ;;
    test) # not exec: the EXIT trap stops the servers after the last layer
        set -a
        # shellcheck source=/dev/null
        . "$TEST_SERVERS/servers.env"
        set +a
        rc=0
        bash tests/run.sh "$@" || rc=$?
        exit "$rc"
        ;;
    bench) exec bash bench/run.sh "$@" ;;
    wasmtime-invoke) # one function once under Wasmtime: FUNCTION --method M --path P [--body B]
        exec "$PYTHON" tests/wasmtime/host.py invoke --state "$ROOT/.bastion" "$@"
        ;;
    fuzz) exec bash tests/fuzz/run.sh "$@" ;;
esac
