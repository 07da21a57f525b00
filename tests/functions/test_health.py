"""REL10: /health reports each dependency."""
import os

import pytest

from conftest import BACKEND, BUILD, SQLITE, Server, assert_problem, free_port


def test_REL10_health_ok(bundle):
    r = bundle.get("/health")
    assert r.status == 200, r
    kv, sql = ("sqlite", "sqlite") if BACKEND == SQLITE else ("redis", "postgres")
    assert r.json() == {"status": "ok", "checks": {"kv": {"status": "ok"}, "sql": {"status": "ok"}},
                        "backends": {
                            "kv.default": {"backend": kv, "required": True, "status": "ok"},
                            "sql.default": {"backend": sql, "required": True, "status": "ok"}}}


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


@pytest.mark.parametrize("required", [True, False])
def test_REL10_health_names_each_backend_and_503_only_for_a_required_one_down(tmp_path, required):
    """A store the health function does not touch itself (the waitlist's
    rate limits) on a Redis that is down: /health names it, and answers 503
    only when the runtime config marks it required."""
    dead = free_port()  # nothing listens there
    rc = tmp_path / "runtime.toml"
    rc.write_text(f'[kv.ratelimit]\nbackend = "redis"\nurl = "redis://127.0.0.1:{dead}/0"\n'
                  f'required = {"true" if required else "false"}\n')
    srv = Server(os.path.join(BUILD, "manifest.json"), runtime_config=str(rc))
    srv.migrate()
    srv.start()
    try:
        r = srv.get("/health")
        body = assert_problem(r, 503, "infrastructure") if required else r.json()
        if not required:
            assert r.status == 200, r
        assert body["backends"]["kv.ratelimit"] == {"backend": "redis", "required": required,
                                                   "status": "fail"}, body
        assert body["backends"]["kv.default"]["status"] == "ok", body
        assert body["checks"] == {"kv": {"status": "ok"}, "sql": {"status": "ok"}}, body
        assert str(dead) not in r.body.decode()  # addresses stay in the host's log
    finally:
        assert srv.stop() == 0
