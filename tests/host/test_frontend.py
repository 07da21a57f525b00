"""The HTTP/1.1 front end: connection limits and slow clients (SAFE1), strict
framing (SAFE2), host-made answers as problem+json and overload (SAFE5),
graceful stop and the access log's route parameters (OBS1, OBS2).

Raw sockets wherever http.client would normalise the bytes. Every socket is
bounded in time, every server is one this file started, and every address is
on loopback (the server listens on 127.0.0.1; a second client address,
127.0.0.2, plays "someone else")."""
import http.client
import http.server
import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BUILD, ROOT, Response, Server, assert_problem

FIXTURE_BUILD = os.path.join(BUILD, "test")
OTHER_IP = "127.0.0.2"

# The fixture functions a private server runs, with their [functions.*] keys.
FUNCTIONS = {
    "counter": {"source": "tests/host/fixtures/counter", "timeout_ms": 2000},
    "spin": {"source": "tests/host/fixtures/spin", "timeout_ms": 500},
    "trap": {"source": "tests/host/fixtures/trap", "timeout_ms": 2000},
    "probe": {"source": "tests/host/fixtures/probe", "timeout_ms": 10000, "kv": ["probe"],
              "body_limit": 65536, "outbound": ["http://127.0.0.1:*"]},
}
ROUTES = [("/counter", "counter"), ("/counter/{token}", "counter"), ("/spin", "spin"),
          ("/trap/unreachable", "trap"), ("/kv", "probe"), ("/http", "probe")]


