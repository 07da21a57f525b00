"""content over real HTTP: pages with ETag / If-Match (CONC6, AUTH1, VAL1, ERR1)."""
import json
import os
import sqlite3
import threading
import time
import uuid

import pytest

from conftest import (admin_headers, assert_problem, bearer, failing_trigger, mint_jwt,
                      user_headers)


def slug():
    return "page-" + uuid.uuid4().hex[:12]


def put(srv, s, body, headers=None, auth=True):
    h = dict(admin_headers() if auth else {}, **(headers or {}))
    return srv.request("PUT", f"/api/admin/pages/{s}", body=body, headers=h)


def create(srv, s, title="Hello", body="First version."):
    r = put(srv, s, {"title": title, "body": body}, {"If-None-Match": "*"})
    assert r.status == 201, r
    return r


def test_CONC6_create_with_if_none_match_star_then_get_has_strong_etag(bundle):
    s = slug()
    r = create(bundle, s, "About us", "Line one.\n\nLine two.\twith a tab")
    assert r.json() == {"slug": s, "title": "About us",
                        "body": "Line one.\n\nLine two.\twith a tab", "version": 1}
    assert r.headers["etag"] == '"v1"'
    assert r.headers["location"] == f"/api/pages/{s}"
    g = bundle.get(f"/api/pages/{s}")
    assert g.status == 200, g
    assert g.json() == r.json()
    assert g.headers["etag"] == '"v1"'
    assert not g.headers["etag"].startswith("W/")  # strong: usable with If-Match
    row = bundle.sql("content", "SELECT version, updated_by FROM pages WHERE slug = ?", (s,))
    assert row == [(1, "admin-1")]


def test_CONC6_if_none_match_star_on_existing_page_is_412(bundle):
    s = slug()
    create(bundle, s)
    r = put(bundle, s, {"title": "Again", "body": "x"}, {"If-None-Match": "*"})
    assert_problem(r, 412, "conflict")
    assert bundle.get(f"/api/pages/{s}").json()["title"] == "Hello"


def test_CONC6_update_with_current_etag_bumps_version(bundle):
    s = slug()
    etag = create(bundle, s).headers["etag"]
    r = put(bundle, s, {"title": "Hello 2", "body": "Second."}, {"If-Match": etag})
    assert r.status == 200, r
    assert r.json() == {"slug": s, "title": "Hello 2", "body": "Second.", "version": 2}
    assert r.headers["etag"] == '"v2"'
    g = bundle.get(f"/api/pages/{s}")
    assert g.headers["etag"] == '"v2"' and g.json()["body"] == "Second."


def test_CONC6_missing_if_match_is_428(bundle):
    s = slug()
    create(bundle, s)
    r = put(bundle, s, {"title": "No precondition", "body": "x"})
    assert_problem(r, 428, "validation")
    assert bundle.get(f"/api/pages/{s}").json()["version"] == 1


def test_CONC6_stale_if_match_is_412_and_nothing_changes(bundle):
    s = slug()
    v1 = create(bundle, s).headers["etag"]
    assert put(bundle, s, {"title": "B", "body": "b"}, {"If-Match": v1}).status == 200
    r = put(bundle, s, {"title": "Lost update", "body": "c"}, {"If-Match": v1})
    assert_problem(r, 412, "conflict")
    g = bundle.get(f"/api/pages/{s}")
    assert g.json()["title"] == "B" and g.headers["etag"] == '"v2"'


