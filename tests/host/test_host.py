"""Host runtime tests against fixture modules (DESIGN "Host rules")."""
import os
import subprocess
import threading
import time

from conftest import (BASTION, BUILD, PROBE_WITH_SECRET, ROOT, Server, assert_problem,
                      manifest_json)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_CONC7_fresh_instance_per_request(fixtures):
    for _ in range(50):
        r = fixtures.get("/counter")
        assert r.status == 200 and r.json() == {"count": 1}, r


def test_REL2_infinite_loop_answers_504_within_deadline(fixtures):
    # spin's timeout_ms is 500; the answer must come by deadline + 0.5 s
    for _ in range(3):
        t0 = time.monotonic()
        r = fixtures.get("/spin")
        elapsed = time.monotonic() - t0
        assert_problem(r, 504, "transient")
        assert elapsed < 1.0, elapsed
        assert fixtures.get("/counter").json() == {"count": 1}


def test_REL2_looping_neighbour_does_not_block_others(fixtures):
    results = []
    threads = [threading.Thread(target=lambda: results.append(fixtures.get("/spin").status))
               for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    for _ in range(20):
        assert fixtures.get("/counter").status == 200
    assert time.monotonic() - t0 < 0.45  # answered while both spinners still run
    for t in threads:
        t.join()
    assert results == [504, 504]


def test_trap_answers_500_and_host_keeps_serving(fixtures):
    for route in ("/trap/unreachable", "/trap/oob", "/trap/recurse", "/trap/divide"):
        assert_problem(fixtures.get(route), 500, "internal")
        assert fixtures.get("/counter").status == 200
    traps = [l for l in fixtures.log_lines() if l.get("msg") == "guest trapped"]
    assert {l["fn"] for l in traps} == {"trap"}
    assert {"out-of-bounds memory access", "unreachable executed", "call stack exhausted",
            "integer divide by zero"} <= {l["trap"] for l in traps}


def test_memory_hog_answers_500_and_rss_stays_flat(fixtures):
    for _ in range(200):  # warm up every execution thread's pooled memory (16 in the manifest)
        assert_problem(fixtures.get("/hog"), 500)
    before = rss_kb(fixtures.proc.pid)
    for _ in range(1000):
        assert fixtures.get("/hog").status == 500
    after = rss_kb(fixtures.proc.pid)
    # each request touched ~8 MiB; 1000 of them leaking would be ~8 GiB
    assert after - before < 16 * 1024, (before, after)


def test_unknown_import_is_refused_with_its_name():
    manifest = os.path.join(BUILD, "test", "badimport.json")
    r = subprocess.run([BASTION, "invoke", "badimport", "--path", "/badimport", "--manifest",
                        manifest, "--state", "/tmp/bastion-badimport"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode != 0
    assert "unknown import 'bastion:edge/kv@0.1.0' 'flush-all'" in r.stderr, r.stderr
    srv = Server(manifest)
    try:
        srv.start()
        raise AssertionError("serve started with a module that has an unknown import")
    except RuntimeError as e:
        assert "flush-all" in str(e)


def test_unknown_route_is_404_problem(fixtures):
    assert_problem(fixtures.get("/nowhere"), 404)


def test_client_cannot_set_host_headers(fixtures):
    # x-bastion-* belongs to the host: whatever the spelling, none reaches the module,
    # while an ordinary header does (so the echo itself is proven to work)
    r = fixtures.request("GET", "/echo", headers={
        "X-Bastion-Admin": "1", "x-bastion-trusted": "yes", "X-BASTION-Tenant": "t1",
        "X-Other": "kept"})
    assert r.status == 200, r
    names = [n for n, _ in r.json()["headers"]]
    assert not [n for n in names if n.startswith("x-bastion-")], names
    assert ["x-other", "kept"] in r.json()["headers"]


def test_OBS2_access_log_line_per_request(fixtures):
    r = fixtures.get("/counter")
    rid = r.headers["x-request-id"]
    lines = [l for l in fixtures.log_lines() if l.get("request_id") == rid]
    access = [l for l in lines if l.get("type") == "access"]
    assert len(access) == 1, lines
    a = access[0]
    assert a["route"] == "/counter" and a["status"] == "200" and a["fn"] == "counter"
    for k in ("duration_us", "instance_us", "kv_calls", "sql_calls", "http_calls"):
        assert int(a[k]) >= 0
    assert int(a["memory_pages"]) >= 1  # the instance's peak linear memory, in 64 KiB pages


def test_invoke_prints_status_headers_body():
    manifest = os.path.join(BUILD, "test", "manifest.json")
    r = subprocess.run([BASTION, "invoke", "counter", "--path", "/counter", "--manifest",
                        manifest, "--state", "/tmp/bastion-invoke"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "200"
    assert "content-type: application/json" in lines
    assert lines[-1] == '{"count":1}'


def test_sigterm_finishes_in_flight_requests():
    manifest = os.path.join(BUILD, "test", "manifest.json")
    srv = Server(manifest).start()
    out = []
    t = threading.Thread(target=lambda: out.append(srv.get("/spin").status))
    t.start()
    time.sleep(0.1)
    rc = srv.stop()
    t.join()
    assert out == [504]  # the in-flight request was answered, not dropped
    assert rc == 0


def test_REL8_dev_generates_throwaway_secrets_and_says_so(tmp_path):
    manifest = manifest_json(tmp_path, PROBE_WITH_SECRET)
    srv = Server(manifest)
    # without --dev a missing required secret stops serve
    try:
        srv.start()
        raise AssertionError("serve started without its secret")
    except RuntimeError as e:
        assert "missing required variable: signing_key" in str(e)
    first = subprocess.run([BASTION, "invoke", "probe", "--path", "/config", "--query",
                            "name=signing_key", "--manifest", str(manifest), "--state",
                            srv.state, "--dev"], capture_output=True, text=True, cwd=ROOT)
    assert "generated a throw-away secret for 'signing_key'" in first.stderr
    value = first.stdout.splitlines()[-1]
    assert len(value) > 40 and value not in first.stderr  # never printed
    again = subprocess.run([BASTION, "invoke", "probe", "--path", "/config", "--query",
                            "name=signing_key", "--manifest", str(manifest), "--state",
                            srv.state, "--dev"], capture_output=True, text=True, cwd=ROOT)
    assert again.stdout.splitlines()[-1] == value  # kept in the state dir, not regenerated
    assert "generated" not in again.stderr


def test_SAFE5_host_problems_use_the_core_scheme():
    """Host-made problems (host/problem.c) name their type, title and class as
    the guest core does (shared/src/problem.c) for every status both make."""
    import re
    with open(os.path.join(ROOT, "host", "problem.c")) as f:
        host = {int(s): (slug, title, cls) for s, slug, title, cls in
                re.findall(r'\{(\d{3}),\s*"([a-z-]+)",\s*"([^"]+)",\s*"([a-z]+)",\s*[01]\}', f.read())}
    with open(os.path.join(ROOT, "shared", "src", "problem.c")) as f:
        core = {}
        for s, slug, title, cls in re.findall(
                r'\] = \{(\d{3}),\s*"([a-z-]+)",\s*"([^"]+)",\s*"([a-z]+)",\s*(?:true|false)\}',
                f.read()):
            core.setdefault(int(s), (slug, title, cls))  # the first entry is the status's own
    assert len(host) >= 9 and len(core) >= 15, (host, core)
    shared = set(host) & set(core)
    assert {400, 404, 405, 413, 500, 503, 504} <= shared, shared
    for s in shared:
        assert host[s] == core[s], (s, host[s], core[s])


def test_SAFE5_host_made_errors_are_problems(fixtures):
    body = assert_problem(fixtures.get("/nowhere"), 404, "validation")
    assert body["type"] == "https://bastion.dev/problems/not-found"
    body = assert_problem(fixtures.get("/spin"), 504, "transient")
    assert body["type"] == "https://bastion.dev/problems/timeout"
    body = assert_problem(fixtures.get("/trap/unreachable"), 500, "internal")
    assert body["type"] == "https://bastion.dev/problems/internal"
