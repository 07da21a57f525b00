"""orders over real HTTP: owner-or-admin reads with a ≤ 60 s cache (REL9, REL1, AUTH1, ERR1)."""
import os
import sqlite3
import tempfile
import time
import uuid

import pytest

from conftest import (BUILD, SQLITE, Server, free_port, admin_headers, assert_problem, bearer, migrate, mint_jwt,
                      user_headers)

UPDATED_MS = 1714555800123  # 2024-05-01T09:30:00.123Z


def kv_exec(srv, query, params=()):
    conn = sqlite3.connect(os.path.join(srv.state, "kv.sqlite"), timeout=10, isolation_level=None)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def seed(srv, owner="user-1", status="paid", items=True):
    oid = "ord_" + uuid.uuid4().hex[:12]
    srv.sql("orders", "INSERT INTO orders (id, user_id, status, total_cents, currency, "
            "created_at, updated_at) VALUES (?, ?, ?, 4500, 'EUR', ?, ?)",
            (oid, owner, status, UPDATED_MS - 1000, UPDATED_MS))
    if items:
        srv.sql("orders", "INSERT INTO order_items VALUES (?, 2, 'mug', 'Mug', 1, 1500)",
                (oid,))
        srv.sql("orders", "INSERT INTO order_items VALUES (?, 1, 'tee', 'T-shirt', 2, 1500)",
                (oid,))
    return oid


def expected(oid, status="paid"):
    return {"id": oid, "status": status, "total_cents": 4500, "currency": "EUR",
            "items": [{"sku": "tee", "name": "T-shirt", "quantity": 2, "unit_price_cents": 1500},
                      {"sku": "mug", "name": "Mug", "quantity": 1, "unit_price_cents": 1500}],
            "updated_at": "2024-05-01T09:30:00.123Z"}


def get(srv, oid, headers):
    return srv.get(f"/api/orders/{oid}", headers=headers)


def test_AUTH1_owner_gets_the_order(bundle):
    oid = seed(bundle, owner="user-1")
    r = get(bundle, oid, user_headers("user-1"))
    assert r.status == 200, r
    assert r.json() == expected(oid)
    assert r.headers["cache-control"] == "private, no-store"


def test_AUTH1_other_user_gets_404_not_403(bundle):
    oid = seed(bundle, owner="user-1")
    r = get(bundle, oid, user_headers("user-2"))
    p = assert_problem(r, 404)
    # indistinguishable from an order that does not exist
    q = assert_problem(get(bundle, "ord_doesnotexist", user_headers("user-2")), 404)
    assert p["detail"] == q["detail"] and p["type"] == q["type"]


def test_AUTH1_admin_gets_any_order(bundle):
    oid = seed(bundle, owner="user-7")
    r = get(bundle, oid, admin_headers())
    assert r.status == 200 and r.json() == expected(oid), r


def test_unknown_order_is_404(bundle):
    assert_problem(get(bundle, "ord_" + uuid.uuid4().hex, admin_headers()), 404)


def test_order_without_items(bundle):
    oid = seed(bundle, items=False, status="pending")
    r = get(bundle, oid, user_headers("user-1"))
    assert r.status == 200 and r.json()["items"] == [] and r.json()["status"] == "pending"


@pytest.mark.sqlite_only  # PostgreSQL rounds 1.5 into a BIGINT column: no storage classes
def test_REL1_an_item_of_another_storage_class_is_500(bundle):
    """quantity 1.5 passes the CHECK and stays REAL in an INTEGER column; the
    typed row reader refuses it rather than reading the integer member."""
    oid = seed(bundle, items=False)
    bundle.sql("orders", "INSERT INTO order_items VALUES (?, 1, 'tee', 'T-shirt', 1.5, 1500)",
            (oid,))
    assert_problem(get(bundle, oid, user_headers("user-1")), 500, "internal")
    line = [ln for ln in bundle.log_lines() if ln.get("msg") == "stored row breaks the schema"]
    assert line and line[-1]["column"] == "quantity" and line[-1]["got"] == "real", line


def test_VAL1_order_id_is_validated(bundle):
    p = assert_problem(get(bundle, "x" * 65, user_headers()), 422)
    assert p["errors"][0]["pointer"] == "/id"
    assert_problem(get(bundle, "a%20b", user_headers()), 422)
    assert_problem(get(bundle, "%20ord", user_headers()), 422)


def test_AUTH1_token_required(bundle):
    oid = seed(bundle)
    r = bundle.get(f"/api/orders/{oid}")
    assert_problem(r, 401, "auth")
    assert r.headers["www-authenticate"] == "Bearer"
    expired = mint_jwt(sub="user-1", exp=int(time.time()) - 3600)
    assert_problem(get(bundle, oid, bearer(expired)), 401)
    forged = mint_jwt(sub="user-1", secret="another-secret-0123456789abcdef0123456789")
    assert_problem(get(bundle, oid, bearer(forged)), 401)
    no_sub = mint_jwt(sub=None)
    assert_problem(get(bundle, oid, bearer(no_sub)), 401)


