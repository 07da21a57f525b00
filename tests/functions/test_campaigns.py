"""campaigns over real HTTP (AUTH5, CONC4, CONC5, DATA4, CONC2): contacts, campaigns, the
enqueue's one transaction, credits and their purchase through a fake payment API.

Tenants are shop domains installed through shopify-webhook's admin route. Credits come
either from a purchase completed by Stripe's signed checkout.session.completed (the
stripe-webhook credits path) or, where a test only needs a balance, by writing
credit_accounts directly. The payment API is conftest's FakePayments.
"""
import json
import os
import re
import threading
import time
import uuid

import pytest

from conftest import (BUILD, SQLITE, FakePayments, Server, assert_problem, bearer, failing_trigger,
                      held_lock, migrate, mint_jwt)
from shopify_events import deliver as shopify_deliver
from stripe_events import (SECRET, body_of, deliver as stripe_deliver, deliver_all, event, post,
                           sign, uid)

DB = "shop"


@pytest.fixture(scope="module")
def payments():
    fake = FakePayments()
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


def ready_tenant(srv, n_contacts, credits):
    """A new installed tenant with n opted-in contacts and a balance; it and its headers."""
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": True} for p in phones(n_contacts)])
    give_credits(srv, t, credits)
    return t, h


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
    t, h = ready_tenant(srv, 3, 10)
    cid = campaign(srv, h)
    with failing_trigger(srv, DB, "credit_reservations", "INSERT"):
        r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h))
    assert_problem(r, 500)
    assert srv.sql(DB, "SELECT status, recipients FROM campaigns WHERE id = ?", (cid,))[0] == ["draft", 0] \
        or tuple(srv.sql(DB, "SELECT status, recipients FROM campaigns WHERE id = ?", (cid,))[0]) == ("draft", 0)
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (cid,))[0][0] == 0


def test_CONC5_concurrent_enqueues_one_wins(srv):
    t, h = ready_tenant(srv, 4, 100)
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
    form = payments.calls()[-1]["form"]
    assert form["metadata[kind]"] == "credits" and form["metadata[tenant]"] == t
    assert form["metadata[purchase_id]"] == b["purchase_id"]


# --- more servers and helpers ------------------------------------------------------------------

@pytest.fixture
def fresh():
    """A server of its own with its own fake payment API (its breaker and write limit stay
    the test's): fresh(env) starts it."""
    made = []

    def start(env=None):
        fake = FakePayments()
        manifest = os.path.join(BUILD, "manifest.json")
        s = Server(manifest, env={"BASTION_VAR_payments_api_base": fake.base, **(env or {})})
        s.payments = fake
        made.append(s)
        migrate(manifest, s.state)
        return s.start()
    yield start
    for s in made:
        assert s.stop() == 0
        s.payments.close()


def count(srv, query, params=()):
    return srv.sql(DB, query, params)[0][0]


def row(srv, query, params=()):
    rows = srv.sql(DB, query, params)
    return tuple(rows[0]) if rows else None


def buy(srv, h, pack="500"):
    r = srv.post("/api/credits/purchase", {"pack": pack}, headers=idem(h))
    assert r.status == 201, r
    return r.json()


def purchase_row(srv, pid):
    return row(srv, "SELECT status, checkout_session_id, credits, amount_cents FROM "
                    "credit_purchases WHERE id = ?", (pid,))


def credits_paid(pid, tenant, session, amount, currency="usd", event_id=None):
    """Stripe's checkout.session.completed for a credit purchase (campaigns' metadata)."""
    return event("checkout.session.completed",
                 {"id": session, "object": "checkout.session", "amount_total": amount,
                  "amount_subtotal": amount, "currency": currency, "customer": None,
                  "customer_details": {"email": "owner@example.test", "name": None},
                  "metadata": {"kind": "credits", "purchase_id": pid, "tenant": tenant},
                  "mode": "payment", "payment_status": "paid", "status": "complete"},
                 event_id=event_id)


def race(n, fn):
    """fn(i) from n threads released together; the results in order."""
    barrier, out = threading.Barrier(n), [None] * n

    def go(i):
        barrier.wait()
        out[i] = fn(i)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return out


def walk(srv, path, h, limit, between=None):
    """Every page of a list, following next_cursor; between(page_no) runs after each page."""
    seen, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = srv.get(url, headers=h)
        assert r.status == 200, r
        b = r.json()
        assert len(b["items"]) <= limit
        seen += b["items"]
        pages += 1
        cursor = b["next_cursor"]
        if not cursor:
            return seen, pages
        if between:
            between(pages)


