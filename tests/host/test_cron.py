"""The [[cron]] runner (host/cron.c): one run of a job at a time under a kv lease, on
schedule and from `bastion invoke --cron`, each run one log line with its counts.

The jobs are the `ticker` fixture's (tests/host/fixtures/ticker): `slow` notes in kv when
it finds another run of itself in progress, so an overlap the lease failed to stop is
counted by the job itself, not guessed from timings.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BASTION, ROOT, Server
from ticker_bundle import cron_lines, jobs

def log_lines(text):
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


class Run:
    def __init__(self, proc, out, err):
        self.rc, self.out = proc.returncode, out
        self.lines = log_lines(err)
        self.err = err

    def status(self):
        return int(self.out.split("\n", 1)[0])

    def body(self):
        return json.loads(self.out.split("\n\n", 1)[1])

    def line(self, msg):
        found = [l for l in self.lines if l.get("msg") == msg]
        assert len(found) == 1, self.err
        return found[0]


def invoke_cron(manifest, state, job, slow_ms=None, timeout=60):
    env = dict(os.environ)
    if slow_ms is not None:
        env["BASTION_VAR_ticker_slow_ms"] = str(slow_ms)
    p = subprocess.run([BASTION, "invoke", "--cron", job, "--state", state, "--manifest",
                        manifest], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=timeout)
    return Run(p, p.stdout, p.stderr)


def start_invoke(manifest, state, job, slow_ms):
    env = dict(os.environ, BASTION_VAR_ticker_slow_ms=str(slow_ms))
    return subprocess.Popen([BASTION, "invoke", "--cron", job, "--state", state, "--manifest",
                             manifest], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)


def counters(manifest, state):
    p = subprocess.run([BASTION, "invoke", "ticker", "--path", "/ticker", "--state", state,
                        "--manifest", manifest], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.split("\n\n", 1)[1])


ALL = [{"name": n, "function": "ticker", "every_s": 3600}
       for n in ("tick", "slow", "counts", "fail", "trap")]


@pytest.fixture
def bundle(tmp_path):
    return jobs(tmp_path, *ALL), tempfile.mkdtemp(prefix="bastion-cron-")


# --- bastion invoke --cron ---------------------------------------------------------------------

def test_REL6_invoke_cron_runs_the_job_once_and_prints_its_answer(bundle):
    manifest, state = bundle
    for n in (1, 2):
        r = invoke_cron(manifest, state, "tick")
        assert r.rc == 0, r.err
        assert r.status() == 200 and r.body() == {"ticks": n}
        line = r.line("cron run")
        assert (line["type"], line["job"], line["fn"], line["status"], line["level"]) == \
            ("cron", "tick", "ticker", "200", "info")
        assert int(line["duration_us"]) > 0 and int(line["kv_calls"]) == 1
        assert line["result.ticks"] == str(n)


def test_REL6_the_run_line_carries_the_answers_counts(bundle):
    r = invoke_cron(*bundle, "counts")
    assert r.rc == 0, r.err
    line = r.line("cron run")
    assert {k: v for k, v in line.items() if k.startswith("result.")} == {
        "result.scanned": "3", "result.sent": "2", "result.failed": "1", "result.note": "n"}


@pytest.mark.parametrize("job,status", [("fail", 503), ("trap", 500)])
def test_REL6_a_failed_run_is_an_error_line_with_the_job(bundle, job, status):
    r = invoke_cron(*bundle, job)
    assert r.rc == 1 and r.status() == status, r.err
    line = r.line("cron run")
    assert (line["level"], line["job"], line["status"]) == ("error", job, str(status))
    assert line["failed_total"] == "1"


def test_REL6_an_unknown_job_is_refused(bundle):
    r = invoke_cron(*bundle, "nope")
    assert r.rc == 2 and "no cron job 'nope'" in r.err


# --- one run at a time (the lease) ---------------------------------------------------------------

def test_REL6_overlapping_runs_are_skipped(bundle):
    manifest, state = bundle
    first = start_invoke(manifest, state, "slow", 2500)
    time.sleep(0.8)  # the first holds the lease and works
    second = invoke_cron(manifest, state, "slow", slow_ms=100)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert second.rc == 3 and second.out == "skipped\n", second.err
    skip = second.line("cron skipped")
    assert (skip["job"], skip["outcome"], skip["skipped_total"]) == ("slow", "skipped", "1")
    assert [l for l in second.lines if l.get("msg") == "cron run"] == []
    # the lease was given back: the next run goes at once
    third = invoke_cron(manifest, state, "slow", slow_ms=10)
    assert third.rc == 0, third.err
    assert counters(manifest, state) == {"ticks": 0, "overlaps": 0, "slow_runs": 2}


def test_REL6_a_lease_outlives_a_killed_run_then_frees_itself(tmp_path):
    """kill -9 mid-run: nothing gives the lease back, so it holds for the job's timeout
    (+1 s) and then lets the next run go."""
    manifest = jobs(tmp_path, {"name": "slow", "function": "ticker", "every_s": 3600,
                               "timeout_ms": 2000})
    state = tempfile.mkdtemp(prefix="bastion-cron-")
    t0 = time.monotonic()
    victim = start_invoke(manifest, state, "slow", 1800)
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert invoke_cron(manifest, state, "slow", slow_ms=10).rc == 3
    time.sleep(max(0.0, 3.3 - (time.monotonic() - t0)))
    r = invoke_cron(manifest, state, "slow", slow_ms=10)
    assert r.rc == 0, r.err


def test_REL6_a_run_past_its_timeout_is_unwound(tmp_path):
    manifest = jobs(tmp_path, {"name": "slow", "function": "ticker", "every_s": 3600,
                               "timeout_ms": 500})
    state = tempfile.mkdtemp(prefix="bastion-cron-")
    t0 = time.monotonic()
    r = invoke_cron(manifest, state, "slow", slow_ms=5000)
    assert time.monotonic() - t0 < 4
    assert r.rc == 1 and r.status() == 504, r.err
    assert r.line("cron run")["level"] == "error"


# --- on schedule ---------------------------------------------------------------------------------

def serve(manifest, state, slow_ms=1000):
    return Server(manifest, state=state, env={"BASTION_VAR_ticker_slow_ms": str(slow_ms)},
                  cron=True).start()


def test_REL6_jobs_run_on_schedule(tmp_path):
    manifest = jobs(tmp_path, {"name": "tick", "function": "ticker", "every_s": 1, "jitter_s": 1})
    srv = serve(manifest, tempfile.mkdtemp(prefix="bastion-cron-"))
    try:
        deadline = time.time() + 15
        while time.time() < deadline and len(cron_lines(srv, "cron run", "tick")) < 3:
            time.sleep(0.2)
        r = srv.get("/ticker")
        assert r.status == 200 and r.json()["ticks"] >= 3, r
        runs = cron_lines(srv, "cron run", "tick")
        assert len(runs) >= 3 and all(l["status"] == "200" for l in runs), srv.logs()
        # HTTP never reaches a job: another method on the job's module is refused
        assert srv.request("CRON", "/ticker").status in (400, 405, 501)
    finally:
        assert srv.stop() == 0


def test_REL6_two_hosts_on_one_state_never_run_a_job_twice_at_once(tmp_path):
    """SQLite: the lease is per state directory, so two hosts on one directory share it."""
    manifest = jobs(tmp_path, {"name": "slow", "function": "ticker", "every_s": 1})
    state = tempfile.mkdtemp(prefix="bastion-cron-")
    a, b = serve(manifest, state, 1500), serve(manifest, state, 1500)
    try:
        deadline = time.time() + 20
        # (both hosts write the state directory's server.log: a's view is both)
        while time.time() < deadline and not (len(cron_lines(a, "cron run", "slow")) >= 4
                                               and cron_lines(a, "cron skipped", "slow")):
            time.sleep(0.25)
        c = a.get("/ticker").json()
        assert c["slow_runs"] >= 4 and c["overlaps"] == 0, c
        assert cron_lines(a, "cron skipped", "slow"), a.logs()[-2000:]
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


# --- the manifest ----------------------------------------------------------------------------------

@pytest.mark.parametrize("entry,complaint", [
    ({"name": "tick", "function": "ticker", "every_s": 0}, "every_s"),
    ({"name": "tick", "function": "ticker", "every_s": 10, "jitter_s": 11}, "jitter_s"),
    ({"name": "tick", "function": "ticker", "every_s": 10, "timeout_ms": 0}, "timeout_ms"),
    ({"name": "Tick!", "function": "ticker", "every_s": 10}, "name"),
    ({"name": "tick", "function": "nope", "every_s": 10}, "function"),
    ({"name": "tick", "function": "ticker", "every_s": 10, "when": "daily"}, "when"),
])
def test_REL6_cron_entries_are_checked(tmp_path, entry, complaint):
    err = manifest_error(tmp_path, entry)
    assert "cron[0]" in err and complaint in err, err


def test_REL6_a_job_name_is_used_once(tmp_path):
    err = manifest_error(tmp_path, {"name": "tick", "function": "ticker", "every_s": 10},
                         {"name": "tick", "function": "ticker", "every_s": 20})
    assert "cron[1].name" in err and "not used twice" in err, err


def manifest_error(tmp_path, *entries):
    try:
        jobs(tmp_path, *entries)
    except subprocess.CalledProcessError:
        pass
    else:
        raise AssertionError("manifest.py accepted it")
    toml = tmp_path / "m.toml"
    p = subprocess.run(["python3", "host/tools/manifest.py", str(toml), ROOT, "/tmp",
                        str(tmp_path / "x.json")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0
    return p.stderr
