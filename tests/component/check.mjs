#!/usr/bin/env node
// Component check: proves that each core wasm module matches the WIT contract.
//
// For every module: componentEmbed({binary, witSource, world}) followed by
// componentNew(embedded, [['wasi_snapshot_preview1', reactorAdapter]]).
// componentNew throws on any mismatch between the module's core imports/exports
// and the canonical-ABI lowering of the world (wrong signature, missing export,
// missing cabi_realloc, unknown import, ...).
//
// Usage:
//   node tests/component/check.mjs --jco JCO_DIR --wit wit/bastion.wit \
//        --world endpoint [--out DIR] [--adapter FILE] [--verbose] file1.wasm ...
//
// JCO_DIR is the --prefix given to `npm install` (./build.sh: .deps/npm-tools, tests/tools/package.json).
// Output: one line per file, `ok   <file> (component N bytes)` or
// `FAIL <file>: <error message>`. Exit 0 when all pass, 1 when any fails,
// 2 on usage/setup errors. --verbose prints the resolved jco paths to stderr.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function usage(msg) {
  if (msg) process.stderr.write(`check.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node check.mjs --jco JCO_DIR --wit FILE.wit --world NAME ' +
      '[--out DIR] [--adapter FILE] [--verbose] file.wasm [file.wasm ...]\n',
  );
  process.exit(2);
}

function setupError(msg) {
  process.stderr.write(`check.mjs: ${msg}\n`);
  process.exit(2);
}

// ---------- arguments ----------
const opts = { jco: null, wit: null, world: null, out: null, adapter: null, verbose: false };
const files = [];
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--jco': opts.jco = val(); break;
      case '--wit': opts.wit = val(); break;
      case '--world': opts.world = val(); break;
      case '--out': opts.out = val(); break;
      case '--adapter': opts.adapter = val(); break;
      case '--verbose': case '-v': opts.verbose = true; break;
      case '-h': case '--help': usage(); break;
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`);
        files.push(a);
    }
  }
  if (!opts.jco) usage('--jco is required');
  if (!opts.wit) usage('--wit is required');
  if (!opts.world) usage('--world is required');
  if (files.length === 0) usage('no wasm files given');
}

// ---------- locating jco's pieces ----------
// Walk node_modules below `root` (following nested node_modules, skipping
// symlink loops) and return every file whose name is `name`.
function findFiles(root, name, maxDepth = 12) {
  const found = [];
  const seen = new Set();
  const walk = (dir, depth) => {
    if (depth > maxDepth) return;
    let real;
    try { real = statSync(dir); } catch { return; }
    const key = `${real.dev}:${real.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory() || e.isSymbolicLink()) {
        let st;
        try { st = statSync(p); } catch { continue; }
        if (st.isDirectory()) walk(p, depth + 1);
        else if (e.name === name) found.push(p);
      } else if (e.name === name) {
        found.push(p);
      }
    }
  };
  walk(root, 0);
  return found;
}

const jcoRoot = resolve(opts.jco);
const nm = join(jcoRoot, 'node_modules');
if (!existsSync(join(nm, '@bytecodealliance', 'jco'))) {
  setupError(`jco not installed: ${join(nm, '@bytecodealliance', 'jco')} does not exist (./build.sh test installs it into .deps/npm-tools)`);
}

function jcoVersion() {
  try {
    return JSON.parse(readFileSync(join(nm, '@bytecodealliance', 'jco', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

// Rank a candidate wasm-tools.js: the documented JS API first (jco-transpile's
// dist/), then anything else that mentions componentEmbed. jco's CLI command
// file (dist/cmd/wasm-tools.js) is a last resort: it does not export the API.
function rankToolsPath(p) {
  const s = p.split('\\').join('/');
  if (s.includes('/jco-transpile/dist/')) return 0;
  if (s.includes('/jco/obj/')) return 1; // older jco releases
  if (s.includes('/jco-transpile/')) return 2;
  if (s.includes('/cmd/')) return 9;
  return 5;
}

async function loadWasmTools() {
  const tried = [];
  const candidates = findFiles(nm, 'wasm-tools.js')
    .filter((p) => {
      try {
        const src = readFileSync(p, 'utf8');
        return src.includes('componentEmbed') && src.includes('componentNew');
      } catch {
        return false;
      }
    })
    .sort((a, b) => rankToolsPath(a) - rankToolsPath(b) || a.length - b.length);
  // Finally, the package entry point, which re-exports the same functions.
  const api = join(nm, '@bytecodealliance', 'jco', 'dist', 'api.js');
  if (existsSync(api)) candidates.push(api);
  for (const p of candidates) {
    try {
      const m = await import(pathToFileURL(p).href);
      if (typeof m.componentEmbed === 'function' && typeof m.componentNew === 'function') {
        return { path: p, componentEmbed: m.componentEmbed, componentNew: m.componentNew };
      }
      tried.push(`${p} (no componentEmbed/componentNew exports)`);
    } catch (e) {
      tried.push(`${p} (import failed: ${oneLine(e)})`);
    }
  }
  setupError(
    `could not find jco's componentEmbed/componentNew under ${nm}` +
      (tried.length ? `; tried: ${tried.join('; ')}` : ''),
  );
}