def access_line(srv, r):
    rid = r.headers["x-request-id"]
    for _ in range(50):  # the access line is written after the response
        lines = [l for l in srv.log_lines() if l.get("type") == "access" and l.get("request_id") == rid]
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError("no access line for " + rid)


# --- the credits webhook (stripe-webhook, kind "credits") ---------------------------------------

def test_CONC4_credits_webhook_delivered_50_times_concurrently_credits_once(srv):
    t = shop(srv)
    h = user(t)
    give_credits(srv, t, 40)  # an account exists: the balance is added to, not replaced
    b = buy(srv, h)
    pid = b["purchase_id"]
    session = purchase_row(srv, pid)[1]
    assert session.startswith("cs_test_")
    body = body_of(credits_paid(pid, t, session, 4500))
    [sig] = sign((body, SECRET, int(time.time())))
    out = race(50, lambda i: post(srv, body, sig, timeout=60))
    assert [r.status for r in out] == [200] * 50, [r for r in out if r.status != 200][:3]
    answers = [r.json() for r in out]
    assert answers.count({"received": True, "outcome": "credited", "purchase_id": pid}) == 1, answers
    assert answers.count({"received": True, "duplicate": True}) == 49, answers
    assert srv.get("/api/credits", headers=h).json() == {"balance": 540, "reserved": 0,
                                                         "available": 540}
    assert purchase_row(srv, pid) == ("completed", session, 500, 4500)
    # Stripe's later redelivery, and another event naming the paid purchase: nothing more
    again = credits_paid(pid, t, session, 4500)
    r1, r2, r3 = deliver_all(srv, [again, again, credits_paid(pid, t, session, 4500)])
    assert r1.json() == {"received": True, "outcome": "already_completed", "purchase_id": pid}
    assert r2.json() == {"received": True, "duplicate": True}
    assert r3.json()["outcome"] == "already_completed"
    assert count(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == 540


def test_CONC5_events_racing_to_complete_one_purchase_credit_once(srv):
    """Ten different events for one purchase at once: the guarded pending → completed
    UPDATE decides, the balance moves once."""
    t = shop(srv)
    h = user(t)
    b = buy(srv, h, "100")
    pid, session = b["purchase_id"], purchase_row(srv, b["purchase_id"])[1]
    bodies = [body_of(credits_paid(pid, t, session, 1000)) for _ in range(10)]
    sigs = sign(*[(x, SECRET, int(time.time())) for x in bodies])
    out = race(10, lambda i: post(srv, bodies[i], sigs[i], timeout=60))
    outcomes = sorted(r.json()["outcome"] for r in out)
    assert outcomes == ["already_completed"] * 9 + ["credited"], [r.json() for r in out]
    assert count(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == 100
    ids = [json.loads(x)["id"] for x in bodies]
    done = srv.sql("billing", f"SELECT COUNT(*) FROM webhook_events WHERE status = 'processed' "
                              f"AND id IN ({', '.join('?' * 10)})", ids)[0][0]
    assert done == 10


@pytest.mark.sqlite_only
def test_CONC5_events_that_both_read_pending_credit_once(srv):
    """The race the guard decides: with the shop database's writes held, two events for
    one purchase both read it pending, then write one after the other. The second
    write's pending|failed guard finds it completed: no second credit."""
    t = shop(srv)
    b = buy(srv, user(t), "100")
    pid, session = b["purchase_id"], purchase_row(srv, b["purchase_id"])[1]
    bodies = [body_of(credits_paid(pid, t, session, 1000)) for _ in range(2)]
    sigs = sign(*[(x, SECRET, int(time.time())) for x in bodies])
    out = [None, None]

    def go(i):
        out[i] = post(srv, bodies[i], sigs[i], timeout=60)
    with held_lock(srv, DB):
        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        [x.start() for x in threads]
        time.sleep(1.5)  # both have read the purchase and wait for the write lock
    [x.join() for x in threads]
    assert sorted(r.json()["outcome"] for r in out) == ["already_completed", "credited"], out
    assert count(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == 100


def test_HOOK5_unknown_purchase_is_500_and_mismatches_credit_nothing(srv):
    t = shop(srv)
    h = user(t)
    unknown = str(uuid.uuid4())
    r = stripe_deliver(srv, credits_paid(unknown, t, uid("cs_test_"), 1000))
    assert_problem(r, 500)
    assert r.json()["type"].endswith("/unresolved-reference")
    b = buy(srv, h, "500")
    pid, session = b["purchase_id"], purchase_row(srv, b["purchase_id"])[1]
    wrong = [credits_paid(pid, t, session, 4499),                    # amount
             credits_paid(pid, t, session, 4500, currency="eur"),    # currency
             credits_paid(pid, shop(srv), session, 4500),            # tenant
             credits_paid(pid, t, uid("cs_test_"), 4500)]            # another session
    for r in deliver_all(srv, wrong):
        assert r.json() == {"received": True, "outcome": "mismatch", "purchase_id": pid}, r
    assert purchase_row(srv, pid)[0] == "pending"
    assert srv.sql(DB, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == []
    # malformed credits metadata: 400 with pointers, nothing claimed
    bad = credits_paid("not-a-uuid", t, session, 4500)
    del bad["data"]["object"]["metadata"]["tenant"]
    p = assert_problem(stripe_deliver(srv, bad), 400)
    assert sorted(e["pointer"] for e in p["errors"]) == ["/data/object/metadata/purchase_id",
                                                         "/data/object/metadata/tenant"]


def test_CONC5_a_failed_purchase_still_completes_when_stripe_says_it_was_paid(srv, payments):
    """The payment API refused (or its answer was lost): the purchase is failed, yet a
    completed session naming it is money received, so it credits."""
    t = shop(srv)
    h = user(t)
    payments.mode = "refuse"
    try:
        r = srv.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h))
    finally:
        payments.mode = "accept"
    assert_problem(r, 502)
    [(pid, status, session)] = srv.sql(DB, "SELECT id, status, checkout_session_id FROM "
                                           "credit_purchases WHERE tenant = ?", (t,))
    assert (status, session) == ("failed", None)
    r = stripe_deliver(srv, credits_paid(pid, t, uid("cs_test_"), 1000))
    assert r.json()["outcome"] == "credited", r
    assert purchase_row(srv, pid)[0] == "completed"
    assert srv.get("/api/credits", headers=h).json()["balance"] == 100


# --- tenants (AUTH5) ------------------------------------------------------------------------------

def test_AUTH5_two_tenants_no_route_reads_or_writes_across(srv):
    a, b = shop(srv), shop(srv)
    ha, hb = user(a), user(b)
    import_contacts(srv, ha, [{"phone": p, "opted_in": True, "first_name": "Ann", "tags": ["vip"]}
                              for p in phones(3)])
    give_credits(srv, a, 10)
    draft, sending = campaign(srv, ha), campaign(srv, ha, {"tag": "vip"})
    assert srv.post(f"/api/campaigns/{sending}/enqueue", headers=idem(ha)).status == 202
    bought = buy(srv, ha, "100")["purchase_id"]
    page = srv.get("/api/contacts?limit=1", headers=ha).json()
    # b's reads see none of a's rows
    assert srv.get("/api/contacts", headers=hb).json() == {"items": [], "next_cursor": None}
    assert srv.get("/api/contacts?tag=vip", headers=hb).json()["items"] == []
    assert srv.get("/api/campaigns", headers=hb).json() == {"items": [], "next_cursor": None}
    for cid in (draft, sending):
        assert_problem(srv.get(f"/api/campaigns/{cid}", headers=hb), 404)
        assert_problem(srv.get(f"/api/campaigns/{cid}/recipients", headers=hb), 404)
        assert_problem(srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(hb)), 404)
    assert srv.get("/api/credits", headers=hb).json() == {"balance": 0, "reserved": 0, "available": 0}
    # a's cursor is not b's
    assert_problem(srv.get(f"/api/contacts?limit=1&cursor={page['next_cursor']}", headers=hb), 400)
    # b's writes land in b: the same phones are b's own contacts, a's stay as they were
    assert import_contacts(srv, hb, [{"phone": p, "opted_in": False} for p in phones(3)])[
        "inserted"] == 3
    assert count(srv, "SELECT COUNT(*) FROM contacts WHERE tenant = ? AND first_name = 'Ann' "
                      "AND opted_in = 1", (a,)) == 3
    buy(srv, hb, "100")
    assert count(srv, "SELECT COUNT(*) FROM credit_purchases WHERE tenant = ?", (a,)) == 1
    assert row(srv, "SELECT tenant FROM credit_purchases WHERE id = ?", (bought,)) == (a,)
    assert row(srv, "SELECT status FROM campaigns WHERE id = ?", (draft,)) == ("draft",)
    # and a still sees exactly its own
    assert len(srv.get("/api/campaigns", headers=ha).json()["items"]) == 2
    assert srv.get("/api/credits", headers=ha).json() == {"balance": 10, "reserved": 3,
                                                          "available": 7}


ROUTES = [("POST", "/api/contacts", {"contacts": [{"phone": "+14155550100", "opted_in": True}]}),
          ("GET", "/api/contacts", None),
          ("POST", "/api/campaigns", {"name": "n", "message": "m", "audience": {"all": True}}),
          ("GET", "/api/campaigns", None),
          ("GET", "/api/campaigns/{id}", None),
          ("POST", "/api/campaigns/{id}/enqueue", None),
          ("GET", "/api/campaigns/{id}/recipients", None),
          ("GET", "/api/credits", None),
          ("POST", "/api/credits/purchase", {"pack": "100"})]


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_AUTH5_every_route_needs_a_token_with_a_tenant(srv, method, path, body):
    cid = str(uuid.uuid4())
    path = path.replace("{id}", cid)
    assert_problem(srv.request(method, path, body=body), 401)
    no_tenant = idem(bearer(mint_jwt(sub="u-1")))
    assert_problem(srv.request(method, path, body=body, headers=no_tenant), 403)


@pytest.mark.parametrize("method,path,body", [r for r in ROUTES if r[0] == "POST"])
def test_AUTH5_writes_need_the_app_installed(srv, method, path, body):
    t = shop(srv)
    cid = campaign(srv, user(t))
    srv.sql(DB, "UPDATE tenants SET status = 'uninstalled', uninstalled_at = 1 "
                "WHERE shop_domain = ?", (t,))
    never = f"n{uuid.uuid4().hex[:12]}.myshopify.com"
    for tenant in (t, never):
        r = srv.request(method, path.replace("{id}", cid), body=body, headers=idem(user(tenant)))
        assert r.status in (403, 404), r  # another tenant's campaign id is 404 before the shop
        if "{id}" not in path or tenant == t:
            assert_problem(r, 403)
    assert count(srv, "SELECT COUNT(*) FROM credit_purchases WHERE tenant IN (?, ?)", (t, never)) == 0
    assert count(srv, "SELECT COUNT(*) FROM campaigns WHERE tenant IN (?, ?)", (t, never)) == 1


# --- enqueue (CONC4, CONC5) ----------------------------------------------------------------------

def test_CONC4_enqueue_needs_a_key_and_a_key_is_for_one_request(srv):
    t, h = ready_tenant(srv, 2, 10)
    one, two = campaign(srv, h), campaign(srv, h)
    assert_problem(srv.post(f"/api/campaigns/{one}/enqueue", headers=h), 400)
    key = str(uuid.uuid4())
    assert srv.post(f"/api/campaigns/{one}/enqueue", headers=idem(h, key)).status == 202
    # the same key for another campaign, or with a body: 422, nothing done
    assert_problem(srv.post(f"/api/campaigns/{two}/enqueue", headers=idem(h, key)), 422)
    assert_problem(srv.post(f"/api/campaigns/{one}/enqueue", {"x": 1}, headers=idem(h, key)), 422)
    assert row(srv, "SELECT status FROM campaigns WHERE id = ?", (two,)) == ("draft",)
    # a new key for an enqueued campaign: 409
    assert_problem(srv.post(f"/api/campaigns/{one}/enqueue", headers=idem(h)), 409)
    # a body with members is not an enqueue's
    p = assert_problem(srv.post(f"/api/campaigns/{two}/enqueue", {"recipients": 1},
                                headers=idem(h)), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/recipients"]


def test_CONC4_20_concurrent_enqueues_with_one_key_enqueue_once(srv):
    t, h = ready_tenant(srv, 30, 1000)
    cid = campaign(srv, h)
    hk = idem(h)
    out = race(20, lambda i: srv.post(f"/api/campaigns/{cid}/enqueue", headers=hk))
    ok = [r for r in out if r.status == 202]
    busy = [r for r in out if r.status == 409]
    assert len(ok) + len(busy) == 20, [r for r in out if r.status not in (202, 409)][:3]
    assert len([r for r in ok if r.headers.get("idempotent-replayed") != "true"]) == 1
    assert all(r.json() == {"id": cid, "status": "sending", "recipients": 30,
                            "reserved_credits": 30} for r in ok)
    assert all("retry-after" in r.headers for r in busy)  # in flight: retry the same key
    assert count(srv, "SELECT COUNT(*) FROM credit_reservations WHERE campaign_id = ?", (cid,)) == 1
    assert count(srv, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (cid,)) == 30
    assert srv.get("/api/credits", headers=h).json()["reserved"] == 30


def test_CONC5_insufficient_credits_counts_active_reservations(srv):
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": True, "tags": ["a"] if i < 6 else []}
                             for i, p in enumerate(phones(10))])
    give_credits(srv, t, 12)
    first, second = campaign(srv, h), campaign(srv, h, {"tag": "a"})
    assert srv.post(f"/api/campaigns/{first}/enqueue", headers=idem(h)).json()["recipients"] == 10
    # 12 - 10 reserved = 2 < 6: refused, nothing written
    p = assert_problem(srv.post(f"/api/campaigns/{second}/enqueue", headers=idem(h)), 409)
    assert "needs 6" in p["detail"] and "2 are available" in p["detail"], p
    assert row(srv, "SELECT status, recipients FROM campaigns WHERE id = ?", (second,)) == ("draft", 0)
    assert count(srv, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (second,)) == 0
    assert count(srv, "SELECT COUNT(*) FROM credit_reservations WHERE campaign_id = ?", (second,)) == 0
    # an expired reservation holds nothing
    srv.sql(DB, "UPDATE credit_reservations SET expires_at = 1 WHERE campaign_id = ?", (first,))
    assert srv.post(f"/api/campaigns/{second}/enqueue", headers=idem(h)).status == 202


