"""Shared pytest fixtures: a real `build/bastion serve` on a random loopback
port with a temporary state directory, and a tiny HTTP client."""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

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


class Server:
    def __init__(self, manifest, env=None, workers=4, state=None):
        self.manifest = manifest
        self.state = state or tempfile.mkdtemp(prefix="bastion-test-")
        self.port = free_port()
        self.log_path = os.path.join(self.state, "server.log")
        self.env = dict(os.environ, **(env or {}))
        self.workers = workers
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BASTION, "serve", "--listen", f"127.0.0.1:{self.port}", "--state", self.state,
             "--manifest", self.manifest, "--workers", str(self.workers), "--env-file",
             os.path.join(self.state, "no.env")],
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


def migrate(manifest, state):
    subprocess.run([BASTION, "migrate", "--state", state, "--manifest", manifest], check=True,
                   capture_output=True, cwd=ROOT)


@pytest.fixture(scope="module")
def bundle():
    """The real bundle (manifest.toml), migrated and served."""
    manifest = os.path.join(BUILD, "manifest.json")
    # the shared server takes many joins from one IP; CONC2 tests use their own
    srv = Server(manifest, env={"BASTION_VAR_waitlist_joins_per_minute": "1000000"})
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
