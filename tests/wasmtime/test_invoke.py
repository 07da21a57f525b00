"""`tests/wasmtime/host.py invoke` (behind `./build.sh wasmtime-invoke`):
one function once under Wasmtime from the command line, on a migrated state
directory, printing status, headers and body."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from conftest import BUILD, ROOT, TEST_VARS, migrate  # noqa: E402

MANIFEST = os.path.join(BUILD, "manifest.json")


def invoke(state, *args):
    out = subprocess.run([sys.executable, os.path.join(HERE, "host.py"), "invoke", "--state", state,
                          "--manifest", MANIFEST, *args], capture_output=True, cwd=ROOT,
                         env=dict(os.environ, **TEST_VARS), timeout=120)
    head, _, body = out.stdout.partition(b"\n\n")
    lines = head.decode().splitlines()
    return out.returncode, lines, body.rstrip(b"\n"), out.stderr.decode()


def join(body):
    """A migrated state and `invoke waitlist` POST /api/waitlist with body on it."""
    state = tempfile.mkdtemp(prefix="bastion-wasmtime-invoke-")
    migrate(MANIFEST, state)
    return (state, *invoke(state, "waitlist", "--method", "POST", "--path", "/api/waitlist",
                           "--header", "Content-Type: application/json", "--body", body))


def test_wasmtime_invoke_prints_status_headers_and_body():
    state, rc, head, body, err = join('{"email":"cli@example.com","product_id":"p-cli"}')
    assert rc == 0, err
    assert head[0] == "status: 201", (head, body, err)
    assert "content-type: application/json" in head
    assert json.loads(body) == {"status": "joined"}
    db = sqlite3.connect(os.path.join(state, "sql", "waitlist.sqlite"))
    assert db.execute("SELECT email FROM waitlist WHERE product_id='p-cli'").fetchall() == \
        [("cli@example.com",)]
    rc, head, body, err = invoke(state, "waitlist", "--path", "/api/waitlist/p-cli/count")
    assert head[0] == "status: 200" and json.loads(body) == {"product_id": "p-cli", "count": 1}


def test_wasmtime_invoke_reports_a_validation_problem():
    state, rc, head, body, err = join('{"email":"x"}')
    assert head[0] == "status: 422", (head, body, err)
    assert "content-type: application/problem+json" in head
    assert json.loads(body)["status"] == 422