def test_CONC5_zero_recipients_is_422_and_the_campaign_stays_a_draft(srv):
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": False, "tags": ["x"]} for p in phones(3)])
    give_credits(srv, t, 10)
    for audience in ({"all": True}, {"tag": "x"}, {"tag": "nobody"}):
        cid = campaign(srv, h, audience)
        assert_problem(srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h)), 422)
        assert row(srv, "SELECT status FROM campaigns WHERE id = ?", (cid,)) == ("draft",)
    assert count(srv, "SELECT COUNT(*) FROM credit_reservations WHERE tenant = ?", (t,)) == 0


def seed_contacts(srv, tenant, n, opted_in=1):
    """n contacts of `tenant` written straight into the table (what n imports would leave)."""
    tag = uuid.uuid4().hex[:12]
    if srv.backend == SQLITE:
        srv.sql(DB, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                    "INSERT INTO contacts (id, tenant, phone, opted_in, tags, created_at, updated_at) "
                    "SELECT printf('%08d-0000-4000-8000-', i) || ?, ?, printf('+1415%07d', i), ?, "
                    "'[]', 1000 + i, 1000 + i FROM n", (n, tag, tenant, opted_in))
    else:
        srv.sql(DB, "INSERT INTO contacts (id, tenant, phone, opted_in, tags, created_at, updated_at) "
                    "SELECT lpad(i::text, 8, '0') || '-0000-4000-8000-' || ?, ?, "
                    "'+1415' || lpad(i::text, 7, '0'), ?, '[]', 1000 + i, 1000 + i "
                    "FROM generate_series(1, ?) AS i", (tag, tenant, opted_in, n))


