"""The canonical-ABI layout round trip (roundtrip fixture).

Every WIT type of wit/bastion.wit crosses the boundary through the core's real
bindings (shared/src) and the host's (host/), and each field is compared
exactly: the module reports what it received with bytes and strings in hex,
s64/u64 as decimal strings and f64 as its IEEE 754 bits. A wrong size or
offset on either side (host/instance/abi_layout.h, shared/src/bindings_layout.h)
changes some field here, where a signature check (tests/component) cannot see
it.
"""
import ctypes
import ctypes.util
import http.server
import json
import os
import socket
import sqlite3
import struct
import tempfile
import threading
import time
import uuid

import pytest

from conftest import BUILD, Server

FN = "roundtrip"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
EVERY_BYTE = bytes(range(256))
UTF8 = "ä€😀 ✓"
DENIED_KV = "kv store 'secret' is not granted to function 'roundtrip'"
DENIED_DB = "database 'secret' is not granted to function 'roundtrip'"
DENIED_URL = "outbound URL not on the allow-list of 'roundtrip'"


def h(b):
    return (b.encode() if isinstance(b, str) else b).hex()


def pairs(items):
    return [[h(n), h(v)] for n, v in items]


def unpairs(items):
    return [(bytes.fromhex(n), bytes.fromhex(v)) for n, v in items]


@pytest.fixture(scope="module")
def rt():
    srv = Server(os.path.join(BUILD, "test", "manifest.json"))
    # a file that is not a database makes rtbad `unavailable`
    os.makedirs(os.path.join(srv.state, "sql"))
    with open(os.path.join(srv.state, "sql", "rtbad.sqlite"), "wb") as f:
        f.write(b"this is not a database" * 100)
    srv.start()
    yield srv
    assert srv.stop() == 0


