"""products-admin over real HTTP: product image URLs on allow-listed https hosts
(AUTH1, VAL1, REL8, ERR1)."""
import os
import sqlite3
import time
import uuid

import pytest

from conftest import (BUILD, SQLITE, Server, admin_headers, assert_problem, bearer, migrate, mint_jwt,
                      user_headers)




def seed(srv):
    pid = "prod-" + uuid.uuid4().hex[:12]
    now = int(time.time() * 1000)
    srv.sql("products", "INSERT INTO products (id, name, created_at, updated_at) VALUES (?, 'Mug', ?, ?)",
            (pid, now, now))
    return pid


def post(srv, pid, body, headers=None):
    return srv.post(f"/api/admin/products/{pid}/image", body,
                    headers=admin_headers() if headers is None else headers)


def stored(srv, pid):
    return srv.sql("products", "SELECT image_url FROM products WHERE id = ?", (pid,))[0][0]


def test_VAL1_sets_the_image_of_a_product(bundle):
    pid = seed(bundle)
    url = "https://images.example.com/products/mug.png?w=800#top"
    r = post(bundle, pid, {"image_url": url})
    assert r.status == 200, r
    assert r.json() == {"id": pid, "image_url": url}
    assert stored(bundle, pid) == url
    # replaced by a later call; the host compares ignoring case, port 443 is https's own
    for url in ("HTTPS://Images.Example.COM/a.png", "https://images.example.com:443/b.png",
                "  https://images.example.com/trimmed.png  ",
                "https://images.example.com/a.png?credit=ann@example.com"):
        r = post(bundle, pid, {"image_url": url})
        assert r.status == 200, (url, r)
        assert stored(bundle, pid) == url.strip()


@pytest.mark.parametrize("url,detail", [
    ("http://images.example.com/a.png", "must be an https URL"),
    ("ftp://images.example.com/a.png", "must be an https URL"),
    ("//images.example.com/a.png", "must be an https URL"),
    ("images.example.com/a.png", "must be an https URL"),
    ("https:images.example.com/a.png", "must be an https URL"),
    ("https://images.example.com.evil.com/a.png", "must be on an allowed image host"),
    ("https://evil.com/?images.example.com", "must be on an allowed image host"),
    ("https://evil.com#images.example.com", "must be on an allowed image host"),
    ("https://evil.com/images.example.com", "must be on an allowed image host"),
    ("https://notimages.example.com/a.png", "must be on an allowed image host"),
    ("https://example.com/a.png", "must be on an allowed image host"),
    ("https://images.example.com./a.png", "must be on an allowed image host"),
    ("https://images%2eexample.com/a.png", "must be on an allowed image host"),
    ("https://[::1]/a.png", "must be on an allowed image host"),
    ("https://user@images.example.com/a.png", "must not contain user information"),
    ("https://user:pw@images.example.com/a.png", "must not contain user information"),
    ("https://images.example.com@evil.com/a.png", "must not contain user information"),
    ("https://images.example.com:8443/a.png", "must not name a port other than 443"),
    ("https://images.example.com:/a.png", "must not name a port other than 443"),
    ("https://images.example.com:443@evil.com/", "must not contain user information"),
    ("https:///a.png", "must name a host"),
    ("https://", "must name a host"),
    ("https://evil.com\\@images.example.com/a.png",
     "must be a URL of printable ASCII without spaces or '\\'"),
    ("https://images.example.com/a b.png",
     "must be a URL of printable ASCII without spaces or '\\'"),
    ("https://images.example.com/\u00e9.png",
     "must be a URL of printable ASCII without spaces or '\\'"),
])
def test_VAL1_rejected_urls_are_422_on_image_url(bundle, url, detail):
    pid = seed(bundle)
    p = assert_problem(post(bundle, pid, {"image_url": url}), 422, "validation")
    assert p["errors"] == [{"pointer": "/image_url", "detail": detail}]
    assert stored(bundle, pid) is None


