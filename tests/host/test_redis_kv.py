"""kv on Redis (host/stores/redis_kv.c), beyond the conformance suite that
test_bindings.py runs on every backend: namespaces on one shared Redis,
binary keys and values, counters spelled as SQLite reads them, and Redis
dying, hanging or starting late while a host serves (never a hang; recovery
on the same port).

Kill and pause tests use a redis-server of their own on another loopback
port; the run's shared one (BASTION_TEST_REDIS_*) is never stopped."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import BASTION, BUILD, Server, free_port, redis_command, server_env

MANIFEST = os.path.join(BUILD, "test", "manifest.json")
BUDGET_S = 2.0  # the probe's kv budget: the core's default budget_cache_ms
DEADLINE_S = BUDGET_S + 1.5  # generous: a call may never take much longer
DOWN = ("unavailable", "timeout")


def key():
    return "k-" + uuid.uuid4().hex


def serve(url=None, prefix=None):
    """A fixture-bundle host with kv on Redis at `url` (the run's Redis by
    default) under its own key prefix; sql stays on SQLite."""
    url = url or server_env("BASTION_TEST_REDIS_URL")
    state = tempfile.mkdtemp(prefix="bastion-test-")
    prefix = prefix or "t" + os.urandom(6).hex() + ":"
    path = os.path.join(state, "runtime.toml")
    with open(path, "w") as f:
        f.write(f'[kv.default]\nbackend = "redis"\nurl = "{url}"\nkey_prefix = "{prefix}"\n')
    srv = Server(MANIFEST, workers=4, state=state, runtime_config=path)
    srv.prefix = prefix
    return srv.start()


def kv(srv, **body):
    r = srv.post("/kv", body)
    assert r.status == 200, r
    return r.json()


def timed_kv(srv, **body):
    t0 = time.monotonic()
    out = kv(srv, **body)
    return out, time.monotonic() - t0


@pytest.fixture(scope="module")
def shared():
    """A host on the run's shared Redis."""
    srv = serve()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def on_sqlite():
    srv = Server(MANIFEST, workers=4).start()
    yield srv
    assert srv.stop() == 0


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, in the
    foreground (its pid is ours), that the test may kill, pause and
    restart on the same port."""

    def __init__(self, *extra):
        self.extra = list(extra)
        self.binary = os.environ.get("BASTION_TEST_REDIS_SERVER") or "redis-server"
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bastion-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"redis-server on port {self.port} exited"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.resume()
            self.kill()


@pytest.fixture
def private_redis():
    r = PrivateRedis().start()
    yield r
    r.stop()


def every_op(k):
    """One call of each kv operation on key k."""
    return [dict(op="get", key=k), dict(op="set", key=k, value="v"),
            dict(op="add", key=k, value="v"), dict(op="increment", key=k, delta=1),
            dict(op="swap", key=k, expected="v", value="w"), dict(op="delete", key=k)]


def assert_down_within_budget(srv, k, want=DOWN):
    """Every kv operation answers one of `want` in time, and its detail
    (the host's message) holds no key bytes."""
    for body in every_op(k) * 2:  # twice: more than one worker's connection
        out, took = timed_kv(srv, **body)
        assert out.get("error") in want, (body, out)
        assert took < DEADLINE_S, (body, took)
        assert k not in out.get("detail", ""), out


def assert_serving(srv):
    for _ in range(12):  # several requests, so several workers' connections
        k = key()
        assert kv(srv, op="set", key=k, value="back") == {"ok": None}
        assert kv(srv, op="get", key=k) == {"ok": "back"}


# --- namespaces --------------------------------------------------------------

def test_redis_kv_two_stores_do_not_collide_on_one_redis(shared):
    k = key()
    assert kv(shared, op="set", key=k, value="in probe") == {"ok": None}
    assert kv(shared, op="set", key=k, value="in other", store="other") == {"ok": None}
    assert kv(shared, op="get", key=k) == {"ok": "in probe"}
    assert kv(shared, op="get", key=k, store="other") == {"ok": "in other"}
    # each under <key_prefix><store>:<key> in the one Redis
    assert redis_command("GET", f"{shared.prefix}probe:{k}") == b"in probe"
    assert redis_command("GET", f"{shared.prefix}other:{k}") == b"in other"
    assert kv(shared, op="delete", key=k) == {"ok": True}
    assert kv(shared, op="get", key=k, store="other") == {"ok": "in other"}


def test_redis_kv_deployments_with_their_own_prefix_do_not_collide(shared):
    second = serve()
    try:
        k = key()
        kv(shared, op="set", key=k, value="first")
        assert kv(second, op="get", key=k) == {"ok": None}
        assert kv(second, op="add", key=k, value="second") == {"ok": True}
        assert kv(shared, op="get", key=k) == {"ok": "first"}
    finally:
        assert second.stop() == 0


# --- bytes -------------------------------------------------------------------

def test_redis_kv_binary_keys_and_values_round_trip(shared):
    k = b"\x00nul\xff\x00" + uuid.uuid4().bytes
    v = b"a\x00b\r\n\x00\xff"

    def hexkv(**body):
        return kv(shared, hex=True, **{n: x.hex() if isinstance(x, bytes) else x
                                       for n, x in body.items()})
    assert hexkv(op="set", key=k, value=v) == {"ok": None}
    assert hexkv(op="get", key=k) == {"ok": v.hex()}
    assert redis_command("GET", shared.prefix.encode() + b"probe:" + k) == v
    # nothing was cut at a NUL: the key's first byte alone is another key
    assert hexkv(op="get", key=k[:1]) == {"ok": None}
    assert hexkv(op="swap", key=k, expected=v[:1], value=b"\x00") == {"ok": False}
    assert hexkv(op="swap", key=k, expected=v, value=b"\x00") == {"ok": True}
    assert hexkv(op="get", key=k) == {"ok": "00"}
    assert hexkv(op="delete", key=k) == {"ok": True}


def test_redis_kv_empty_value_is_present_not_absent(shared):
    k = key()
    assert kv(shared, op="set", key=k, value="") == {"ok": None}
    assert kv(shared, op="get", key=k) == {"ok": ""}
    assert kv(shared, op="add", key=k, value="x") == {"ok": False}
    assert kv(shared, op="swap", key=k, expected="", value="y") == {"ok": True}
    assert kv(shared, op="get", key=k) == {"ok": "y"}


# --- counters ------------------------------------------------------------------

@pytest.mark.parametrize("stored, delta, want", [
    ("+007", 1, {"ok": 8}),
    (" \t-12", 2, {"ok": -10}),
    ("-0", 5, {"ok": 5}),
    ("0" * 23, 1, {"ok": 1}),        # under 24 bytes: a counter
    ("0" * 24, 1, {"error": "invalid"}),
    ("1 ", 1, {"error": "invalid"}),
    ("0x10", 1, {"error": "invalid"}),
    ("9223372036854775808", 1, {"error": "invalid"}),   # out of range
    (" 9223372036854775807", 1, {"error": "invalid"}),  # overflows
])
def test_redis_kv_counters_read_as_on_sqlite(shared, on_sqlite, stored, delta, want):
    for srv in (shared, on_sqlite):
        k = key()
        kv(srv, op="set", key=k, value=stored, ttl_ms=60000)
        out = kv(srv, op="increment", key=k, delta=delta)
        out.pop("detail", None)
        assert out == want, srv.runtime_config
        # a refused increment leaves the value as it was; a done one is canonical
        after = stored if "error" in want else str(want["ok"])
        assert kv(srv, op="get", key=k) == {"ok": after}, srv


def test_redis_kv_counter_exact_beyond_double_precision(shared):
    k = key()
    kv(shared, op="set", key=k, value=str(2 ** 53))
    kv(shared, op="increment", key=k, delta=1)
    # the probe answers JSON numbers (doubles); the stored text is exact
    assert kv(shared, op="get", key=k) == {"ok": str(2 ** 53 + 1)}


def test_CONC2_redis_increment_ttl_is_on_the_key_and_set_on_create_only(shared):
    k = key()
    assert kv(shared, op="increment", key=k, delta=1, ttl_ms=30000) == {"ok": 1}
    assert kv(shared, op="increment", key=k, delta=1, ttl_ms=90000000) == {"ok": 2}
    ttl = redis_command("PTTL", f"{shared.prefix}probe:{k}")
    assert 0 < ttl <= 30000, ttl


# --- Redis down, hung, late --------------------------------------------------

def test_redis_killed_mid_run_answers_unavailable_within_budget_then_recovers(private_redis):
    srv = serve(private_redis.url)
    try:
        assert_serving(srv)
        # kill it under load: every call ends in time, as ok or down
        results, stop = [], threading.Event()

        def writer():
            k = key()
            while not stop.is_set():
                results.append(timed_kv(srv, op="increment", key=k, delta=1))
        ts = [threading.Thread(target=writer) for _ in range(8)]
        for t in ts:
            t.start()
        time.sleep(0.3)
        private_redis.kill()
        time.sleep(0.5)
        stop.set()
        for t in ts:
            t.join()
        assert all(took < DEADLINE_S for _, took in results), max(t for _, t in results)
        assert all("ok" in out or out.get("error") in DOWN for out, _ in results), results
        assert any(out.get("error") == "unavailable" for out, _ in results)
        assert_down_within_budget(srv, key(), want=("unavailable",))
        # back on the same port: the next calls succeed, on every worker
        private_redis.start()
        assert_serving(srv)
    finally:
        assert srv.stop() == 0


def concurrently(srv, n=16, calls=4):
    """n clients at once (enough to reach every execution worker), each
    making `calls` set+get pairs; the answers that were not ok."""
    bad = []

    def client():
        for _ in range(calls):
            k = key()
            for body in (dict(op="set", key=k, value="x"), dict(op="get", key=k)):
                out = kv(srv, **body)
                if "ok" not in out:
                    bad.append(out)
    ts = [threading.Thread(target=client) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return bad


def test_redis_restarted_while_idle_not_even_the_first_call_fails(private_redis):
    srv = serve(private_redis.url)
    try:
        assert concurrently(srv) == []  # every worker holds a connection now
        private_redis.kill()
        private_redis.start()
        # each worker finds its connection closed by the server and replaces
        # it before use, rather than failing its first call once
        assert concurrently(srv) == []
    finally:
        assert srv.stop() == 0


def test_redis_hung_answers_timeout_within_budget_then_recovers(private_redis):
    srv = serve(private_redis.url)
    try:
        assert_serving(srv)
        private_redis.pause()  # accepts connections, answers nothing
        for body in every_op(key())[:3]:
            out, took = timed_kv(srv, **body)
            assert out.get("error") == "timeout", (body, out)
            assert BUDGET_S * 0.8 < took < DEADLINE_S, (body, took)
        private_redis.resume()
        assert_serving(srv)
    finally:
        assert srv.stop() == 0


def test_redis_down_at_start_is_no_refusal_then_serves_when_up():
    late = PrivateRedis()
    srv = serve(late.url)  # nothing listens yet: the host starts anyway
    try:
        assert_down_within_budget(srv, key(), want=("unavailable",))
        late.start()
        assert_serving(srv)
    finally:
        assert srv.stop() == 0
        late.stop()


def test_redis_at_maxclients_is_unavailable_not_internal():
    full = PrivateRedis("--maxclients", "1").start()
    hog = socket.create_connection(("127.0.0.1", full.port), timeout=5)  # the one client slot
    srv = serve(full.url)
    try:
        time.sleep(0.2)
        assert_down_within_budget(srv, key(), want=("unavailable",))
        hog.close()
        # one slot for several workers: some call gets it once the hog is gone
        k = key()
        assert any(kv(srv, op="set", key=k, value="v") == {"ok": None} for _ in range(20))
    finally:
        hog.close()
        assert srv.stop() == 0
        full.stop()


# --- configuration -------------------------------------------------------------

@pytest.mark.parametrize("url, expect", [
    ("rediss://127.0.0.1", "TLS (rediss://) is not supported"),
    ("redis+unix:///tmp/redis.sock", "only TCP"),
    ("redis://127.0.0.1:99999", "a bad port"),
    ("redis://127.0.0.1/zero", "a bad database number"),
    ("redis://hunter2@127.0.0.1", "the user info must be :password or user:password"),
    ("redis://:hunter2@127.0.0.1?db=1", "a query"),
])
def test_redis_kv_bad_url_refuses_to_start_without_echoing_it(tmp_path, url, expect):
    path = tmp_path / "runtime.toml"
    path.write_text(f'\n[kv.default]\nbackend = "redis"\nurl = "{url}"\n')
    r = subprocess.run([BASTION, "migrate",
                        "--state", str(tmp_path), "--manifest", MANIFEST,
                        "--runtime-config", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"{path}:2" in r.stderr and expect in r.stderr, r.stderr
    assert "expected redis://[[user]:password@]host[:port][/db]" in r.stderr, r.stderr
    assert "hunter2" not in r.stderr, r.stderr


# --- a reply that never ends; the backend report under a hung Redis --------------

class TrickleRedis:
    """A fake Redis that answers any command with the start of a bulk reply
    and then one byte of it every 0.2 s: every read the host makes returns
    well within its socket timeout, but the reply takes 8 s to finish."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.stop = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"$40\r\n")
                for _ in range(40):
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(b"x")
                conn.sendall(b"\r\n")
                time.sleep(30)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.sock.close()


def test_REL2_redis_reply_trickling_in_still_ends_within_the_budget():
    fake = TrickleRedis()
    srv = serve(fake.url)
    try:
        out, took = timed_kv(srv, op="get", key=key())
        assert out.get("error") == "timeout", out
        assert took < DEADLINE_S, took
    finally:
        srv.stop()
        fake.close()


def backends_report(srv):
    t0 = time.monotonic()
    r = srv.get("/config?name=bastion:backends")
    assert r.status == 200, r
    return r.json()["value"], time.monotonic() - t0


def test_REL2_backends_report_within_its_second_with_two_stores_on_a_hung_redis(private_redis,
                                                                               tmp_path):
    """Two stores on a Redis that accepts connections but answers nothing:
    the report still comes within its 1 s budget (not 1 s per backend), and
    callers arriving meanwhile do not queue up behind one another."""
    path = tmp_path / "runtime.toml"
    path.write_text(f'[kv.probe]\nbackend = "redis"\nurl = "{private_redis.url}"\n'
                    f'[kv.other]\nbackend = "redis"\nurl = "{private_redis.url}"\n')
    srv = Server(MANIFEST, workers=4, runtime_config=str(path)).start()
    try:
        private_redis.pause()
        results = []

        def ask():
            results.append(backends_report(srv))
        ts = [threading.Thread(target=ask) for _ in range(6)]
        for t in ts:
            t.start()
            time.sleep(0.1)
        for t in ts:
            t.join()
        assert all(took < 1.6 for _, took in results), [took for _, took in results]
        for value, _ in results:
            if value is not None:
                report = __import__("json").loads(value)
                assert report["kv.probe"]["status"] == "fail", report
                assert report["kv.other"]["status"] == "fail", report
    finally:
        private_redis.resume()
        assert srv.stop() == 0
