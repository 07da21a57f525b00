#!/usr/bin/env bash
# bench/sizes.sh — every function module's size under other build settings.
# Rebuilds the core, cJSON, the BearSSL objects the modules use and each
# function into build/bench/sizes/<variant>/, links as build.sh does
# (build_module: same -Wl flags, same libraries) and writes
# build/bench/sizes/sizes.tsv: variant, function, bytes. bench/report.py
# turns it into RESULTS.md's size table. Variants:
#   O2          build.sh's own flags (-O2, name section kept)
#   O2-strip    the same, name and producers sections removed (wasm-strip)
#   Oz-strip    -Oz everywhere, stripped
#   Oz-lto      -Oz -flto everywhere (wasm-ld's LTO at -Oz), stripped
#   Oz-opt      Oz-strip, then binaryen's wasm-opt -Oz (when wasm-opt is installed)
#   Oz-lto-opt  Oz-lto, then wasm-opt -Oz
# clang runs wasm-opt by itself after linking when it finds one on PATH (and
# clang 19's --no-wasm-opt skips the link altogether), so the links here see
# a wasm-opt that changes nothing, and only the -opt variants run the real one.
# binaryen is not one of build.sh's packages: apt-get install binaryen for them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/build/bench/sizes"
DEPS="$ROOT/.deps"
WASM_CC=clang-19
WASM_AR=llvm-ar-19
SYS=(--target=wasm32-wasi --sysroot=/usr)
INC=(-I"$ROOT/shared/include" -I"$ROOT/build/wasm/include" -I"$DEPS/src/bearssl/inc")
LDFLAGS=(-mexec-model=reactor -Wl,--stack-first -Wl,-z,stack-size=262144 -Wl,--strip-debug
         -Wl,--initial-memory=1048576)
JOBS="${SIZES_JOBS:-2}"

