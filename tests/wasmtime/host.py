"""Bastion's reference host on Wasmtime (wasmtime-py, the real engine).

Each function runs as a *component* (`build/wasmtime/<name>.component.wasm`,
made by tests/component/check.mjs with jco from `build/functions/<name>.wasm`
and wit/bastion.wit), and the `bastion:edge/*` imports are Python functions
over the WIT's own types: Wasmtime lifts and lowers every value, so the
guest's hand-written canonical-ABI bindings meet the reference
implementation, not Bastion's own host. WASI preview 2 (what jco's preview1
adapter imports) is Wasmtime's, except the wall clock and randomness when a
test fixes them (BASTION_TEST_CLOCK_MS, BASTION_TEST_CLOCK_OFFSET_MS,
BASTION_TEST_RANDOM_SEED; host/rt/rt.h says what they mean, identically).

Stores are SQLite through Python's sqlite3, in a state directory laid out as
`bastion serve` lays it out (kv.sqlite, sql/<db>.sqlite), config comes from
the manifest's variables (BASTION_VAR_<name> or the default), log lines are
collected, http-out goes to the function's allow-list only. Each request gets
a fresh Store and instance, a deadline by epoch interruption and a memory cap
by the store limiter.

    python3 tests/wasmtime/host.py invoke FUNCTION --method GET --path /health
    python3 tests/wasmtime/host.py serve --listen 127.0.0.1:8081
"""
import argparse
import http.client
import http.server
import ipaddress
import json
import os
import re
import socket
import sqlite3
import ssl
import sys
import threading
import time
import urllib.parse

import wasmtime
import wasmtime.component as wc
from wasmtime.component import Record, Variant



def _payloadless_case_is_none(self, s):
    """wasmtime-py 50 lowers an untagged variant case by its value's Python
    class, and counts a payload-less case (option's `none`) as `object`; so in
    kv.get's result<option<list<u8>>, error> every value, an error too,
    matched `ok` and an error could not be returned. A payload-less case's
    value is None: count it as NoneType (tagging decisions stay the same)."""
    if self._tagged():
        s.add(Variant)
        return
    for _, ty in self._cases():
        if ty is None:
            s.add(type(None))
        else:
            ty.add_classes(s)


wc._types.VariantLikeType.add_classes = _payloadless_case_is_none

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
EPOCH_TICK_S = 0.005
HANDLER = "bastion:edge/handler@0.1.0"
PROBLEM_BASE = "https://bastion.dev/problems/"
# host/problem.c's table: status → slug, title, class, retryable
PROBLEMS = {
    400: ("bad-request", "Bad Request", "validation", False),
    404: ("not-found", "Not Found", "validation", False),
    405: ("method-not-allowed", "Method Not Allowed", "validation", False),
    413: ("content-too-large", "Content Too Large", "validation", False),
    414: ("uri-too-long", "URI Too Long", "validation", False),
    431: ("header-fields-too-large", "Request Header Fields Too Large", "validation", False),
    500: ("internal", "Internal Server Error", "internal", False),
    501: ("not-implemented", "Not Implemented", "validation", False),
    503: ("unavailable", "Service Unavailable", "infrastructure", True),
    504: ("timeout", "Gateway Timeout", "transient", True),
}
MAX_TTL_MS = 1 << 62
OUTBOUND_BODY_LIMIT = 16 << 20  # outbound_body_limit's default (HOST_OUTBOUND_BODY_LIMIT_DEFAULT)
# host/stores/sqlite.c's KV_SCHEMA: one table for every kv store
KV_SCHEMA = ("CREATE TABLE IF NOT EXISTS kv ("
             " store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
             " expires_at INTEGER NOT NULL DEFAULT 0,"
             " PRIMARY KEY (store, key)) WITHOUT ROWID;"
             "CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at <> 0;")


# Wasmtime's trap codes by the names the native host logs (rt.c host_rt_trap_name)
TRAP_NAMES = {
    "MEMORY_OUT_OF_BOUNDS": "out-of-bounds memory access",
    "INTEGER_OVERFLOW": "integer overflow",
    "INTEGER_DIVISION_BY_ZERO": "integer divide by zero",
    "BAD_CONVERSION_TO_INTEGER": "invalid conversion to integer",
    "UNREACHABLE": "unreachable executed",
    "INDIRECT_CALL_TO_NULL": "invalid call_indirect",
    "BAD_SIGNATURE": "invalid call_indirect",
    "TABLE_OUT_OF_BOUNDS": "invalid call_indirect",
    "STACK_OVERFLOW": "call stack exhausted",
    "INTERRUPT": "deadline exceeded",
}


class InvalidResponse(Exception):
    pass


def response_ok(status, headers):
    """module.c read_response: a status in 100..599, at most 256 headers, token
    names, values without CR, LF or NUL; anything else is a trap (500)."""
    return (100 <= status <= 599 and len(headers) <= 256 and
            all(TOKEN.fullmatch(n) and not re.search("[\r\n\0]", v) for n, v in headers))


def trap_name(e):
    code = e.trap_code if isinstance(e, wasmtime.Trap) else None
    if code is not None:
        return TRAP_NAMES.get(code.name, code.name.lower())
    text = str(e)
    for needle, name in (("interrupt", "deadline exceeded"), ("unreachable", "unreachable executed"),
                         ("out of bounds memory", "out-of-bounds memory access"),
                         ("call stack exhausted", "call stack exhausted"),
                         ("divide by zero", "integer divide by zero")):
        if needle in text:
            return name
    return text.split("\n")[0]


