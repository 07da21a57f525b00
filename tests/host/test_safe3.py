"""SAFE3: a module cannot hurt the host or its neighbours.

Loops, traps, memory hogs, stack exhaustion and log floods end that request
alone (504/500); the host stays up, its locks free and its memory flat. A
hung dependency holds one execution slot, never the whole host.

The hostile module is tests/host/fixtures/hostile (timeout_ms 300,
memory_mb 16). Every test runs its own server, so that a final SIGTERM can
show that no worker is stuck (a worker unwound while holding a libc lock
never lets the drain finish), and removes its state directory afterwards:
a host without a log cap writes hundreds of MiB of log here.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, ROOT, Server, assert_problem

HOSTILE_DEADLINE_S = 0.3   # [functions.hostile] timeout_ms
COUNTER_DEADLINE_S = 2.0   # [functions.counter] timeout_ms
LOG_CAP = 64 * 1024        # guest output kept per request
LOG_OVERHEAD = 16 * 1024   # JSON framing of the kept lines, access line, trap line
HOSTILE_REQUESTS = 160
MIN_NORMAL = 10            # GET /counter requests at least, however fast the hostile run
WARMUP_REQUESTS = 48       # ≥ a few per execution worker: pooled memories, stacks, arenas
CLIENT_THREADS = 8         # = hostile's max_concurrency
EXEC_WORKERS = 12
HOSTILE_CLIENT_TIMEOUT_S = 5.0
RSS_GROWTH_KB = 24 * 1024  # one 16 MiB memory kept by mistake, plus slack for ASan
STOP_WITHIN_S = 5.0
# A host without a log cap writes ~10 MiB per flooding request; stop there
# rather than fill the disk (the bound checked at the end is far smaller).
LOG_ABORT_BYTES = 512 << 20


def rss_kb(pid):
    """VmRSS in kB, or None once the process is gone (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def log_size(srv):
    try:
        return os.path.getsize(srv.log_path)
    except OSError:
        return 0


def log_tail(srv, n=4000):
    try:
        with open(srv.log_path, "rb") as f:
            f.seek(max(0, log_size(srv) - n))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def report(failures, srv=None):
    """The failures, each distinct one once with its count, then the log's end."""
    seen = {}
    for f in failures:
        seen[f] = seen.get(f, 0) + 1
    lines = [f if n == 1 else f"{f} (x{n})" for f, n in seen.items()][:16]
    if srv is not None:
        lines += ["--- log tail:", log_tail(srv, 1500)]
    return "\n".join(lines)


def write_manifest(tmp_path, exec_workers, max_concurrency):
    """tests/host/manifest.toml with [server] exec_workers and some functions'
    max_concurrency set, built against the fixture modules under build/test
    (as test_REL8 does). Explicit, so that no request here waits for a slot
    of its own function (past its deadline that is a 503, not what is tested)."""
    with open(os.path.join(ROOT, "tests", "host", "manifest.toml")) as f:
        toml = f.read()
    toml, n = re.subn(r"(?m)^exec_workers = \d+$", f"exec_workers = {exec_workers}", toml)
    assert n == 1, "tests/host/manifest.toml sets [server] exec_workers once"
    for fn, n in max_concurrency.items():
        head = f"[functions.{fn}]\n"
        assert head in toml, head
        toml = toml.replace(head, f"{head}max_concurrency = {n}\n", 1)
    src = tmp_path / "m.toml"
    src.write_text(toml)
    out = tmp_path / "m.json"
    subprocess.run(["python3", "host/tools/manifest.py", str(src), ROOT,
                    os.path.join(BUILD, "test"), str(out)], check=True, cwd=ROOT)
    return str(out)


def stop_within(srv, seconds=STOP_WITHIN_S):
    """SIGTERM; the exit code, or None when the server did not stop in time
    (it is then killed: a stuck worker must not outlive the test)."""
    if srv.proc.poll() is not None:
        return srv.proc.returncode
    srv.proc.send_signal(signal.SIGTERM)
    try:
        return srv.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        return None


@pytest.fixture
def server(tmp_path):
    """A private server of the fixture bundle with a known execution pool;
    call .start() in the test. Killed (only this process) and its state
    removed at teardown."""
    srv = Server(write_manifest(tmp_path, EXEC_WORKERS, {"hostile": CLIENT_THREADS}), workers=4)
    yield srv
    if srv.proc and srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()
    if getattr(srv, "log", None):
        srv.log.close()
    shutil.rmtree(srv.state, ignore_errors=True)


def attempt(srv, method, path, timeout, body=None):
    """(Response or None, error text or None, seconds)."""
    t0 = time.monotonic()
    try:
        r = srv.request(method, path, body=body, timeout=timeout)
        return r, None, time.monotonic() - t0
    except (OSError, http.client.HTTPException) as e:
        return None, f"{type(e).__name__}: {e}", time.monotonic() - t0



def run_batch(srv, route, n, threads, stop):
    """n GETs of route from `threads` threads; stops early (stop set) at the
    first request that gets no answer. Returns [(Response|None, err, s)]."""
    out, lock = [], threading.Lock()
    left = [n]

    def worker():
        while not stop.is_set():
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            res = attempt(srv, "GET", route, HOSTILE_CLIENT_TIMEOUT_S)
            with lock:
                out.append(res)
            if res[0] is None:
                stop.set()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def problems_in(results, expect, what):
    """Each result must be a 500/504 problem of the expected status."""
    bad = []
    answered = sum(1 for r, _, _ in results if r is not None)
    for r, err, secs in results:
        if r is None:
            bad.append(f"{what}: no answer after {secs:.1f}s ({err}); "
                       f"{answered} of {len(results)} answered")
            continue
        if r.status not in expect:
            bad.append(f"{what}: status {r.status} not in {sorted(expect)}: {r!r}")
            continue
        try:
            assert_problem(r, r.status, "transient" if r.status == 504 else "internal")
        except (AssertionError, ValueError, KeyError) as e:
            bad.append(f"{what}: not a problem+json: {e!r}")
    return bad


HOSTILE = [
    # route, statuses each request may end with
    ("/hostile/stderr", {500, 504}),   # fprintf(stderr) forever: the old server hung on this
    ("/hostile/log", {500, 504}),      # bastion_log_safe forever
    ("/hostile/config", {500, 504}),   # bastion_config_str forever
    ("/hostile/recurse", {500}),       # unbounded recursion, ~32 KiB native frames
    ("/hostile/spin", {504}),          # endless loop
    # allocate and touch until refused: 500 alone (test_host's /hog), but 8 at
    # once on 2 cores touch 8 × 16 MiB and the slowest can reach the 300 ms
    # deadline first (seen once in CI: 1 of 160), so 504 is allowed here and
    # MOSTLY_500 below still asks that the memory limit ended most of them
    ("/hostile/hog", {500, 504}),
]
MOSTLY_500 = {"/hostile/hog"}


@pytest.mark.parametrize("route,expect", HOSTILE, ids=[r.rsplit("/", 1)[1] for r, _ in HOSTILE])
def test_SAFE3_hostile_module_ends_its_request_alone(server, route, expect):
    srv = server.start()
    pid = srv.proc.pid
    failures = []
    stop = threading.Event()

    warm = run_batch(srv, route, WARMUP_REQUESTS, CLIENT_THREADS, stop)
    failures += problems_in(warm, expect, f"warm-up {route}")
    rss0 = rss_kb(pid)
    log0 = log_size(srv)

    normal = []
    aborted = []
    done = threading.Event()

    def normal_traffic():
        # beside the whole hostile run, and at least MIN_NORMAL requests
        while not stop.is_set() and not (done.is_set() and len(normal) >= MIN_NORMAL):
            normal.append(attempt(srv, "GET", "/counter", COUNTER_DEADLINE_S + 1.0))
            if normal[-1][0] is None:
                stop.set()
            if log_size(srv) - log0 > LOG_ABORT_BYTES:
                aborted.append(log_size(srv) - log0)
                stop.set()
            time.sleep(0.02)

    nt = threading.Thread(target=normal_traffic)
    nt.start()
    hostile = run_batch(srv, route, HOSTILE_REQUESTS, CLIENT_THREADS, stop)
    done.set()
    nt.join()

    failures += problems_in(hostile, expect, route)
    if route in MOSTLY_500:
        n500 = sum(1 for r, _, _ in hostile if r is not None and r.status == 500)
        if n500 * 2 < len(hostile):
            failures.append(f"{route}: only {n500} of {len(hostile)} ended at the memory limit")
    if len(hostile) < HOSTILE_REQUESTS:
        failures.append(f"stopped after {len(hostile)} of {HOSTILE_REQUESTS} {route} requests")
    slow = [(r.status if r else err, round(s, 2)) for r, err, s in normal
            if r is None or r.status != 200 or s >= COUNTER_DEADLINE_S]
    if slow:
        failures.append(f"GET /counter failed or missed its {COUNTER_DEADLINE_S}s deadline "
                        f"{len(slow)} of {len(normal)} times: {slow[:5]}")
    grown = log_size(srv) - log0
    bound = len(hostile) * (LOG_CAP + LOG_OVERHEAD) + len(normal) * 1024
    if aborted:
        failures.append(f"log grew by {aborted[0] >> 20} MiB: aborted")
    elif grown > bound:
        failures.append(f"log grew by {grown} bytes for {len(hostile)} requests, "
                        f"{grown // max(1, len(hostile))} per request: more than the "
                        f"{LOG_CAP} cap + {LOG_OVERHEAD} overhead (count the lines as written, "
                        f"framing included)")

    if srv.proc.poll() is not None:
        failures.append(f"server died: exit {srv.proc.returncode}")
    else:
        r, err, secs = attempt(srv, "GET", "/counter", COUNTER_DEADLINE_S + 1.0)
        if r is None or r.status != 200:
            failures.append(f"GET /counter afterwards: {r or err}")
        time.sleep(0.2)  # let the last hostile requests' memory go back
        rss1 = rss_kb(pid)
        if rss0 is None or rss1 is None:
            failures.append(f"no RSS to compare: {rss0} → {rss1} (server gone?)")
        elif rss1 - rss0 > RSS_GROWTH_KB:
            failures.append(f"RSS grew {rss0} → {rss1} kB over {len(hostile)} requests")
        rc = stop_within(srv)
        if rc != 0:
            failures.append(f"SIGTERM: exit {rc}" if rc is not None else
                            f"SIGTERM: still running after {STOP_WITHIN_S}s (killed)")
    assert not failures, report(failures, srv)


def test_SAFE3_log_output_is_capped_per_request(server):
    """1 MiB written to stderr once: the request still answers 200, the log
    grows by about the cap, and the access line counts what was dropped."""
    srv = server.start()
    n = 24
    log0 = log_size(srv)
    stop = threading.Event()
    results = run_batch(srv, "/hostile/stderr-once", n, 4, stop)
    failures = []
    ids = []
    for r, err, secs in results:
        if r is None or r.status != 200 or r.body != b"ok":
            failures.append(f"/hostile/stderr-once: {r or err}")
        else:
            ids.append(r.headers["x-request-id"])
    grown = log_size(srv) - log0
    bound = n * (LOG_CAP + LOG_OVERHEAD)
    if grown > bound:
        failures.append(f"log grew by {grown} bytes for {n} requests of 1 MiB each "
                        f"(bound {bound}: {LOG_CAP} + {LOG_OVERHEAD} per request)")
    access = {l.get("request_id"): l for l in srv.log_lines() if l.get("type") == "access"}
    for rid in ids:
        a = access.get(rid)
        if a is None:
            failures.append(f"no access line for {rid}")
            continue
        try:
            dropped = int(a.get("log_dropped_bytes", 0))
        except (TypeError, ValueError):
            dropped = -1
        if not 0 < dropped <= 1 << 20:
            failures.append(f"access line log_dropped_bytes={a.get('log_dropped_bytes')!r} "
                            f"(want 0 < n <= 1 MiB): {json.dumps(a)[:400]}")
            break
    rc = stop_within(srv)
    if rc != 0:
        failures.append(f"SIGTERM: exit {rc}")
    assert not failures, report(failures)


class HungDependency:
    """A loopback TCP server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    c.close()
                    return
                self.conns.append(c)

    def accepted(self):
        with self.lock:
            return len(self.conns)

    def close(self):
        with self.lock:
            self.closed = True
            for c in self.conns:
                c.close()
        self.sock.close()


def test_SAFE3_hung_dependency_holds_one_slot_not_the_host(tmp_path):
    hung = HungDependency()
    # 32 hung calls: the pool, and probe's own share of it, have room for
    # them and for the other traffic (GET /config is probe too)
    srv = Server(write_manifest(tmp_path, 48, {"probe": 40}), workers=4)
    try:
        srv.start()
        n = 32
        calls = []
        body = {"method": "POST", "url": f"http://127.0.0.1:{hung.port}/slow", "body": "{}"}
        ts = [threading.Thread(target=lambda: calls.append(
            attempt(srv, "POST", "/http", 15.0, body=body))) for _ in range(n)]
        for t in ts:
            t.start()
        until = time.monotonic() + 3.0
        while hung.accepted() < n and time.monotonic() < until:
            time.sleep(0.05)
        reached = hung.accepted()

        failures = []
        for i in range(10):  # ~2 s of other traffic while every call hangs
            for path in ("/counter", "/config?name=probe_visible"):
                r, err, secs = attempt(srv, "GET", path, 1.0)
                if r is None or r.status != 200 or secs >= 1.0:
                    failures.append(f"GET {path} while {reached} calls hang: "
                                    f"{r.status if r else err} after {secs:.2f}s")
            if failures:
                break
            time.sleep(0.1)
        if reached < n:
            failures.append(f"only {reached} of {n} calls reached the dependency at once")
        # release the hung calls: each must still get an answer
        hung.close()
        for t in ts:
            t.join(timeout=15)
        unanswered = [c for c in calls if c[0] is None]
        if len(calls) < n or unanswered:
            failures.append(f"{n - len(calls) + len(unanswered)} hung calls got no answer: "
                            f"{unanswered[:3]}")
        if srv.proc.poll() is not None:
            failures.append(f"server died: exit {srv.proc.returncode}")
        rc = stop_within(srv)
        if rc != 0:
            failures.append(f"SIGTERM: exit {rc}")
        assert not failures, report(failures, srv)
    finally:
        hung.close()
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if getattr(srv, "log", None):
            srv.log.close()
        shutil.rmtree(srv.state, ignore_errors=True)
