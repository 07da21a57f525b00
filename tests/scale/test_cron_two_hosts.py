"""The [[cron]] runner on two hosts with one Redis (REL6): the job's lease is
cluster-wide, so a job never runs on both at once.

Both hosts have their own state directory, so nothing but Redis is shared: the
ticker fixture's `slow` job (tests/host/fixtures/ticker) counts in that same
Redis every time it finds another run of itself in progress.
"""
import tempfile
import time

from conftest import REMOTE, Server, pg_database, runtime_config
from ticker_bundle import cron_lines, jobs


def test_REL6_two_hosts_on_one_redis_never_run_a_job_twice_at_once(tmp_path):
    manifest = jobs(tmp_path, {"name": "slow", "function": "ticker", "every_s": 1})
    config = runtime_config(REMOTE, str(tmp_path), pg_url=pg_database())
    hosts = [Server(manifest, env={"BASTION_VAR_ticker_slow_ms": "1500"},
                    state=tempfile.mkdtemp(prefix=f"bastion-cron-{n}-"), runtime_config=config,
                    cron=True)
             for n in "ab"]
    for h in hosts:
        h.start()
    try:
        def seen(msg):
            return [l for h in hosts for l in cron_lines(h, msg, "slow")]
        deadline = time.time() + 25
        while time.time() < deadline and not (len(seen("cron run")) >= 4 and seen("cron skipped")):
            time.sleep(0.25)
        c = hosts[0].get("/ticker").json()
        assert c["slow_runs"] >= 4 and c["overlaps"] == 0, c
        assert seen("cron skipped"), "the two hosts never met at the lease"
        assert len(seen("cron run")) == c["slow_runs"]
        assert {l["status"] for l in seen("cron run")} == {"200"}
    finally:
        for h in hosts:
            assert h.stop() == 0