def rec(**fields):
    """A WIT record value: wasmtime-py's Record has no keyword constructor, and
    its attributes are the WIT's own names (client_ip= sets `client-ip`)."""
    r = Record()
    r.__dict__.update((k.replace("_", "-"), v) for k, v in fields.items())
    return r


def problem(status, detail, retry_after_s=0):
    """problem.c host_problem: a status the table lacks keeps its code and gets
    the generic kind (bad-request for 4xx, internal for 5xx)."""
    slug, title, cls, retryable = PROBLEMS.get(status) or PROBLEMS[500 if status >= 500 else 400]
    body = ('{"type":"%s%s","title":"%s","status":%d,"detail":%s,"class":"%s","retryable":%s}' %
            (PROBLEM_BASE, slug, title, status, json.dumps(detail, ensure_ascii=False), cls,
             "true" if retryable else "false")).encode()
    headers = [("content-type", "application/problem+json")]
    if retry_after_s:
        headers.append(("retry-after", str(retry_after_s)))
    return status, headers, body


NO_ROUTE = "No route matches this path."


def too_large(limit):
    return f"The body exceeds this route's limit of {limit} bytes."


def wall_ms():
    return time.time_ns() // 1_000_000


# --- what tests may fix: the modules' clock and randomness (host/rt/rt.h) --

def env_int(env, name, lo, hi):
    v = env.get(name)
    if not v:
        return None
    try:
        n = int(v, 10)
    except ValueError:
        return None
    return n if lo <= n <= hi else None


class TestSettings:
    def __init__(self, env):
        self.offset_ms = env_int(env, "BASTION_TEST_CLOCK_OFFSET_MS", -315576000000,
                                 315576000000) or 0
        self.fixed_ms = env_int(env, "BASTION_TEST_CLOCK_MS", 946684800000, 4102444800000)
        self.seed = env_int(env, "BASTION_TEST_RANDOM_SEED", 0, (1 << 63) - 1)
        self.instances = 0

    def guest_wall_ns(self):
        ns = self.fixed_ms * 1_000_000 if self.fixed_ms is not None else time.time_ns()
        return ns + self.offset_ms * 1_000_000

    def next_rng(self):
        """The stream of the next instance this host creates, or None."""
        if self.seed is None:
            return None
        self.instances += 1
        return SplitMix(self.seed + self.instances * 0xD1B54A32D192ED03)


M64 = (1 << 64) - 1


