"""REL10: /health reports each dependency."""
import os

import pytest

from conftest import BUILD, Server, assert_problem


def test_REL10_health_ok(bundle):
    r = bundle.get("/health")
    assert r.status == 200, r
    sqlite = {"backend": "sqlite", "required": True, "status": "ok"}
    assert r.json() == {"status": "ok", "checks": {"kv": {"status": "ok"}, "sql": {"status": "ok"}},
                        "backends": {"kv.default": sqlite, "sql.default": sqlite}}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("down", ["sql", "kv"])
def test_ERR1_REL10_health_503_is_problem_json_with_checks(down):
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest)
    # a directory where the database file should be: SQLite cannot open it,
    # whoever we run as (chmod 000 would not stop root)
    where = {"sql": os.path.join(srv.state, "sql", "health.sqlite"),
             "kv": os.path.join(srv.state, "kv.sqlite")}[down]
    os.makedirs(where)
    srv.start()
    try:
        r = srv.get("/health")
        p = assert_problem(r, 503, "infrastructure")  # ERR1: type, title, status, detail, …
        assert p["type"] == "https://bastion.dev/problems/unavailable", p
        assert p["retryable"] is True
        assert int(r.headers["retry-after"]) >= 1
        up = {"sql": "kv", "kv": "sql"}[down]
        assert p["checks"] == {down: {"status": "fail"}, up: {"status": "ok"}}, p
        assert set(p) == {"type", "title", "status", "detail", "class", "retryable", "checks",
                          "backends"}
    finally:
        assert srv.stop() == 0


def test_ERR1_unknown_method_is_405_with_allow(bundle):
    r = bundle.request("DELETE", "/health")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
