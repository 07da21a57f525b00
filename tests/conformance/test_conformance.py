"""Two engines, identical answers: every request of every corpus file here
(tests/conformance/*.json, README.md says the format) goes to `bastion serve`
and to the Wasmtime reference host (tests/wasmtime/host.py) from the same
starting state, clock and randomness, and each answer's status, headers and
body must be the same bytes after the normalisation below. One test per
request: a difference fails it with the request's name and the first byte
that differs.

BASTION_CONFORMANCE_DIR=DIR replays another directory of corpus files."""
import base64
import calendar
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "wasmtime"))

from conftest import (AUTH_SECRET, BASTION, BUILD, ROOT, FakeEmail, FakePayments,  # noqa
                      FakeSMS, Server, TEST_VARS, b64url, migrate)
import conftest  # noqa: E402
import host as wasmtime_host  # noqa: E402

# both engines on SQLite whatever BASTION_TEST_BACKEND says: the reference host has no other
conftest.BACKEND = conftest.SQLITE

CORPUS_DIR = os.environ.get("BASTION_CONFORMANCE_DIR", HERE)
CLOCK_MS = 1780272000000  # 2026-06-01T00:00:00Z: both hosts' modules see this instant
SEED = 20261203
# Headers either host sets on its own, compared by neither
UNCOMPARED = {"date", "x-request-id", "connection", "keep-alive"}
HOST_HEADER = "localhost"
# the headers of a function's outbound calls that are compared (the rest is the HTTP client's)
COMPARED_OUTBOUND = {"authorization", "content-type", "idempotency-key"}


def corpus_files():
    return sorted(glob.glob(os.path.join(CORPUS_DIR, "*.json")))


def load(path):
    with open(path) as f:
        doc = json.load(f)
    for i, r in enumerate(doc["requests"]):
        r.setdefault("name", f"request {i + 1}")
    return doc


def cases():
    out = []
    for path in corpus_files():
        doc = load(path)
        base = os.path.basename(path)[:-5]
        for i, r in enumerate(doc["requests"]):
            out.append(pytest.param(path, i, id=f"{base}:{i + 1}:{r['name']}"))
    return out


# --- the request's bytes, the same for both engines ------------------------

def jwt(claims, n):
    """An HS256 token of the bundle's contract, issued at the fixed clock."""
    now = CLOCK_MS // 1000
    body = {"iss": "bastion", "aud": "bastion-api", "sub": "user-1", "role": "user",
            "jti": f"conformance-{n}", "iat": now, "exp": now + 3600}
    body.update(claims)
    signing = (b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
               b64url(json.dumps(body, separators=(",", ":")).encode()))
    sig = hmac.new(AUTH_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def body_of(r):
    if "json" in r:
        return json.dumps(r["json"], separators=(",", ":")).encode()
    if "body_b64" in r:
        return base64.b64decode(r["body_b64"])
    return r.get("body", "").encode()


def request_bytes(r, n):
    """(method, target, headers, body) of corpus request r, the n-th of its file."""
    body = body_of(r)
    headers = [("Host", HOST_HEADER)]
    if "json" in r:
        headers.append(("Content-Type", "application/json"))
    auth = r.get("auth")
    if auth:
        claims = {"role": "admin", "sub": "admin-1"} if auth == "admin" else \
            {"role": "user", "sub": auth.split(":", 1)[1]} if isinstance(auth, str) else auth
        headers.append(("Authorization", "Bearer " + jwt(claims, n)))
    sign = r.get("sign")
    if sign == "stripe":
        t = CLOCK_MS // 1000
        secret = TEST_VARS["BASTION_VAR_stripe_webhook_secrets"].split(",")[0]
        v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        headers.append(("Stripe-Signature", f"t={t},v1={v1}"))
    elif sign == "shopify":
        mac = hmac.new(TEST_VARS["BASTION_VAR_shopify_api_secret"].encode(), body,
                       hashlib.sha256).digest()
        headers.append(("X-Shopify-Hmac-Sha256", base64.b64encode(mac).decode()))
    elif sign is not None:
        raise ValueError(f"unknown sign {sign!r}: stripe or shopify")
    headers += list(r.get("headers", {}).items())
    return r.get("method", "GET"), r["path"], headers, body


def send(port, method, target, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if (body or method in ("POST", "PUT", "PATCH")) and \
                not any(k.lower() == "content-length" for k, _ in headers):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


# --- what must differ, made equal ------------------------------------------

TIMESTAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.\d+)?Z?")
EPOCH_MS = re.compile(rb"(?<![0-9])1[0-9]{12}(?![0-9])")
STORE_CLOCK_SLACK_S = 86400


def normalise(status, headers, body):
    """Status, the compared headers (sorted) and the body: the response's own
    request id → <request-id>; a time on the stores' real clock (SQLite's
    datetime('now'), within a day of now, as a date-time or epoch ms) →
    <store-time>. The modules' own times are on the fixed clock, months
    away, and stay byte for byte."""
    rid = next((v for k, v in headers if k.lower() == "x-request-id"), None)
    if rid:
        body = body.replace(rid.encode(), b"<request-id>")
    now = time.time()

    def stamp(m):
        try:
            t = calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))
        except (ValueError, OverflowError):
            return m.group(0)
        return b"<store-time>" if abs(t - now) < STORE_CLOCK_SLACK_S else m.group(0)

    def ms(m):
        return b"<store-time>" if abs(int(m.group(0)) / 1000 - now) < STORE_CLOCK_SLACK_S \
            else m.group(0)
    body = EPOCH_MS.sub(ms, TIMESTAMP.sub(stamp, body))
    hs = sorted((k.lower(), v) for k, v in headers if k.lower() not in UNCOMPARED)
    return status, hs, body