def test_CONC5_50000_recipients_do_not_grow_the_modules_memory(srv):
    """The recipients are written by INSERT … SELECT: the instance's peak linear memory
    (the access line's memory_pages) for 50,000 is what it is for 10."""
    pages = {}
    for n in (10, 50000):
        t = shop(srv)
        h = user(t)
        seed_contacts(srv, t, n)
        give_credits(srv, t, n)
        cid = campaign(srv, h)
        r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h))
        assert r.status == 202, r
        assert r.json()["recipients"] == n
        pages[n] = int(access_line(srv, r)["memory_pages"])
        assert count(srv, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ?", (cid,)) == n
        assert srv.get("/api/credits", headers=h).json() == {"balance": n, "reserved": n,
                                                             "available": 0}
    # 50,000 phones alone would be ~800 KB (13 pages) if they passed through the module
    assert pages[50000] <= pages[10] + 1, pages


# --- lists (DATA4) -------------------------------------------------------------------------------

def test_DATA4_cursor_walk_over_250_visits_each_once_with_inserts_between(srv):
    t = shop(srv)
    h = user(t)
    first = phones(250)
    import_contacts(srv, h, [{"phone": p, "opted_in": True, "tags": ["w"]} for p in first])
    later = iter(range(1000, 2000))

    def insert(page):
        import_contacts(srv, h, [{"phone": f"+1415555{next(later):04d}", "opted_in": True,
                                  "tags": ["w"]} for _ in range(3)])
    for path in ("/api/contacts", "/api/contacts?tag=w"):
        seen, pages = walk(srv, path, h, 37, insert)
        ids = [c["id"] for c in seen]
        assert len(ids) == len(set(ids)), "a contact was visited twice"
        got = [c["phone"] for c in seen]
        assert all(got.count(p) == 1 for p in first)
        assert pages >= 7
    # campaigns and recipients page the same way
    give_credits(srv, t, 10000)
    cids = [campaign(srv, h) for _ in range(45)]
    seen, _ = walk(srv, "/api/campaigns", h, 10, lambda p: campaign(srv, h))
    ids = [c["id"] for c in seen]  # (created_at, id) order: one millisecond's are by id
    assert len(ids) == len(set(ids)) and set(cids) <= set(ids)
    r = srv.post(f"/api/campaigns/{cids[0]}/enqueue", headers=idem(h))
    assert r.status == 202, r
    n = r.json()["recipients"]
    seen, _ = walk(srv, f"/api/campaigns/{cids[0]}/recipients?status=queued", h, 100)
    assert len({x["contact_id"] for x in seen}) == len(seen) == n
    assert walk(srv, f"/api/campaigns/{cids[0]}/recipients?status=sent", h, 100)[0] == []


@pytest.mark.sqlite_only
def test_DATA4_list_pages_are_index_searches_never_offset_scans_or_sorts(srv):
    """Page 1 and a page behind a cursor of each list: SQLite's plan (EXPLAIN QUERY PLAN,
    recorded by the host) must search an index in the list's order, with no scan of the
    table and no sort of its rows, so page 1,000 costs what page 1 does."""
    t = shop(srv)
    h = user(t)
    import_contacts(srv, h, [{"phone": p, "opted_in": True, "tags": ["p"]} for p in phones(30)])
    give_credits(srv, t, 100)
    cid = campaign(srv, h)
    assert srv.post(f"/api/campaigns/{cid}/enqueue", headers=idem(h)).status == 202
    campaign(srv, h)
    lists = {"/api/contacts": 7, "/api/contacts?tag=p": 7, "/api/campaigns": 1,
             f"/api/campaigns/{cid}/recipients?status=queued": 7}
    for path, limit in lists.items():
        assert walk(srv, path, h, limit)[1] >= 2  # page 1 and at least one behind a cursor
    checked = 0
    for table in ("contacts", "contact_tags", "campaigns", "campaign_recipients"):
        for sql, plan in srv.plans(table).items():
            if ") > ($3, $4)" not in sql:  # a list's keyset position (page.h BASTION_PAGE_AFTER)
                continue
            checked += 1
            assert not any("USE TEMP B-TREE FOR ORDER BY" in d for d in plan), (sql, plan)
            assert not any(re.match(r"SCAN \w+", d) for d in plan), (sql, plan)
            # the position bounds the index search: the page starts at its cursor, not at
            # the tenant's first row (an OR of the cases would bound only the tenant)
            assert any(re.search(r"SEARCH \w+ USING (COVERING )?INDEX \w+ \(.*\)>\(\?,\?\)", d)
                       for d in plan), (sql, plan)
    assert checked >= 4, "the lists' statements were not recorded"


@pytest.mark.parametrize("path", ["/api/contacts", "/api/campaigns", "/api/campaigns/{id}/recipients"])
def test_DATA4_limit_range_default_and_tampered_cursor(srv, path):
    t, h = ready_tenant(srv, 25, 100)
    cids = [campaign(srv, h) for _ in range(21)]
    assert srv.post(f"/api/campaigns/{cids[0]}/enqueue", headers=idem(h)).status == 202
    path = path.replace("{id}", cids[0])
    for bad in ("0", "101", "-1", "x", "2.5"):
        assert_problem(srv.get(f"{path}?limit={bad}", headers=h), 422)
    assert len(srv.get(f"{path}?limit=100", headers=h).json()["items"]) <= 100
    first = srv.get(path, headers=h).json()
    assert len(first["items"]) == 20 and first["next_cursor"]  # the default
    c = first["next_cursor"]
    tampered = c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1]
    for cursor in (tampered, "garbage", c + "x"):
        assert_problem(srv.get(f"{path}?cursor={cursor}", headers=h), 400)