@pytest.mark.sqlite_only
def test_REL9_cached_value_is_served_for_at_most_60s(bundle):
    oid = seed(bundle, status="paid")
    before = int(time.time() * 1000)
    assert get(bundle, oid, user_headers()).json()["status"] == "paid"
    after = int(time.time() * 1000)
    # the database changes behind the cache's back ...
    bundle.sql("orders", "UPDATE orders SET status = 'fulfilled' WHERE id = ?", (oid,))
    # ... and the cached value is what is served
    r = get(bundle, oid, user_headers())
    assert r.status == 200 and r.json() == expected(oid, "paid"), r
    # the entry expires 60 s after it was written, never later
    rows = kv_exec(bundle, "SELECT expires_at FROM kv WHERE store = 'orders-cache' AND key = ?",
                   (f"order:{oid}".encode(),))
    assert len(rows) == 1, rows
    assert before + 60000 <= rows[0][0] <= after + 60000
    # once it has expired (moved to the past here, rather than waiting) the DB answers
    kv_exec(bundle, "UPDATE kv SET expires_at = ? WHERE store = 'orders-cache' AND key = ?",
            (int(time.time() * 1000) - 1, f"order:{oid}".encode()))
    assert get(bundle, oid, user_headers()).json() == expected(oid, "fulfilled")


@pytest.mark.sqlite_only
def test_AUTH1_ownership_is_checked_on_cached_values(bundle):
    oid = seed(bundle, owner="user-1")
    assert get(bundle, oid, user_headers("user-1")).status == 200  # fills the cache
    rows = kv_exec(bundle, "SELECT count(*) FROM kv WHERE store = 'orders-cache' AND key = ?",
                   (f"order:{oid}".encode(),))
    assert rows == [(1,)]
    assert_problem(get(bundle, oid, user_headers("user-2")), 404)
    assert get(bundle, oid, admin_headers()).json() == expected(oid)


@pytest.mark.sqlite_only
def test_REL1_malformed_cache_entry_falls_back_to_the_database(bundle):
    oid = seed(bundle)
    key = f"order:{oid}".encode()
    kv_exec(bundle, "INSERT INTO kv (store, key, value, expires_at) VALUES "
            "('orders-cache', ?, ?, ?)", (key, b"{not json", int(time.time() * 1000) + 60000))
    r = get(bundle, oid, user_headers())
    assert r.status == 200 and r.json() == expected(oid), r
    # and it was replaced by a good entry
    v = kv_exec(bundle, "SELECT value FROM kv WHERE store = 'orders-cache' AND key = ?", (key,))
    assert v[0][0] != b"{not json"


@pytest.mark.sqlite_only
def test_REL9_broken_cache_falls_back_to_the_database():
    manifest = os.path.join(BUILD, "manifest.json")
    # the cache's store on a Redis nobody listens on (a closed loopback
    # port): every cache call fails, while the denylist ("sessions") stays
    # on the embedded store, since a token check must fail closed
    state = tempfile.mkdtemp(prefix="bastion-test-")
    config = os.path.join(state, "runtime.toml")
    with open(config, "w") as f:
        f.write(f'[kv.orders-cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{free_port()}"\n'
                'required = false\n')
    srv = Server(manifest, state=state, runtime_config=config)
    srv.backend = SQLITE  # sql stays on the embedded store
    migrate(manifest, srv.state)
    srv.start()
    try:
        oid = seed(srv, owner="user-1")
        for _ in range(2):
            r = get(srv, oid, user_headers("user-1"))
            assert r.status == 200 and r.json() == expected(oid), r
        srv.sql("orders", "UPDATE orders SET status = 'refunded' WHERE id = ?", (oid,))
        assert get(srv, oid, user_headers("user-1")).json()["status"] == "refunded"
        # authorization still holds without the cache
        assert_problem(get(srv, oid, user_headers("user-2")), 404)
        assert get(srv, oid, admin_headers()).status == 200
        # REL1: the failure was logged, not swallowed, and not shown to the client
        warned = [line for line in srv.log_lines()
                  if line.get("msg") == "order cache unusable; using the database"]
        assert {w.get("op") for w in warned} >= {"kv get", "kv set"}, srv.logs()[-2000:]
        assert "redis" not in r.body.decode()
    finally:
        assert srv.stop() == 0


def test_ERR1_wrong_method_is_405(bundle):
    r = bundle.post(f"/api/orders/ord_1", {}, headers=user_headers())
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
