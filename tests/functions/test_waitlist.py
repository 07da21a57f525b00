"""waitlist over real HTTP (VAL1, VAL3, ERR1, CONC2, CONC3)."""
import json
import os
import threading
import uuid

from conftest import BUILD, Server, assert_problem, migrate


def pid():
    return "p-" + uuid.uuid4().hex[:12]


def ip_headers():
    return {}


def join(srv, body, **kw):
    return srv.post("/api/waitlist", body, **kw)


def test_VAL1_join_then_already_joined(bundle):
    p = pid()
    r = join(bundle, {"email": "ann@example.com", "product_id": p})
    assert r.status == 201 and r.json() == {"status": "joined"}, r
    r = join(bundle, {"email": "ann@example.com", "product_id": p})
    assert r.status == 200 and r.json() == {"status": "already_joined"}, r
    r = bundle.get(f"/api/waitlist/{p}/count")
    assert r.status == 200 and r.json() == {"product_id": p, "count": 1}


def test_VAL3_email_is_trimmed_and_lowercased(bundle):
    p = pid()
    assert join(bundle, {"email": "  Bob@Example.COM ", "product_id": p}).status == 201
    r = join(bundle, {"email": "bob@example.com", "product_id": p})
    assert r.json() == {"status": "already_joined"}


def test_VAL1_invalid_email_is_422_with_pointer(bundle):
    r = join(bundle, {"email": "not-an-email", "product_id": pid()})
    p = assert_problem(r, 422, "validation")
    assert p["errors"] == [{"pointer": "/email", "detail": "must be an email address"}]


def test_VAL1_unknown_and_missing_fields_are_all_reported(bundle):
    r = join(bundle, {"email": "a@example.com", "extra": 1})
    p = assert_problem(r, 422)
    assert {e["pointer"] for e in p["errors"]} == {"/extra", "/product_id"}


def test_VAL1_wrong_types(bundle):
    p = assert_problem(join(bundle, {"email": 5, "product_id": ["x"]}), 422)
    assert {e["pointer"] for e in p["errors"]} == {"/email", "/product_id"}


def test_VAL3_control_characters_rejected(bundle):
    p = assert_problem(join(bundle, {"email": "a@example.com", "product_id": "ab\u0007c"}), 422)
    assert p["errors"][0]["pointer"] == "/product_id"


def test_VAL1_malformed_json_is_400(bundle):
    r = bundle.post("/api/waitlist", '{"email": "a@example.com",',
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "validation")
    r = bundle.post("/api/waitlist", '{"email": "a@example.com"} trailing',
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    r = bundle.post("/api/waitlist", b'{"email": "\xff@example.com", "product_id": "x"}',
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    r = bundle.post("/api/waitlist", "[" * 40 + "]" * 40,
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def test_VAL1_wrong_content_type_is_415(bundle):
    r = bundle.post("/api/waitlist", json.dumps({"email": "a@example.com", "product_id": "x"}),
                    headers={"Content-Type": "text/plain"})
    assert_problem(r, 415)
    r = bundle.post("/api/waitlist", json.dumps({"email": "c@example.com", "product_id": pid()}),
                    headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status == 201, r


def test_VAL1_body_over_limit_is_413(bundle):
    r = bundle.post("/api/waitlist", json.dumps({"email": "a@example.com", "product_id": "x" * 5000}),
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 413)


def test_count_validates_product_id(bundle):
    assert_problem(bundle.get("/api/waitlist/" + "x" * 65 + "/count"), 422)
    assert_problem(bundle.get("/api/waitlist/a%20b/count"), 422)


def test_ERR1_wrong_method_is_405(bundle):
    r = bundle.get("/api/waitlist")
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"


def test_CONC3_concurrent_identical_joins_give_one_201():
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest, env={"BASTION_VAR_waitlist_joins_per_minute": "1000"})
    migrate(manifest, srv.state)
    srv.start()
    try:
        p = pid()
        statuses = []
        barrier = threading.Barrier(16)

        def go():
            barrier.wait()
            statuses.append(join(srv, {"email": "same@example.com", "product_id": p}).status)
        ts = [threading.Thread(target=go) for _ in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(statuses) == [200] * 15 + [201]
        assert srv.get(f"/api/waitlist/{p}/count").json()["count"] == 1
    finally:
        assert srv.stop() == 0


def test_CONC2_rate_limit_10_per_minute_increment_first():
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest)
    migrate(manifest, srv.state)
    srv.start()
    try:
        statuses = []
        barrier = threading.Barrier(25)

        def go(i):
            barrier.wait()
            r = join(srv, {"email": f"u{i}@example.com", "product_id": "rl"})
            statuses.append(r)
        ts = [threading.Thread(target=go, args=(i,)) for i in range(25)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = [r for r in statuses if r.status == 201]
        limited = [r for r in statuses if r.status == 429]
        # a window boundary can split the burst: never more than 2 × 10 through
        assert len(ok) + len(limited) == 25
        assert 10 <= len(ok) <= 20, [r.status for r in statuses]
        for r in limited:
            assert_problem(r, 429, "transient")
            assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers
        assert ok[0].headers["ratelimit-policy"] == '"waitlist-join";q=10;w=60'
        # the store counts only confirmed writes (REL1)
        assert srv.get("/api/waitlist/rl/count").json()["count"] == len(ok)
    finally:
        assert srv.stop() == 0


def test_REL8_missing_required_variable_stops_serve(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text(
        '[vars.api_key]\nrequired = true\nsecret = true\n'
        '[functions.health]\nsource = "functions/health"\nkv = ["health"]\nsql = ["health"]\n'
        'vars = ["api_key"]\n[[routes]]\npath = "/health"\nfunction = "health"\n')
    out = tmp_path / "m.json"
    import subprocess
    from conftest import ROOT
    subprocess.run(["python3", "host/tools/manifest.py", str(toml), ROOT, BUILD, str(out)],
                   check=True, cwd=ROOT)
    srv = Server(str(out), env={"BASTION_VAR_api_key": ""})
    srv.env.pop("BASTION_VAR_api_key")
    try:
        srv.start()
        raise AssertionError("serve started without a required variable")
    except RuntimeError as e:
        assert "missing required variable: api_key" in str(e)
    srv2 = Server(str(out), env={"BASTION_VAR_api_key": "s3cret-value"})
    srv2.start()
    try:
        assert srv2.get("/health").status == 200
        assert "s3cret-value" not in srv2.logs()
    finally:
        srv2.stop()