def test_CONC6_if_match_forms(bundle):
    s = slug()
    create(bundle, s)
    # a weak tag never matches: If-Match compares strongly (RFC 9110 §13.1.1)
    assert_problem(put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": 'W/"v1"'}), 412)
    # foreign or non-canonical tags are well-formed but match nothing
    assert_problem(put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": '"abc", "v01"'}), 412)
    # a list matches when any strong member is current
    r = put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": '"v9", "v1"'})
    assert r.status == 200 and r.json()["version"] == 2, r
    # "*" matches any current representation
    r = put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": "*"})
    assert r.status == 200 and r.json()["version"] == 3, r
    # syntax errors and contradictory headers are 400
    assert_problem(put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": "v3"}), 400)
    assert_problem(put(bundle, s, {"title": "t", "body": "b"}, {"If-Match": '"v3'}), 400)
    assert_problem(put(bundle, s, {"title": "t", "body": "b"},
                       {"If-Match": '"v3"', "If-None-Match": "*"}), 400)
    assert_problem(put(bundle, s, {"title": "t", "body": "b"}, {"If-None-Match": '"v3"'}), 400)
    assert bundle.get(f"/api/pages/{s}").json()["version"] == 3


def test_CONC6_if_match_on_missing_page_is_412(bundle):
    r = put(bundle, slug(), {"title": "t", "body": "b"}, {"If-Match": '"v1"'})
    assert_problem(r, 412)
    r = put(bundle, slug(), {"title": "t", "body": "b"}, {"If-Match": "*"})
    assert_problem(r, 412)


def test_CONC6_concurrent_puts_with_same_etag_one_wins(bundle):
    s = slug()
    etag = create(bundle, s).headers["etag"]
    n = 16
    results = [None] * n
    barrier = threading.Barrier(n)
    headers = dict(admin_headers(), **{"If-Match": etag})

    def go(i):
        barrier.wait()
        results[i] = bundle.request("PUT", f"/api/admin/pages/{s}",
                                    body={"title": f"Editor {i}", "body": f"Edit {i}"},
                                    headers=headers)
    ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [412] * (n - 1), [r for r in results]
    for r in results:
        if r.status == 412:
            assert_problem(r, 412, "conflict")
    winner = next(r for r in results if r.status == 200)
    assert winner.headers["etag"] == '"v2"'
    g = bundle.get(f"/api/pages/{s}")
    assert g.json() == winner.json() and g.headers["etag"] == '"v2"'


def test_get_unknown_page_is_404(bundle):
    assert_problem(bundle.get(f"/api/pages/{slug()}"), 404)


def test_VAL1_slug_is_validated(bundle):
    p = assert_problem(bundle.get("/api/pages/" + "x" * 65), 422, "validation")
    assert p["errors"][0]["pointer"] == "/slug"
    assert_problem(bundle.get("/api/pages/a%20b"), 422)
    assert_problem(bundle.get("/api/pages/%20about"), 422)
    assert_problem(bundle.get("/api/pages/a%00b"), 404)  # the host refuses to decode a NUL
    r = put(bundle, "bad.slug", {"title": "t", "body": "b"}, {"If-None-Match": "*"})
    assert_problem(r, 422)


def test_VAL1_title_and_body_rules(bundle):
    s = slug()
    h = {"If-None-Match": "*"}
    p = assert_problem(put(bundle, s, {"title": "x" * 201, "body": "y" * 50001}, h), 422)
    assert {(e["pointer"], e["detail"]) for e in p["errors"]} == {
        ("/title", "is too long"), ("/body", "is too long")}
    p = assert_problem(put(bundle, s, {"title": "  ", "body": " \n "}, h), 422)
    assert {e["pointer"] for e in p["errors"]} == {"/title", "/body"}
    p = assert_problem(put(bundle, s, {"title": "t"}, h), 422)
    assert p["errors"] == [{"pointer": "/body", "detail": "is required"}]
    p = assert_problem(put(bundle, s, {"title": "t", "body": 5, "extra": 1}, h), 422)
    assert {e["pointer"] for e in p["errors"]} == {"/body", "/extra"}
    # line breaks are fine in a body, not in a title; other controls in neither (VAL3)
    p = assert_problem(put(bundle, s, {"title": "a\nb", "body": "ok\nok"}, h), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/title"]
    p = assert_problem(put(bundle, s, {"title": "ok", "body": "bell\u0007"}, h), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/body"]
    p = assert_problem(put(bundle, s, {"title": "ok", "body": "c1\u0085"}, h), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/body"]
    raw = '{"title": "t", "body": "a", "body": "b"}'
    p = assert_problem(put(bundle, s, raw, dict(h, **{"Content-Type": "application/json"})), 422)
    assert p["errors"] == [{"pointer": "/body", "detail": "appears more than once"}]
    # nothing was created by any of the above
    assert_problem(bundle.get(f"/api/pages/{s}"), 404)
    # the maximum lengths (in code points) are accepted
    doc = {"title": "é" * 200, "body": "ü" * 20000}
    r = put(bundle, s, json.dumps(doc, ensure_ascii=False).encode(),
            dict(h, **{"Content-Type": "application/json"}))
    assert r.status == 201, r
    assert bundle.get(f"/api/pages/{s}").json()["title"] == doc["title"]


def test_VAL1_body_front_door(bundle):
    s = slug()
    h = {"If-None-Match": "*", "Content-Type": "application/json"}
    assert_problem(put(bundle, s, '{"title": "t",', h), 400, "validation")
    assert_problem(put(bundle, s, '["t"]', h), 400)
    assert_problem(put(bundle, s, b'{"title": "\xff", "body": "b"}', h), 400)
    p = assert_problem(put(bundle, s, '{"title": "t", "body": "a\\u0000b"}', h), 422)
    assert p["errors"] == [{"pointer": "/body",
                            "detail": "must not contain the NUL character (\\u0000)"}]
    r = put(bundle, s, json.dumps({"title": "t", "body": "b"}),
            {"If-None-Match": "*", "Content-Type": "text/plain"})
    assert_problem(r, 415)
    big = json.dumps({"title": "t", "body": "x" * 70000})
    assert_problem(put(bundle, s, big, h), 413)
    assert_problem(bundle.get(f"/api/pages/{s}"), 404)


def test_AUTH1_put_requires_admin_token_before_the_body(bundle):
    s = slug()
    bad_body = "{not json"
    h = {"If-None-Match": "*", "Content-Type": "application/json"}
    r = put(bundle, s, bad_body, h, auth=False)
    assert_problem(r, 401, "auth")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = put(bundle, s, bad_body, dict(h, **user_headers()), auth=False)
    assert_problem(r, 403, "auth")
    expired = mint_jwt(role="admin", exp=int(time.time()) - 3600)
    assert_problem(put(bundle, s, bad_body, dict(h, **bearer(expired)), auth=False), 401)
    forged = mint_jwt(role="admin", secret="another-secret-0123456789abcdef0123456789")
    assert_problem(put(bundle, s, bad_body, dict(h, **bearer(forged)), auth=False), 401)
    # and a valid admin token with a good body does reach the page
    assert put(bundle, s, {"title": "t", "body": "b"}, {"If-None-Match": "*"}).status == 201


def test_ERR1_wrong_method_is_405(bundle):
    r = bundle.request("DELETE", f"/api/pages/{slug()}")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
    r = bundle.get(f"/api/admin/pages/{slug()}", headers=admin_headers())
    assert_problem(r, 405)
    assert r.headers["allow"] == "PUT"


def test_CONC6_constraint_failure_on_the_guarded_write_is_500_not_412(bundle):
    s = slug()
    with failing_trigger(bundle, "content", "pages", "INSERT"):
        r = put(bundle, s, {"title": "Hello", "body": "x"}, {"If-None-Match": "*"})
        assert_problem(r, 500, "internal")
    etag = create(bundle, s).headers["etag"]
    with failing_trigger(bundle, "content", "pages", "UPDATE"):
        r = put(bundle, s, {"title": "Hello", "body": "second"}, {"If-Match": etag})
        assert_problem(r, 500, "internal")
    r = put(bundle, s, {"title": "Hello", "body": "second"}, {"If-Match": '"stale"'})
    assert_problem(r, 412, "conflict")  # the guard, for contrast


def _write(srv, query, params):
    conn = sqlite3.connect(os.path.join(srv.state, "sql", "content.sqlite"), timeout=10,
                           isolation_level=None)
    try:
        conn.execute(query, params)
    finally:
        conn.close()


@pytest.mark.sqlite_only
def test_REL1_a_stored_value_of_another_type_is_500_not_reinterpreted(bundle):
    """The CHECKs let a REAL version and a BLOB body through (SQLite keeps
    2.5 as REAL in an INTEGER column, and a blob as a blob in a TEXT one);
    reading them as the union member the code expects would answer a
    garbage ETag or raw bytes. The typed row readers answer 500 instead and
    log the column, never its value."""
    s = slug()
    create(bundle, s)
    _write(bundle, "UPDATE pages SET version = 2.5 WHERE slug = ?", (s,))
    r = bundle.get(f"/api/pages/{s}")
    assert_problem(r, 500, "internal")
    assert "etag" not in r.headers
    _write(bundle, "UPDATE pages SET version = 3, body = CAST('secret body' AS BLOB) "
                   "WHERE slug = ?", (s,))
    assert_problem(bundle.get(f"/api/pages/{s}"), 500, "internal")
    line = [ln for ln in bundle.log_lines() if ln.get("msg") == "stored row breaks the schema"]
    assert line and line[-1]["column"] == "body" and line[-1]["got"] == "blob", line
    assert "secret body" not in bundle.logs()
    _write(bundle, "UPDATE pages SET body = 'fine again' WHERE slug = ?", (s,))
    g = bundle.get(f"/api/pages/{s}")
    assert g.status == 200 and g.json()["version"] == 3 and g.headers["etag"] == '"v3"', g