def render(status, headers, body):
    return (f"{status}\n" + "".join(f"{k}: {v}\n" for k, v in headers) + "\n").encode() + body


def first_difference(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return n


# --- both engines over one corpus file -------------------------------------

def seed_state(state, doc):
    for db, statements in doc.get("state", {}).get("sql", {}).items():
        if not re.fullmatch(r"[a-z0-9_-]+", db):
            raise ValueError(f"state.sql: {db!r} is not a database name")
        conn = sqlite3.connect(os.path.join(state, "sql", db + ".sqlite"), isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            for st in statements:
                conn.execute(st)
        finally:
            conn.close()
    kv = doc.get("state", {}).get("kv", [])
    if kv:
        conn = sqlite3.connect(os.path.join(state, "kv.sqlite"), isolation_level=None)
        try:
            conn.executescript(wasmtime_host.KV_SCHEMA)  # the hosts make it on first use
            for e in kv:
                exp = wasmtime_host.wall_ms() + e["ttl_ms"] if e.get("ttl_ms") else 0
                conn.execute("INSERT INTO kv(store,key,value,expires_at) VALUES(?,?,?,?)",
                             (e["store"], e["key"].encode(), e["value"].encode(), exp))
        finally:
            conn.close()


class Payments(FakePayments):
    """FakePayments with checkout session ids counted, not random: both
    engines' providers answer the same bytes."""

    def answer(self, path, raw, mode, headers):
        status, out = super().answer(path, raw, mode, headers)
        if path == "/v1/checkout/sessions" and status == 200:
            sid = f"cs_test_{len(self.received)}"
            out.update(id=sid, url=f"https://checkout.example/c/pay/{sid}")
        return status, out


# each engine's own fake providers, by the variable that points a function at them
PROVIDERS = {"email": ("email_api_base", FakeEmail), "payments": ("payments_api_base", Payments),
             "sms": ("sms_api_base", FakeSMS)}


class Run:
    """One corpus file through both engines, request by request, in order."""

    def __init__(self, path):
        self.doc = load(path)
        manifest = self.manifest = os.path.join(BUILD, "manifest.json")
        self.tmp = tempfile.mkdtemp(prefix="bastion-conformance-")
        native_state = os.path.join(self.tmp, "native")
        wasm_state = self.wasm_state = os.path.join(self.tmp, "wasmtime")
        os.makedirs(native_state)
        migrate(manifest, native_state)
        shutil.copytree(native_state, wasm_state)
        seed_state(native_state, self.doc)
        seed_state(wasm_state, self.doc)
        self.fakes = [{name: cls() for name, (_, cls) in PROVIDERS.items()} for _ in range(2)]
        env = dict(BASTION_TEST_CLOCK_MS=str(CLOCK_MS), BASTION_TEST_RANDOM_SEED=str(SEED),
                   **self.doc.get("env", {}))
        bases = [{"BASTION_VAR_" + PROVIDERS[name][0]: fake.base for name, fake in f.items()}
                 for f in self.fakes]
        self.native = Server(manifest, env=dict(env, **bases[0]), state=native_state,
                             runtime_config=None).start()
        wasm_env = dict(os.environ, **TEST_VARS, **env, **bases[1])
        self.host = wasmtime_host.ReferenceHost(manifest, wasm_state, env=wasm_env)
        self.wasm_srv, self.wasm_port = wasmtime_host.serve(self.host)
        self.results = {}
        self.seen = {}

    def result(self, i):
        while len(self.results) <= i:
            n = len(self.results)
            r = self.doc["requests"][n]
            for name, mode in r.get("providers", {}).items():
                for fakes in self.fakes:
                    fakes[name].mode = mode
            try:
                if "cron" in r:
                    answers = (self.native_cron(r["cron"]), self.wasm_cron(r["cron"]))
                else:
                    req = request_bytes(r, n + 1)
                    answers = (send(self.native.port, *req), send(self.wasm_port, *req))
                self.results[n] = tuple(a + (self.outbound(side),)
                                        for side, a in enumerate(answers))
            except Exception as e:  # kept, so no later test sends it again
                self.results[n] = e
        if isinstance(self.results[i], Exception):
            raise self.results[i]
        return self.results[i]

    def outbound(self, side):
        """What this engine's functions sent its fake providers since the last
        request, as bytes to compare: provider, path, the headers a function
        chooses, body."""
        out = []
        for name, fake in sorted(self.fakes[side].items()):
            calls = fake.calls()
            seen = self.seen.get((side, name), 0)
            self.seen[(side, name)] = len(calls)
            for c in calls[seen:]:
                hs = {k: v for k, v in sorted(c["headers"].items()) if k in COMPARED_OUTBOUND}
                out.append(f"> {name} POST {c['path']} {json.dumps(hs)}\n{c['body']}\n")
        return "".join(out).encode()

    # A job's run is a process of its own on both sides (`bastion invoke --cron`
    # and a fresh reference host), so each counts its instances from 1.
    def native_cron(self, job):
        out = subprocess.run([BASTION, "invoke", "--cron", job, *self.native.store_args(),
                              "--env-file", os.path.join(self.native.state, "no.env")],
                             capture_output=True, cwd=ROOT, env=self.native.env, timeout=120)
        head, _, body = out.stdout.partition(b"\n\n")
        lines = head.decode().splitlines()
        if not lines or not lines[0].isdigit():
            raise RuntimeError(f"bastion invoke --cron {job}: exit {out.returncode}: "
                               f"{out.stdout!r} {out.stderr.decode()[-2000:]}")
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        return int(lines[0]), headers, body

    def wasm_cron(self, job):
        ref = wasmtime_host.ReferenceHost(self.manifest, self.wasm_state, env=self.host.env)
        status, headers, body, logs, outcome = ref.cron(job)
        # as `bastion invoke` prints it: values trimmed, a newline after the body
        headers = [(k.strip(), v.strip()) for k, v in headers]
        return status, headers, body if body.endswith(b"\n") or not body else body + b"\n"

    def close(self):
        self.native.stop()
        self.wasm_srv.shutdown()
        for fakes in self.fakes:
            for f in fakes.values():
                f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


RUNS = {}


@pytest.fixture(scope="module", autouse=True)
def close_runs():
    yield
    for run in RUNS.values():
        run.close()
    RUNS.clear()


@pytest.mark.parametrize("path,index", cases())
def test_conformance_same_answer(path, index):
    run = RUNS.get(path)
    if run is None:
        for other in list(RUNS):
            RUNS.pop(other).close()
        run = RUNS[path] = Run(path)
    native, wasm = run.result(index)
    a = render(*normalise(*native[:3])) + b"\n" + native[3]
    b = render(*normalise(*wasm[:3])) + b"\n" + wasm[3]
    if a != b:
        n = first_difference(a, b)
        name = run.doc["requests"][index]["name"]
        pytest.fail(f"{os.path.basename(path)} request {index + 1} ({name}): the answers (and the provider calls after them) differ "
                    f"at byte {n}:\n  bastion serve: {a[max(0, n - 60):n + 60]!r}\n"
                    f"  wasmtime:      {b[max(0, n - 60):n + 60]!r}", pytrace=False)
    expect = run.doc["requests"][index].get("expect")
    if expect is not None:
        assert native[0] == expect, (f"{run.doc['requests'][index]['name']}: both engines answered "
                                     f"{native[0]}, the corpus expects {expect}: {native[2][:300]!r}")
