"""Two hosts, one Redis + PostgreSQL (CONC1, CONC2, CONC4, CONC6, CONC7, REL1, REL3).

Two `bastion serve` processes on different ports read the SAME runtime.toml:
kv on the test run's Redis under one key prefix, sql in one fresh PostgreSQL
database. Both run `bastion migrate` at the same moment first (the advisory
lock lets exactly one apply each schema). Requests then alternate between
the hosts (request i goes to host i % 2), released together by a barrier, as
the single-host tests in tests/functions do: whatever one host guards, it
guards against the other too, because the guard lives in the shared stores.

Every test uses fresh data (its own days, slugs, keys, client IP through
X-Forwarded-For, which the hosts' copy of the manifest trusts from
127.0.0.1), so tests are independent. The breaker test and the kill -9 test
run on their own pair, so an open breaker or a dead host never leaks into
another test. Each Bastion database is a PostgreSQL schema named after it,
so its rows are read as e.g. bookings.bookings with psql.
"""
import datetime
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import (BASTION, BUILD, REMOTE, ROOT, FakeEmail, Server, admin_headers,
                      assert_problem, free_port, pg_database, runtime_config)

MANIFEST = os.path.join(BUILD, "manifest.json")
TIMEOUT = 20          # seconds, every request (the slowest route's deadline is 10 s)
BARRIER_TIMEOUT = 30  # seconds a burst waits for its threads to line up

_day = itertools.count()
_ips = itertools.count(1)


# --- a pair of hosts on shared stores ---------------------------------------------------------

def psql(url, query):
    """Rows of `query` on PostgreSQL (each a list of column strings)."""
    r = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-c", query], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (query, r.stderr)
    return [line.split("|") for line in r.stdout.splitlines() if line]


# Threads that run guest code, per host. Each holds its own PostgreSQL
# connection per database it touches, so the default 64 lets two pairs of
# hosts (the module's and a test's own) outgrow the test server's
# max_connections (200, tests/servers.sh) and answer 503. 16 per host still
# runs 32 requests at once across a pair.
EXEC_WORKERS = 16


def trusting_manifest(directory):
    """build/manifest.json with 127.0.0.1 as a trusted proxy, so tests choose
    client IPs through X-Forwarded-For (as conftest.serve_bundle does), and
    EXEC_WORKERS execution threads."""
    with open(MANIFEST) as f:
        doc = json.load(f)
    doc["trusted_proxies"] = ["127.0.0.1"]
    doc.setdefault("limits", {})["exec_workers"] = EXEC_WORKERS
    path = os.path.join(directory, "manifest.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path, doc


class Pair:
    """Two hosts with one manifest, one runtime.toml (one Redis key prefix,
    one PostgreSQL database) and one environment; separate state directories
    and ports. start() migrates on both at once, then serves on both."""

    def __init__(self, email, env=None, workers=8):
        self.dir = tempfile.mkdtemp(prefix="bastion-scale-")
        self.pg_url = pg_database()
        self.kv_prefix = "scale" + os.urandom(5).hex() + ":"
        self.config = runtime_config(REMOTE, self.dir, kv_prefix=self.kv_prefix,
                                     pg_url=self.pg_url)
        self.manifest, self.doc = trusting_manifest(self.dir)
        self.email = email
        env = {"BASTION_VAR_email_api_base": email.base, **(env or {})}
        self.hosts = [Server(self.manifest, env=env, workers=workers,
                             state=tempfile.mkdtemp(prefix=f"bastion-scale-{n}-"),
                             runtime_config=self.config) for n in "ab"]
        self.migrations = []

    def migrate_together(self):
        """`bastion migrate` on both hosts at the same moment; (rc, output) each."""
        go = threading.Barrier(2)
        out = [None, None]

        def run(i):
            h = self.hosts[i]
            try:
                go.wait(timeout=BARRIER_TIMEOUT)
                p = subprocess.run([BASTION, "migrate", *h.store_args()], capture_output=True,
                                   text=True, cwd=ROOT, env=h.env, timeout=60)
                out[i] = (p.returncode, p.stdout + p.stderr)
            except Exception as e:  # a timeout: reported as the run's result
                out[i] = (None, repr(e))
        ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=90)
        out = [o or (None, "did not finish") for o in out]
        self.migrations = out
        return out

    def start(self):
        out = self.migrate_together()
        for i, (rc, text) in enumerate(out):
            assert rc == 0, f"bastion migrate on host {'ab'[i]} exited {rc}:\n{text}"
        try:
            for h in self.hosts:
                h.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        """Stops both (SIGTERM, as conftest.Server does); their exit codes."""
        return [h.stop() if h.proc else None for h in self.hosts]

    def sql(self, query):
        return psql(self.pg_url, query)

    def logs(self, lines=40):
        """The last lines of both hosts' logs, for assertion messages."""
        def tail(h):
            try:
                return "\n".join(h.logs().splitlines()[-lines:])
            except OSError as e:
                return repr(e)
        return "\n".join(f"--- host {'ab'[i]} (:{h.port}):\n" + tail(h)
                         for i, h in enumerate(self.hosts))


