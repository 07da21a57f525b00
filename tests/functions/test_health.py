"""REL10: /health reports each dependency."""
import os

from conftest import BUILD, Server, assert_problem


def test_REL10_health_ok(bundle):
    r = bundle.get("/health")
    assert r.status == 200, r
    assert r.json() == {"status": "ok", "checks": {"kv": {"status": "ok"}, "sql": {"status": "ok"}}}


def test_REL10_health_503_when_sql_is_down():
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest)
    # a directory where the health database file should be: SQLite cannot open it
    os.makedirs(os.path.join(srv.state, "sql", "health.sqlite"))
    srv.start()
    try:
        r = srv.get("/health")
        assert r.status == 503, r
        assert r.json() == {"status": "fail",
                            "checks": {"kv": {"status": "ok"}, "sql": {"status": "fail"}}}
        assert int(r.headers["retry-after"]) >= 1
    finally:
        assert srv.stop() == 0


def test_ERR1_unknown_method_is_405_with_allow(bundle):
    r = bundle.request("DELETE", "/health")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
