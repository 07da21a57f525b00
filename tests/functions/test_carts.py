"""carts over real HTTP (VAL1, DATA1, CONC2, ERR1): a cart is written whole by PUT, its
totals computed by the server, and completed once.

The server trusts the test as its proxy, so each test picks its own client IP through
X-Forwarded-For and the per-IP limit (60 per minute) stays the test's own.
"""
import itertools
import threading
import uuid

import pytest

from conftest import assert_problem, failing_trigger, serve_bundle

_ips = itertools.count(1)


@pytest.fixture(scope="module")
def srv(email):
    s = serve_bundle(email, trusted_proxies=["127.0.0.1"])
    yield s
    assert s.stop() == 0


@pytest.fixture
def ip():
    n = next(_ips)
    return {"X-Forwarded-For": f"10.9.{n >> 8}.{n & 255}"}


def item(sku="mug-blue", name="Blue mug", qty=2, price_cents=1250):
    return {"sku": sku, "name": name, "qty": qty, "price_cents": price_cents}


def put(srv, cart_id, body, ip):
    return srv.request("PUT", f"/api/carts/{cart_id}", body, headers=ip)


def complete(srv, cart_id, ip):
    return srv.post(f"/api/carts/{cart_id}/complete", headers=ip)


def stored(srv, cart_id):
    c = srv.sql("carts", "SELECT email, status, lines, quantity, total_cents, completed_at "
                "FROM carts WHERE id = ?", (cart_id,))
    items = srv.sql("carts", "SELECT line, sku, name, qty, price_cents FROM cart_items "
                    "WHERE cart_id = ? ORDER BY line", (cart_id,))
    return (c[0] if c else None), items


def test_VAL1_put_creates_then_replaces_with_server_side_totals(srv, ip):
    cart_id = str(uuid.uuid4())
    r = put(srv, cart_id, {"email": "Shopper@Example.com",
                           "items": [item(), item("tee-m", "T-shirt M", 1, 1999)]}, ip)
    assert r.status == 201, r
    out = r.json()
    assert (out["id"], out["email"], out["status"]) == (cart_id, "shopper@example.com", "open")
    assert (out["quantity"], out["total_cents"]) == (3, 2 * 1250 + 1999)
    assert [i["line_cents"] for i in out["items"]] == [2500, 1999]
    assert out["updated_at"].endswith("Z")
    assert stored(srv, cart_id) == (
        ("shopper@example.com", "open", 2, 3, 4499, None),
        [(1, "mug-blue", "Blue mug", 2, 1250), (2, "tee-m", "T-shirt M", 1, 1999)])
    # a replacement is the whole cart: the old lines are gone
    r = put(srv, cart_id, {"email": "shopper@example.com", "items": [item(qty=5)]}, ip)
    assert r.status == 200, r
    assert (r.json()["quantity"], r.json()["total_cents"]) == (5, 6250)
    assert stored(srv, cart_id) == (("shopper@example.com", "open", 1, 5, 6250, None),
                                    [(1, "mug-blue", "Blue mug", 5, 1250)])
    # an emptied cart is still a cart
    r = put(srv, cart_id, {"email": "shopper@example.com", "items": []}, ip)
    assert r.status == 200 and r.json()["total_cents"] == 0, r
    assert stored(srv, cart_id)[1] == []


def test_VAL1_a_client_total_is_not_a_field(srv, ip):
    cart_id = str(uuid.uuid4())
    r = put(srv, cart_id, {"email": "a@example.com", "items": [item()], "total_cents": 1}, ip)
    p = assert_problem(r, 422)
    assert [e["pointer"] for e in r.json()["errors"]] == ["/total_cents"], p
    assert stored(srv, cart_id) == (None, [])