class SplitMix:
    """splitmix64 as a byte stream, each word low byte first (rt.c's twin)."""

    def __init__(self, state):
        self.state = state & M64
        self.buf = b""

    def word(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def take(self, n):
        while len(self.buf) < n:
            self.buf += self.word().to_bytes(8, "little")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


# --- the manifest -----------------------------------------------------------

def env_file_values(path):
    """manifest.c apply_env_text: NAME=VALUE lines (BASTION_VAR_ optional, one
    pair of quotes stripped, # comments); {} when the file is absent."""
    out = {}
    if not path or not os.path.isfile(path):
        return out
    for line in open(path, encoding="utf-8", errors="replace").read().split("\n"):
        line = line.lstrip(" ").rstrip("\r")
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[name[12:] if name.startswith("BASTION_VAR_") else name] = value
    return out


class Manifest:
    def __init__(self, path, env, dev_secrets=None):
        with open(path) as f:
            doc = json.load(f)
        self.functions = doc["functions"]
        self.routes = doc["routes"]
        self.limits = doc.get("limits", {})
        self.crons = {c["name"]: c for c in doc.get("cron", [])}
        self.vars = {}
        dev = env_file_values(dev_secrets)
        for name, spec in doc.get("vars", {}).items():
            # host_vars_resolve: environment > dev secrets (secret variables) > default
            v = env.get("BASTION_VAR_" + name)
            if v is None and spec.get("secret"):
                v = dev.get(name)
            self.vars[name] = v if v is not None else spec.get("default")

    def route(self, path):
        """manifest.c's match_one, first match in manifest order: (route, params)."""
        want = path.split("/")
        for r in self.routes:
            pat = r["path"].split("/")
            if len(pat) != len(want):
                continue
            params = []
            for p, q in zip(pat, want):
                if len(p) >= 2 and p[0] == "{" and p[-1] == "}":
                    v = decode_segment(q)
                    if not q or v is None:
                        break
                    params.append((p[1:-1], v))
                elif p != q:
                    break
            else:
                return r, params
        return None, None


def decode_segment(s):
    """Percent-decoding of one path segment; %00, %2F and bytes that are not
    UTF-8 are refused (None), as in manifest.c."""
    out = bytearray()
    i = 0
    raw = s.encode()
    while i < len(raw):
        if raw[i] == 0x25:
            h = raw[i + 1:i + 3].decode(errors="replace")
            if len(h) != 2 or not all(c in "0123456789abcdefABCDEF" for c in h) or \
                    h in ("00", "2f", "2F"):
                return None
            out.append(int(h, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    try:
        return out.decode("utf-8")  # a parameter is a WIT string
    except UnicodeDecodeError:
        return None


# --- stores: the same files `bastion serve` uses on SQLite -----------------

def err(tag, msg=None):
    return Variant(tag, msg) if tag != "timeout" else Variant("timeout")


def sqlite_error(e, what):
    """sqlite.c's sqlite_fail: the error class from SQLite's code."""
    code = getattr(e, "sqlite_errorcode", None)
    prim = (code or 0) & 0xFF
    msg = f"{what}: {e}"
    if prim in (5, 6, 9):  # BUSY, LOCKED, INTERRUPT
        return err("timeout")
    if prim == 19 or isinstance(e, sqlite3.IntegrityError):  # CONSTRAINT
        return err("conflict", msg)
    if prim in (1, 25, 20, 18, 23) or code is None:  # ERROR, RANGE, MISMATCH, TOOBIG, AUTH
        return err("invalid", msg)
    if prim in (13, 10, 14, 11, 8):  # FULL, IOERR, CANTOPEN, CORRUPT, READONLY
        return err("unavailable", msg)
    return err("internal", msg)


class Stores:
    def __init__(self, state):
        self.state = state
        os.makedirs(os.path.join(state, "sql"), exist_ok=True)
        self.conns = {}
        self.writes = False

    def conn(self, name):
        c = self.conns.get(name)
        if c is None:
            path = os.path.join(self.state, name)
            c = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False,
                                cached_statements=0)
            c.execute("PRAGMA foreign_keys=ON")
            c.set_authorizer(self.authorize)
            c.execute("PRAGMA journal_mode=WAL")
            if name == "kv.sqlite":
                c.executescript(KV_SCHEMA)
            self.conns[name] = c
        return c

    def authorize(self, action, *args):
        if action in WRITE_ACTIONS:
            self.writes = True
        return sqlite3.SQLITE_OK

    # kv (sqlite_kv.c): expiry as epoch ms, 0 = never; expired rows read as absent
    def kv_read(self, c, store, key):
        row = c.execute("SELECT value FROM kv WHERE store=?1 AND key=?2 AND "
                        "(expires_at=0 OR expires_at>?3)", (store, key, wall_ms())).fetchone()
        return None if row is None else bytes(row[0])

    def kv_write(self, c, store, key, value, ttl_ms):
        exp = wall_ms() + min(ttl_ms, MAX_TTL_MS) if ttl_ms else 0
        c.execute("INSERT INTO kv(store,key,value,expires_at) VALUES(?1,?2,?3,?4) "
                  "ON CONFLICT(store,key) DO UPDATE SET value=excluded.value, "
                  "expires_at=excluded.expires_at", (store, key, value, exp))

    def kv(self, op, store, key, *args):
        c = self.conn("kv.sqlite")
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                out = getattr(self, "kv_" + op)(c, store, key.encode(), *args)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return out
        except sqlite3.Error as e:
            return sqlite_error(e, "kv " + op)

    def kv_get(self, c, store, key):
        return self.kv_read(c, store, key)

    def kv_set(self, c, store, key, value, ttl_ms):
        self.kv_write(c, store, key, bytes(value), ttl_ms)
        return None

    def kv_add(self, c, store, key, value, ttl_ms):
        if self.kv_read(c, store, key) is not None:
            return False
        self.kv_write(c, store, key, bytes(value), ttl_ms)
        return True

    def kv_increment(self, c, store, key, delta, ttl_ms):
        old = self.kv_read(c, store, key)
        cur = 0
        if old is not None:
            # store.c host_kv_parse_counter: strtoll over the whole value, < 24 bytes
            m = re.fullmatch(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)", old)
            if len(old) >= 24 or not m or not -(1 << 63) <= int(m.group(1)) < (1 << 63):
                raise KvInvalid("kv increment: value is not an integer")
            cur = int(m.group(1))
        new = cur + delta
        if not -(1 << 63) <= new < (1 << 63):
            raise KvInvalid("kv increment: overflow")
        if old is not None:  # TTL on create only
            c.execute("UPDATE kv SET value=?3 WHERE store=?1 AND key=?2",
                      (store, key, str(new).encode()))
        else:
            self.kv_write(c, store, key, str(new).encode(), ttl_ms)
        return new

    def kv_swap(self, c, store, key, expected, value, ttl_ms):
        old = self.kv_read(c, store, key)
        match = old is None if expected is None else old == bytes(expected)
        if match:
            self.kv_write(c, store, key, bytes(value), ttl_ms)
        return match

    def kv_delete(self, c, store, key):
        found = self.kv_read(c, store, key) is not None
        c.execute("DELETE FROM kv WHERE store=?1 AND key=?2", (store, key))
        return found

    # sql (sqlite_sql.c): $1..$n, one statement per call, typed values
    def statement(self, c, sql, params):
        if re.match(r"\s*vacuum\b", sql, re.I):
            raise SqlInvalid("prepare: not allowed: VACUUM")
        if not sql.strip():
            raise SqlInvalid("empty statement")
        # `value` has a distinct Python type per case, so wasmtime-py lifts it
        # untagged: None, int, float, str, bytes. SQLite itself names each
        # parameter: sqlite3 asks the mapping for "1" for `$1` (bind_params:
        # $1..$n by number, anything else refused)
        args = Params(params)
        self.writes = False
        cur = c.execute(sql, args)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = [[bytes(x) if isinstance(x, memoryview) else x for x in row]
                for row in cur.fetchall()]
        # rows this statement alone wrote (sqlite3_changes: triggers excluded);
        # a read-only one (no write the authorizer saw) reports 0
        changes = c.execute("SELECT changes()").fetchone()[0] if self.writes else 0
        return rec(columns=cols, rows=rows, changes=changes)

    def sql_db(self, db):
        return self.conn(os.path.join("sql", db + ".sqlite"))

    def query(self, db, sql, params):
        c = self.sql_db(db)
        try:
            return self.statement(c, sql, params)
        except SqlInvalid as e:
            return err("invalid", str(e))
        except sqlite3.Error as e:
            return sqlite_error(e, "query")

    def transaction(self, db, stmts):
        c = self.sql_db(db)
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            return sqlite_error(e, "BEGIN IMMEDIATE")
        out = []
        for i, st in enumerate(stmts, 1):
            try:
                rows = self.statement(c, st.sql, st.params)
            except BaseException as e:
                c.execute("ROLLBACK")
                if not isinstance(e, (SqlInvalid, sqlite3.Error)):
                    raise
                if isinstance(e, SqlInvalid):
                    return err("invalid", f"statement {i}: {e}")
                return sqlite_error(e, f"statement {i}")
            expect = getattr(st, "expect-changes")
            if expect is not None and rows.changes != expect:
                c.execute("ROLLBACK")
                return Variant("guard", i)
            out.append(rows)
        try:
            c.execute("COMMIT")
        except sqlite3.Error as e:
            if c.in_transaction:
                c.execute("ROLLBACK")
            return sqlite_error(e, "commit")
        return out


class SqlInvalid(Exception):
    pass


class KvInvalid(Exception):
    pass


class Params(dict):
    """The statement's values by SQLite's parameter names: `$N` → the N-th."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def __missing__(self, name):
        if re.fullmatch(r"[0-9]+", name) and 1 <= int(name) <= len(self.values):
            return self.values[int(name) - 1]
        raise SqlInvalid(f"parameter ${name}: parameters must be $1..$n with a value each")


# authorizer actions that write (sqlite3.h): what makes a statement not read-only
WRITE_ACTIONS = {getattr(sqlite3, a) for a in dir(sqlite3) if a.startswith((
    "SQLITE_CREATE_", "SQLITE_DROP_", "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE",
    "SQLITE_ALTER_TABLE", "SQLITE_REINDEX", "SQLITE_ANALYZE")) and a != "SQLITE_DELETE_"}


# --- the host ----------------------------------------------------------------

class Call:
    """One request's context, as host_call is in the native host."""

    def __init__(self, host, fn, name, deadline):
        self.host, self.fn, self.name, self.deadline = host, fn, name, deadline
        self.logs = []

    def budget(self, timeout_ms):
        left = int((self.deadline - time.monotonic()) * 1000)
        return max(0, min(timeout_ms, left))


class ReferenceHost:
    def __init__(self, manifest, state, env=None, components=None, dev=False):
        """dev: secret variables nothing else sets come from the state's
        dev-secrets.env, the file `bastion serve --dev` writes."""
        self.env = dict(os.environ if env is None else env)
        self.manifest = Manifest(manifest, self.env,
                                 os.path.join(state, "dev-secrets.env") if dev else None)
        self.state = state
        self.stores = Stores(state)
        self.components_dir = components or os.path.join(BUILD, "wasmtime")
        self.test = TestSettings(self.env)
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.cache = True
        self.engine = wasmtime.Engine(cfg)
        self.components = {}
        self.call = None  # the request being handled (one at a time)
        self.lock = threading.Lock()
        self.ticker = threading.Thread(target=self.tick, daemon=True)
        self.ticker.start()

    def tick(self):
        while True:
            time.sleep(EPOCH_TICK_S)
            self.engine.increment_epoch()

    def component(self, name):
        got = self.components.get(name)
        if got is None:
            path = os.path.join(self.components_dir, name + ".component.wasm")
            comp = wc.Component.from_file(self.engine, path)
            got = (comp, self.linker(comp))
            self.components[name] = got
        return got

    # The imports, in the WIT's types: kv, sql, http-out, config, log.
    def linker(self, comp):
        lk = wc.Linker(self.engine)
        lk.add_wasip2()
        lk.allow_shadowing = True
        imports = comp.type.imports(self.engine)
        names = {n.split("@")[0]: n for n in imports}
        with lk.root() as root:
            if "wasi:clocks/wall-clock" in names and (self.test.fixed_ms is not None or
                                                      self.test.offset_ms):
                with root.add_instance(names["wasi:clocks/wall-clock"]) as i:
                    i.add_func("now", self.wall_now)
                    i.add_func("resolution", lambda store: rec(seconds=0,
                                                                 nanoseconds=1000))
            if "wasi:random/random" in names and self.test.seed is not None:
                with root.add_instance(names["wasi:random/random"]) as i:
                    i.add_func("get-random-bytes", lambda store, n: self.rng.take(n))
                    i.add_func("get-random-u64",
                               lambda store: int.from_bytes(self.rng.take(8), "little"))
            for iface, funcs in (
                ("bastion:edge/kv", {"get": self.kv_get, "set": self.kv_set,
                                     "add": self.kv_add, "increment": self.kv_increment,
                                     "swap": self.kv_swap, "delete": self.kv_delete}),
                ("bastion:edge/sql", {"query": self.sql_query,
                                      "transaction": self.sql_transaction}),
                ("bastion:edge/http-out", {"send": self.http_send}),
                ("bastion:edge/config", {"get": self.config_get}),
                ("bastion:edge/log", {"write": self.log_write}),
            ):
                if iface not in names:
                    continue
                with root.add_instance(names[iface]) as i:
                    for fname, f in funcs.items():
                        i.add_func(fname, f)
        return lk

    def wall_now(self, store):
        ns = self.test.guest_wall_ns()
        return rec(seconds=ns // 1_000_000_000, nanoseconds=ns % 1_000_000_000)

    # kv: the store must be granted; the budget is what is left of the deadline
    def kv_call(self, op, store, key, timeout_ms, *args):
        c = self.call
        if store not in c.fn.get("kv", []):
            return err("denied", f"kv store '{store}' not granted")
        if c.budget(timeout_ms) == 0:
            return err("timeout")
        try:
            return self.stores.kv(op, store, key, *args)
        except KvInvalid as e:
            return err("invalid", str(e))

    def kv_get(self, store_, store, key, timeout_ms):
        return self.kv_call("get", store, key, timeout_ms)

    def kv_set(self, store_, store, key, val, ttl_ms, timeout_ms):
        return self.kv_call("set", store, key, timeout_ms, val, ttl_ms)

    def kv_add(self, store_, store, key, val, ttl_ms, timeout_ms):
        return self.kv_call("add", store, key, timeout_ms, val, ttl_ms)

    def kv_increment(self, store_, store, key, delta, ttl_ms, timeout_ms):
        return self.kv_call("increment", store, key, timeout_ms, delta, ttl_ms)

    def kv_swap(self, store_, store, key, expected, val, ttl_ms, timeout_ms):
        return self.kv_call("swap", store, key, timeout_ms, expected, val, ttl_ms)

    def kv_delete(self, store_, store, key, timeout_ms):
        return self.kv_call("delete", store, key, timeout_ms)

    def sql_granted(self, db, timeout_ms):
        c = self.call
        if db not in c.fn.get("sql", []):
            return err("denied", f"database '{db}' not granted")
        if c.budget(timeout_ms) == 0:
            return err("timeout")
        return None

    def sql_query(self, store_, db, sql, params, timeout_ms):
        return self.sql_granted(db, timeout_ms) or self.stores.query(db, sql, params)

    def sql_transaction(self, store_, db, stmts, timeout_ms):
        return self.sql_granted(db, timeout_ms) or self.stores.transaction(db, stmts)

    def http_send(self, store_, method, url, headers, body, timeout_ms):
        c = self.call
        if not url_allowed(c.fn, url):
            return err("denied", f"outbound URL not on the allow-list of '{c.name}'")
        budget = c.budget(timeout_ms)
        if budget == 0:
            return err("timeout")
        limit = c.fn.get("outbound_body_limit", OUTBOUND_BODY_LIMIT)
        u = urllib.parse.urlsplit(url)
        url_host = split_origin(url)[1]
        if u.scheme == "https":
            # BASTION_OUTBOUND_CA_FILE: its certificates instead of the system's (outbound_curl.c)
            ca = self.env.get("BASTION_OUTBOUND_CA_FILE") or None
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=budget / 1000,
                                               context=ssl.create_default_context(cafile=ca))
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=budget / 1000)
        # curl's open-socket callback: every address judged where it would be connected
        conn._create_connection = lambda addr, timeout, src: wall_connect(url_host, addr, timeout)
        try:
            target = (u.path or "/") + ("?" + u.query if u.query else "")
            conn.request(method, target, body=bytes(body),
                         headers={h.name: h.value for h in headers})
            r = conn.getresponse()
            data = r.read(limit + 1)
            conn.close()
        except OutboundRefused as e:
            return err("denied", f"outbound to {e.args[0]} refused: {e.args[1]}, which the "
                       f"allow-list of '{c.name}' does not name")
        except TimeoutError:
            return err("timeout")
        except (OSError, http.client.HTTPException) as e:
            return err("unavailable", f"{url}: {e}")
        if len(data) > limit:  # outbound_curl.c stops reading at limit + 1 bytes
            return err("invalid", "outbound response body over the function's "
                       f"outbound_body_limit of {limit} bytes")
        # outbound_curl.c on_header: names lower-case, values trimmed, at most 128
        headers = [rec(name=k.lower(), value=v.lstrip(" \t").rstrip("\r\n "))
                   for k, v in r.getheaders()[:128]]
        return rec(status=r.status, headers=headers, body=data)

    def config_get(self, store_, name):
        c = self.call
        if name == "bastion:backends":
            return json.dumps(self.backends(), separators=(",", ":"))
        if name not in c.fn.get("vars", []):
            return None
        return self.manifest.vars.get(name)

    def backends(self):
        """host_stores_health's report: SQLite for every store in use."""
        return {"kv.default": {"backend": "sqlite", "required": True, "status": "ok"},
                "sql.default": {"backend": "sqlite", "required": True, "status": "ok"}}

    def log_write(self, store_, level, message, fields):
        line = {"level": level, "fn": self.call.name, "msg": message}
        for k, v in fields:
            line.setdefault(k, v)
        self.call.logs.append(line)

    def output(self, level, data):
        """stdout and stderr: a log line per write, as wasi.c's fd_write."""
        text = bytes(data).rstrip(b"\n").decode(errors="replace")
        if text:
            self.call.logs.append({"level": level, "fn": self.call.name, "msg": text})

    # One request through a fresh instance.
    def invoke(self, name, req, timeout_ms=None):
        """Runs `handle` once; (status, headers, body, logs, outcome) where
        outcome is None, "deadline" or "trap: <message>"."""
        fn = self.manifest.functions[name]
        timeout_ms = timeout_ms or fn["timeout_ms"]
        with self.lock:
            comp, linker = self.component(name)
            deadline = time.monotonic() + timeout_ms / 1000
            self.call = Call(self, fn, name, deadline)
            self.rng = self.test.next_rng()
            store = wasmtime.Store(self.engine)
            wasi = wasmtime.WasiConfig()
            wasi.stdout_custom = lambda b: self.output("info", b)
            wasi.stderr_custom = lambda b: self.output("warn", b)
            store.set_wasi(wasi)
            store.set_limits(memory_size=fn["memory_mb"] << 20)
            store.set_epoch_deadline(max(1, int(timeout_ms / 1000 / EPOCH_TICK_S)))
            setattr(req, "deadline-ms", self.test.guest_wall_ns() // 1_000_000 + timeout_ms)
            outcome = None
            try:
                inst = linker.instantiate(store, comp)
                iface = inst.get_export_index(store, HANDLER)
                handle = inst.get_func(store, inst.get_export_index(store, "handle", iface))
                resp = handle(store, req)
                handle.post_return(store)
                status = resp.status
                headers = [(h.name, h.value) for h in resp.headers]
                body = bytes(resp.body)
                if not response_ok(status, headers):
                    raise InvalidResponse("invalid canonical ABI value from guest")
            except (wasmtime.Trap, wasmtime.WasmtimeError, InvalidResponse, Exception) as e:
                # a host function's own failure (a Python exception) traps the
                # guest as native's host_rt_trap would: 500, never a dropped answer
                trap = trap_name(e) if isinstance(e, (wasmtime.Trap, wasmtime.WasmtimeError)) \
                    else str(e) if isinstance(e, InvalidResponse) else f"host error: {e!r}"
                if trap == "deadline exceeded":
                    outcome = "deadline"
                    self.call.logs.append({"level": "error", "fn": name,
                                           "msg": "deadline exceeded"})
                    status, headers, body = problem(
                        504, f"The function did not answer within {fn['timeout_ms']} ms.")
                else:
                    outcome = "trap: " + trap
                    self.call.logs.append({"level": "error", "fn": name,
                                           "msg": "guest trapped", "trap": trap,
                                           "detail": str(e).split("\n")[0]})
                    status, headers, body = problem(
                        500, "The function failed while handling the request.")
            logs, self.call = self.call.logs, None
            return status, headers, body, logs, outcome

    def cron(self, job):
        """One run of a [[cron]] job, with the request cron.c makes (no lease:
        the reference host runs one request at a time)."""
        j = self.manifest.crons[job]
        req = rec(trigger="cron", method="POST", path=job, query="", route="", params=[],
                  headers=[], body=b"", client_ip="", request_id=os.urandom(16).hex(),
                  deadline_ms=0)
        return self.invoke(j["function"], req, timeout_ms=j["timeout_ms"])

    # The front end's part: route, request record, the host's own refusals.
    def handle(self, method, target, headers, body, client_ip="127.0.0.1", request_id=None):
        path, _, query = target.partition("?")
        route, params = self.manifest.route(path)
        if route is None:
            return (*problem(404, NO_ROUTE), [], None)
        name = route["function"]
        fn = self.manifest.functions[name]
        if len(body) > fn["body_limit"]:
            return (*problem(413, too_large(fn["body_limit"])), [], None)
        req = rec(
            trigger="http", method=method, path=path, query=query, route=route["path"],
            params=list(params),
            headers=[rec(name=k.lower(), value=v) for k, v in headers
                     if not k.lower().startswith("x-bastion-")],
            body=bytes(body), client_ip=client_ip,
            request_id=request_id or os.urandom(16).hex(), deadline_ms=0)
        return self.invoke(name, req)


def split_origin(url):
    """outbound_curl.c's split_origin: (scheme, host, port) or None."""
    scheme, sep, rest = url.partition("://")
    if not sep or len(scheme) >= 16:
        return None
    hl = len(re.match(r"[^:/?#]*", rest).group())
    if hl == 0 or hl >= 256 or "@" in re.match(r"[^/?#]*", rest).group():
        return None  # no userinfo: "http://allowed@evil" must not pass
    host, tail = rest[:hl], rest[hl:]
    if tail.startswith(":"):
        port = re.match(r"[^/?#]*", tail[1:]).group()
        if not port or len(port) >= 16:
            return None
    else:
        port = "443" if scheme.lower() == "https" else "80"
    return scheme, host, port


def url_allowed(fn, url):
    """host_http_allowed: http(s), and scheme, host and port (or *) of an entry."""
    u = split_origin(url)
    if u is None or u[0].lower() not in ("http", "https"):
        return False
    for entry in fn.get("outbound", []):
        a = split_origin(entry)
        if a and a[0].lower() == u[0].lower() and a[1].lower() == u[1].lower() and \
                a[2] in ("*", u[2]):
            return True
    return False


# host/outbound_wall.c's table (SAFE4): (range, why refused), first match wins. An IPv6 range
# holding an IPv4 address names its byte and whether it is that address itself on the wire
# ("is") or one reached through a translator ("carries"); the IPv4 address is judged instead.
WALL_V4 = [(ipaddress.ip_network(n), why) for n, why in (
    ("0.0.0.0/8", "an unspecified address (0.0.0.0/8)"),
    ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
    ("100.64.0.0/10", "a shared CGNAT address (100.64.0.0/10)"),
    ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
    ("169.254.169.254/32", "the cloud metadata address"),
    ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
    ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
    ("192.0.0.0/24", "a reserved address (192.0.0.0/24)"),
    ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
    ("192.88.99.0/24", "a reserved address (192.88.99.0/24)"),
    ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
    ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
    ("198.51.100.0/24", "a documentation address (198.51.100.0/24)"),
    ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
    ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
    ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"))]
WALL_V6 = [(ipaddress.ip_network(n), why, inside, at) for n, why, inside, at in (
    ("::/128", "an unspecified address (::)", None, 0),
    ("::1/128", "a loopback address (::1)", None, 0),
    ("::ffff:0:0/96", "an IPv4-mapped address", "is", 12),
    ("::/96", "an IPv4-compatible address", "carries", 12),
    ("64:ff9b::/96", "a NAT64 address", "carries", 12),
    ("64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48)", None, 0),
    ("100::/64", "a discard-only address (100::/64)", None, 0),
    ("2001:db8::/32", "a documentation address (2001:db8::/32)", None, 0),
    ("2002::/16", "a 6to4 address", "carries", 2),
    ("fd00:ec2::254/128", "the cloud metadata address", None, 0),
    ("fc00::/7", "a unique local address (fc00::/7)", None, 0),
    ("fe80::/10", "a link-local address (fe80::/10)", None, 0),
    ("fec0::/10", "a site-local address (fec0::/10)", None, 0),
    ("ff00::/8", "a multicast address (ff00::/8)", None, 0))]


def outbound_refusal(ip, url_host):
    """host_outbound_refusal: why `ip` is refused, or None when it is globally reachable or
    `url_host` names it (a dotted-quad literal, as inet_pton reads one, equal to it)."""
    a, direct = ipaddress.ip_address(ip.split("%")[0]), True
    if a.version == 6:
        hit = next((w for w in WALL_V6 if a in w[0]), None)
        if hit is None:
            return None
        if hit[2] is None:
            return hit[1]
        a, direct = ipaddress.IPv4Address(a.packed[hit[3]:hit[3] + 4]), hit[2] == "is"
    why = next((w for net, w in WALL_V4 if a in net), None)
    if why and direct:
        try:
            if socket.inet_pton(socket.AF_INET, url_host) == a.packed:
                return None
        except OSError:
            pass
    return why


class OutboundRefused(Exception):
    """(address, why): every address the host resolved to is refused (outbound_curl.c)."""


def wall_connect(url_host, address, timeout):
    """socket.create_connection as curl with outbound_curl.c's open-socket callback: each
    resolved address is judged before it is connected, a refused one skipped; refused (with
    the first one) only when none was connected to at all."""
    refused, opened, last = None, False, None
    for family, kind, proto, _, sa in socket.getaddrinfo(*address, 0, socket.SOCK_STREAM):
        why = outbound_refusal(sa[0], url_host)
        if why:
            refused = refused or (sa[0], why)
            continue
        opened, sock = True, socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sa)
            return sock
        except OSError as e:
            last = e
            sock.close()
    if refused and not opened:
        raise OutboundRefused(*refused)
    raise last or OSError(f"{address[0]}: no address")


# --- an HTTP front end, for `serve` and the conformance tests --------------

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
http.client._MAXHEADERS = 1 << 16  # the header section's size is the limit, as in server.c


def utf8(raw):
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class Handler(http.server.BaseHTTPRequestHandler):
    """server.c's front end, as far as a request reaches a route: the head's
    checks (check_head), routing, the body limit, the host's headers."""
    protocol_version = "HTTP/1.1"
    host = None

    def __getattr__(self, name):  # every method reaches the route, as in server.c
        if name.startswith("do_"):
            return self.do
        raise AttributeError(name)

    def answer(self, status, headers, data, rid, close=False):
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        if close:
            self.send_header("connection", "close")
            self.close_connection = True
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "date", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("x-request-id", rid)
        bodyless = status < 200 or status in (204, 304)  # RFC 9110 §8.6
        if not bodyless:
            self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and not bodyless:
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a line or header too long, a bad request
        line) as the host's problems, not HTML."""
        status = code if code in PROBLEMS else (400 if code < 500 else 500)
        self.command = getattr(self, "command", None) or "GET"  # unset when the line was bad
        self.answer(*problem(status, message or "Bad request."), os.urandom(16).hex(), close=True)

    def refusal(self, target):
        """check_head: the status and detail to refuse the head with, or None."""
        limits = self.host.manifest.limits
        raw = target.encode("latin-1", errors="replace")
        if self.request_version not in ("HTTP/1.1", "HTTP/1.0"):
            return 400, "Only HTTP/1.0 and HTTP/1.1 are served."
        if b"\0" in raw:
            return 400, "The request target contains a NUL byte."
        if len(raw) > limits.get("max_target_bytes", 8192):
            return 414, "The request target is longer than this server accepts."
        if any(c <= 0x20 or c == 0x7F for c in raw):
            return 400, "The request target contains a control byte or a space."
        if not raw.startswith(b"/"):
            return 400, "The request target must be an absolute path."
        if not utf8(raw):
            return 400, "The request target is not UTF-8."
        fields = self.headers.items()
        if any(not TOKEN.fullmatch(k) for k, _ in fields):
            return 400, "A header field name is not a token (RFC 9112 §5.1)."
        if any(not utf8(v.encode("latin-1", errors="replace")) for _, v in fields):
            return 400, "A header field value is not UTF-8."
        size = sum(len(k) + len(v.encode("latin-1", errors="replace")) + 4 for k, v in fields)
        if size > limits.get("max_header_bytes", 32768):
            return 431, "The request's header section is larger than this server accepts."
        names = [k.lower() for k, _ in fields]
        cl = [v for k, v in fields if k.lower() == "content-length"]
        te = [v for k, v in fields if k.lower() == "transfer-encoding"]
        if te and cl:
            return 400, "Content-Length and Transfer-Encoding together are refused."
        if len(cl) > 1:
            return 400, "More than one Content-Length is refused."
        if cl and not re.fullmatch(r"[0-9]+", cl[0]):  # libmicrohttpd's own refusal first
            return 400, "The HTTP parser refused the request (status 400)."
        if len(te) > 1:
            return 400, "More than one Transfer-Encoding field is refused."
        if te and te[0].lower() != "chunked":
            return 501, "Only the chunked transfer coding is supported."
        if self.request_version == "HTTP/1.1" and names.count("host") != 1:
            return 400, "An HTTP/1.1 request needs exactly one Host field."
        return None

    def do(self):
        rid = os.urandom(16).hex()
        target = self.requestline.split()[1]  # as sent: http.server folds a leading //
        refused = self.refusal(target)
        if refused:
            status, hs, b = problem(*refused)
            return self.answer(status, hs, b, rid, close=True)
        n = int(self.headers.get("content-length") or 0)
        if self.headers.get("transfer-encoding"):
            status, hs, b = problem(501, "Only the chunked transfer coding is supported.")
            return self.answer(status, hs, b, rid, close=True)
        route, _ = self.host.manifest.route(target.partition("?")[0])
        if route is None:
            return self.answer(*problem(404, NO_ROUTE), rid, close=True)
        limit = self.host.manifest.functions[route["function"]]["body_limit"]
        if n > limit:  # refused unread, and the connection closes (server.c)
            return self.answer(*problem(413, too_large(limit)), rid, close=True)
        body = self.rfile.read(n) if n else b""
        headers = [(k, v.encode("latin-1").decode("utf-8")) for k, v in self.headers.items()]
        status, headers, data, logs, outcome = self.host.handle(
            self.command, target, headers, body, client_ip=self.client_address[0],
            request_id=rid)
        self.server.logs.extend(dict(line, request_id=rid) for line in logs)
        self.answer(status, headers, data, rid)

    def log_message(self, *args):
        pass


def serve(host, address="127.0.0.1", port=0):
    """An HTTP server over `host` on a thread; (server, port)."""
    cls = type("BoundHandler", (Handler,), {"host": host})
    srv = http.server.ThreadingHTTPServer((address, port), cls)
    srv.logs = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("invoke", "serve"):
        p = sub.add_parser(cmd)
        p.add_argument("--manifest", default=os.path.join(BUILD, "manifest.json"))
        p.add_argument("--state", default=os.path.join(ROOT, ".bastion-wasmtime"))
        p.add_argument("--components", default=os.path.join(BUILD, "wasmtime"))
    inv = sub.choices["invoke"]
    inv.add_argument("function", nargs="?", help="the function (or --cron JOB)")
    inv.add_argument("--method", default="GET")
    inv.add_argument("--path", help="path and query, e.g. /api/x?y=1")
    inv.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    inv.add_argument("--body", default="")
    inv.add_argument("--body-file")
    inv.add_argument("--cron", metavar="JOB", help="one run of a [[cron]] job instead")
    sub.choices["serve"].add_argument("--listen", default="127.0.0.1:8081")
    a = ap.parse_args(argv)
    host = ReferenceHost(a.manifest, a.state, components=a.components, dev=True)
    if a.cmd == "serve":
        addr, _, port = a.listen.rpartition(":")
        srv, port = serve(host, addr, int(port))
        print(f"serving on http://{addr}:{port} under Wasmtime {wasmtime_version()}",
              file=sys.stderr)
        threading.Event().wait()
    if a.cron:
        if a.cron not in host.manifest.crons:
            sys.exit(f"no cron job '{a.cron}' in {a.manifest}")
        status, hs, data, logs, outcome = host.cron(a.cron)
    else:
        if a.function not in host.manifest.functions or not a.path:
            sys.exit(f"invoke FUNCTION --path P: no function '{a.function}' in {a.manifest}")
        status, hs, data, logs, outcome = invoke_once(host, a)
    for line in logs:
        print(json.dumps(line), file=sys.stderr)
    print(f"status: {status}")
    for k, v in hs:
        print(f"{k}: {v}")
    print()
    sys.stdout.flush()
    sys.stdout.buffer.write(data + b"\n")
    if a.cron:  # as `bastion invoke --cron`: 0 for a 2xx answer
        return 0 if 200 <= status < 300 else 1
    return 0 if outcome is None else 1


def invoke_once(host, a):
    """The request `bastion invoke` makes from the command line's parts."""
    body = open(a.body_file, "rb").read() if a.body_file else a.body.encode()
    headers = [tuple(s.strip() for s in h.split(":", 1)) for h in a.header]
    path, _, query = a.path.partition("?")
    route, params = host.manifest.route(path)
    if route is not None and route["function"] != a.function:
        route, params = None, None
    req = rec(trigger="http", method=a.method, path=path, query=query,
              route=route["path"] if route else "", params=params or [],
              headers=[rec(name=k.lower(), value=v) for k, v in headers], body=body,
              client_ip="127.0.0.1", request_id=os.urandom(16).hex(), deadline_ms=0)
    return host.invoke(a.function, req)


def wasmtime_version():
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
