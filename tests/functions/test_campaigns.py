"""campaigns over real HTTP (AUTH5, CONC4, CONC5, DATA4, CONC2): contacts, campaigns, the
enqueue's one transaction, credits and their purchase through a fake payment API.

Tenants are shop domains installed through shopify-webhook's admin route; credits are
given by writing credit_accounts directly, as stripe-webhook's credits path does.
"""
import http.server
import json
import os
import threading
import time
import urllib.parse
import uuid

import pytest

from conftest import BUILD, Server, assert_problem, bearer, migrate, mint_jwt, failing_trigger

DB = "shop"


class FakeCheckout:
    """POST /v1/checkout/sessions like Stripe: mode 'accept', 'refuse' (400), 'fail' (500)
    or 'hang'; every request kept."""

    def __init__(self):
        fake = self
        self.mode, self.received, self.lock = "accept", [], threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with fake.lock:
                    fake.received.append({"path": self.path, "form": dict(urllib.parse.parse_qsl(raw)),
                                          "auth": self.headers.get("Authorization")})
                    mode = fake.mode
                if mode == "hang":
                    time.sleep(30)
                    return
                sid = "cs_test_" + uuid.uuid4().hex
                status, out = {"refuse": (400, {"error": {"type": "invalid_request_error"}}),
                               "fail": (500, {"error": {"type": "api_error"}})}.get(
                    mode, (200, {"id": sid, "object": "checkout.session",
                                 "url": f"https://checkout.example/c/pay/{sid}"}))
                body = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def payments():
    fake = FakeCheckout()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def srv(payments):
    manifest = os.path.join(BUILD, "manifest.json")
    s = Server(manifest, env={"BASTION_VAR_payments_api_base": payments.base,
                              "BASTION_VAR_tenant_writes_per_minute": "1000"})
    migrate(manifest, s.state)
    s.start()
    yield s
    assert s.stop() == 0


def shop(srv):
    """A new installed tenant; its domain."""
    d = f"s{uuid.uuid4().hex[:12]}.myshopify.com"
    r = srv.post("/api/admin/tenants", {"shop_domain": d}, headers=bearer(mint_jwt(role="admin")))
    assert r.status == 201, r
    return d


def user(tenant):
    return bearer(mint_jwt(sub="u-" + uuid.uuid4().hex[:8], tenant=tenant))


def idem(h, key=None):
    return dict(h, **{"Idempotency-Key": key or str(uuid.uuid4())})


def give_credits(srv, tenant, n):
    srv.sql(DB, "INSERT INTO credit_accounts (tenant, balance, updated_at) VALUES (?, ?, 0)",
            (tenant, n))


def import_contacts(srv, h, contacts):
    r = srv.post("/api/contacts", {"contacts": contacts}, headers=h)
    assert r.status == 200, r
    return r.json()


def campaign(srv, h, audience=None):
    r = srv.post("/api/campaigns", {"name": "Spring sale", "message": "20% off, today only",
                                    "audience": audience or {"all": True}}, headers=h)
    assert r.status == 201, r
    return r.json()["id"]


def phones(n, start=0):
    return [f"+1415555{i:04d}" for i in range(start, start + n)]