def write_manifest(directory, server=None, functions=None):
    """A private bundle of the fixture modules: [server] keys from `server`,
    per-function overrides from `functions` ({name: {key: value}})."""
    lines = ["[server]", "trusted_proxies = []"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in (server or {}).items()]
    for name, keys in FUNCTIONS.items():
        keys = dict(keys, **(functions or {}).get(name, {}))
        lines += ["", f"[functions.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    for path, fn in ROUTES:
        lines += ["", "[[routes]]", f"path = {json.dumps(path)}", f"function = {json.dumps(fn)}"]
    toml = os.path.join(str(directory), "frontend.toml")
    out = os.path.join(str(directory), "frontend.json")
    with open(toml, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["python3", "host/tools/manifest.py", toml, ROOT, FIXTURE_BUILD, out],
                   check=True, cwd=ROOT)
    return out


def private_server(directory, server=None, functions=None):
    return Server(write_manifest(directory, server, functions)).start()


# --- raw HTTP ---------------------------------------------------------------

def connect(port, src="127.0.0.1", timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def read_until_close(s, timeout):
    """Everything the peer sends until it closes. Returns (data, closed):
    closed is True on EOF or reset within `timeout`, False if still open."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def read_one_response(s, timeout):
    """Reads exactly one response (Content-Length framed) off a keep-alive
    socket; returns (RawResponse, leftover bytes) or (None, data) on EOF."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, _, rest = data.partition(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v.strip())
            if len(rest) >= n:
                return parse_responses(head + b"\r\n\r\n" + rest[:n])[0], rest[n:]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete response within {timeout}s: {data[:300]!r}")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            return None, data
        data += chunk


class RawResponse(Response):
    def __init__(self, status, header_list, body):
        super().__init__(status, header_list, body)
        self.header_list = header_list

    def all(self, name):
        return [v for k, v in self.header_list if k.lower() == name]

    def closes(self):
        return any(t.strip().lower() == "close"
                   for v in self.all("connection") for t in v.split(","))


def parse_responses(data):
    """Splits a byte stream into the HTTP/1.1 responses it holds."""
    out = []
    whole = data
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"not a sequence of HTTP responses: {whole[:800]!r}"
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1.") and len(parts) >= 2, \
            f"not a sequence of HTTP responses: {whole[:800]!r}"
        status = int(parts[1])
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        names = {k.lower(): v for k, v in headers}
        if "content-length" in names:
            n = int(names["content-length"])
            body, data = rest[:n], rest[n:]
        elif "chunked" in names.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    _, _, data = rest.partition(b"\r\n")
                    break
                body, rest = body + rest[:size], rest[size + 2:]
        elif status in (204, 304) or 100 <= status < 200:
            body, data = b"", rest
        else:
            body, data = rest, b""
        out.append(RawResponse(status, headers, body))
    return out


def exchange(port, raw, timeout=2.0, src="127.0.0.1"):
    """Sends `raw` at once and reads until the server closes. Returns
    (responses, closed)."""
    with connect(port, src) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it read everything: the answer is still queued
        data, closed = read_until_close(s, timeout)
    return parse_responses(data), closed


def kv_body(op, key, value=None):
    body = {"op": op, "key": key}
    if value is not None:
        body["value"] = value
    return json.dumps(body).encode()


def kv_set_request(key, target=b"/kv", extra=b""):
    """A complete, valid kv write whose effect a later read can see."""
    body = kv_body("set", key.decode() if isinstance(key, bytes) else key, "ran")
    return (b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def kv_get(srv, key):
    r = srv.post("/kv", {"op": "get", "key": key})
    assert r.status == 200, r
    return r.json()["ok"]


def problem_of(r, status, cls=None):
    """assert_problem over a raw response, with a readable failure."""
    assert r.status == status, r
    assert r.headers.get("content-type") == "application/problem+json", r
    return assert_problem(r, status, cls)


# --- SAFE2: strict framing --------------------------------------------------

def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def framing_cases(first="first"):
    """(id, status, first request bytes without the smuggled one). Each first
    request is a kv write of key `first`; each would run on a lenient server."""
    b = kv_body("set", first, "ran")
    head = b"POST /kv HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    cases = [
        # CL.TE: a CL reader and a TE reader both see the smuggled request next
        ("cl_and_te", 400, head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         + b"0\r\n\r\n"),
        ("te_and_cl", 400, head + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n"
         % len(b) + b),
        ("cl_twice_different", 400, head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
         % (len(b), len(b) + 2) + b + b"\r\n"),
        ("cl_twice_equal", 400, head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
         % (len(b), len(b)) + b),
    ]
    bad_lengths = [b"abc", b"-1", b"1, 2", b"+5", b"0x5", b"%d, %d" % (len(b), len(b) + 1)]
    for i, bad in enumerate(bad_lengths):
        cases.append((f"cl_malformed_{i}", 400, head + b"Content-Length: " + bad + b"\r\n\r\n"
                      + b))
    for i, te in enumerate([b"gzip", b"chunked, gzip", b"gzip, chunked", b"identity"]):
        cases.append((f"te_unknown_{i}", 501, head + b"Transfer-Encoding: " + te + b"\r\n\r\n"
                      + chunked(b)))
    cases.append(("http11_without_host", 400, b"POST /kv HTTP/1.1\r\nContent-Type: "
                  b"application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b))
    for ctl in (0x00, 0x01, 0x1F, 0x7F):
        cases.append((f"target_ctl_{ctl:02x}", 400,
                      b"POST /kv?x=a" + bytes([ctl]) + b"b HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b))
    cases.append(("target_nul_in_path", 400, b"POST /kv\x00/x HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b))
    chunk_head = head + b"Transfer-Encoding: chunked\r\n\r\n"
    for i, body in enumerate([
            b"zz\r\n" + b + b"\r\n0\r\n\r\n",                    # non-hex size
            b"0x%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n",        # 0x prefix (strtoul's)
            b"+%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n",         # sign
            b"%x\r\n" % len(b) + b + b"XX0\r\n\r\n",            # no CRLF after the data
            b"%x\r\n" % (len(b) - 4) + b + b"\r\n0\r\n\r\n"]):  # size shorter than the data
        cases.append((f"chunked_bad_{i}", 400, chunk_head + body))
    cases.append(("target_too_long", 414,
                  b"POST /kv?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\nContent-Type: "
                  b"application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b))
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 2000) for i in range(20))
    cases.append(("headers_too_big", 431, head + pad + b"Content-Length: %d\r\n\r\n" % len(b)
                  + b))
    cases.append(("one_header_too_big", 431, head + b"X-Big: " + b"q" * 33000 + b"\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b))
    # what a module receives are WIT strings: bytes that are not UTF-8 in the
    # target or a field value are refused (the canonical ABI allows no other)
    cases.append(("target_not_utf8", 400, b"POST /kv?x=\xff HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b))
    cases.append(("header_value_not_utf8", 400, head + b"X-Name: caf\xe9\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b))
    cases.append(("header_value_overlong_utf8", 400, head + b"X-Name: \xc0\xaf\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b))
    # RFC 9112 5.1: whitespace between a field name and the colon is a 400
    cases.append(("space_before_colon", 400, head + b"Transfer-Encoding : chunked\r\n"
                  b"Content-Length: 5\r\n\r\n0\r\n\r\n"))
    return cases


FRAMING = [(name, status) for name, status, _ in framing_cases()]


@pytest.mark.parametrize("name,status", FRAMING, ids=[c[0] for c in FRAMING])
def test_SAFE2_bad_framing_is_refused_and_nothing_is_smuggled(fixtures, name, status):
    first = f"first-{name}-{uuid.uuid4().hex}"
    second = f"smuggled-{name}-{uuid.uuid4().hex}"
    raw = {n: r for n, _, r in framing_cases(first)}[name]
    # a lenient parser would take the pipelined kv write as the next request
    responses, closed = exchange(fixtures.port, raw + kv_set_request(second.encode()))
    assert len(responses) == 1, (name, responses)
    r = responses[0]
    problem_of(r, status)
    assert r.closes(), (name, r.header_list)
    assert closed, f"{name}: the connection stayed open after the {status}"
    time.sleep(0.1)
    assert kv_get(fixtures, second) is None, f"{name}: the smuggled request ran"
    assert kv_get(fixtures, first) is None, f"{name}: the malformed request ran"
    assert fixtures.get("/counter").status == 200


def test_SAFE2_valid_pipelined_requests_are_both_answered(fixtures):
    """The control: the same probe writes, well framed, do run and answer, so
    the refusals above are about the framing."""
    a, b = f"pipe-a-{uuid.uuid4().hex}", f"pipe-b-{uuid.uuid4().hex}"
    body = kv_body("set", a, "ran")
    raw = (b"POST /kv HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body)
           + kv_set_request(b.encode(), extra=b"Connection: close\r\n"))
    responses, closed = exchange(fixtures.port, raw, timeout=5)
    assert [r.status for r in responses] == [200, 200], responses
    assert closed
    assert kv_get(fixtures, a) == "ran" and kv_get(fixtures, b) == "ran"


def test_SAFE2_target_of_exactly_8192_bytes_is_accepted(fixtures):
    key = f"long-{uuid.uuid4().hex}"
    base = b"/kv?pad="
    target = base + b"a" * (8192 - len(base))
    assert len(target) == 8192
    responses, _ = exchange(fixtures.port, kv_set_request(key.encode(), target=target,
                                                          extra=b"Connection: close\r\n"))
    assert [r.status for r in responses] == [200], responses
    assert kv_get(fixtures, key) == "ran"
    responses, _ = exchange(fixtures.port, kv_set_request(b"x", target=target + b"a"))
    assert [r.status for r in responses] == [414], responses


def test_SAFE2_headers_under_the_limit_are_accepted(fixtures):
    key = f"hdrs-{uuid.uuid4().hex}"
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(28))  # ~28.5 KB
    responses, _ = exchange(fixtures.port, kv_set_request(key.encode(),
                                                          extra=pad + b"Connection: close\r\n"))
    assert [r.status for r in responses] == [200], responses
    assert kv_get(fixtures, key) == "ran"


def test_SAFE2_target_and_header_limits_follow_the_manifest(tmp_path):
    srv = private_server(tmp_path, {"max_target_bytes": 1024, "max_header_bytes": 4096})
    try:
        base = b"/counter?pad="
        for size, status in ((1024, 200), (1025, 414)):
            target = base + b"a" * (size - len(base))
            responses, _ = exchange(srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n"
                                    b"Connection: close\r\n\r\n")
            assert [r.status for r in responses] == [status], (size, responses)
        for n, status in ((3, 200), (6, 431)):
            pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(n))
            responses, closed = exchange(srv.port, b"GET /counter HTTP/1.1\r\nHost: t\r\n" + pad
                                         + b"Connection: close\r\n\r\n")
            assert [r.status for r in responses] == [status], (n, responses)
            assert closed
        problem_of(responses[0], 431)
    finally:
        assert srv.stop() == 0


def test_SAFE2_http10_without_host_is_served(fixtures):
    """Host is required of HTTP/1.1 only."""
    responses, _ = exchange(fixtures.port, b"GET /counter HTTP/1.0\r\n\r\n")
    assert [r.status for r in responses] == [200], responses


# --- SAFE5: what the host answers itself ------------------------------------

def test_a_path_parameter_that_decodes_to_other_than_utf8_matches_no_route(fixtures):
    """A route parameter is a WIT string: %FF (or an overlong %C0%AF) decodes to
    bytes no module may receive, so the segment matches no parameter (404),
    like %00 and %2F; a UTF-8 one reaches the module decoded."""
    for bad in ("%FF", "%C0%AF", "caf%E9"):
        assert_problem(fixtures.get(f"/echo/{bad}"), 404)
    r = fixtures.get("/echo/caf%C3%A9")
    assert r.status == 200 and r.json()["params"] == {"id": "café"}, r


def test_SAFE5_host_made_errors_are_problems(fixtures):
    p = assert_problem(fixtures.get("/nowhere"), 404)
    assert p["retryable"] is False
    r = fixtures.post("/counter", b"")
    assert_problem(r, 405)
    assert "GET" in r.headers.get("allow", ""), r
    assert_problem(fixtures.post("/kv", b"x" * 70000, headers={"Content-Type": "text/plain"}),
                   413, "validation")
    assert_problem(fixtures.get("/trap/unreachable"), 500, "internal")
    t0 = time.monotonic()
    assert_problem(fixtures.get("/spin"), 504)
    assert time.monotonic() - t0 < 1.5
    assert fixtures.get("/counter").status == 200


def test_SAFE5_chunked_body_over_the_limit_is_413_problem(fixtures):
    key = f"big-{uuid.uuid4().hex}"
    body = kv_body("set", key, "v" * 70000)
    raw = (b"POST /kv HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
           b"\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                              for c in (body[i:i + 8000] for i in range(0, len(body), 8000)))
           + b"0\r\n\r\n")
    responses, _ = exchange(fixtures.port, raw, timeout=5)
    assert len(responses) == 1, responses
    problem_of(responses[0], 413)
    assert kv_get(fixtures, key) is None


def test_SAFE5_garbage_request_line_is_400_problem(fixtures):
    """A request line with three parts that is still wrong is answered 400
    problem+json and closed. One that is no request line at all may get
    just the close (RFC 9112 3: SHOULD 400), but never libmicrohttpd's page."""
    responses, closed = exchange(fixtures.port,
                                 b"GET /counter HTTP/1.1 extra\r\nHost: t\r\n\r\n")
    assert len(responses) == 1, responses
    problem_of(responses[0], 400)
    assert closed
    for raw in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET /counter\r\nHost: t\r\n\r\n"):
        responses, closed = exchange(fixtures.port, raw)
        assert len(responses) <= 1, (raw, responses)
        for r in responses:
            problem_of(r, 400)
        assert closed, raw


def timed_get(port, path, out, src="127.0.0.1", timeout=10):
    """GET on a fresh connection; appends (status, seconds, Response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(src, 0))
    t0 = time.monotonic()
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        out.append((resp.status, time.monotonic() - t0, resp))
    except OSError as e:
        out.append((None, time.monotonic() - t0, e))
    finally:
        conn.close()


def test_SAFE5_overload_answers_503_with_retry_after_at_once(tmp_path):
    srv = private_server(tmp_path, {"exec_workers": 2, "exec_queue": 2})
    try:
        out, lock = [], threading.Lock()
        start = threading.Barrier(20)

        def go():
            res = []
            start.wait()
            timed_get(srv.port, "/spin", res)
            with lock:
                out.extend(res)

        threads = [threading.Thread(target=go) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(out) == 20, out
        assert all(s in (503, 504) for s, _, _ in out), [(s, round(d, 2)) for s, d, _ in out]
        assert any(s == 504 for s, _, _ in out), "no /spin ran at all"
        fast = [(s, d, r) for s, d, r in out if s == 503 and d < 0.3]
        # 2 running + 2 queued at most: the other 16 are refused at once
        assert len(fast) >= 16, [(s, round(d, 2)) for s, d, _ in out]
        for s, _, r in out:
            if s == 503:
                p = assert_problem(r, 503)
                assert p["retryable"] is True, p
        assert srv.get("/counter").status == 200  # slots came back
    finally:
        assert srv.stop() == 0


class SlowUpstream:
    """A loopback HTTP server whose GET /slow answers after `delay` s."""

    def __init__(self, delay):
        up = self
        self.hits = 0
        self.delay = delay
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with up.lock:
                    up.hits += 1
                time.sleep(up.delay)
                out = b"slow-ok"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_hits(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.hits >= n:
                    return
            time.sleep(0.01)
        raise AssertionError(f"upstream saw {self.hits} of {n} calls")

    def close(self):
        self.server.shutdown()
        self.server.socket.close()


def timed_post(port, path, body, out, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        out.append((resp.status, time.monotonic() - t0, resp))
    except OSError as e:
        out.append((None, time.monotonic() - t0, e))
    finally:
        conn.close()


def test_SAFE5_request_past_its_deadline_in_the_queue_is_503(tmp_path):
    """Two slow calls hold both workers for ~1 s; a queued /spin (500 ms
    deadline, counted from its head) cannot run in time → 503; a queued
    /counter (2 s) still runs once a worker is free."""
    up = SlowUpstream(1.0)
    limits = {"max_concurrency": 4}
    srv = private_server(tmp_path, {"exec_workers": 2, "exec_queue": 4},
                         {"probe": limits, "spin": limits, "counter": limits})
    try:
        slow, spins, count = [], [], []
        call = {"method": "GET", "url": up.url}
        threads = [threading.Thread(target=timed_post, args=(srv.port, "/http", call, slow))
                   for _ in range(2)]
        for t in threads:
            t.start()
        up.wait_hits(2)
        more = [threading.Thread(target=timed_get, args=(srv.port, "/spin", spins))
                for _ in range(2)]
        for t in more:
            t.start()
        time.sleep(0.05)
        more.append(threading.Thread(target=timed_get, args=(srv.port, "/counter", count)))
        more[-1].start()
        for t in threads + more:
            t.join(20)
        assert [s for s, _, _ in slow] == [200, 200], slow
        assert all(r.json()["ok"]["body"] == "slow-ok" for _, _, r in slow), slow
        assert [s for s, _, _ in spins] == [503, 503], spins
        for _, d, r in spins:
            assert_problem(r, 503)
            assert d < 2.0, d
        assert [s for s, _, _ in count] == [200], count
    finally:
        assert srv.stop() == 0
        up.close()


# --- SAFE1: slow and greedy clients -------------------------------------------

HEAD_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A private server with small limits for the slow-client tests."""
    srv = private_server(tmp_path_factory.mktemp("limited"), {
        "max_connections": 64, "max_connections_per_ip": 16,
        "head_timeout_ms": int(HEAD_TIMEOUT * 1000), "body_min_bytes_per_s": 1024})
    yield srv
    assert srv.stop() == 0


class Dribblers:
    """`n` connections from 127.0.0.1 that each send one byte of a request
    head every `period` s (the first `idle` of them send nothing). A slot
    the server closed reconnects at its next tick, so the pressure holds."""

    HEAD = b"GET /counter HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 4096

    def __init__(self, port, n=240, idle=40, period=0.5):
        self.port, self.n, self.idle, self.period = port, n, idle, period
        self.stop = threading.Event()
        self.connects = 0
        self.closed_by_server = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)

    def run(self):
        sel = selectors.DefaultSelector()
        slots = [{"sock": None, "pos": 0, "next": time.monotonic() + i * self.period / self.n}
                 for i in range(self.n)]

        def drop(slot, by_server):
            if slot["sock"] is not None:
                try:
                    sel.unregister(slot["sock"])
                except (KeyError, ValueError):
                    pass
                slot["sock"].close()
            slot["sock"] = None
            slot["pos"] = 0
            slot["next"] = time.monotonic() + self.period
            if by_server:
                self.closed_by_server += 1

        try:
            while not self.stop.is_set():
                now = time.monotonic()
                for i, slot in enumerate(slots):
                    if now < slot["next"]:
                        continue
                    slot["next"] = now + self.period
                    if slot["sock"] is None:
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.setblocking(False)
                        s.bind(("127.0.0.1", 0))
                        s.connect_ex(("127.0.0.1", self.port))
                        slot["sock"] = s
                        sel.register(s, selectors.EVENT_READ, slot)
                        self.connects += 1
                    elif i >= self.idle:
                        try:
                            slot["pos"] += slot["sock"].send(self.HEAD[slot["pos"]:slot["pos"] + 1])
                        except BlockingIOError:
                            pass
                        except OSError:
                            drop(slot, True)
                for key, _ in sel.select(timeout=0.02):
                    slot = key.data
                    try:
                        data = key.fileobj.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        drop(slot, True)
        finally:
            for slot in slots:
                drop(slot, False)
            sel.close()


def test_SAFE1_slow_clients_from_one_address_do_not_deny_others(limited):
    with Dribblers(limited.port) as attack:
        time.sleep(1.5)
        out = []
        for _ in range(16):
            timed_get(limited.port, "/counter", out, src=OTHER_IP, timeout=5)
            time.sleep(0.2)
        connects = attack.connects
    assert connects >= 240, connects  # the pressure was on
    slow = [(s, round(d, 2)) for s, d, _ in out if s != 200 or d > 1.0]
    assert not slow, slow
    time.sleep(0.5)
    assert limited.get("/counter").status == 200  # and 127.0.0.1 gets back in after


def held_connections(port, n, src="127.0.0.1"):
    socks = []
    try:
        for _ in range(n):
            s = connect(port, src)
            s.sendall(b"GET /counter HTTP/1.1\r\n")
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def assert_refused_at_once(port, src, within=0.5):
    """A connection past a cap: refused, or accepted and closed at once (an
    answer, if any, is a problem)."""
    t0 = time.monotonic()
    try:
        s = connect(port, src, timeout=within)
    except (ConnectionRefusedError, ConnectionResetError):
        return
    with s:
        data, closed = read_until_close(s, within)
    assert closed, f"a connection from {src} past the cap was kept open"
    assert time.monotonic() - t0 < within + 0.2
    for r in parse_responses(data):
        problem_of(r, 503)


def assert_all_open(socks):
    """None of `socks` has been closed by the server (nor sent anything)."""
    for s in socks:
        s.setblocking(False)
        try:
            got = s.recv(1)
            raise AssertionError(f"a connection under the cap was answered or closed: {got!r}")
        except BlockingIOError:
            pass
        finally:
            s.setblocking(True)


def settle_after_start():
    """Server.start() probes the port with a connection of its own; let the
    server see that one close before a test counts connections."""
    time.sleep(0.3)


def test_SAFE1_per_ip_cap_refuses_at_once_and_others_still_get_in(tmp_path):
    srv = private_server(tmp_path, {"max_connections_per_ip": 16, "head_timeout_ms": 8000})
    socks = []
    try:
        settle_after_start()
        socks = held_connections(srv.port, 16)
        time.sleep(0.3)
        assert_all_open(socks)  # all 16 are in
        assert_refused_at_once(srv.port, "127.0.0.1")
        out = []
        timed_get(srv.port, "/counter", out, src=OTHER_IP, timeout=5)
        assert out[0][0] == 200 and out[0][1] < 1.0, out
        assert_all_open(socks)  # and still live
        socks[0].sendall(b"Host: t\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_until_close(socks[0], 3)[0])
        assert [r.status for r in responses] == [200], responses
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.5)
        out = []
        timed_get(srv.port, "/counter", out, src="127.0.0.1", timeout=5)
        assert out[0][0] == 200, out  # the slots were given back
    finally:
        for s in socks:
            s.close()
        assert srv.stop() == 0


def test_SAFE1_total_connection_cap(tmp_path):
    srv = private_server(tmp_path, {"max_connections": 8, "head_timeout_ms": 8000})
    socks = []
    try:
        settle_after_start()
        for i in range(8):
            socks += held_connections(srv.port, 1, src=f"127.0.0.{10 + i}")
        time.sleep(0.3)
        assert_all_open(socks)
        assert_refused_at_once(srv.port, "127.0.0.30")
        socks.pop().close()
        time.sleep(0.5)
        out = []
        timed_get(srv.port, "/counter", out, src="127.0.0.31", timeout=5)
        assert out[0][0] == 200, out
    finally:
        for s in socks:
            s.close()
        assert srv.stop() == 0


def closed_while_dribbling(s, payload, every, limit):
    """Sends one byte of `payload` every `every` s until the server closes.
    Returns (seconds until closed or None, what the server sent)."""
    t0 = time.monotonic()
    data = b""
    i = 0
    while time.monotonic() - t0 < limit:
        if i < len(payload):
            try:
                s.sendall(payload[i:i + 1])
                i += 1
            except OSError:
                return time.monotonic() - t0, data
        s.settimeout(every)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0, data
        if not chunk:
            return time.monotonic() - t0, data
        data += chunk
    return None, data


def assert_only_problems(data):
    for r in parse_responses(data):
        assert 400 <= r.status < 500 and \
            r.headers.get("content-type") == "application/problem+json", r


def test_SAFE1_head_dribbled_byte_by_byte_is_cut_at_the_head_timeout(limited):
    head = b"GET /counter HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"d" * 500
    with connect(limited.port) as s:
        took, data = closed_while_dribbling(s, head, 0.1, HEAD_TIMEOUT + 4)
    assert took is not None, "still open although the head never completed"
    assert HEAD_TIMEOUT - 0.3 < took < HEAD_TIMEOUT + 2.0, took
    assert_only_problems(data)


def test_SAFE1_idle_new_connection_is_closed_at_the_head_timeout(limited):
    t0 = time.monotonic()
    with connect(limited.port) as s:
        data, closed = read_until_close(s, HEAD_TIMEOUT + 4)
    took = time.monotonic() - t0
    assert closed, "an idle connection was kept"
    assert HEAD_TIMEOUT - 0.3 < took < HEAD_TIMEOUT + 2.0, took
    assert_only_problems(data)


def test_SAFE1_idle_keep_alive_is_closed_after_the_head_timeout(limited):
    with connect(limited.port) as s:
        s.sendall(b"GET /counter HTTP/1.1\r\nHost: t\r\n\r\n")
        r, rest = read_one_response(s, 5)
        assert r is not None and r.status == 200 and not r.closes(), r
        t0 = time.monotonic()
        data, closed = read_until_close(s, HEAD_TIMEOUT + 4)
    took = time.monotonic() - t0
    assert closed, "an idle keep-alive connection was kept"
    assert HEAD_TIMEOUT - 0.3 < took < HEAD_TIMEOUT + 2.0, took
    assert_only_problems(rest + data)


def test_SAFE1_head_timeout_restarts_after_each_response(limited):
    """Counted from the end of the previous response, not from the accept: a
    keep-alive client that asks every 0.6 s is served for 2.4 s."""
    with connect(limited.port) as s:
        for _ in range(4):
            s.sendall(b"GET /counter HTTP/1.1\r\nHost: t\r\n\r\n")
            r, rest = read_one_response(s, 5)
            assert r is not None and r.status == 200, (r, rest)
            time.sleep(0.6 * HEAD_TIMEOUT)


def slow_body_request(key, length):
    return (b"POST /kv HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


def padded_kv_set(key, size):
    body = kv_body("set", key, "")
    return kv_body("set", key, "v" * (size - len(body)))


def test_SAFE1_body_below_the_minimum_rate_is_cut(limited):
    key = f"slowbody-{uuid.uuid4().hex}"
    body = padded_kv_set(key, 60000)
    with connect(limited.port) as s:
        s.sendall(slow_body_request(key, len(body)))
        t0 = time.monotonic()
        # 100 bytes every 0.5 s: 200 B/s, far under 1024 B/s
        sent = 0
        took = None
        data = b""
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(body[sent:sent + 100])
                sent += 100
            except OSError:
                took = time.monotonic() - t0
                break
            got, closed = read_until_close(s, 0.5)
            data += got
            if closed:
                took = time.monotonic() - t0
                break
    assert took is not None, "a 200 B/s body was still being read after 8 s"
    assert 1.5 < took < 5.0, took  # the 2 s grace, then cut
    assert_only_problems(data)
    assert kv_get(limited, key) is None


def test_SAFE1_body_that_never_comes_is_cut(limited):
    with connect(limited.port) as s:
        s.sendall(slow_body_request("never", 60000))
        t0 = time.monotonic()
        data, closed = read_until_close(s, 8)
    took = time.monotonic() - t0
    assert closed, "a stalled body was waited for 8 s"
    assert 1.5 < took < 5.0, took
    assert_only_problems(data)


def test_SAFE1_body_at_a_fair_rate_is_read(limited):
    """The control: 20 KB/s for 3 s is well above the minimum and must pass."""
    key = f"fairbody-{uuid.uuid4().hex}"
    body = padded_kv_set(key, 60000)
    with connect(limited.port) as s:
        s.sendall(slow_body_request(key, len(body)))
        for i in range(0, len(body), 4000):
            s.sendall(body[i:i + 4000])
            time.sleep(0.2)
        r, _ = read_one_response(s, 5)
    assert r is not None and r.status == 200, r
    assert kv_get(limited, key) == "v" * (60000 - len(kv_body("set", key, "")))


# --- graceful stop --------------------------------------------------------------

def refused_within(port, limit):
    """Seconds until a connect to `port` is refused, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except ConnectionRefusedError:
            return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.02)
    return None


def test_SIGTERM_refuses_new_connections_and_finishes_in_flight(tmp_path):
    up = SlowUpstream(1.0)
    srv = private_server(tmp_path, {"drain_timeout_ms": 5000})
    keep = None
    try:
        keep = connect(srv.port)
        keep.sendall(b"GET /counter HTTP/1.1\r\nHost: t\r\n\r\n")
        r, _ = read_one_response(keep, 5)
        assert r.status == 200
        slow, spin = [], []
        threads = [threading.Thread(target=timed_post, args=(
            srv.port, "/http", {"method": "GET", "url": up.url}, slow)) for _ in range(2)]
        threads.append(threading.Thread(target=timed_get, args=(srv.port, "/spin", spin)))
        for t in threads:
            t.start()
        up.wait_hits(2)
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        refused = refused_within(srv.port, 1.0)
        assert refused is not None and refused < 0.5, refused
        # a request on an existing connection that was not running: 503 and close, or
        # just the close; never served
        try:
            keep.sendall(b"GET /counter HTTP/1.1\r\nHost: t\r\n\r\n")
        except OSError:
            pass  # already closed: fine
        data, closed = read_until_close(keep, 5)
        assert closed, "an existing connection was still served after SIGTERM"
        for resp in parse_responses(data):
            problem_of(resp, 503)
            assert resp.closes(), resp
        for t in threads:
            t.join(10)
        assert [s for s, _, _ in slow] == [200, 200], slow  # finished, normal answer
        assert all(r.json()["ok"]["body"] == "slow-ok" for _, _, r in slow), slow
        assert [s for s, _, _ in spin] == [504], spin
        rc = srv.proc.wait(timeout=10)
        took = time.monotonic() - t0
        assert rc == 0, srv.logs()[-2000:]
        assert took < 5.0, took  # within drain_timeout_ms
    finally:
        if keep:
            keep.close()
        srv.stop()
        up.close()


def test_SIGTERM_queued_requests_get_503_and_close(tmp_path):
    """Both workers busy with slow calls and a /counter waiting in the queue:
    on SIGTERM the waiting one is answered 503 + Connection: close, the
    running ones finish normally."""
    up = SlowUpstream(1.0)
    limits = {"max_concurrency": 4}
    srv = private_server(tmp_path, {"exec_workers": 2, "exec_queue": 4, "drain_timeout_ms": 5000},
                         {"probe": limits, "counter": limits})
    queued = None
    try:
        slow = []
        call = {"method": "GET", "url": up.url}
        threads = [threading.Thread(target=timed_post, args=(srv.port, "/http", call, slow))
                   for _ in range(2)]
        for t in threads:
            t.start()
        up.wait_hits(2)
        queued = connect(srv.port)
        queued.sendall(b"GET /counter HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        data, closed = read_until_close(queued, 5)
        responses = parse_responses(data)
        assert len(responses) == 1, responses
        problem_of(responses[0], 503)
        assert responses[0].closes(), responses[0].header_list
        assert closed
        for t in threads:
            t.join(10)
        assert [s for s, _, _ in slow] == [200, 200], slow
        assert srv.proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5.0
    finally:
        if queued:
            queued.close()
        srv.stop()
        up.close()


def test_SIGTERM_drain_is_bounded_by_drain_timeout(tmp_path):
    up = SlowUpstream(7.0)  # under probe's 8 s outbound budget and 10 s deadline
    srv = private_server(tmp_path, {"drain_timeout_ms": 1000})
    out = []
    t = threading.Thread(target=timed_post, args=(
        srv.port, "/http", {"method": "GET", "url": up.url}, out))
    try:
        t.start()
        up.wait_hits(1)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=6)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - t0
        assert srv.proc.poll() is not None and took < 1.0 + 1.5, \
            f"still draining {took:.1f}s after SIGTERM with drain_timeout_ms = 1000"
    finally:
        srv.stop()
        t.join(15)
        up.close()


# --- access log: route parameters are masked --------------------------------------

def mask(value):
    return value[:2] + "\u2026" + f"({len(value)})"


def test_OBS1_access_log_masks_route_parameters(tmp_path):
    srv = private_server(tmp_path)
    try:
        jwt = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwicm9sZSI6ImFkbWluIn0."
               "S1gNaTuReOfAJwtThatMustNotLeak0123456789ab")
        email = "alice.secret@example.com"
        query_email = "bob.hidden@example.org"
        seen = []
        for value in (jwt, email):
            r = srv.get(f"/counter/{value}?email={query_email}&token={jwt}x")
            assert r.status == 200, r
            seen.append((value, r.headers["x-request-id"]))
        miss = srv.get("/nowhere/tok_UNMATCHEDsecret987")
        assert_problem(miss, 404)
        time.sleep(0.2)
        lines = srv.log_lines()
        for value, rid in seen:
            access = [l for l in lines if l.get("type") == "access" and l.get("request_id") == rid]
            assert len(access) == 1, access
            a = access[0]
            assert a["route"] == "/counter/{token}", a
            assert a["param_token"] == mask(value), a
            assert a["status"] == "200", a
        rid = miss.headers["x-request-id"]
        access = [l for l in lines if l.get("type") == "access" and l.get("request_id") == rid]
        assert len(access) == 1 and access[0]["route"] == "", access
        text = srv.logs()
        for raw in (jwt, email, query_email, "S1gNaTuReOfAJwt", "alice.secret", "bob.hidden",
                    "tok_UNMATCHEDsecret987", "/counter/ey"):
            assert raw not in text, f"{raw!r} reached the server's log"
    finally:
        assert srv.stop() == 0