def test_DATA4_recipient_status_filter_is_checked(srv):
    t = shop(srv)
    h = user(t)
    cid = campaign(srv, h)
    p = assert_problem(srv.get(f"/api/campaigns/{cid}/recipients?status=bogus", headers=h), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/status"], p


# --- campaigns' input (VAL1) ---------------------------------------------------------------------

@pytest.mark.parametrize("body,pointers", [
    ({"name": "", "message": "m", "audience": {"all": True}}, ["/name"]),
    ({"name": "n" * 101, "message": "m", "audience": {"all": True}}, ["/name"]),
    ({"name": "n", "message": "é" * 641, "audience": {"all": True}}, ["/message"]),
    ({"name": "n", "message": "", "audience": {"all": True}}, ["/message"]),
    ({"name": "n", "message": "m", "audience": {}}, ["/audience"]),
    ({"name": "n", "message": "m", "audience": {"all": True, "tag": "x"}}, ["/audience"]),
    ({"name": "n", "message": "m", "audience": {"all": False}}, ["/audience/all"]),
    ({"name": "n", "message": "m", "audience": {"tag": ""}}, ["/audience/tag"]),
    ({"name": "n", "message": "m"}, ["/audience"]),
    ({"name": "n", "message": "m", "audience": {"all": True}, "status": "sending"}, ["/status"]),
])
def test_VAL1_campaign_input_is_checked_with_pointers(srv, body, pointers):
    t = shop(srv)
    p = assert_problem(srv.post("/api/campaigns", body, headers=user(t)), 422)
    assert sorted(e["pointer"] for e in p["errors"]) == pointers, p
    assert count(srv, "SELECT COUNT(*) FROM campaigns WHERE tenant = ?", (t,)) == 0


def test_VAL1_a_message_of_640_code_points_is_one_campaign(srv):
    h = user(shop(srv))
    r = srv.post("/api/campaigns", {"name": "n" * 100, "message": "é" * 640,
                                    "audience": {"tag": "vip"}}, headers=h)
    assert r.status == 201, r
    b = r.json()
    assert (b["status"], b["audience"], b["recipients"]) == ("draft", {"tag": "vip"}, 0)
    assert srv.get(f"/api/campaigns/{b['id']}", headers=h).json() == b


# --- the payment API (REL2, REL3) ----------------------------------------------------------------

DEADLINE_S = 15  # manifest.toml: [functions.campaigns] timeout_ms = 15000


def purchases(s, t):
    return [tuple(r) for r in s.sql(DB, "SELECT status, error IS NOT NULL FROM credit_purchases "
                                        "WHERE tenant = ? ORDER BY created_at", (t,))]


def test_REL3_purchase_provider_refusing_failing_and_hanging(fresh):
    s = fresh()
    t = shop(s)
    h = user(t)
    s.payments.mode = "refuse"
    p = assert_problem(s.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h)), 502)
    assert p["retryable"] is False and p["type"].endswith("/upstream-refused")
    s.payments.mode = "fail"
    p = assert_problem(s.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h)), 502)
    assert p["retryable"] is True and "api_error" not in json.dumps(p)
    s.payments.mode = "hang"
    start = time.monotonic()
    r = s.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h))
    took = time.monotonic() - start
    p = assert_problem(r, 504)
    assert p["retryable"] is True
    assert 7 < took < DEADLINE_S + 0.5, took  # the 8 s external budget, not the deadline
    assert purchases(s, t) == [("failed", 1)] * 3
    assert s.get("/api/credits", headers=h).json()["balance"] == 0
    # the calls carried the key and a form body
    call = s.payments.calls()[0]
    assert call["path"] == "/v1/checkout/sessions"
    assert call["headers"]["authorization"].startswith("Bearer ")
    assert call["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert call["form"]["line_items[0][price_data][unit_amount]"] == "1000"


def test_REL3_purchase_breaker_opens_then_503_fast_without_a_call(fresh):
    s = fresh()
    t = shop(s)
    h = user(t)
    s.payments.mode = "fail"
    for _ in range(5):
        assert_problem(s.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h)), 502)
    s.payments.mode = "accept"
    start = time.monotonic()
    r = s.post("/api/credits/purchase", {"pack": "100"}, headers=idem(h))
    took = time.monotonic() - start
    assert_problem(r, 503)
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert took < 1, took
    assert len(s.payments.calls()) == 5
    assert purchases(s, t) == [("failed", 1)] * 6
    # what does not need the provider goes on
    assert s.get("/api/credits", headers=h).status == 200
    assert s.post("/api/campaigns", {"name": "n", "message": "m", "audience": {"all": True}},
                  headers=h).status == 201