def test_AUTH5_contacts_import_counts_and_rejects_per_item(srv):
    t = shop(srv)
    h = user(t)
    body = import_contacts(srv, h, [
        {"phone": "+14155550001", "opted_in": True, "tags": ["vip", "vip", "spring"]},
        {"phone": "not a phone", "opted_in": True},
        {"phone": "+14155550002"},  # consent is explicit: opted_in required
        {"phone": "+14155550003", "opted_in": False, "email": "A@Example.com", "x": 1},
        {"phone": "+14155550001", "opted_in": False},  # repeats the first
        {"phone": "+14155550004", "opted_in": False, "first_name": "Ann"},
    ])
    assert (body["inserted"], body["updated"]) == (2, 0), body
    rej = {r["index"]: [e["pointer"] for e in r["errors"]] for r in body["rejected"]}
    assert rej == {1: ["/contacts/1/phone"], 2: ["/contacts/2/opted_in"], 3: ["/contacts/3/x"],
                   4: ["/contacts/4/phone"]}, body
    again = import_contacts(srv, h, [{"phone": "+14155550004", "opted_in": True, "tags": ["vip"]}])
    assert (again["inserted"], again["updated"]) == (0, 1)
    r = srv.get("/api/contacts?tag=vip", headers=h)
    assert r.status == 200, r
    assert sorted(c["phone"] for c in r.json()["items"]) == ["+14155550001", "+14155550004"]
    # another tenant sees none of it
    other = user(shop(srv))
    assert srv.get("/api/contacts", headers=other).json()["items"] == []


def test_CONC5_enqueue_is_one_transaction_with_recipients_and_reservation(srv):
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": i % 2 == 0} for i, p in enumerate(phones(10))])
    cid = campaign(srv, h)
    # no credits: 409 and nothing written
    r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h))
    assert_problem(r, 409)
    assert "insufficient credits" in r.json()["detail"].lower()
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (cid,))[0][0] == 0
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "draft"
    give_credits(srv, t, 7)
    key = str(uuid.uuid4())
    r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h, key))
    assert r.status == 202, r
    assert r.json() == {"id": cid, "status": "sending", "recipients": 5, "reserved_credits": 5}
    replay = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h, key))
    assert replay.status == 202 and replay.headers.get("idempotent-replayed") == "true"
    assert srv.get("/api/credits", headers=h).json() == {"balance": 7, "reserved": 5, "available": 2}
    rec = srv.get(f"/api/campaigns/{cid}/recipients?status=queued&limit=3", headers=h).json()
    assert len(rec["items"]) == 3 and rec["next_cursor"]
    # another tenant: 404
    assert_problem(srv.get(f"/api/campaigns/{cid}", headers=user(shop(srv))), 404)


def test_CONC5_a_failing_statement_leaves_nothing(srv):
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": True} for p in phones(3)])
    give_credits(srv, t, 10)
    cid = campaign(srv, h)
    with failing_trigger(srv, DB, "credit_reservations", "INSERT"):
        r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h))
    assert_problem(r, 500)
    assert srv.sql(DB, "SELECT status, recipients FROM campaigns WHERE id = ?", (cid,))[0] == ["draft", 0] \
        or tuple(srv.sql(DB, "SELECT status, recipients FROM campaigns WHERE id = ?", (cid,))[0]) == ("draft", 0)
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (cid,))[0][0] == 0


def test_CONC5_concurrent_enqueues_one_wins(srv):
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": True} for p in phones(4)])
    give_credits(srv, t, 100)
    cid = campaign(srv, h)
    out = []

    def go():
        out.append(srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h)).status)
    th = [threading.Thread(target=go) for _ in range(20)]
    [x.start() for x in th]
    [x.join() for x in th]
    assert sorted(out) == [202] + [409] * 19, out
    assert srv.sql(DB, "SELECT COUNT(*) FROM credit_reservations WHERE campaign_id = ?", (cid,))[0][0] == 1


def test_CONC4_purchase_creates_a_checkout_session(srv, payments):
    t = shop(srv)
    h = user(t)
    assert_problem(srv.post("/api/credits/purchase", {"pack": "500"}, headers=h), 400)
    r = srv.post("/api/credits/purchase", {"pack": "500"}, headers=idem(h))
    assert r.status == 201, r
    b = r.json()
    assert (b["credits"], b["amount_cents"], b["status"]) == (500, 4500, "pending")
    form = payments.received[-1]["form"]
    assert form["metadata[kind]"] == "credits" and form["metadata[tenant]"] == t
    assert form["metadata[purchase_id]"] == b["purchase_id"]
