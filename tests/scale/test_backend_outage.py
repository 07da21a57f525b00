"""Redis or PostgreSQL down under load, two hosts (REL1, REL2, CONC7; issue #9).

A pair of hosts runs on a private Redis + PostgreSQL (tests/servers.sh in a
temporary directory, so stopping them disturbs no other test). Writers keep
sending requests to both hosts while one backend is stopped and started
again. While it is down every answer is a 503 or 504 problem within the
route's deadline, never a hang; when it is back both hosts serve again
without a restart; and every write a client saw acknowledged is still there.
"""
import http.client
import itertools
import os
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, FakeEmail, assert_problem
from test_two_hosts import SLOTS, TIMEOUT, Pair, at, booking, day_at, psql

DEADLINE_S = 10 + 3  # the slowest route's deadline (bookings, 10 s) and some slack
OUTAGE_S = 3          # how long the backend stays down
RECOVER_S = 60        # bound on both hosts serving again


class PrivateServers:
    """This test's own Redis and PostgreSQL (tests/servers.sh start DIR)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bastion-outage-")
        subprocess.run(["bash", "tests/servers.sh", "start", self.dir], check=True, cwd=ROOT,
                       capture_output=True, timeout=120)
        with open(os.path.join(self.dir, "servers.env")) as f:
            self.env = dict(line.strip().split("=", 1) for line in f if "=" in line)

    def stop_pg(self):
        self._pg_ctl("-m", "immediate", "stop")

    def start_pg(self):
        self._pg_ctl("-w", "-t", "30", "-l", os.path.join(self.dir, "pg.log"), "start")

    def _pg_ctl(self, *args):
        cmd = [os.path.join(self.env["BASTION_TEST_PG_BIN"], "pg_ctl"), "-D",
               self.env["BASTION_TEST_PG_DATA"], *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", self.env["BASTION_TEST_PG_OSUSER"], "--", *cmd]
        subprocess.run(cmd, check=True, cwd=self.dir, capture_output=True, timeout=60)

    def redis_pid(self):
        with open(os.path.join(self.dir, "redis.pid")) as f:
            return int(f.read())

    def stop_redis(self):
        pid = self.redis_pid()  # the redis-server servers.sh started for this test
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def start_redis(self):
        port = self.env["BASTION_TEST_REDIS_PORT"]
        subprocess.run([self.env["BASTION_TEST_REDIS_SERVER"], "--bind", "127.0.0.1", "--port",
                        port, "--save", "", "--appendonly", "no", "--dir",
                        os.path.join(self.dir, "redis"), "--daemonize", "yes", "--pidfile",
                        os.path.join(self.dir, "redis.pid"), "--logfile",
                        os.path.join(self.dir, "redis.log")], check=True, timeout=30)

    def close(self):
        subprocess.run(["bash", "tests/servers.sh", "stop", self.dir], cwd=ROOT,
                       capture_output=True, timeout=60)


@pytest.fixture
def servers():
    s = PrivateServers()
    yield s
    s.close()


def pair_on(servers, email):
    """A Pair whose runtime.toml points at the private servers; the waitlist's
    per-IP limit out of the way, so the stores are what answer."""
    p = Pair(email, env={"BASTION_VAR_waitlist_joins_per_minute": "1000000"}, workers=4)
    with open(p.config, "w") as f:
        f.write(f'[kv.default]\nbackend = "redis"\nurl = "{servers.env["BASTION_TEST_REDIS_URL"]}"\n'
                f'\n[sql.default]\nbackend = "postgres"\n'
                f'url = "{servers.env["BASTION_TEST_PG_URL"]}"\n')
    p.pg_url = servers.env["BASTION_TEST_PG_URL"]
    return p.start()


class Load:
    """Writers sending `request(i)` to host i % 2 until stopped; every
    outcome recorded with its time and how long it took."""

    def __init__(self, p, request, writers=6):
        self.p, self.request = p, request
        self.lock = threading.Lock()
        self.jobs = itertools.count()
        self.results = []  # (i, host, sent at, seconds, status or "error", body)
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.writer) for _ in range(writers)]

    def writer(self):
        while not self.done.is_set():
            with self.lock:
                i = next(self.jobs)
            h = self.p.hosts[i % 2]
            t0 = time.monotonic()
            method, path, body = self.request(i)
            try:
                r = h.request(method, path, body=body, timeout=TIMEOUT)
                out, text = r.status, r
            except (OSError, http.client.HTTPException) as e:
                out, text = "error", repr(e)
            with self.lock:
                self.results.append((i, i % 2, t0, time.monotonic() - t0, out, text))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT + 10)
        assert not any(t.is_alive() for t in self.threads), "a writer hung"

    def since(self, t0):
        with self.lock:
            return [r for r in self.results if r[2] >= t0]

    def wait_for(self, pred, bound_s):
        t0 = time.monotonic()
        while time.monotonic() - t0 < bound_s:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def both_hosts_ok(self, t0, ok):
        rs = self.since(t0)
        return all(any(r[1] == h and r[4] == ok for r in rs) for h in (0, 1))


def outage(load, stop, start, ok):
    """Load, then the backend down for OUTAGE_S, then back; returns the
    results sent while it was down. Asserts both hosts served before and
    serve again after, and no answer took longer than the deadline."""
    t_start = time.monotonic()
    assert load.wait_for(lambda: load.both_hosts_ok(t_start, ok), 30), load.results[:5]
    stop()
    t_down = time.monotonic()
    time.sleep(OUTAGE_S)
    t_restart = time.monotonic()  # the server may serve before start() returns
    start()
    t_up = time.monotonic()
    assert load.wait_for(lambda: load.both_hosts_ok(t_up + 1, ok), RECOVER_S), \
        [r[4] for r in load.since(t_up)][-20:]
    slow = [r for r in load.results if r[3] > DEADLINE_S]
    assert not slow, slow[:5]
    errors = [r for r in load.results if r[4] == "error"]
    assert not errors, errors[:5]  # the hosts never dropped a connection
    down = [r for r in load.results if t_down + 0.5 <= r[2] and r[2] + r[3] <= t_restart]
    return down, [(round(r[2] - t_down, 3), round(r[3], 3), r[1], r[4]) for r in down]


def test_REL1_REL2_two_hosts_postgres_down_answer_503_in_time_and_lose_no_acknowledged_booking(
        servers):
    fake = FakeEmail()
    p = pair_on(servers, fake)
    def request(i):
        d, t = day_at(2000 + i // len(SLOTS)), SLOTS[i % len(SLOTS)]
        return "POST", "/api/bookings", booking(at(d, t))
    try:
        with Load(p, request) as load:
            down, timeline = outage(load, servers.stop_pg, servers.start_pg, 201)
        assert down, "no request was answered while PostgreSQL was down"
        for r in down:
            assert r[4] in (503, 504), (r, [t for t in timeline if t[3] != 503][:20])
            assert_problem(r[5], r[4])
        # every acknowledged booking is a row, once
        acked = [r[5].json()["id"] for r in load.results if r[4] == 201]
        rows = {row[0] for row in psql(p.pg_url, "SELECT id FROM bookings.bookings")}
        missing = [a for a in acked if a not in rows]
        assert not missing, (len(missing), len(acked))
        assert len(set(acked)) == len(acked)
        print(f"postgres outage: {len(load.results)} requests, {len(acked)} × 201, "
              f"{len(down)} answered while down ({sorted({r[4] for r in down})})")
    finally:
        assert p.stop() == [0, 0]
        fake.close()


def test_REL1_REL2_two_hosts_redis_down_answer_503_in_time_and_recover(servers):
    fake = FakeEmail()
    p = pair_on(servers, fake)
    product = "outage-" + os.urandom(4).hex()

    def request(i):
        return "POST", "/api/waitlist", {"email": f"w{i}@example.com", "product_id": product}
    try:
        with Load(p, request) as load:
            down, timeline = outage(load, servers.stop_redis, servers.start_redis, 201)
        assert down, "no request was answered while Redis was down"
        for r in down:
            assert r[4] in (503, 504), r
            assert_problem(r[5], r[4])
        acked = [f"w{r[0]}@example.com" for r in load.results if r[4] == 201]
        rows = {row[0] for row in psql(p.pg_url, "SELECT email FROM waitlist.waitlist WHERE "
                                                 f"product_id = '{product}'")}
        assert not [a for a in acked if a not in rows]
        acked = len(acked)
        print(f"redis outage: {len(load.results)} requests, {acked} × 201, "
              f"{len(down)} answered while down ({sorted({r[4] for r in down})})")
    finally:
        assert p.stop() == [0, 0]
        fake.close()