def test_CONC4_a_purchase_replayed_by_its_key_creates_one_session(srv, payments):
    t = shop(srv)
    h = idem(user(t))
    before = len(payments.calls())
    a = srv.post("/api/credits/purchase", {"pack": "2500"}, headers=h)
    b = srv.post("/api/credits/purchase", {"pack": "2500"}, headers=h)
    assert a.status == b.status == 201 and a.json() == b.json()
    assert b.headers.get("idempotent-replayed") == "true"
    assert len(payments.calls()) == before + 1
    assert_problem(srv.post("/api/credits/purchase", {"pack": "500"}, headers=h), 422)
    p = assert_problem(srv.post("/api/credits/purchase", {"pack": "42"}, headers=idem(h)), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/pack"]
    assert count(srv, "SELECT COUNT(*) FROM credit_purchases WHERE tenant = ?", (t,)) == 1
    assert (a.json()["amount_cents"], a.json()["credits"]) == (20000, 2500)


# --- the tenant's write limit (CONC2) ------------------------------------------------------------

def test_CONC2_tenant_writes_per_minute_on_every_write_route(fresh):
    s = fresh({"BASTION_VAR_tenant_writes_per_minute": "3"})
    if time.time() % 60 > 45:  # fixed one-minute windows: start well inside one
        time.sleep(61 - time.time() % 60)
    t, u = shop(s), shop(s)
    h = user(t)
    r = s.post("/api/contacts", {"contacts": [{"phone": "+14155550100", "opted_in": True}]},
               headers=h)
    assert r.status == 200 and "ratelimit" in r.headers and "ratelimit-policy" in r.headers, r
    cid = campaign(s, h)
    assert_problem(s.post("/api/campaigns", {"name": ""}, headers=h), 422)  # counted too
    for method, path, body in [("POST", "/api/contacts", {"contacts": [{"phone": "+14155550101",
                                                                        "opted_in": True}]}),
                               ("POST", "/api/campaigns", {"name": "n", "message": "m",
                                                           "audience": {"all": True}}),
                               ("POST", f"/api/campaigns/{cid}/enqueue", None),
                               ("POST", "/api/credits/purchase", {"pack": "100"})]:
        r = s.request(method, path, body=body, headers=idem(h))
        assert_problem(r, 429)
        assert 1 <= int(r.headers["retry-after"]) <= 60
    assert count(s, "SELECT COUNT(*) FROM campaigns WHERE tenant = ?", (t,)) == 1
    assert count(s, "SELECT COUNT(*) FROM credit_purchases WHERE tenant = ?", (t,)) == 0
    assert s.get("/api/campaigns", headers=h).status == 200  # reads are not writes
    assert s.post("/api/campaigns", {"name": "n", "message": "m", "audience": {"all": True}},
                  headers=user(u)).status == 201  # another tenant has its own budget


# --- app/uninstalled (shopify-webhook) -----------------------------------------------------------

def test_CONC5_uninstall_cancels_campaigns_and_releases_reservations(srv):
    t, h = ready_tenant(srv, 4, 10)
    draft, sending = campaign(srv, h), campaign(srv, h)
    assert srv.post(f"/api/campaigns/{sending}/enqueue", headers=idem(h)).status == 202
    other = shop(srv)  # another tenant's campaign is left alone
    import_contacts(srv, user(other), [{"phone": p, "opted_in": True} for p in phones(2)])
    give_credits(srv, other, 10)
    kept = campaign(srv, user(other))
    assert srv.post(f"/api/campaigns/{kept}/enqueue", headers=idem(user(other))).status == 202
    r = shopify_deliver(srv, t, "app/uninstalled", {"id": 1, "myshopify_domain": t})
    assert r.status == 200, r
    for cid in (draft, sending):
        st = srv.get(f"/api/campaigns/{cid}", headers=h).json()
        assert st["status"] == "cancelled" and st["cancelled_at"], st
    assert row(srv, "SELECT status FROM credit_reservations WHERE campaign_id = ?", (sending,)) == \
        ("released",)
    assert srv.sql(DB, "SELECT DISTINCT status, error FROM campaign_recipients WHERE campaign_id = ?",
                   (sending,)) in ([("failed", "campaign cancelled")], [["failed", "campaign cancelled"]])
    assert srv.get("/api/credits", headers=h).json() == {"balance": 10, "reserved": 0, "available": 10}
    assert row(srv, "SELECT status FROM campaigns WHERE id = ?", (kept,)) == ("sending",)
    assert srv.get("/api/credits", headers=user(other)).json()["reserved"] == 2
    # uninstalled: writes are refused
    assert_problem(srv.post("/api/campaigns", {"name": "n", "message": "m",
                                               "audience": {"all": True}}, headers=h), 403)