function findAdapter() {
  if (opts.adapter) {
    if (!existsSync(opts.adapter)) setupError(`--adapter ${opts.adapter} does not exist`);
    return resolve(opts.adapter);
  }
  const name = 'wasi_snapshot_preview1.reactor.wasm';
  const preferred = join(nm, '@bytecodealliance', 'jco', 'lib', name);
  const candidates = existsSync(preferred) ? [preferred] : [];
  for (const p of findFiles(nm, name)) if (p !== preferred) candidates.push(p);
  for (const p of candidates) {
    const b = readFileSync(p);
    // a core module: "\0asm" magic, version 1
    if (b.length > 8 && b.readUInt32LE(0) === 0x6d736100 && b.readUInt32LE(4) === 1) return p;
  }
  setupError(`could not find ${name} (a core wasm module) under ${nm}`);
}

// ---------- error formatting ----------
function oneLine(e) {
  let msg;
  if (e && typeof e === 'object' && 'payload' in e && typeof e.payload === 'string') msg = e.payload;
  else if (e instanceof Error) msg = e.message;
  else msg = String(e);
  return msg
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(' | ');
}

function toU8(buf) {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ---------- main ----------
const tools = await loadWasmTools();
const adapterPath = findAdapter();
const adapter = toU8(readFileSync(adapterPath));
let witSource;
try {
  witSource = readFileSync(opts.wit, 'utf8');
} catch (e) {
  setupError(`cannot read WIT ${opts.wit}: ${oneLine(e)}`);
}

if (opts.verbose) {
  process.stderr.write(
    `check.mjs: jco ${jcoVersion()}\n` +
      `check.mjs: componentEmbed/componentNew from ${tools.path}\n` +
      `check.mjs: reactor adapter ${adapterPath}\n`,
  );
}

// Check the WIT on its own first, so that a broken contract is reported as
// such rather than as a failure of every module.
try {
  await tools.componentEmbed({ dummy: true, witSource, world: opts.world });
} catch (e) {
  console.log(`FAIL ${opts.wit}: WIT does not resolve (world ${opts.world}): ${oneLine(e)}`);
  for (const f of files) console.log(`FAIL ${f}: not checked (the WIT does not resolve)`);
  process.exit(1);
}

if (opts.out) mkdirSync(opts.out, { recursive: true });

let failures = 0;
for (const f of files) {
  let stage = 'read';
  try {
    const binary = toU8(readFileSync(f));
    stage = 'componentEmbed';
    const emb = await tools.componentEmbed({ binary, witSource, world: opts.world });
    stage = 'componentNew';
    const comp = await tools.componentNew(emb, [['wasi_snapshot_preview1', adapter]]);
    if (opts.out) {
      stage = 'write';
      writeFileSync(join(opts.out, basename(f).replace(/\.wasm$/, '') + '.component.wasm'), comp);
    }
    console.log(`ok   ${f} (component ${comp.length} bytes)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${f}: ${stage}: ${oneLine(e)}`);
  }
}
process.exit(failures ? 1 : 0);