@pytest.mark.parametrize("items, pointer", [
    ([item(qty=0)], "/items/0/qty"),
    ([item(qty=1000)], "/items/0/qty"),
    ([item(qty=1.5)], "/items/0/qty"),
    ([item(price_cents=-1)], "/items/0/price_cents"),
    ([item(price_cents=10000001)], "/items/0/price_cents"),
    ([item(price_cents="12.50")], "/items/0/price_cents"),
    ([item(sku="")], "/items/0/sku"),
    ([item(sku="has space")], "/items/0/sku"),
    ([item(sku="x" * 65)], "/items/0/sku"),
    ([item(name="")], "/items/0/name"),
    ([item(name="n" * 201)], "/items/0/name"),
    ([item(name="bell\u0007")], "/items/0/name"),
    ([item(), dict(item(), extra=1)], "/items/1/extra"),
    ([item(), item(name="Same SKU again")], "/items/1/sku"),
    ([item(sku=f"s{i}") for i in range(101)], "/items"),
    ("not a list", "/items"),
    (["not an object"], "/items/0"),
])
def test_VAL1_bad_items_are_422_and_nothing_is_stored(srv, ip, items, pointer):
    cart_id = str(uuid.uuid4())
    r = put(srv, cart_id, {"email": "a@example.com", "items": items}, ip)
    assert_problem(r, 422)
    assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()
    assert stored(srv, cart_id) == (None, [])


def test_VAL1_email_id_and_body_are_checked(srv, ip):
    cart_id = str(uuid.uuid4())
    for body, pointer in (({"items": []}, "/email"), ({"email": "nope", "items": []}, "/email"),
                          ({"email": "a@example.com"}, "/items")):
        r = put(srv, cart_id, body, ip)
        assert_problem(r, 422)
        assert [e["pointer"] for e in r.json()["errors"]] == [pointer]
    r = put(srv, "not-a-uuid", {"email": "a@example.com", "items": []}, ip)
    assert_problem(r, 422)
    assert r.json()["errors"][0]["pointer"] == "/id"
    r = srv.request("PUT", f"/api/carts/{cart_id}", "{nope",
                    headers={"Content-Type": "application/json", **ip})
    assert_problem(r, 400)
    r = srv.request("PUT", f"/api/carts/{cart_id}", "email=a", headers={
        "Content-Type": "application/x-www-form-urlencoded", **ip})
    assert_problem(r, 415)
    assert stored(srv, cart_id) == (None, [])


def test_DATA1_complete_is_once_and_a_completed_cart_never_changes(srv, ip):
    cart_id = str(uuid.uuid4())
    assert put(srv, cart_id, {"email": "a@example.com", "items": [item()]}, ip).status == 201
    r = complete(srv, cart_id, ip)
    assert r.status == 200 and r.json()["status"] == "completed", r
    assert_problem(complete(srv, cart_id, ip), 409, "conflict")
    assert_problem(put(srv, cart_id, {"email": "b@example.com", "items": []}, ip), 409,
                   "conflict")
    c, items = stored(srv, cart_id)
    assert c[:2] == ("a@example.com", "completed") and c[5] and len(items) == 1
    assert_problem(complete(srv, str(uuid.uuid4()), ip), 404)
    assert_problem(complete(srv, "nope", ip), 422)


def test_DATA1_concurrent_completes_one_wins(srv):
    cart_id = str(uuid.uuid4())
    ips = [{"X-Forwarded-For": f"10.8.0.{i + 1}"} for i in range(8)]
    assert put(srv, cart_id, {"email": "a@example.com", "items": [item()]}, ips[0]).status == 201
    out, barrier = [], threading.Barrier(8)

    def go(i):
        barrier.wait()
        out.append(complete(srv, cart_id, ips[i]).status)
    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(out) == [200] + [409] * 7


def test_DATA1_a_failed_item_write_leaves_the_old_cart_whole(srv, ip):
    cart_id = str(uuid.uuid4())
    assert put(srv, cart_id, {"email": "a@example.com", "items": [item()]}, ip).status == 201
    before = stored(srv, cart_id)
    with failing_trigger(srv, "carts", "cart_items", "INSERT"):
        r = put(srv, cart_id, {"email": "a@example.com",
                               "items": [item(qty=9), item("b", "B", 1, 1)]}, ip)
        assert_problem(r, 500)
    assert stored(srv, cart_id) == before


def test_CONC2_per_ip_limit(srv, ip):
    cart_id = str(uuid.uuid4())
    statuses = [put(srv, cart_id, {"email": "a@example.com", "items": []}, ip).status
                for _ in range(61)]
    assert statuses[:60].count(429) == 0 and statuses[60] == 429, statuses
