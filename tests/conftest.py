"""Shared pytest fixtures: a real `build/bastion serve` on a random loopback
port with a temporary state directory, and a tiny HTTP client."""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: looks into SQLite's own files; "
                            "deselected when the suite runs on Redis + PostgreSQL")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
BASTION = os.environ.get("BASTION_BIN", os.path.join(BUILD, "bastion"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


# Values for the bundle's variables in tests. Tests mint tokens with this
# secret; the email provider base is pointed at the fake by the fixtures.
AUTH_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
TEST_VARS = {
    "BASTION_VAR_auth_jwt_secret": AUTH_SECRET,
    "BASTION_VAR_email_api_key": "test-email-key",
    "BASTION_VAR_permit_token_secret": "test-permit-secret-0123456789abcdef0123456789",
    "BASTION_VAR_assessment_token_secret": "test-assessment-secret-0123456789abcdef012345",
    "BASTION_VAR_stripe_webhook_secrets": "whsec_test_current_0123456789abcdef",
    "BASTION_VAR_shopify_api_secret": "shpss_test_0123456789abcdef",
    "BASTION_VAR_payments_api_key": "sk_test_0123456789abcdef",
    "BASTION_VAR_sms_api_key": "sms_test_0123456789abcdef",
    "BASTION_VAR_match_api_key": "match_test_0123456789abcdef",
    "BASTION_VAR_job_action_token_secret": "test-job-action-secret-0123456789abcdef0123",
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(claims=None, secret=AUTH_SECRET, header=None, **overrides):
    """An HS256 JWT under the bundle's contract (iss bastion, aud bastion-api,
    a fresh jti, as the login route issues them)."""
    now = int(time.time())
    body = {"iss": "bastion", "aud": "bastion-api", "sub": "user-1", "role": "user",
            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 300}
    body.update(claims or {})
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    head = header or {"alg": "HS256", "typ": "JWT"}
    signing = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(body).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def link_token(resource, expires_s, purpose, master):
    """A core signed link token (token.h) minted here, to reach states a live link
    cannot (expired, another purpose, another key):
    BASE64URL(0x01 ‖ expiry u64 BE ‖ nonce[16] ‖ resource ‖ HMAC-SHA256(key, all before)),
    key = HMAC(HMAC("bastion/token/v1", master), "bastion/token/v1/" ‖ purpose ‖ 0x01)."""
    prk = hmac.new(b"bastion/token/v1", master.encode(), hashlib.sha256).digest()
    key = hmac.new(prk, b"bastion/token/v1/" + purpose.encode() + b"\x01",
                   hashlib.sha256).digest()
    raw = b"\x01" + expires_s.to_bytes(8, "big") + os.urandom(16) + resource.encode()
    return b64url(raw + hmac.new(key, raw, hashlib.sha256).digest())


def flip(token, i=None):
    """The token with one character changed (its middle one by default)."""
    i = len(token) // 2 if i is None else i
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def admin_headers():
    return bearer(mint_jwt(role="admin", sub="admin-1"))


def user_headers(sub="user-1"):
    return bearer(mint_jwt(role="user", sub=sub))


class FakeProvider:
    """A fake HTTP API on loopback: every POST is recorded (path, headers with lower-case
    names, raw body) and answered by answer(path, raw, mode) -> (status, JSON value, or
    bytes sent as they are), except
    in mode 'hang', where it never answers. Tests switch `mode` and read calls()."""

    def __init__(self):
        fake = self
        self.mode = "accept"
        self.received = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake.lock:
                    fake.received.append(fake.record(self.path, headers, raw))
                    mode = fake.mode
                if mode == "hang":
                    time.sleep(30)
                    return
                status, out = fake.answer(self.path, raw, mode, headers)
                body = out if isinstance(out, bytes) else json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, path, headers, raw):
        return {"path": path, "headers": headers, "body": raw}

    def answer(self, path, raw, mode, headers):
        raise NotImplementedError

    def calls(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.server.shutdown()


class FakeEmail(FakeProvider):
    """The email provider: POST /emails. Modes 'accept', 'fail' (500) and 'hang'."""

    def record(self, path, headers, raw):
        return dict(super().record(path, headers, raw), json=json.loads(raw or "null"))

    def answer(self, path, raw, mode, headers):
        if mode == "fail":
            return 500, {"error": "down"}
        return 200, {"id": f"em_{len(self.received)}"}

    def sent_to(self, address):
        with self.lock:
            return [r["json"] for r in self.received if r["json"] and r["json"].get("to") == address]


class FakePayments(FakeProvider):
    """A Stripe-compatible payment API, form-encoded: POST /v1/subscriptions/{id} (the
    subscription with the form applied) and POST /v1/checkout/sessions (a new session with
    its url). Modes: 'accept', 'refuse' (402 card_error), 'fail' (500), 'hang',
    'unconfirmed' (200 without the change asked for)."""

    PERIOD_END_S = 4102444800  # 2100-01-01T00:00:00Z, every subscription's period end

    def record(self, path, headers, raw):
        return dict(super().record(path, headers, raw), form=dict(urllib.parse.parse_qsl(raw)))

    def answer(self, path, raw, mode, headers):
        if mode == "refuse":
            return 402, {"error": {"type": "card_error", "message": "declined"}}
        if mode == "fail":
            return 500, {"error": {"type": "api_error"}}
        form = dict(urllib.parse.parse_qsl(raw))
        if path == "/v1/checkout/sessions":
            sid = "cs_test_" + uuid.uuid4().hex
            return 200, {"id": sid, "object": "checkout.session", "mode": form.get("mode"),
                         "url": f"https://checkout.example/c/pay/{sid}"}
        return 200, {"id": path.rsplit("/", 1)[-1], "object": "subscription",
                     "status": "active", "customer": "cus_fake",
                     "current_period_end": self.PERIOD_END_S,
                     "cancel_at_period_end": mode == "accept" and
                     form.get("cancel_at_period_end") == "true"}


class FakeSMS(FakeProvider):
    """An SMS provider: POST /messages {"to","from","body"} with Idempotency-Key. Modes:
    'accept', 'refuse' (400), 'fail' (500), 'hang'; `fail_one_in` = N fails the messages
    whose number's digit sum is a multiple of N (deterministic, about 1 in N). A key seen
    before answers its first message's id again and is no new message (as Stripe-style
    APIs do), so messages() is what a phone would have received."""

    fail_one_in = 0

    def __init__(self):
        self.delivered = {}
        super().__init__()

    def record(self, path, headers, raw):
        return dict(super().record(path, headers, raw), json=json.loads(raw or "null"))

    def answer(self, path, raw, mode, headers):
        msg = json.loads(raw or "null") or {}
        if mode == "refuse":
            return 400, {"error": {"message": "invalid number"}}
        digits = sum(int(c) for c in str(msg.get("to", "")) if c.isdigit())
        if mode == "fail" or (self.fail_one_in and digits % self.fail_one_in == 0):
            return 500, {"error": {"message": "carrier down"}}
        key = headers.get("idempotency-key")
        with self.lock:
            if key not in self.delivered:
                self.delivered[key] = dict(msg, id=f"sm_{len(self.delivered) + 1}")
            return 200, {"id": self.delivered[key]["id"], "status": "queued"}

    def messages(self):
        with self.lock:
            return list(self.delivered.values())


class held_lock:
    """BEGIN EXCLUSIVE on one of the server's SQLite databases, from another process'
    connection, until the block ends (at most `hold_s`). The files are WAL: the server's
    reads go on, its writes wait (for their budget) until the lock is gone."""

    def __init__(self, srv, db, hold_s=12):
        self.path = os.path.join(srv.state, "sql", db + ".sqlite")
        self.hold_s = hold_s
        self.locked, self.done = threading.Event(), threading.Event()

    def _hold(self):
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.locked.set()
            self.done.wait(self.hold_s)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def __enter__(self):
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(15)


# --- store backends ------------------------------------------------------
# "sqlite" is the embedded default; "redis+postgres" puts kv on the test
# run's Redis and sql on its PostgreSQL (tests/servers.sh, started by
# ./build.sh test), each server in a fresh PostgreSQL database and under its
# own Redis key prefix so tests do not see each other's rows.
SQLITE, REMOTE = "sqlite", "redis+postgres"
BACKENDS = [SQLITE, REMOTE]
# The backend every Server uses unless told otherwise: the functions-remote
# layer runs the whole function suite with BASTION_TEST_BACKEND=redis+postgres
# (tests marked sqlite_only, which look into SQLite's files, are deselected).
BACKEND = os.environ.get("BASTION_TEST_BACKEND", SQLITE)
# BASTION_TEST_NATIVE=1: every host command runs the native-handler build instead of the
# modules (serve/invoke --native, host/native/native.c), the benchmark's baseline, which
# must answer the function suite alike (tests marked wasm_only look at what only a module
# has: its memory, its traps).
NATIVE = os.environ.get("BASTION_TEST_NATIVE") == "1"


def server_env(name):
    v = os.environ.get(name)
    if not v:
        raise RuntimeError(f"{name} is not set: run the tests through ./build.sh test, "
                           "which starts Redis and PostgreSQL (tests/servers.sh)")
    return v


def redis_command(*args):
    """One command to the test run's Redis (RESP over a socket); its reply
    as an int, bytes, None or a list."""
    port = int(server_env("BASTION_TEST_REDIS_PORT"))
    out = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() if isinstance(x, str) else x
                                                  for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(out)
        f = s.makefile("rb")

        def reply():
            line = f.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b":":
                return int(rest)
            if kind == b"+":
                return rest
            if kind == b"-":
                raise RuntimeError(rest.decode())
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2]
            return [reply() for _ in range(int(rest))]
        return reply()


def pg_database():
    """A fresh, empty PostgreSQL database on the test run's server; its URL."""
    base = server_env("BASTION_TEST_PG_URL")
    name = "t_" + os.urandom(6).hex()
    subprocess.run(["psql", base, "-qAtc", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    return base.rsplit("/", 1)[0] + "/" + name


RUNTIME_TOML = "runtime.toml"


def runtime_config(backend, directory, kv_prefix=None, pg_url=None):
    """Writes a runtime.toml for `backend` into directory; its path (None
    for SQLite, which needs no file)."""
    if backend == SQLITE:
        return None
    kv_prefix = kv_prefix or "t" + os.urandom(6).hex() + ":"
    path = os.path.join(directory, RUNTIME_TOML)
    with open(path, "w") as f:
        f.write(f'[kv.default]\nbackend = "redis"\nurl = "{server_env("BASTION_TEST_REDIS_URL")}"\n'
                f'key_prefix = "{kv_prefix}"\n\n'
                f'[sql.default]\nbackend = "postgres"\nurl = "{pg_url or pg_database()}"\n')
    return path


class Server:
    def __init__(self, manifest, env=None, workers=4, state=None, runtime_config=None,
                 cron=False):
        self.manifest = manifest
        self.state = state or tempfile.mkdtemp(prefix="bastion-test-")
        self.port = free_port()
        self.log_path = os.path.join(self.state, "server.log")
        # every guest statement SQLite prepares afresh is explained into plans.jsonl
        # (host/stores/sqlite.c record_plan), for the tests of query paths (srv.plans())
        self.plans_path = os.path.join(self.state, "plans.jsonl")
        self.env = dict(os.environ, **TEST_VARS, **(env or {}))
        self.env["BASTION_TEST_SQL_PLANS"] = self.plans_path  # this server's, even in a copied env
        self.workers = workers
        if runtime_config is None and BACKEND != SQLITE:
            runtime_config = default_runtime_config(self.state)
        self.runtime_config = runtime_config
        self.backend = SQLITE if runtime_config is None else REMOTE
        self.proc = None
        # [[cron]] jobs run only where a test asks for them (serve --no-cron otherwise), so
        # no job changes a test's rows behind its back
        self.cron = cron

    def store_args(self):
        """--state, --manifest, --runtime-config and --native, for serve, invoke and migrate."""
        args = ["--state", self.state, "--manifest", self.manifest]
        args += ["--native"] if NATIVE else []
        return args + (["--runtime-config", self.runtime_config] if self.runtime_config else [])

    def migrate(self):
        subprocess.run([BASTION, "migrate", *self.store_args()], check=True,
                       capture_output=True, cwd=ROOT, env=self.env)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BASTION, "serve", "--listen", f"127.0.0.1:{self.port}", *self.store_args(),
             "--workers", str(self.workers), "--env-file", os.path.join(self.state, "no.env"),
             *([] if self.cron else ["--no-cron"])],
            stdout=self.log, stderr=self.log, env=self.env, cwd=ROOT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.logs())

    def plans(self, table):
        """{sql: plan details} of every statement naming `table` that SQLite prepared
        (EXPLAIN QUERY PLAN, recorded by the host under BASTION_TEST_SQL_PLANS)."""
        out = {}
        if os.path.exists(self.plans_path):
            with open(self.plans_path) as f:
                for line in f:
                    p = json.loads(line)
                    if re.search(rf"\b{re.escape(table)}\b", p["sql"]):
                        out[p["sql"]] = p["plan"]
        return out

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_lines(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode

    def pg_url(self):
        with open(self.runtime_config) as f:
            return f.read().split('backend = "postgres"\nurl = "')[1].split('"')[0]

    def sql(self, db, query, params=()):
        """Reads or writes a database of the running server directly (tests
        only; autocommit): SQLite's file, or the database's schema on
        PostgreSQL, with `?` parameters either way and rows as tuples of
        typed values."""
        if self.backend != SQLITE:
            return pg_rows(self.pg_url(), db, query, params)
        import sqlite3
        conn = sqlite3.connect(os.path.join(self.state, "sql", db + ".sqlite"), timeout=10,
                               isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)


def run_cron(srv, name, later_ms=0, timeout=120):
    """`bastion invoke --cron NAME` on the server's stores, its clock `later_ms` ahead (the
    host's test clock): (exit code, answer or None, log lines)."""
    env = dict(srv.env, BASTION_TEST_CLOCK_OFFSET_MS=str(later_ms))
    p = subprocess.run([BASTION, "invoke", "--cron", name, *srv.store_args()],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    lines = []
    for line in p.stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    body = json.loads(p.stdout.split("\n\n", 1)[1]) if "\n\n" in p.stdout else None
    return p.returncode, body, lines


def lease_free_twin(srv, tmp_path):
    """Another host (not started: for run_cron) on `srv`'s databases whose kv, and so whose
    [[cron]] leases, are its own, as when a job's lease is lost: on SQLite a state directory
    sharing srv's sql files, on PostgreSQL the same database under another Redis prefix.
    What keeps two runs of a job apart is then the job's own claims."""
    state = str(tmp_path / "twin")
    os.makedirs(state)
    if srv.backend == SQLITE:
        os.symlink(os.path.join(srv.state, "sql"), os.path.join(state, "sql"))
        config = None
    else:
        config = runtime_config(REMOTE, state, pg_url=srv.pg_url())
    twin = Server(srv.manifest, env={k: v for k, v in srv.env.items()
                                       if k.startswith("BASTION_") and k not in TEST_VARS},
                  state=state, runtime_config=config)
    twin.email = getattr(srv, "email", None)
    return twin


def default_runtime_config(state):
    return runtime_config(BACKEND, state)


def pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def pg_rows(url, db, query, params=()):
    """Runs `query` (`?` parameters, as sqlite3 takes them) in schema `db`
    through psql; rows come back typed through row_to_json."""
    parts = query.split("?")
    assert len(parts) == len(params) + 1, (query, params)
    text = parts[0] + "".join(pg_literal(p) + rest for p, rest in zip(params, parts[1:]))
    is_select = text.lstrip().upper().startswith(("SELECT", "WITH"))
    sql = f'SET search_path TO "{db}"; ' + (
        f"SELECT row_to_json(r) FROM ({text}) r" if is_select else text)
    out = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    if not is_select:
        return []
    return [tuple(json.loads(line, object_pairs_hook=lambda kv: [v for _, v in kv]))
            for line in out.stdout.splitlines() if line]


def migrate(manifest, state):
    """`bastion migrate` for a server's state (and its runtime config, if
    it has one: Server writes it into the state directory)."""
    rc = os.path.join(state, RUNTIME_TOML)
    args = ["--runtime-config", rc] if os.path.exists(rc) else []
    subprocess.run([BASTION, "migrate", "--state", state, "--manifest", manifest, *args],
                   check=True, capture_output=True, cwd=ROOT)


def serve_bundle(email, env=None, trusted_proxies=None):
    """A private, migrated server of the real bundle whose email goes to the
    fake `email`. With trusted_proxies, a copy of the manifest trusts them,
    so tests can choose client IPs through X-Forwarded-For."""
    manifest = os.path.join(BUILD, "manifest.json")
    if trusted_proxies is not None:
        with open(manifest) as f:
            doc = json.load(f)
        doc["trusted_proxies"] = list(trusted_proxies)
        manifest = os.path.join(tempfile.mkdtemp(prefix="bastion-manifest-"), "manifest.json")
        with open(manifest, "w") as f:
            json.dump(doc, f)
    srv = Server(manifest, env={"BASTION_VAR_email_api_base": email.base, **(env or {})})
    srv.email = email
    migrate(manifest, srv.state)
    return srv.start()


def serve_with_fake_email(env=None):
    """For a fixture (`yield from`): a private, migrated server of the real bundle whose
    email goes to its own FakeEmail (srv.email); both stopped after."""
    fake = FakeEmail()
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest, env={"BASTION_VAR_email_api_base": fake.base, **(env or {})})
    srv.email = fake
    migrate(manifest, srv.state)
    srv.start()
    yield srv
    assert srv.stop() == 0
    fake.close()


@pytest.fixture(scope="module")
def email():
    """A fake email provider; the bundle fixture points email_api_base at it."""
    fake = FakeEmail()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def bundle(email):
    """The real bundle (manifest.toml), migrated and served."""
    manifest = os.path.join(BUILD, "manifest.json")
    # the shared server takes many joins from one IP; CONC2 tests use their own
    srv = Server(manifest, env={"BASTION_VAR_waitlist_joins_per_minute": "1000000",
                                "BASTION_VAR_email_api_base": email.base})
    srv.email = email
    migrate(manifest, srv.state)
    srv.start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def fixtures():
    """The host-test fixture bundle (tests/host/manifest.toml)."""
    manifest = os.path.join(BUILD, "test", "manifest.json")
    srv = Server(manifest, workers=4)
    srv.start()
    yield srv
    assert srv.stop() == 0


# A one-function bundle whose probe needs a required secret (REL8 tests).
PROBE_WITH_SECRET = (
    '[vars.signing_key]\nrequired = true\nsecret = true\n'
    '[functions.probe]\nsource = "tests/host/fixtures/probe"\nvars = ["signing_key"]\n'
    '[[routes]]\npath = "/config"\nfunction = "probe"\n')


def manifest_json(tmp_path, toml_text, name="m"):
    """Writes a manifest.toml for a test and converts it as build.sh does;
    returns the path of the JSON the host reads."""
    toml = tmp_path / f"{name}.toml"
    toml.write_text(toml_text)
    out = tmp_path / f"{name}.json"
    subprocess.run(["python3", "host/tools/manifest.py", str(toml), ROOT,
                    os.path.join(BUILD, "test"), str(out)], check=True, cwd=ROOT)
    return str(out)


class sql_trigger:
    """A trigger a test puts on a running server's table for the length of a
    `with` block, on either backend: subclasses set `create` and `drop`."""

    def __init__(self, srv, db):
        self.srv, self.db = srv, db

    def __enter__(self):
        self.srv.sql(self.db, self.create)
        return self

    def __exit__(self, *exc):
        self.srv.sql(self.db, self.drop)


class failing_trigger(sql_trigger):
    """Makes every `event` (INSERT, UPDATE, DELETE) on `table` in a running
    server's database fail inside SQLite, as a CHECK or a foreign key would:
    RAISE(ABORT) is a constraint failure, the WIT's `conflict` case. A module
    must answer that 500, never 409 (only a lost guard is a conflict)."""

    def __init__(self, srv, db, table, event):
        super().__init__(srv, db)
        self.name = f"test_fail_{event.lower()}_{table}"
        if srv.backend == SQLITE:
            self.create = (f"CREATE TRIGGER {self.name} BEFORE {event} ON {table} "
                           "BEGIN SELECT RAISE(ABORT, 'test trigger says no'); END")
            self.drop = f"DROP TRIGGER {self.name}"
        else:  # the same on PostgreSQL: a check_violation (SQLSTATE 23514)
            self.create = (f"CREATE FUNCTION {self.name}() RETURNS trigger LANGUAGE plpgsql AS "
                           "$f$ BEGIN RAISE EXCEPTION 'test trigger says no' "
                           "USING ERRCODE = '23514'; END $f$; "
                           f"CREATE TRIGGER {self.name} BEFORE {event} ON {table} "
                           f"FOR EACH ROW EXECUTE FUNCTION {self.name}()")
            self.drop = f"DROP FUNCTION {self.name}() CASCADE"


class slow_trigger:
    """Makes every UPDATE of a row of `table` take a while inside the
    database (PostgreSQL: pg_sleep; SQLite, which has no sleep: a counted
    cross join), so concurrent requests that all read the row before the
    first write commits really do race for the write."""

    def __init__(self, srv, db, table):
        self.srv, self.db, self.table = srv, db, table

    def __enter__(self):
        if self.srv.backend == "sqlite":
            self.srv.sql(self.db, "CREATE TABLE test_slow_rows (n INTEGER)")
            self.srv.sql(self.db, "INSERT INTO test_slow_rows (n) VALUES " +
                         ", ".join(f"({i})" for i in range(160)))
            self.srv.sql(self.db, f"CREATE TRIGGER test_slow BEFORE UPDATE ON {self.table} "
                                  "BEGIN SELECT count(*) FROM test_slow_rows a, test_slow_rows b, "
                                  "test_slow_rows c; END")
        else:
            self.srv.sql(self.db, "CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql "
                                  "AS $f$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $f$; "
                                  f"CREATE TRIGGER test_slow BEFORE UPDATE ON {self.table} "
                                  "FOR EACH ROW EXECUTE FUNCTION test_slow()")
        return self

    def __exit__(self, *exc):
        if self.srv.backend == "sqlite":
            self.srv.sql(self.db, "DROP TRIGGER test_slow")
            self.srv.sql(self.db, "DROP TABLE test_slow_rows")
        else:
            self.srv.sql(self.db, "DROP FUNCTION test_slow() CASCADE")


def new_tenant():
    """A fresh tenant id, so plan usage and write limits in kv never leak between tests."""
    return "t-" + uuid.uuid4().hex[:12]


def pointers(p):
    """The sorted pointers of a 422 problem's errors."""
    return sorted(e["pointer"] for e in p["errors"])


def walk(srv, path, headers, limit, between=None):
    """Every item of a list, page by page; `between` runs after each page."""
    seen, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        r = srv.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""),
                    headers=headers)
        assert r.status == 200, r
        page = r.json()
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between:
            between()


def subscribe(srv, tenant, status="active", price="price_pro_test", period_end_ms=None):
    """A subscription of `tenant` in database billing, as stripe-webhook writes one."""
    now = int(time.time())
    cus, sub = "cus_" + uuid.uuid4().hex[:14], "sub_" + uuid.uuid4().hex[:14]
    srv.sql("billing", "INSERT INTO stripe_customers (stripe_customer_id, tenant, created_at) "
                       "VALUES (?, ?, ?)", (cus, tenant, now * 1000))
    srv.sql("billing", "INSERT INTO subscriptions (stripe_subscription_id, tenant, "
                       "stripe_customer_id, status, price_id, current_period_end, "
                       "cancel_at_period_end, event_created, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (sub, tenant, cus, status, price,
             period_end_ms or (now + 30 * 86400) * 1000, now, now * 1000))


def assert_problem(r, status, cls=None):
    """ERR1: every non-2xx is RFC 9457 problem+json with the extensions."""
    assert r.status == status, r
    assert r.headers["content-type"] == "application/problem+json", r
    p = r.json()
    for k in ("type", "title", "status", "detail", "class", "retryable"):
        assert k in p, (k, p)
    assert p["status"] == status
    if cls:
        assert p["class"] == cls, p
    if status in (429, 503):
        assert int(r.headers["retry-after"]) >= 1, r
    return p