@pytest.fixture(scope="module")
def pair(email):
    p = Pair(email)
    p.start()
    yield p
    rcs = p.stop()
    assert rcs == [0, 0], rcs


def burst(hosts, calls):
    """Sends every call at once, call i to hosts[i % len(hosts)]; a call is
    (method, path, body, headers). Returns the responses in call order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def go(i):
        method, path, body, headers = calls[i]
        barrier.wait(timeout=BARRIER_TIMEOUT)
        try:
            out[i] = hosts[i % len(hosts)].request(method, path, body=body, headers=headers,
                                                   timeout=TIMEOUT)
        except Exception as e:  # reported by the caller's assertion, never lost
            out[i] = e
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=BARRIER_TIMEOUT + TIMEOUT + 10)
    for i, r in enumerate(out):
        assert r is not None and not isinstance(r, Exception), (i % len(hosts), r)
    return out


def statuses(rs):
    return sorted(r.status for r in rs)


def unexpected(rs, ok):
    """The responses whose status is not in `ok`, for assertion messages."""
    return [r for r in rs if r.status not in ok][:5]


# --- bookings data ------------------------------------------------------------------------------

SLOTS = ["09:00", "10:30", "12:00", "13:30", "15:00", "16:30"]  # basic: 60 min + 30 min gap


def day_at(n):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return (today + datetime.timedelta(days=40 + n)).isoformat()


def fresh_day():
    """A UTC date 40+ days ahead that no other call in this module returns."""
    return day_at(next(_day))


def at(day, hhmm):
    return f"{day}T{hhmm}:00Z"


def ms(day, hhmm):
    return int(datetime.datetime.fromisoformat(f"{day}T{hhmm}:00+00:00").timestamp() * 1000)


def hhmm_of(ms_):
    return datetime.datetime.fromtimestamp(ms_ / 1000, datetime.timezone.utc).strftime("%H:%M")


def customer():
    return {"name": "Ann Example", "email": f"c{uuid.uuid4().hex[:10]}@example.com"}


def booking(start, tier="standard", package="basic"):
    return {"tier": tier, "package": package, "start": start, "customer": customer()}


def post_bookings(bodies, headers=None):
    return [("POST", "/api/bookings", b, headers) for b in bodies]


def active_starts(p, day):
    """Start times (HH:MM) of the day's active bookings, read from PostgreSQL."""
    lo = ms(day, "00:00")
    rows = p.sql("SELECT start_ms FROM bookings.bookings WHERE status IN ('pending', 'confirmed')"
                 f" AND start_ms >= {lo} AND start_ms < {lo + 86400000} ORDER BY start_ms")
    return [hhmm_of(int(r[0])) for r in rows]