def test_VAL1_body_rules(bundle):
    pid = seed(bundle)
    p = assert_problem(post(bundle, pid, {}), 422)
    assert p["errors"] == [{"pointer": "/image_url", "detail": "is required"}]
    p = assert_problem(post(bundle, pid, {"image_url": 5, "alt": "x"}), 422)
    assert {e["pointer"] for e in p["errors"]} == {"/image_url", "/alt"}
    long_url = "https://images.example.com/" + "a" * 2030
    p = assert_problem(post(bundle, pid, {"image_url": long_url}), 422)
    assert p["errors"] == [{"pointer": "/image_url", "detail": "is too long"}]
    p = assert_problem(post(bundle, pid, {"image_url": "https://images.example.com/\u0007"}), 422)
    assert p["errors"][0]["pointer"] == "/image_url"
    h = dict(admin_headers(), **{"Content-Type": "application/json"})
    assert_problem(post(bundle, pid, '{"image_url": ', h), 400)
    assert_problem(post(bundle, pid, '{"image_url": "https://images.example.com/a"}',
                        dict(admin_headers(), **{"Content-Type": "text/plain"})), 415)
    assert_problem(post(bundle, pid, '{"image_url": "' + "a" * 5000 + '"}', h), 413)
    assert stored(bundle, pid) is None


def test_unknown_product_is_404(bundle):
    r = post(bundle, "prod-" + uuid.uuid4().hex[:12],
             {"image_url": "https://images.example.com/a.png"})
    assert_problem(r, 404)


def test_VAL1_product_id_is_validated(bundle):
    body = {"image_url": "https://images.example.com/a.png"}
    p = assert_problem(post(bundle, "x" * 65, body), 422)
    assert p["errors"][0]["pointer"] == "/id"
    assert_problem(post(bundle, "a%20b", body), 422)
    assert_problem(post(bundle, "a.b", body), 422)


def test_AUTH1_admin_token_is_checked_before_the_body(bundle):
    pid = seed(bundle)
    bad = "{not json"
    ct = {"Content-Type": "application/json"}
    r = post(bundle, pid, bad, ct)
    assert_problem(r, 401, "auth")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_problem(post(bundle, pid, bad, dict(ct, **user_headers())), 403, "auth")
    expired = mint_jwt(role="admin", exp=int(time.time()) - 3600)
    assert_problem(post(bundle, pid, bad, dict(ct, **bearer(expired))), 401, "auth")
    forged = mint_jwt(role="admin", secret="another-secret-0123456789abcdef0123456789")
    assert_problem(post(bundle, pid, bad, dict(ct, **bearer(forged))), 401, "auth")
    # a user token with a perfectly good body changes nothing either
    good = {"image_url": "https://images.example.com/a.png"}
    assert_problem(post(bundle, pid, good, user_headers()), 403)
    assert stored(bundle, pid) is None


def test_ERR1_wrong_method_is_405(bundle):
    r = bundle.request("PUT", "/api/admin/products/p1/image", body={}, headers=admin_headers())
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"


def serve(hosts):
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest, env={"BASTION_VAR_image_hosts": hosts})
    migrate(manifest, srv.state)
    return srv.start()


def test_VAL1_image_hosts_is_a_comma_list_matched_exactly():
    srv = serve(" images.example.com ,CDN.Example.net,, ")
    try:
        pid = seed(srv)
        for url in ("https://images.example.com/a.png", "https://cdn.example.net/a.png",
                    "https://CDN.EXAMPLE.NET/b.png"):
            assert post(srv, pid, {"image_url": url}).status == 200, url
        for url in ("https://example.net/a.png", "https://cdn.example.net.evil.com/a.png",
                    "https://images.example.com,cdn.example.net/a.png"):
            p = assert_problem(post(srv, pid, {"image_url": url}), 422)
            assert p["errors"][0]["pointer"] == "/image_url"
    finally:
        assert srv.stop() == 0


def test_REL8_malformed_image_hosts_is_500_naming_the_variable():
    srv = serve("https://images.example.com")
    try:
        pid = seed(srv)
        r = post(srv, pid, {"image_url": "https://images.example.com/a.png"})
        p = assert_problem(r, 500, "internal")
        assert "image_hosts" in p["detail"] and "https://" not in p["detail"]
        # still AUTH1 first: no token is 401 even when misconfigured
        assert_problem(post(srv, pid, {}, {}), 401)
    finally:
        assert srv.stop() == 0
