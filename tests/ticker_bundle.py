"""The `ticker` fixture bundle (tests/host/fixtures/ticker) with [[cron]] entries of a
test's choosing, for the runner's tests on one host (tests/host/test_cron.py) and two
(tests/scale/test_cron_two_hosts.py)."""
import json

from conftest import manifest_json

TICKER = """
[server]
trusted_proxies = []

[vars.ticker_slow_ms]
default = "1000"

[functions.ticker]
source = "tests/host/fixtures/ticker"
timeout_ms = 10000
kv = ["ticker"]
vars = ["ticker_slow_ms"]

[[routes]]
path = "/ticker"
function = "ticker"
"""


def jobs(tmp_path, *entries, name="m"):
    """The ticker bundle with these [[cron]] entries (dicts), converted by manifest.py."""
    text = TICKER
    for e in entries:
        text += "\n[[cron]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in e.items())
    return manifest_json(tmp_path, text, name)


def cron_lines(srv, msg, job):
    return [l for l in srv.log_lines() if l.get("msg") == msg and l.get("job") == job]