def fixture_manifest_with(edit):
    """A copy of the fixtures' build/test/manifest.json changed by edit(doc),
    for a server of its own."""
    with open(os.path.join(BUILD, "test", "manifest.json")) as f:
        doc = json.load(f)
    edit(doc)
    path = os.path.join(tempfile.mkdtemp(prefix="bastion-manifest-"), "manifest.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def call(srv, *ops):
    r = srv.post("/rt/call", list(ops))
    assert r.status == 200, r
    out = r.json()
    assert len(out) == len(ops)
    return out


def one(srv, op):
    return call(srv, op)[0]


def err(case, detail=None, **extra):
    e = {"error": case, **extra}
    if detail is not None:
        e["detail"] = h(detail)
    return e


def raw(srv, data, timeout=10):
    """Sends bytes as they are; returns (status, [(name, value)…] as bytes, body)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = [tuple(part.strip(b" ") for part in line.split(b":", 1)) for line in lines[1:]]
        length = int(dict((n.lower(), v) for n, v in headers)[b"content-length"])
        while len(body) < length:
            chunk = s.recv(65536)
            assert chunk
            body += chunk
    return status, headers, body


def key():
    return "k-" + uuid.uuid4().hex


# --- types.request ------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_request_record_every_field(rt, method):
    body = EVERY_BYTE * 2 if method != "GET" else b""
    sent = [(b"Host", b"rt.example"), (b"X-One", b"1"), (b"x-two", b"two words, and more"),
            (b"X-Empty", b""), (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close")]
    target = b"/rt/echo/%C3%A4%C3%B6%20x/%F0%9F%98%80y?x=%00&y=%C3%A4+b&&z"
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(n + b": " + v + b"\r\n" for n, v in sent) + b"\r\n"
    t0 = int(time.time() * 1000)
    status, headers, out = raw(rt, head + body)
    t1 = int(time.time() * 1000)
    assert status == 200, out
    got = json.loads(out)
    request_id = dict((n.lower(), v) for n, v in headers)[b"x-request-id"]
    assert got.pop("trigger") == 0  # http
    assert bytes.fromhex(got.pop("method")) == method.encode()
    assert bytes.fromhex(got.pop("path")) == target.split(b"?")[0]
    assert bytes.fromhex(got.pop("query")) == b"x=%00&y=%C3%A4+b&&z"
    assert bytes.fromhex(got.pop("route")) == b"/rt/echo/{a}/{b}"
    assert unpairs(got.pop("params")) == [(b"a", "äö x".encode()), (b"b", "😀y".encode())]
    assert unpairs(got.pop("headers")) == [(n.lower(), v) for n, v in sent]
    assert bytes.fromhex(got.pop("body")) == body
    assert bytes.fromhex(got.pop("client_ip")) == b"127.0.0.1"
    assert bytes.fromhex(got.pop("request_id")) == request_id
    # deadline-ms: arrival (wall clock) + the function's timeout_ms (10 000)
    deadline = int(got.pop("deadline_ms"))
    assert t0 + 10000 - 5 <= deadline <= t1 + 10000 + 5, (t0, deadline, t1)
    assert got == {}


def test_request_record_cron_trigger():
    def cron(doc):
        doc["cron"] = [{"name": "rt-tick", "function": FN, "every_s": 1}]
    srv = Server(fixture_manifest_with(cron), cron=True).start()
    try:
        deadline = time.time() + 10
        line = None
        while time.time() < deadline and line is None:
            time.sleep(0.2)
            line = next((l for l in srv.log_lines() if l.get("msg") == "roundtrip cron"), None)
        assert line, srv.logs()
    finally:
        assert srv.stop() == 0
    got = json.loads(line["request"])
    assert got.pop("trigger") == 1  # cron
    assert bytes.fromhex(got.pop("method")) == b"POST"
    assert bytes.fromhex(got.pop("path")) == b"rt-tick"
    for empty in ("query", "route", "body", "client_ip"):
        assert got.pop(empty) == "", empty
    assert got.pop("params") == [] and got.pop("headers") == []
    assert bytes.fromhex(got.pop("request_id")).decode() == line["request_id"]
    assert int(got.pop("deadline_ms")) > int(time.time() * 1000) - 60000
    assert got == {}


# --- types.response -----------------------------------------------------------

@pytest.mark.parametrize("status", [200, 207, 418, 599])
def test_response_record_every_field(rt, status):
    # (no empty value: libmicrohttpd refuses to send one, MHD_add_response_header)
    module_headers = [(b"x-a", b"1"), (b"X-Mixed-Case", b"two words"),
                      (b"x-utf8", UTF8.encode()),
                      (b"content-type", b"application/octet-stream"), (b"x-a", b"again")]
    body = EVERY_BYTE[::-1] + b"\x00\x00\x00" + EVERY_BYTE
    spec = json.dumps({"status": status, "headers": pairs(module_headers), "body": h(body)})
    req = (b"POST /rt/respond HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\nContent-Length: " + str(len(spec)).encode() +
           b"\r\n\r\n" + spec.encode())
    got_status, headers, got_body = raw(rt, req)
    assert got_status == status
    names = {n.lower() for n, _ in module_headers}
    assert [(n, v) for n, v in headers if n.lower() in names] == module_headers
    assert got_body == body


# --- kv -----------------------------------------------------------------------

def kv(fn, k, **args):
    return {"op": "kv." + fn, "store": args.pop("store", "rt"), "key": h(k), **args}


def test_kv_get_option_none_some_empty_and_binary(rt):
    a, b, c = key() + "\x00ä😀", key(), key()
    assert call(rt,
                kv("get", a),
                kv("set", a, value=h(EVERY_BYTE * 3)),
                kv("get", a),
                kv("set", b, value=""),
                kv("get", b),
                kv("set", c, value=h(b"\x00")),
                kv("get", c),
                kv("get", a[:-1])) == [
        {"ok": None}, {"ok": None}, {"ok": h(EVERY_BYTE * 3)},
        {"ok": None}, {"ok": ""}, {"ok": None}, {"ok": "00"}, {"ok": None}]


def test_kv_bool_results_and_option_parameter(rt):
    a, b = key(), key()
    assert call(rt,
                kv("add", a, value=h(b"\x00\x01")),
                kv("add", a, value=h(b"other")),
                kv("get", a),
                # swap's `expected: option<list<u8>>`: none = must be absent
                kv("swap", a, expected=None, value=h(b"x")),
                kv("swap", a, expected=h(b"\x00"), value=h(b"x")),
                kv("swap", a, expected=h(b"\x00\x01"), value=h(EVERY_BYTE)),
                kv("get", a),
                kv("swap", b, expected=None, value=""),
                # some("") is not none: the key exists with an empty value
                kv("swap", b, expected=None, value=h(b"y")),
                kv("swap", b, expected="", value=h(b"y")),
                kv("get", b),
                kv("delete", a),
                kv("delete", a),
                kv("get", a)) == [
        {"ok": True}, {"ok": False}, {"ok": h(b"\x00\x01")},
        {"ok": False}, {"ok": False}, {"ok": True}, {"ok": h(EVERY_BYTE)},
        {"ok": True}, {"ok": False}, {"ok": True}, {"ok": h(b"y")},
        {"ok": True}, {"ok": False}, {"ok": None}]


def test_kv_increment_s64_edges(rt):
    a, b, c, d = key(), key(), key(), key()
    overflow = err("invalid", "kv increment: overflow")
    assert call(rt,
                kv("increment", a, delta=str(INT64_MAX)),
                kv("increment", a, delta="1"),
                kv("increment", a, delta=str(INT64_MIN)),
                kv("increment", b, delta=str(INT64_MIN)),
                kv("increment", b, delta="-1"),
                kv("increment", b, delta="0"),
                kv("set", c, value=h(str(INT64_MAX - 1))),
                kv("increment", c, delta="1"),
                kv("get", c),
                kv("increment", d, delta="-1"),
                kv("increment", d, delta="-4294967296"),
                kv("set", d, value=h("abc")),
                kv("increment", d, delta="1")) == [
        {"ok": str(INT64_MAX)}, overflow, {"ok": "-1"},
        {"ok": str(INT64_MIN)}, overflow, {"ok": str(INT64_MIN)},
        {"ok": None}, {"ok": str(INT64_MAX)}, {"ok": h(str(INT64_MAX))},
        {"ok": "-1"}, {"ok": "-4294967297"}, {"ok": None},
        err("invalid", "kv increment: value is not an integer")]


def test_kv_errors_in_every_result_layout(rt):
    k = key()
    denied = err("denied", DENIED_KV)
    assert call(rt,
                kv("get", k, store="secret"),
                kv("set", k, store="secret", value=""),
                kv("add", k, store="secret", value=""),
                kv("increment", k, store="secret", delta="1"),
                kv("swap", k, store="secret", expected=None, value=""),
                kv("delete", k, store="secret")) == [denied] * 6


def test_kv_timeout_while_the_store_is_locked(rt):
    k = key()
    assert one(rt, kv("set", k, value="")) == {"ok": None}  # kv.sqlite exists
    lock = sqlite3.connect(os.path.join(rt.state, "kv.sqlite"), timeout=10, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        t0 = time.monotonic()
        got = call(rt, kv("set", k, value="01"), kv("add", key(), value=""),
                   kv("increment", k, delta="1"), kv("get", k))
        elapsed = time.monotonic() - t0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    # budget_cache_ms = 500 (tests/host/manifest.toml) reached the host as timeout-ms
    assert got == [{"error": "timeout"}] * 3 + [{"ok": ""}]
    assert 1.4 <= elapsed < 5, elapsed


# --- sql ----------------------------------------------------------------------

def real(x):
    return ["real", struct.pack(">d", x).hex()]


def integer(n):
    return ["integer", str(n)]


def text(s):
    return ["text", h(s)]


def blob(b):
    return ["blob", h(b)]


NULL = ["null"]
VALUES = [NULL, integer(0), integer(-1), integer(INT64_MIN), integer(INT64_MAX),
          integer(2 ** 32), real(0.0), real(-0.0), real(1e308), real(-1.5), real(5e-324),
          real(float("inf")), text(""), text(UTF8), text("a\x00b"), blob(b""),
          blob(b"\x00\x00\x00"), blob(EVERY_BYTE)]
TYPES = {"null": "null", "integer": "integer", "real": "real", "text": "text", "blob": "blob"}


def query(sql, *params, db="rt"):
    return {"op": "sql.query", "db": db, "sql": sql, "params": list(params)}


def rows(columns, values, changes=0):
    return {"ok": {"columns": [h(c) for c in columns], "rows": values, "changes": str(changes)}}


def test_sql_value_every_case_as_parameter_and_result(rt):
    n = len(VALUES)
    sql = "SELECT " + ", ".join(f"${i + 1}" for i in range(n)) + ", " + \
        ", ".join(f"typeof(${i + 1})" for i in range(n))
    columns = [f"${i + 1}" for i in range(n)] + [f"typeof(${i + 1})" for i in range(n)]
    typeofs = [text(TYPES[v[0]]) for v in VALUES]
    assert one(rt, query(sql, *VALUES)) == rows(columns, [VALUES + typeofs])


def test_sql_rows_columns_changes_from_a_table(rt):
    t = "t_" + uuid.uuid4().hex[:8]
    insert = f'INSERT INTO {t} ("ä col", "b") VALUES ($1, $2), ($3, $4), ($5, $6) RETURNING rowid, *'
    params = [text(UTF8), blob(EVERY_BYTE), integer(INT64_MIN), real(-0.0), NULL, text("")]
    assert call(rt,
                query(f'CREATE TABLE {t} ("ä col", "b")'),
                query(f"SELECT * FROM {t}"),
                query(insert, *params),
                query(f'UPDATE {t} SET b = $1 WHERE "ä col" IS NOT NULL', integer(7)),
                query(f'SELECT "ä col" AS "😀", b FROM {t} ORDER BY rowid')) == [
        rows([], [], 0),
        rows(["ä col", "b"], [], 0),
        rows(["rowid", "ä col", "b"],
             [[integer(1)] + params[0:2], [integer(2)] + params[2:4], [integer(3)] + params[4:6]], 3),
        rows([], [], 2),
        rows(["😀", "b"], [[params[0], integer(7)], [params[2], integer(7)], [NULL, params[5]]], 0)]


def test_sql_query_errors_in_the_rows_result_layout(rt):
    t = "t_" + uuid.uuid4().hex[:8]
    state = rt.state
    assert call(rt,
                query(f"CREATE TABLE {t} (v UNIQUE)"),
                query(f"INSERT INTO {t} VALUES ($1), ($1)", integer(1)),
                query("SELEC 1"),
                query("SELECT 1", db="secret"),
                query("SELECT 1", db="rtbad")) == [
        rows([], [], 0),
        err("conflict", f"step: UNIQUE constraint failed: {t}.v"),
        err("invalid", 'prepare: near "SELEC": syntax error'),
        err("denied", DENIED_DB),
        err("unavailable", f"init {state}/sql/rtbad.sqlite: file is not a database")]


def test_sql_query_timeout(rt):
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    t0 = time.monotonic()
    assert one(rt, query(forever)) == {"error": "timeout"}
    assert 0.9 <= time.monotonic() - t0 < 5  # budget_db_ms = 1000


def stmt(sql, *params, expect=None):
    s = {"sql": sql, "params": list(params)}
    if expect is not None:
        s["expect"] = str(expect)
    return s


def transaction(*statements, db="rt"):
    return {"op": "sql.transaction", "db": db, "statements": list(statements)}


def test_sql_transaction_several_statements_and_expect_changes(rt):
    t = "t_" + uuid.uuid4().hex[:8]
    one(rt, query(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v)"))
    got = one(rt, transaction(
        stmt(f"INSERT INTO {t} (v) VALUES ($1), ($2)", text(UTF8), blob(b"\x00"), expect=2),
        stmt(f"INSERT INTO {t} (v) VALUES ($1) RETURNING id, v", real(1e308)),
        stmt(f"UPDATE {t} SET v = $1 WHERE id > $2", integer(INT64_MAX), integer(1), expect=2),
        stmt(f"DELETE FROM {t} WHERE id = $1", integer(99), expect=0),
        stmt(f"SELECT id, v, $1 FROM {t} ORDER BY id", NULL)))
    assert got == {"ok": [
        rows([], [], 2)["ok"],
        rows(["id", "v"], [[integer(3), real(1e308)]], 1)["ok"],
        rows([], [], 2)["ok"],
        rows([], [], 0)["ok"],
        rows(["id", "v", "$1"], [[integer(1), text(UTF8), NULL], [integer(2), integer(INT64_MAX), NULL],
                                 [integer(3), integer(INT64_MAX), NULL]], 0)["ok"]]}


def test_sql_transaction_guard_reads_expect_changes_exactly(rt):
    t = "t_" + uuid.uuid4().hex[:8]
    one(rt, query(f"CREATE TABLE {t} (v)"))
    insert2 = stmt(f"INSERT INTO {t} VALUES (1), (2)")
    count = query(f"SELECT count(*) FROM {t}")
    assert call(rt,
                # present with 0 is not absent
                transaction(insert2, stmt(f"INSERT INTO {t} VALUES (3)", expect=0)),
                # all 64 bits count: 2^32 + 2 is not 2
                transaction(stmt(insert2["sql"], expect=2 ** 32 + 2)),
                transaction(insert2, insert2, stmt(f"DELETE FROM {t}", expect=3)),
                # the index is a u32, not a byte
                transaction(*[stmt("SELECT 1")] * 299, stmt(insert2["sql"], expect=3)),
                count,
                # absent: any number of changes
                transaction(insert2, insert2),
                count) == [
        err("guard", statement=2),
        err("guard", statement=1),
        err("guard", statement=3),
        err("guard", statement=300),
        rows(["count(*)"], [[integer(0)]]),
        {"ok": [rows([], [], 2)["ok"], rows([], [], 2)["ok"]]},
        rows(["count(*)"], [[integer(4)]])]


def test_sql_transaction_errors_in_the_list_result_layout(rt):
    t = "t_" + uuid.uuid4().hex[:8]
    assert call(rt,
                query(f"CREATE TABLE {t} (v UNIQUE)"),
                transaction(stmt("SELECT 1"), stmt("SELEC 2")),
                transaction(stmt(f"INSERT INTO {t} VALUES (1)"), stmt(f"INSERT INTO {t} VALUES (1)")),
                transaction(stmt("SELECT 1"), db="secret"),
                query(f"SELECT count(*) FROM {t}")) == [
        rows([], [], 0),
        err("invalid", 'statement 2: prepare: near "SELEC": syntax error'),
        err("conflict", f"statement 2: step: UNIQUE constraint failed: {t}.v"),
        err("denied", DENIED_DB),
        rows(["count(*)"], [[integer(0)]])]


def test_sql_internal_error_too_many_databases():
    # a worker keeps one connection per database file (at most 32): past it
    # the host answers `internal`. Its own server: that worker stays full.
    dbs = [f"many{i:02d}" for i in range(40)]

    def grant(doc):
        doc["functions"][FN]["sql"] = dbs
    srv = Server(fixture_manifest_with(grant)).start()
    try:
        got = call(srv, *[query("SELECT 1", db=d) for d in dbs])
    finally:
        assert srv.stop() == 0
    ok = rows(["1"], [[integer(1)]])
    n = sum(1 for g in got if g == ok)
    assert 20 <= n < 40 and got == [ok] * n + [err("internal", "too many databases open on one worker")] * (40 - n)


# --- http-out -----------------------------------------------------------------

class Peer(http.server.BaseHTTPRequestHandler):
    """Records the request as it arrived; answers with exactly the bytes set."""
    protocol_version = "HTTP/1.1"
    seen = []
    answer = b""
    hang = False

    def handle_one_request(self):
        line = self.rfile.readline()
        if not line:
            self.close_connection = True
            return
        headers = []
        while True:
            l = self.rfile.readline()
            if l in (b"\r\n", b"\n", b""):
                break
            n, v = l.rstrip(b"\r\n").split(b":", 1)
            headers.append((n, v.strip()))
        length = int(dict((n.lower(), v) for n, v in headers).get(b"content-length", b"0"))
        Peer.seen.append((line.rstrip(b"\r\n"), headers, self.rfile.read(length)))
        if Peer.hang:
            time.sleep(5)
        self.wfile.write(Peer.answer)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def peer():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def send(url, method="PUT", headers=(), body=b""):
    return {"op": "http.send", "method": method, "url": url, "headers": pairs(headers),
            "body": h(body)}


def test_http_out_request_and_response_records(rt, peer):
    body_back = b"\x00" + EVERY_BYTE[::-1]
    back = [(b"X-A", b"1"), (b"x-b", b"two words"), (b"Content-Type", b"application/octet-stream"),
            (b"Content-Length", str(len(body_back)).encode()), (b"Connection", b"close")]
    Peer.answer = b"HTTP/1.1 207 Multi-Status\r\n" + \
        b"".join(n + b": " + v + b"\r\n" for n, v in back) + b"\r\n" + body_back
    Peer.hang = False
    Peer.seen.clear()
    out = [(b"x-one", b"1"), (b"X-Two", b"b c"), (b"x-three", UTF8.encode())]
    got = one(rt, send(f"http://127.0.0.1:{peer}/p/%C3%A4?q=1&r", headers=out, body=EVERY_BYTE))
    assert got == {"ok": {"status": 207, "headers": pairs([(n.lower(), v) for n, v in back]),
                          "body": h(body_back)}}
    line, headers, body = Peer.seen[-1]
    assert line == b"PUT /p/%C3%A4?q=1&r HTTP/1.1"
    assert [hv for hv in headers if hv[0].lower() in {b"x-one", b"x-two", b"x-three"}] == out
    assert body == EVERY_BYTE


def test_http_out_errors_in_the_response_result_layout(rt, peer):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    curl = ctypes.CDLL(ctypes.util.find_library("curl"))
    curl.curl_easy_strerror.restype = ctypes.c_char_p
    refused = curl.curl_easy_strerror(7).decode()  # CURLE_COULDNT_CONNECT
    assert call(rt,
                send(f"http://localhost:{peer}/"),
                send(f"http://127.0.0.1:{peer}/", headers=[(b"x-bad", b"a\r\nb")]),
                send(f"http://127.0.0.1:{closed}/")) == [
        err("denied", DENIED_URL),
        err("invalid", "header contains CR or LF"),
        err("unavailable", "outbound: " + refused)]


def test_http_out_timeout(rt, peer):
    Peer.hang = True
    try:
        t0 = time.monotonic()
        assert one(rt, send(f"http://127.0.0.1:{peer}/slow")) == {"error": "timeout"}
        assert 0.9 <= time.monotonic() - t0 < 4.5  # budget_external_ms = 1000
    finally:
        Peer.hang = False


# --- config and log -----------------------------------------------------------

def test_config_get_option_string(rt):
    assert call(rt, *[{"op": "config.get", "name": n} for n in
                      ("rt_set", "rt_empty", "rt_unset", "rt_hidden", "undeclared")]) == [
        {"ok": h("värde ✓ 😀")}, {"ok": ""}, {"ok": None}, {"ok": None}, {"ok": None}]


def test_log_write_level_message_fields(rt):
    tag = uuid.uuid4().hex
    fields = [("a", "1"), ("with space", UTF8), ("nul", "x\x00y"), ("empty", ""), ("msg", "kept")]
    ops = [{"op": "log.write", "level": level, "msg": f"{tag} {UTF8} {level}",
            "fields": pairs(fields)} for level in range(4)]
    assert call(rt, *ops) == [{"ok": None}] * 4
    lines = [l for l in rt.log_lines() if l.get("msg", "").startswith(tag)]
    assert len(lines) == 4, rt.logs()[-3000:]
    for level, line in zip(("debug", "info", "warn", "error"), lines):
        assert line.pop("level") == level and line.pop("fn") == FN
        assert line.pop("msg") == f"{tag} {UTF8} {['debug', 'info', 'warn', 'error'].index(level)}"
        line.pop("ts"), line.pop("request_id")
        assert line == {"a": "1", "with space": UTF8, "nul": "x\x00y", "empty": "",
                        "field_msg": "kept"}


def test_log_write_level_outside_the_enum_traps(rt):
    r = rt.post("/rt/call", [{"op": "log.write", "level": 4, "msg": "x", "fields": []}])
    assert r.status == 500, r