def new_ip():
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def fresh_window(window_s, margin_s=10):
    """Waits out the end of a fixed rate-limit window so a burst lands in one."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.3)


# --- migrations ----------------------------------------------------------------------------------

def test_CONC7_two_hosts_migrating_together_apply_each_schema_once(pair):
    """Both `bastion migrate` runs exited 0 (the fixture asserts it); the
    advisory lock made exactly one of them apply each function's schema and
    the other find it up to date."""
    with_schema = sorted(n for n, f in pair.doc["functions"].items()
                         if f.get("schema") and f.get("sql"))
    assert with_schema, "the bundle has no schema to migrate"
    texts = [text for _, text in pair.migrations]
    for fn in with_schema:
        applied = [i for i, t in enumerate(texts) if f"migrate {fn}: applied" in t]
        current = [i for i, t in enumerate(texts) if f"migrate {fn}: up to date" in t]
        assert len(applied) == 1 and current == [1 - applied[0]], (fn, texts)
        db = pair.doc["functions"][fn]["sql"][0]
        assert pair.sql("SELECT count(*) FROM information_schema.schemata "
                        f"WHERE schema_name = '{db}'") == [["1"]], (fn, db)


# --- CONC1: no overlap across hosts, gap included -----------------------------------------------

def test_CONC1_two_hosts_50_concurrent_identical_bookings_give_one_201(pair):
    day = fresh_day()
    rs = burst(pair.hosts, post_bookings([booking(at(day, "10:00")) for _ in range(50)]))
    assert statuses(rs) == [201] + [409] * 49, (statuses(rs), unexpected(rs, {409}),
                                                 pair.logs())
    for r in rs:
        if r.status == 409:
            assert_problem(r, 409, "conflict")
    winner = next(r for r in rs if r.status == 201).json()
    assert active_starts(pair, day) == ["10:00"]
    assert pair.sql(f"SELECT id FROM bookings.bookings WHERE start_ms = {ms(day, '10:00')}") == \
        [[winner["id"]]]


def test_CONC1_two_hosts_50_concurrent_overlapping_starts_give_one_201(pair):
    day = fresh_day()
    # extended = 120 min + 30 min gap: any two of these starts clash
    starts = ["10:00", "10:30", "11:00", "11:30", "12:00"]
    bodies = [booking(at(day, starts[i % len(starts)]), "premium", "extended")
              for i in range(50)]
    rs = burst(pair.hosts, post_bookings(bodies))
    assert statuses(rs) == [201] + [409] * 49, (statuses(rs), unexpected(rs, {409}),
                                                 pair.logs())
    assert len(active_starts(pair, day)) == 1


def test_CONC1_two_hosts_concurrent_bookings_at_the_gap_boundary(pair):
    """Around a 12:00-13:00 booked on host a, a start at 13:00 (its end)
    always clashes and one at 13:30 (end + gap) never does, on either host,
    whichever request wins."""
    a, b = pair.hosts
    day = fresh_day()
    r = a.post("/api/bookings", booking(at(day, "12:00")), timeout=TIMEOUT)
    assert r.status == 201, r
    # host b sees host a's booking at once (CONC7)
    r = b.get(f"/api/bookings/unavailable?from={day}&to={day}", timeout=TIMEOUT)
    assert r.status == 200, r
    assert r.json() == {"intervals": [{"start": f"{day}T12:00:00.000Z",
                                       "end": f"{day}T13:30:00.000Z"}]}
    # separate bursts: 13:00 and 13:30 also clash with each other
    rs = burst(pair.hosts, post_bookings([booking(at(day, "13:00")) for _ in range(24)]))
    assert statuses(rs) == [409] * 24, statuses(rs)
    # 11:00-12:00 would need cleaning until 12:30; 10:30-11:30 is clean at 12:00
    rs = burst(pair.hosts, post_bookings([booking(at(day, "11:00")) for _ in range(24)]))
    assert statuses(rs) == [409] * 24, statuses(rs)
    rs = burst(pair.hosts, post_bookings([booking(at(day, "13:30")) for _ in range(24)]))
    assert statuses(rs) == [201] + [409] * 23, (statuses(rs), unexpected(rs, {409}))
    rs = burst(pair.hosts, post_bookings([booking(at(day, "10:30")) for _ in range(24)]))
    assert statuses(rs) == [201] + [409] * 23, (statuses(rs), unexpected(rs, {409}))
    assert active_starts(pair, day) == ["10:30", "12:00", "13:30"]


# --- CONC2: one rate-limit counter for both hosts -----------------------------------------------

def test_CONC2_two_hosts_10_per_minute_admits_exactly_10_of_64(pair):
    ip = new_ip()
    product = "rl-" + uuid.uuid4().hex[:12]
    calls = [("POST", "/api/waitlist", {"email": f"u{i}@example.com", "product_id": product},
              {"X-Forwarded-For": ip}) for i in range(64)]
    fresh_window(60)  # the window is fixed (per minute): keep the burst inside one
    rs = burst(pair.hosts, calls)
    ok = [r for r in rs if r.status == 201]
    limited = [r for r in rs if r.status == 429]
    assert (len(ok), len(limited)) == (10, 54), (statuses(rs), unexpected(rs, {201, 429}),
                                                 pair.logs())
    # half the burst went to each host, yet one counter decided: remaining 9 … 0, once each
    remaining = sorted(int(re.search(r";r=(\d+)", r.headers["ratelimit"]).group(1)) for r in ok)
    assert remaining == list(range(10)), [r.headers["ratelimit"] for r in ok]
    assert ok[0].headers["ratelimit-policy"] == '"waitlist-join";q=10;w=60'
    for r in limited:
        assert_problem(r, 429, "transient")
        assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers
    # only admitted joins were stored (REL1), and both hosts count them
    for h in pair.hosts:
        r = h.get(f"/api/waitlist/{product}/count", timeout=TIMEOUT)
        assert r.status == 200 and r.json()["count"] == 10, r
    assert pair.sql(f"SELECT count(*) FROM waitlist.waitlist WHERE product_id = '{product}'") \
        == [["10"]]
    # another client is not limited by this one's window, on either host
    for h in pair.hosts:
        r = h.post("/api/waitlist", {"email": "other@example.com",
                                     "product_id": "rl-" + uuid.uuid4().hex[:12]},
                   headers={"X-Forwarded-For": new_ip()}, timeout=TIMEOUT)
        assert r.status == 201, r


# --- CONC4: one Idempotency-Key across hosts ----------------------------------------------------

def test_CONC4_two_hosts_20_concurrent_requests_with_one_key_book_once(pair):
    day = fresh_day()
    b = booking(at(day, "15:00"))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    rs = burst(pair.hosts, post_bookings([b] * 20, headers=key))
    assert set(statuses(rs)) <= {201, 409} and 201 in statuses(rs), \
        (statuses(rs), unexpected(rs, {201, 409}), pair.logs())
    created = [r for r in rs if r.status == 201]
    assert len({r.json()["id"] for r in created}) == 1, [r.json() for r in created]
    # one request did the work; every other 201 is its stored response, replayed
    fresh = [r for r in created if r.headers.get("idempotent-replayed") != "true"]
    assert len(fresh) == 1, created
    assert all(r.json() == fresh[0].json() for r in created)
    for r in rs:
        if r.status == 409:   # the same key while the first was still in flight
            assert_problem(r, 409, "transient")
    assert active_starts(pair, day) == ["15:00"]
    assert len(pair.email.sent_to(b["customer"]["email"])) == 1   # one confirmation email
    # afterwards, either host replays it
    for h in pair.hosts:
        r = h.post("/api/bookings", b, headers=key, timeout=TIMEOUT)
        assert r.status == 201 and r.json() == fresh[0].json(), r
        assert r.headers.get("idempotent-replayed") == "true"


# --- CONC6: one ETag, one winner, across hosts -------------------------------------------------

def test_CONC6_two_hosts_concurrent_puts_with_one_etag_have_one_winner(pair):
    a, b = pair.hosts
    slug = "page-" + uuid.uuid4().hex[:12]
    path = f"/api/admin/pages/{slug}"
    r = a.request("PUT", path, body={"title": "Hello", "body": "First version."},
                  headers=dict(admin_headers(), **{"If-None-Match": "*"}), timeout=TIMEOUT)
    assert r.status == 201, r
    g = b.get(f"/api/pages/{slug}", timeout=TIMEOUT)       # the other host has it
    assert g.status == 200 and g.headers["etag"] == '"v1"', g
    n = 16
    headers = dict(admin_headers(), **{"If-Match": g.headers["etag"]})
    calls = [("PUT", path, {"title": f"Editor {i}", "body": f"Edit {i}"}, headers)
             for i in range(n)]
    rs = burst(pair.hosts, calls)
    assert statuses(rs) == [200] + [412] * (n - 1), (statuses(rs), unexpected(rs, {412}),
                                                      pair.logs())
    for r in rs:
        if r.status == 412:
            assert_problem(r, 412, "conflict")
    winner = next(r for r in rs if r.status == 200)
    assert winner.headers["etag"] == '"v2"'
    for h in pair.hosts:
        g = h.get(f"/api/pages/{slug}", timeout=TIMEOUT)
        assert g.json() == winner.json() and g.headers["etag"] == '"v2"', g
    assert pair.sql(f"SELECT version, title FROM content.pages WHERE slug = '{slug}'") == \
        [["2", winner.json()["title"]]]


# --- REL3: one breaker for both hosts -----------------------------------------------------------

def test_REL3_two_hosts_email_breaker_opened_by_one_host_is_open_on_the_other():
    """The email breaker opens after 5 consecutive provider failures and
    stays open 30 s (shared/src/email.c). Five failed confirmations on host
    a open it; host b then never calls the provider, and neither does a."""
    fake = FakeEmail()
    fake.mode = "fail"
    p = Pair(fake, workers=4)
    try:
        p.start()
        a, b = p.hosts
        day = fresh_day()
        failed = []
        for t in SLOTS[:5]:
            body = booking(at(day, t))
            r = a.post("/api/bookings", body, timeout=TIMEOUT)
            assert r.status == 201, (r, p.logs())
            failed.append(body["customer"]["email"])
        assert len(fake.received) == 5
        # host b: the breaker host a opened is open here too
        body = booking(at(day, SLOTS[5]))
        r = b.post("/api/bookings", body, timeout=TIMEOUT)
        assert r.status == 201, (r, p.logs())    # the booking itself still succeeds (REL4)
        assert len(fake.received) == 5, "host b called the provider through an open breaker"
        rows = dict((e, (sent, err)) for e, sent, err in
                    p.sql("SELECT customer_email, email_sent, email_error FROM bookings.bookings"))
        assert rows[body["customer"]["email"]] == ("0", "email provider circuit open"), rows
        for e in failed:
            assert rows[e] == ("0", "email provider answered 500"), rows
        outbox = dict(p.sql("SELECT recipient, error FROM bookings.email_failures"))
        assert outbox[body["customer"]["email"]] == "email provider circuit open", outbox
        assert sorted(outbox) == sorted(failed + [body["customer"]["email"]]), outbox
        # the provider is back, but the breaker stays open for 30 s on both hosts
        fake.mode = "accept"
        day2 = fresh_day()
        for i, h in enumerate((a, b)):
            body = booking(at(day2, SLOTS[i]))
            r = h.post("/api/bookings", body, timeout=TIMEOUT)
            assert r.status == 201, r
            assert p.sql("SELECT email_error FROM bookings.bookings WHERE customer_email = "
                         f"'{body['customer']['email']}'") == [["email provider circuit open"]]
        assert len(fake.received) == 5
    finally:
        rcs = p.stop()
        fake.close()
    assert rcs == [0, 0], rcs


# --- kill -9 of one host under write load -------------------------------------------------------

def test_CONC7_REL1_two_hosts_kill_9_of_one_host_loses_no_acknowledged_booking():
    """A writer pool books distinct slots on both hosts; after ~1 s host a is
    killed with SIGKILL and the writers go on against host b. Every booking
    whose 201 a client received, from either host, is a row in PostgreSQL;
    the only rows beyond those are requests host a took with it (the client
    saw the connection fail, not a 201). Host a then restarts on the same
    stores and sees everything host b wrote."""
    fake = FakeEmail()
    p = Pair(fake, workers=4)
    writers, after_kill = 8, 100
    lock = threading.Lock()
    jobs = itertools.count()
    results = []          # (job, host, start_ms, outcome, id or detail, sent after the kill)
    killed = threading.Event()
    stop = threading.Event()

    def slot(i):
        return day_at(1000 + i // len(SLOTS)), SLOTS[i % len(SLOTS)]

    def writer():
        while not stop.is_set():
            with lock:
                i = next(jobs)
            late = killed.is_set()
            h = 1 if late else i % 2
            day, t = slot(i)
            try:
                r = p.hosts[h].post("/api/bookings", booking(at(day, t)), timeout=TIMEOUT)
                outcome, detail = r.status, (r.json()["id"] if r.status == 201 else r.body[:300])
            except (OSError, http.client.HTTPException) as e:
                outcome, detail = "error", f"{type(e).__name__}: {e}"
            with lock:
                results.append((i, h, ms(day, t), outcome, detail, late))

    def count(pred):
        with lock:
            return sum(1 for r in results if pred(r))

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    try:
        p.start()
        a, b = p.hosts
        for t in threads:
            t.start()
        # ~1 s of load, with acknowledged writes from both hosts (bounded)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            if time.monotonic() - t0 >= 1.0 and min(
                    count(lambda r, h=h: r[1] == h and r[3] == 201) for h in (0, 1)) >= 3:
                break
            time.sleep(0.05)
        os.kill(a.proc.pid, signal.SIGKILL)   # only the host this test started, by its pid
        killed.set()
        assert a.proc.wait(timeout=10) == -signal.SIGKILL
        # go on against host b until `after_kill` more bookings are done (bounded)
        t1 = time.monotonic()
        while time.monotonic() - t1 < 60 and count(lambda r: r[5]) < after_kill:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            if t.ident is not None:   # started
                t.join(timeout=TIMEOUT + 10)
    try:
        assert not any(t.is_alive() for t in threads), "a writer did not finish"
        by_host = [[r for r in results if r[1] == h] for h in (0, 1)]
        acked = {r[4]: r for r in results if r[3] == 201}
        assert len(acked) == sum(1 for r in results if r[3] == 201), "an id was returned twice"
        # host b answered everything with 201, before the kill and after it
        bad_b = [r for r in by_host[1] if r[3] != 201]
        assert not bad_b, (len(bad_b), bad_b[:5], p.logs())
        # host a answered 201 or the connection failed (it was killed); nothing else
        bad_a = [r for r in by_host[0] if r[3] not in (201, "error")]
        assert not bad_a, (len(bad_a), bad_a[:5], p.logs())
        lost_a = [r for r in by_host[0] if r[3] == "error"]
        print(f"kill -9: host a {len(by_host[0])} requests ({len(lost_a)} connection errors), "
              f"host b {len(by_host[1])} ({sum(1 for r in by_host[1] if r[5])} after the kill)")
        assert sum(1 for r in by_host[0] if r[3] == 201) >= 3, by_host[0][:10]
        assert sum(1 for r in by_host[1] if r[5]) >= after_kill, len(by_host[1])
        # every acknowledged booking is a row, at its slot
        rows = {i: int(s) for i, s in p.sql("SELECT id, start_ms FROM bookings.bookings")}
        missing = [r for bid, r in acked.items() if bid not in rows]
        assert not missing, (f"{len(missing)} of {len(acked)} acknowledged bookings are not "
                             "in PostgreSQL", missing[:5])
        assert all(rows[bid] == r[2] for bid, r in acked.items())
        # any other row is a request host a took with it, never an invented one
        extra = sorted(s for i, s in rows.items() if i not in acked)
        assert len(extra) <= len(lost_a), (extra, lost_a)
        assert set(extra) <= {r[2] for r in lost_a}, (extra, lost_a)

        # host a restarts on the same stores and sees what host b wrote meanwhile
        a.port = free_port()
        a.start()
        last_b = max((r for r in by_host[1] if r[5]), key=lambda r: r[0])
        day, t = slot(last_b[0])
        r = a.post("/api/bookings", booking(at(day, t)), timeout=TIMEOUT)
        assert_problem(r, 409, "conflict")                 # b's booking holds the slot
        day, t = slot(max(r[0] for r in results) + len(SLOTS))   # a day nobody booked
        r = a.post("/api/bookings", booking(at(day, t)), timeout=TIMEOUT)
        assert r.status == 201, r
        assert p.sql(f"SELECT count(*) FROM bookings.bookings WHERE id = '{r.json()['id']}'") \
            == [["1"]]
    finally:
        rcs = p.stop()
        fake.close()
    assert rcs == [0, 0], (rcs, p.logs())