[[ -f build/wasm/lib/libbastion.a ]] || { echo "sizes.sh: run ./build.sh build first" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/no-wasm-opt"
REAL_WASM_OPT="$(command -v wasm-opt || true)"
printf '#!/bin/sh\n# clang calls: wasm-opt FILE -O<n> -o FILE (in place): nothing to do\nexit 0\n' \
    >"$OUT/no-wasm-opt/wasm-opt"
chmod +x "$OUT/no-wasm-opt/wasm-opt"
export PATH="$OUT/no-wasm-opt:$PATH"

# compile_all DIR CFLAGS...: the core, cJSON and BearSSL into DIR/lib/*.a
compile_all() {
    local dir="$1"; shift
    local flags=("$@") f o n=0
    mkdir -p "$dir/obj/core" "$dir/obj/cjson" "$dir/obj/bearssl" "$dir/lib"
    for f in shared/src/*.c; do
        o="$dir/obj/core/$(basename "${f%.c}").o"
        "$WASM_CC" "${SYS[@]}" "${flags[@]}" -std=c11 -D_GNU_SOURCE "${INC[@]}" -c "$f" -o "$o" &
        (( ++n % JOBS == 0 )) && wait
    done
    "$WASM_CC" "${SYS[@]}" "${flags[@]}" -c "$DEPS/src/cjson/cJSON.c" -o "$dir/obj/cjson/cJSON.o" &
    # the BearSSL sources build.sh's build_third_party compiles
    while IFS= read -r f; do
        o="$(echo "${f#$DEPS/src/bearssl/src/}" | tr / _).o"
        "$WASM_CC" "${SYS[@]}" "${flags[@]}" -I"$DEPS/src/bearssl/inc" -I"$DEPS/src/bearssl/src" \
            -c "$f" -o "$dir/obj/bearssl/$o" &
        (( ++n % JOBS == 0 )) && wait
    done < <(find "$DEPS/src/bearssl/src" -name '*.c' \
                 -not -path '*/ssl/*' -not -path '*/x509/*' -not -name 'sysrng.c' | sort)
    wait
    "$WASM_AR" rcs "$dir/lib/libbastion.a" "$dir"/obj/core/*.o
    "$WASM_AR" rcs "$dir/lib/libcjson.a" "$dir"/obj/cjson/*.o
    "$WASM_AR" rcs "$dir/lib/libbearssl.a" "$dir"/obj/bearssl/*.o
}

# link_all VARIANT LIBDIR CFLAGS...: every function into OUT/VARIANT/NAME.wasm
link_all() {
    local variant="$1" lib="$2"; shift 2
    local d name
    mkdir -p "$OUT/$variant"
    for d in functions/*/; do
        name="$(basename "$d")"
        "$WASM_CC" "${SYS[@]}" "$@" -std=c11 -D_GNU_SOURCE "${INC[@]}" "${LDFLAGS[@]}" "$d"/*.c \
            -L"$lib" -Wl,--whole-archive -lbastion -Wl,--no-whole-archive -lcjson -lbearssl \
            -o "$OUT/$variant/$name.wasm"
    done
}

strip_all() { # strip_all FROM TO
    mkdir -p "$OUT/$2"
    local f
    for f in "$OUT/$1"/*.wasm; do
        cp "$f" "$OUT/$2/"
        wasm-strip "$OUT/$2/$(basename "$f")"
    done
}

echo "[sizes] O2 (build.sh's flags)" >&2
mkdir -p "$OUT/O2"
cp build/functions/*.wasm "$OUT/O2/"
strip_all O2 O2-strip

echo "[sizes] -Oz" >&2
compile_all "$OUT/build-Oz" -Oz
link_all Oz "$OUT/build-Oz/lib" -Oz
strip_all Oz Oz-strip

echo "[sizes] -Oz -flto" >&2
compile_all "$OUT/build-lto" -Oz -flto
link_all Oz-lto-full "$OUT/build-lto/lib" -Oz -flto -Wl,--lto-O2
strip_all Oz-lto-full Oz-lto

if [[ -n "$REAL_WASM_OPT" ]]; then
    echo "[sizes] wasm-opt -Oz" >&2
    for v in Oz Oz-lto; do
        mkdir -p "$OUT/$v-opt"
        for f in "$OUT/$([[ $v == Oz ]] && echo Oz-strip || echo Oz-lto)"/*.wasm; do
            "$REAL_WASM_OPT" -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
                --enable-nontrapping-float-to-int "$f" -o "$OUT/$v-opt/$(basename "$f")"
        done
    done
fi

for v in O2 O2-strip Oz-strip Oz-opt Oz-lto Oz-lto-opt; do
    [[ -d "$OUT/$v" ]] || continue
    for f in "$OUT/$v"/*.wasm; do
        printf '%s\t%s\t%s\n' "$v" "$(basename "$f" .wasm)" "$(stat -c %s "$f")"
    done
done >"$OUT/sizes.tsv"
echo "[sizes] wrote $OUT/sizes.tsv" >&2
# What fills a module: its largest function bodies, by the O2 build's name section
for f in "$OUT/O2"/*.wasm; do
    wasm-objdump -x -j Code "$f" | grep -o 'size=[0-9]* <[^>]*>' |
        sed -E "s/size=([0-9]+) <(.*)>/$(basename "$f" .wasm)\t\1\t\2/"
done >"$OUT/functions.tsv"

# RESULTS.md's size section, between its markers (bench/report.py keeps it)
python3 - "$OUT/sizes.tsv" "$OUT/functions.tsv" bench/RESULTS.md "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- shared functions build.sh || echo ' + uncommitted changes')" \
    "$("$WASM_CC" --version | head -1)" "$([[ -n "$REAL_WASM_OPT" ]] && "$REAL_WASM_OPT" --version || echo 'not installed')" <<'PY'
import collections, datetime, sys
tsv, fns, results, commit, cc, opt = sys.argv[1:]
d = collections.defaultdict(dict)
for line in open(tsv):
    v, f, n = line.split()
    d[f][v] = int(n)
variants = [v for v in ("O2", "O2-strip", "Oz-strip", "Oz-opt", "Oz-lto", "Oz-lto-opt") if any(v in r for r in d.values())]
limit = 64 * 1024
o = ["<!-- bench/sizes.sh: begin (rewritten by bench/sizes.sh) -->",
     "## Module sizes",
     "",
     f"`bash bench/sizes.sh` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit {commit}; {cc}; "
     f"wasm-opt: {opt}. Bytes of each `functions/<name>` module, linked as `build.sh` links it "
     "(`-mexec-model=reactor`, stack first, 256 KiB stack, 1 MiB initial memory, the whole core "
     "archive); sizes do not depend on the machine. Variants: **O2** is `build.sh`'s own build "
     "(`-O2`, name section kept); **O2-strip** drops the name and producers sections "
     "(`wasm-strip`); **Oz-strip** compiles the core, cJSON, BearSSL and the function with `-Oz`; "
     "**Oz-opt** runs binaryen's `wasm-opt -Oz` after it; **Oz-lto** adds `-flto` (wasm-ld's "
     "LTO) to Oz-strip and **Oz-lto-opt** runs `wasm-opt -Oz` after that. Every link passes "
     "`--no-wasm-opt` (clang would otherwise run wasm-opt itself when it is installed). Target: every module ≤ 64 KiB (65,536 bytes).",
     "",
     "| function | " + " | ".join(variants) + " |",
     "|---|" + "---|" * len(variants)]
for f in sorted(d, key=lambda f: d[f]["O2"]):
    o.append(f"| {f} | " + " | ".join(
        (f"**{d[f][v]:,}**" if d[f][v] <= limit else f"{d[f][v]:,}") if v in d[f] else "–"
        for v in variants) + " |")
tot = {v: sum(r.get(v, 0) for r in d.values()) for v in variants}
o.append("| *all* | " + " | ".join(f"{tot[v]:,}" for v in variants) + " |")
under = {v: sum(1 for r in d.values() if r.get(v, limit + 1) <= limit) for v in variants}
o += ["",
      "Within 64 KiB (bold): " + ", ".join(f"{v} {under[v]} of {len(d)}" for v in variants) + ". "
      f"Best total: {min(tot, key=tot.get)}, {tot[min(tot, key=tot.get)] / tot['O2'] * 100:.0f} % of O2."]
best = min(tot, key=tot.get)
over = sorted((r[best] - limit, f) for f, r in d.items() if r.get(best, 0) > limit)
if over:
    o += ["", f"**Target missed**: with {best}, {len(over)} of {len(d)} modules are over 64 KiB, "
          f"from {over[0][1]} ({over[0][0]:,} bytes over) to {over[-1][1]} ({over[-1][0]:,} bytes "
          "over). What fills them (largest function bodies of the O2 build, bytes; the same in "
          "every module unless named after a route):", ""]
    body = collections.defaultdict(list)
    for line in open(fns):
        f, n, name = line.rstrip("\n").split("\t")
        body[f].append((int(n), name))
    for f in (over[0][1], over[-1][1]):
        top = sorted(body[f], reverse=True)[:8]
        o.append(f"- {f}: " + ", ".join(f"`{name}` {n:,}" for n, name in top) + ".")
    o += ["", "Left: libc's `printf_core` (the core formats with `snprintf`) and `vfscanf`/"
          "`__floatscan` (cJSON parses numbers with `strtod` and checks the doubles it prints with "
          "`sscanf`), dlmalloc, and BearSSL's P-256 (JWT ES256) are "
          "linked into every module that reaches them; below 64 KiB would take a formatter and "
          "number parser of the core's own (in place of libc's, also inside cJSON), a bump allocator in place of dlmalloc (the arena rule "
          "already frees nothing), and P-256 only in the modules that verify ES256."]
o.append("<!-- bench/sizes.sh: end -->")
text = open(results).read()
a, b = text.find("<!-- bench/sizes.sh: begin"), text.find("<!-- bench/sizes.sh: end -->")
block = "\n".join(o)
if a >= 0 and b > a:
    text = text[:a] + block + text[b + len("<!-- bench/sizes.sh: end -->"):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(results, "w").write(text)
PY
echo "[sizes] rewrote the size section of bench/RESULTS.md" >&2
