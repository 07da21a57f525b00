#!/usr/bin/env bash
# Install jco (and its bundled wasm-tools JS API + WASI adapters) into DEST_DIR.
# Idempotent: does nothing if DEST_DIR/node_modules/@bytecodealliance/jco exists.
# Usage: tests/component/install.sh DEST_DIR
set -u

die() { echo "install.sh: FAILED at step: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 DEST_DIR" >&2; exit 2; }
DEST=$1

if [ -d "$DEST/node_modules/@bytecodealliance/jco" ]; then
  echo "install.sh: jco already present in $DEST (skipping)"
  exit 0
fi

command -v node >/dev/null 2>&1 || die "locate node (not on PATH)"
command -v npm  >/dev/null 2>&1 || die "locate npm (not on PATH)"
mkdir -p "$DEST" || die "mkdir -p $DEST"

# Keep DEST self-contained so npm does not walk up into an unrelated package.json.
if [ ! -f "$DEST/package.json" ]; then
  printf '{ "name": "bastion-jco-deps", "private": true }\n' > "$DEST/package.json" \
    || die "write $DEST/package.json"
fi

start=$(date +%s)
npm install --prefix "$DEST" --no-audit --no-fund @bytecodealliance/jco
rc=$?
[ $rc -eq 0 ] || die "npm install --prefix $DEST @bytecodealliance/jco (exit $rc)"
end=$(date +%s)

[ -d "$DEST/node_modules/@bytecodealliance/jco" ] \
  || die "verify $DEST/node_modules/@bytecodealliance/jco exists after npm install"

ver=$(node -p "require('$DEST/node_modules/@bytecodealliance/jco/package.json').version" 2>/dev/null) \
  || die "read installed jco version"
echo "install.sh: installed @bytecodealliance/jco $ver into $DEST in $((end - start))s"
