"""stripe-webhook over real HTTP (HOOK1, HOOK3-HOOK6, REL4, CONC5, AUTH1, VAL1, ERR1).

Every Stripe-Signature here comes from Stripe's own npm library (tests/stripe_events.py).

Tests that make the email provider fail or hang, change the secrets or lock
a database get a fresh server (and a fresh fake), so the email breaker and
the stores stay theirs.
"""
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid

import pytest

from conftest import (BUILD, SQLITE, FakeEmail, Server, admin_headers, held_lock,
                      assert_problem, failing_trigger, migrate, redis_command, user_headers)
from stripe_events import (HOOK, SECRET, body_of, deliver, deliver_all, event, post, sign,
                           uid)

OLD_SECRET = "whsec_test_previous_fedcba9876543210"
CUSTOMERS = "/api/admin/billing/customers"
DEADLINE_S = 10  # manifest.toml: timeout_ms = 10000 (HOOK6)


# --- servers -----------------------------------------------------------------------------------

def serve(email, env=None):
    """The real bundle, migrated, email at the fake; the per-address connection cap raised
    so that 100 deliveries can arrive at once from the one test address."""
    with open(os.path.join(BUILD, "manifest.json")) as f:
        doc = json.load(f)
    doc["limits"]["max_connections_per_ip"] = 256
    manifest = os.path.join(tempfile.mkdtemp(prefix="bastion-manifest-"), "manifest.json")
    with open(manifest, "w") as f:
        json.dump(doc, f)
    srv = Server(manifest, env={"BASTION_VAR_email_api_base": email.base})
    srv.env.update(env or {})  # may replace a TEST_VARS value (the secrets)
    srv.email = email
    migrate(manifest, srv.state)
    return srv.start()


@pytest.fixture(scope="module")
def srv(email):
    s = serve(email)
    yield s
    assert s.stop() == 0


@pytest.fixture
def fresh():
    fake = FakeEmail()
    s = serve(fake)
    yield s
    assert s.stop() == 0
    fake.close()


# --- answers -------------------------------------------------------------------------------------

def received(r, **extra):
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json"), r
    assert r.json() == {"received": True, **extra}, r.json()


# --- events, as Stripe sends them (with members the handler never reads) -----------------------

def checkout(order_id, email=None, amount=4500, currency="eur", session=None, kind="order"):
    return {"id": session or uid("cs_test_"), "object": "checkout.session",
            "amount_total": amount, "amount_subtotal": amount, "currency": currency,
            "customer": None, "customer_email": None, "mode": "payment",
            "customer_details": {"email": email or uid("buyer") + "@example.test",
                                 "name": "Ann Example", "address": None, "phone": None},
            "metadata": {"kind": kind, "order_id": order_id}, "payment_status": "paid",
            "status": "complete", "url": None}


def subscription(sub_id, customer, status="active", period_end=1893456000, price="price_basic",
                 cancel=False, period_on_item=False, plan_only=False):
    item = {"id": uid("si_"), "object": "subscription_item", "quantity": 1,
            ("plan" if plan_only else "price"): {"id": price, "object": "price",
                                                 "unit_amount": 900}}
    sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
           "cancel_at_period_end": cancel, "collection_method": "charge_automatically",
           "items": {"object": "list", "data": [item], "has_more": False}}
    if period_on_item:
        item["current_period_end"] = period_end
    else:
        sub["current_period_end"] = period_end
    return sub


# --- the databases -------------------------------------------------------------------------------


def new_order(srv, status="pending"):
    oid = uid("ord_")
    now = int(time.time() * 1000)
    srv.sql("orders", "INSERT INTO orders (id, user_id, status, total_cents, currency, "
            "created_at, updated_at) VALUES (?, 'user-1', ?, 4500, 'EUR', ?, ?)",
            (oid, status, now, now))
    return oid


def order_status(srv, oid):
    return srv.sql("orders", "SELECT status FROM orders WHERE id = ?", (oid,))[0][0]


def payments(srv, oid):
    return srv.sql("orders", "SELECT checkout_session_id, amount_total_cents, currency "
                   "FROM order_payments WHERE order_id = ?", (oid,))


def outbox(srv, address):
    return srv.sql("orders", "SELECT kind, error, attempts, status FROM email_failures "
                   "WHERE recipient = ?", (address,))


def ledger(srv, event_id):
    rows = srv.sql("billing", "SELECT type, status, attempts, error, processed_at "
                   "FROM webhook_events WHERE provider = 'stripe' AND id = ?", (event_id,))
    return rows[0] if rows else None


def subscription_row(srv, sub_id):
    rows = srv.sql("billing", "SELECT tenant, stripe_customer_id, status, price_id, "
                   "current_period_end, cancel_at_period_end, event_created FROM subscriptions "
                   "WHERE stripe_subscription_id = ?", (sub_id,))
    return rows[0] if rows else None


def new_customer(srv, tenant="acme"):
    cus = uid("cus_")
    r = srv.post(CUSTOMERS, {"stripe_customer_id": cus, "tenant": tenant},
                 headers=admin_headers())
    assert r.status == 201, r
    return cus


def forget_claims(srv):
    """The kv store of the claims loses everything (a flush or a failover)."""
    if srv.backend == SQLITE:
        conn = sqlite3.connect(os.path.join(srv.state, "kv.sqlite"), timeout=10,
                               isolation_level=None)
        try:
            n = conn.execute("DELETE FROM kv WHERE store = 'webhooks'").rowcount
        finally:
            conn.close()
        assert n > 0
        return
    with open(srv.runtime_config) as f:
        prefix = re.search(r'key_prefix = "([^"]+)"', f.read()).group(1)
    keys = redis_command("KEYS", prefix + "webhooks:*")
    assert keys
    assert redis_command("DEL", *keys) == len(keys)


# --- HOOK1: signatures ---------------------------------------------------------------------------

def test_HOOK1_signature_from_stripes_library_is_accepted(srv):
    received(deliver(srv, event("invoice.created", {"id": uid("in_")})), ignored=True)


def test_HOOK1_several_secrets_verify_during_a_rotation(email):
    s = serve(email, {"BASTION_VAR_stripe_webhook_secrets": f" {OLD_SECRET} , {SECRET} "})
    try:
        for secret in (OLD_SECRET, SECRET):
            received(deliver(s, event("invoice.created", {}), secret=secret), ignored=True)
        p = assert_problem(deliver(s, event("invoice.created", {}),
                                   secret="whsec_never_configured_00000000"), 401, "auth")
        assert "no signature matches" in p["detail"]
    finally:
        assert s.stop() == 0


def test_HOOK1_a_retired_secret_no_longer_verifies(srv):
    assert_problem(deliver(srv, event("invoice.created", {}), secret=OLD_SECRET), 401, "auth")


def test_HOOK1_tolerance_is_300_seconds(srv):
    ev = event("invoice.created", {})
    body = body_of(ev)
    # 20 s either side of the edge: signing (node) and a loaded machine can take
    # seconds between `now` here and the server's clock reading it (CI: a +302 s
    # signature arrived within 300 s once)
    now = int(time.time())
    old, fresh_, future = sign((body, SECRET, now - 320), (body, SECRET, now - 280),
                               (body, SECRET, now + 320))
    p = assert_problem(post(srv, body, old), 401, "auth")
    assert "Stripe-Signature" in p["detail"]
    assert_problem(post(srv, body, future), 401, "auth")
    received(post(srv, body, fresh_), ignored=True)


def test_HOOK1_tampered_body_is_401_with_no_side_effect(srv):
    oid = new_order(srv)
    ev = event("checkout.session.completed", checkout(oid, amount=4500))
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    tampered = body.replace('"amount_total":4500', '"amount_total":1')
    assert tampered != body
    assert_problem(post(srv, tampered, sig), 401, "auth")
    assert_problem(post(srv, body + " ", sig), 401, "auth")  # one byte more
    assert order_status(srv, oid) == "pending"
    assert payments(srv, oid) == []
    assert ledger(srv, ev["id"]) is None
    # nothing was claimed either: the genuine delivery is processed
    received(post(srv, body, sig), outcome="paid", email_sent=True, email_error=None)


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=123", "v1=" + "0" * 64, "t=abc,v1=" + "0" * 64,
    "t=1700000000,v1=abcd", "t=1,t=2,v1=" + "0" * 64, "t=1700000000,v0=" + "0" * 64,
])
def test_HOOK1_missing_or_malformed_header_is_401(srv, header):
    body = body_of(event("invoice.created", {}))
    if header == "t=123":
        header = f"t={int(time.time())}"  # no v1 at all
    assert_problem(post(srv, body, header), 401, "auth")


def test_HOOK1_a_signature_for_another_timestamp_is_401(srv):
    body = body_of(event("invoice.created", {}))
    [sig] = sign((body, SECRET, int(time.time()) - 10))
    t = int(time.time())
    v1 = sig.split("v1=")[1]
    assert_problem(post(srv, body, f"t={t},v1={v1}"), 401, "auth")


def test_REL8_unusable_secrets_variable_is_500(email):
    s = serve(email, {"BASTION_VAR_stripe_webhook_secrets": " , "})
    try:
        p = assert_problem(deliver(s, event("invoice.created", {})), 500, "internal")
        assert "stripe_webhook_secrets" in p["detail"] and SECRET not in json.dumps(p)
    finally:
        assert s.stop() == 0


# --- HOOK4: structure ----------------------------------------------------------------------------

def malformed_cases():
    oid = "ord_x"
    ok = checkout(oid)
    sub = subscription("sub_1", "cus_1")

    def co(**changes):
        obj = json.loads(json.dumps(ok))
        for path, value in changes.items():
            target = obj
            keys = path.split("__")
            for k in keys[:-1]:
                target = target[k]
            if value is KeyError:
                del target[keys[-1]]
            else:
                target[keys[-1]] = value
        return event("checkout.session.completed", obj)

    def su(type_="customer.subscription.updated", **changes):
        obj = json.loads(json.dumps(sub))
        obj.update(changes)
        return event(type_, obj)

    no_id = event("invoice.created", {})
    del no_id["id"]
    bad_id = event("invoice.created", {}, event_id="ch_123")
    no_data = event("invoice.created", {})
    del no_data["data"]
    no_object = event("invoice.created", {})
    no_object["data"] = {"previous_attributes": {}}
    str_created = event("invoice.created", {})
    str_created["created"] = "1700000000"
    num_type = event("invoice.created", {})
    num_type["type"] = 7
    no_items = su()
    no_items["data"]["object"]["items"]["data"] = []
    no_period = su()
    del no_period["data"]["object"]["current_period_end"]
    return [
        ("not json", "{", None),
        ("an array", "[]", None),
        ("no id", no_id, "/id"),
        ("not an event id", bad_id, "/id"),
        ("created is text", str_created, "/created"),
        ("type is a number", num_type, "/type"),
        ("no data", no_data, "/data"),
        ("data.object missing", no_object, "/data/object"),
        ("data.object not an object", event("invoice.created", []), "/data/object"),
        ("order without order_id", co(metadata__order_id=KeyError),
         "/data/object/metadata/order_id"),
        ("order_id of the wrong shape", co(metadata__order_id="a b"),
         "/data/object/metadata/order_id"),
        ("negative amount", co(amount_total=-1), "/data/object/amount_total"),
        ("fractional amount", co(amount_total=12.5), "/data/object/amount_total"),
        ("currency not letters", co(currency="eu1"), "/data/object/currency"),
        ("session id", co(id="pi_123"), "/data/object/id"),
        ("no email anywhere", co(customer_details__email=None),
         "/data/object/customer_details/email"),
        ("bad email", co(customer_details__email="not-an-email"),
         "/data/object/customer_details/email"),
        ("subscription without customer", su(customer=None), "/data/object/customer"),
        ("subscription of a non-customer", su(customer="acct_1"), "/data/object/customer"),
        ("unknown status", su(status="sleeping"), "/data/object/status"),
        ("cancel flag not a bool", su(cancel_at_period_end="no"),
         "/data/object/cancel_at_period_end"),
        ("no items", no_items, "/data/object/items/data/0"),
        ("no period end anywhere", no_period, "/data/object/current_period_end"),
    ]


def test_HOOK4_malformed_events_are_400_with_pointers_and_no_side_effect(srv):
    cases = malformed_cases()
    bodies = [body_of(e) for _, e, _ in cases]
    now = int(time.time())
    sigs = sign(*[(b, SECRET, now) for b in bodies])
    for (name, ev, pointer), body, sig in zip(cases, bodies, sigs):
        r = post(srv, body, sig)
        p = assert_problem(r, 400, "validation")
        if pointer:
            assert pointer in [e["pointer"] for e in p["errors"]], (name, p)
        if isinstance(ev, dict) and isinstance(ev.get("id"), str):
            assert ledger(srv, ev["id"]) is None, name


def test_HOOK4_unknown_members_are_allowed(srv):
    oid = new_order(srv)
    obj = checkout(oid)
    obj["brand_new_field"] = {"nested": [1, 2, 3]}
    obj["metadata"]["campaign"] = "spring"
    ev = event("checkout.session.completed", obj)
    ev["context"] = "acct_123"
    received(deliver(srv, ev), outcome="paid", email_sent=True, email_error=None)


def test_HOOK4_unhandled_types_and_other_checkouts_are_ignored(srv):
    oid = new_order(srv)
    no_meta = checkout(oid)
    del no_meta["metadata"]
    events = [event("invoice.paid", {"id": uid("in_")}),
              event("payment_intent.succeeded", {"id": uid("pi_"), "amount": "any shape"}),
              event("checkout.session.completed", checkout(oid, kind="gift_card")),
              event("checkout.session.completed", no_meta)]
    for ev, r in zip(events, deliver_all(srv, events)):
        received(r, ignored=True)
        assert ledger(srv, ev["id"]) is None
    assert order_status(srv, oid) == "pending"


# --- REL4, CONC5: an order paid --------------------------------------------------------------------

def test_REL4_checkout_pays_the_order_and_emails_the_customer(srv):
    oid = new_order(srv)
    obj = checkout(oid, amount=4500, currency="eur")
    address = obj["customer_details"]["email"] = uid("ann") + "@Example.TEST"
    ev = event("checkout.session.completed", obj)
    received(deliver(srv, ev), outcome="paid", email_sent=True, email_error=None)
    assert order_status(srv, oid) == "paid"
    assert payments(srv, oid) == [(obj["id"], 4500, "EUR")]
    mails = srv.email.sent_to(address.lower())
    assert len(mails) == 1 and oid in mails[0]["subject"] and obj["id"] in mails[0]["text"]
    assert outbox(srv, address.lower()) == []  # delivered: the outbox row is gone
    assert ledger(srv, ev["id"])[:4] == ("checkout.session.completed", "processed", 1, None)


def test_REL4_customer_email_is_the_fallback(srv):
    oid = new_order(srv)
    obj = checkout(oid)
    obj["customer_details"] = None
    address = obj["customer_email"] = uid("bob") + "@example.test"
    received(deliver(srv, event("checkout.session.completed", obj)), outcome="paid",
             email_sent=True, email_error=None)
    assert len(srv.email.sent_to(address)) == 1


def test_HOOK3_100_concurrent_deliveries_pay_the_order_once(srv):
    oid = new_order(srv)
    obj = checkout(oid)
    address = obj["customer_details"]["email"]
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    n = 100
    barrier = threading.Barrier(n)
    out = [None] * n

    def go(i):
        barrier.wait()
        out[i] = post(srv, body, sig, timeout=60)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in out] == [200] * n, [r for r in out if r.status != 200][:3]
    answers = sorted(json.dumps(r.json(), sort_keys=True) for r in out)
    paid = {"received": True, "outcome": "paid", "email_sent": True, "email_error": None}
    assert answers.count(json.dumps(paid, sort_keys=True)) == 1, answers[:3]
    assert answers.count(json.dumps({"duplicate": True, "received": True},
                                    sort_keys=True)) == n - 1
    assert order_status(srv, oid) == "paid"
    assert len(payments(srv, oid)) == 1
    assert len(srv.email.sent_to(address)) == 1
    assert ledger(srv, ev["id"])[1:3] == ("processed", 1)


def test_HOOK3_a_redelivery_is_a_duplicate_with_no_second_email(srv):
    oid = new_order(srv)
    obj = checkout(oid)
    ev = event("checkout.session.completed", obj)
    first, again = deliver_all(srv, [ev, ev])
    received(first, outcome="paid", email_sent=True, email_error=None)
    received(again, duplicate=True)
    assert len(srv.email.sent_to(obj["customer_details"]["email"])) == 1


@pytest.mark.parametrize("table,event_", [("order_payments", "INSERT"), ("orders", "UPDATE")])
def test_HOOK3_a_failed_attempt_releases_the_claim_and_the_retry_succeeds(srv, table, event_):
    oid = new_order(srv)
    obj = checkout(oid)
    address = obj["customer_details"]["email"]
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    with failing_trigger(srv, "orders", table, event_):
        r = post(srv, body, sig)
        assert r.status >= 500, r
        assert_problem(r, r.status)
    # CONC5: nothing of the payment committed, not even the outbox row
    assert order_status(srv, oid) == "pending"
    assert payments(srv, oid) == [] and outbox(srv, address) == []
    assert srv.email.sent_to(address) == []
    type_, status, attempts, error, processed_at = ledger(srv, ev["id"])
    assert (status, attempts, processed_at) == ("failed", 1, None)
    assert error and "order payment not committed" in error
    # the claim was released: Stripe's retry runs, and is the ledger's second attempt
    received(post(srv, body, sig), outcome="paid", email_sent=True, email_error=None)
    assert ledger(srv, ev["id"])[1:4] == ("processed", 2, None)
    assert order_status(srv, oid) == "paid" and len(srv.email.sent_to(address)) == 1


def test_HOOK3_the_ledger_stops_a_replay_when_the_kv_forgot_the_claim(srv):
    oid = new_order(srv)
    obj = checkout(oid)
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    received(post(srv, body, sig), outcome="paid", email_sent=True, email_error=None)
    forget_claims(srv)
    received(post(srv, body, sig), duplicate=True)
    received(post(srv, body, sig), duplicate=True)  # and the kv remembers it again
    assert len(srv.email.sent_to(obj["customer_details"]["email"])) == 1
    assert ledger(srv, ev["id"])[1:3] == ("processed", 1)


def test_HOOK3_a_retry_after_the_payment_committed_sends_no_second_email(srv):
    """The payment committed but the ledger never heard (the instance died after the
    commit): the order is paid by this very session, so the retry changes nothing."""
    oid = new_order(srv, status="paid")
    obj = checkout(oid)
    now = int(time.time() * 1000)
    srv.sql("orders", "INSERT INTO order_payments VALUES (?, ?, 4500, 'EUR', ?)",
            (oid, obj["id"], now))
    ev = event("checkout.session.completed", obj)
    received(deliver(srv, ev), outcome="already_paid")
    assert srv.email.sent_to(obj["customer_details"]["email"]) == []
    assert len(payments(srv, oid)) == 1
    assert ledger(srv, ev["id"])[1:3] == ("processed", 1)


@pytest.mark.parametrize("status", ["paid", "cancelled", "refunded"])
def test_HOOK5_an_order_not_pending_is_processed_with_a_warning(srv, status):
    oid = new_order(srv, status=status)
    if status == "paid":  # by another Checkout Session
        srv.sql("orders", "INSERT INTO order_payments VALUES (?, ?, 4500, 'EUR', ?)",
                (oid, uid("cs_other_"), int(time.time() * 1000)))
    obj = checkout(oid)
    ev = event("checkout.session.completed", obj)
    r = deliver(srv, ev)
    received(r, outcome="not_pending")
    assert order_status(srv, oid) == status
    assert srv.email.sent_to(obj["customer_details"]["email"]) == []
    assert [p[0] for p in payments(srv, oid)] != [obj["id"]]
    assert ledger(srv, ev["id"])[1:3] == ("processed", 1)
    assert any(line.get("msg") == "checkout completed for an order not pending" and
               line.get("level") == "warn" and line.get("request_id") == r.headers["x-request-id"]
               for line in srv.log_lines()), srv.logs()[-2000:]


# --- HOOK5: unknown references -------------------------------------------------------------------

def assert_unresolved(r):
    p = assert_problem(r, 500, "transient")
    assert p["retryable"] is True
    assert p["type"].endswith("/unresolved-reference"), p
    return p


def test_HOOK5_an_unknown_order_is_500_transient_recorded_and_retried(srv):
    oid = uid("ord_")
    obj = checkout(oid)
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    assert_unresolved(post(srv, body, sig))
    _, status, attempts, error, _ = ledger(srv, ev["id"])
    assert (status, attempts) == ("failed", 1) and "unknown order" in error
    assert_unresolved(post(srv, body, sig))  # released: every retry is tried, and counted
    assert ledger(srv, ev["id"])[1:3] == ("failed", 2)
    now = int(time.time() * 1000)
    srv.sql("orders", "INSERT INTO orders VALUES (?, 'user-1', 'pending', 4500, 'EUR', ?, ?)",
            (oid, now, now))
    received(post(srv, body, sig), outcome="paid", email_sent=True, email_error=None)
    assert ledger(srv, ev["id"])[1:4] == ("processed", 3, None)


def test_HOOK5_an_unknown_customer_is_500_transient_recorded_and_retried(srv):
    cus, sub = uid("cus_"), uid("sub_")
    ev = event("customer.subscription.created", subscription(sub, cus))
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    assert_unresolved(post(srv, body, sig))
    _, status, attempts, error, _ = ledger(srv, ev["id"])
    assert (status, attempts) == ("failed", 1) and "unknown customer" in error
    assert subscription_row(srv, sub) is None
    r = srv.post(CUSTOMERS, {"stripe_customer_id": cus, "tenant": "globex"},
                 headers=admin_headers())
    assert r.status == 201, r
    received(post(srv, body, sig), outcome="applied")
    assert subscription_row(srv, sub)[:3] == ("globex", cus, "active")
    assert ledger(srv, ev["id"])[1:3] == ("processed", 2)


# --- subscriptions ---------------------------------------------------------------------------------

def test_HOOK3_subscription_events_out_of_order_keep_the_newest_state(srv):
    cus, sub = new_customer(srv, "initech"), uid("sub_")
    t = int(time.time()) - 100
    newer = event("customer.subscription.updated",
                  subscription(sub, cus, "past_due", period_end=1900000000, price="price_pro",
                               cancel=True), created=t + 10)
    older = event("customer.subscription.created",
                  subscription(sub, cus, "active", period_end=1800000000), created=t)
    r1, r2 = deliver_all(srv, [newer, older])
    received(r1, outcome="applied")
    received(r2, outcome="stale")
    assert subscription_row(srv, sub) == ("initech", cus, "past_due", "price_pro",
                                          1900000000 * 1000, 1, t + 10)
    assert ledger(srv, newer["id"])[1:3] == ("processed", 1)
    assert ledger(srv, older["id"])[1:3] == ("processed", 1)  # stale is still processed
    deleted = event("customer.subscription.deleted",
                    subscription(sub, cus, "active", period_end=1900000000), created=t + 20)
    received(deliver(srv, deleted), outcome="applied")
    assert subscription_row(srv, sub)[2] == "canceled"


def test_HOOK4_subscription_fields_of_newer_and_older_api_versions(srv):
    cus = new_customer(srv)
    a, b = uid("sub_"), uid("sub_")
    events = [event("customer.subscription.created",
                    subscription(a, cus, "trialing", period_end=1850000000, period_on_item=True)),
              event("customer.subscription.created",
                    subscription(b, cus, "active", price="gold-monthly", plan_only=True))]
    for r in deliver_all(srv, events):
        received(r, outcome="applied")
    assert subscription_row(srv, a)[2:5] == ("trialing", "price_basic", 1850000000 * 1000)
    assert subscription_row(srv, b)[3] == "gold-monthly"


# --- REL4 with a provider that fails or hangs ------------------------------------------------------

def test_REL4_provider_failing_still_answers_200_with_the_outbox_row(fresh):
    fresh.email.mode = "fail"
    oid = new_order(fresh)
    obj = checkout(oid)
    address = obj["customer_details"]["email"]
    ev = event("checkout.session.completed", obj)
    received(deliver(fresh, ev), outcome="paid", email_sent=False,
             email_error="email provider answered 500")
    assert order_status(fresh, oid) == "paid"
    assert outbox(fresh, address) == [("order-paid", "email provider answered 500", 1, "pending")]
    assert ledger(fresh, ev["id"])[1] == "processed"


def test_REL4_HOOK6_provider_hanging_still_answers_within_the_deadline(fresh):
    fresh.email.mode = "hang"
    oid = new_order(fresh)
    obj = checkout(oid)
    address = obj["customer_details"]["email"]
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    t0 = time.monotonic()
    r = post(fresh, body, sig)
    took = time.monotonic() - t0
    assert took < DEADLINE_S + 0.5, took
    received(r, outcome="paid", email_sent=False, email_error="email provider timed out")
    assert outbox(fresh, address) == [("order-paid", "email provider timed out", 1, "pending")]
    assert ledger(fresh, ev["id"])[1] == "processed"


# --- HOOK6: a locked store -------------------------------------------------------------------------

@pytest.mark.sqlite_only
@pytest.mark.parametrize("db", ["billing", "orders"])
def test_HOOK6_a_locked_store_answers_503_or_504_in_time_and_releases_the_claim(fresh, db):
    oid = new_order(fresh)
    obj = checkout(oid)
    ev = event("checkout.session.completed", obj)
    body = body_of(ev)
    [sig] = sign((body, SECRET, int(time.time())))
    with held_lock(fresh, db):
        t0 = time.monotonic()
        r = post(fresh, body, sig)
        took = time.monotonic() - t0
    assert took < DEADLINE_S + 0.5, took
    assert r.status in (503, 504), r
    assert assert_problem(r, r.status)["retryable"] is True
    assert order_status(fresh, oid) == "pending"
    if db == "orders":  # the ledger was free: the failure is on record
        _, status, attempts, error, _ = ledger(fresh, ev["id"])
        assert (status, attempts) == ("failed", 1) and error
    # the claim was given back in time: the retry is processed, not a "duplicate"
    received(post(fresh, body, sig), outcome="paid", email_sent=True, email_error=None)
    assert order_status(fresh, oid) == "paid"


# --- the admin route: which tenant a Stripe customer is ------------------------------------------

def test_AUTH1_admin_maps_a_customer_to_a_tenant_once(srv):
    cus = uid("cus_")
    r = srv.post(CUSTOMERS, {"stripe_customer_id": cus, "tenant": "Acme.MyShopify.com"},
                 headers=admin_headers())
    assert r.status == 201, r
    assert r.json() == {"stripe_customer_id": cus, "tenant": "acme.myshopify.com"}
    assert srv.sql("billing", "SELECT tenant FROM stripe_customers WHERE stripe_customer_id = ?",
                   (cus,)) == [("acme.myshopify.com",)]
    p = assert_problem(srv.post(CUSTOMERS, {"stripe_customer_id": cus, "tenant": "other"},
                                headers=admin_headers()), 409, "conflict")
    assert "already" in p["detail"]


def test_AUTH1_admin_route_needs_an_admin_token_before_the_body(srv):
    good = {"stripe_customer_id": uid("cus_"), "tenant": "acme"}
    r = srv.post(CUSTOMERS, good)
    assert_problem(r, 401, "auth")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(srv.post(CUSTOMERS, good, headers=user_headers()), 403, "auth")
    assert_problem(srv.post(CUSTOMERS, "{not json", headers={"Content-Type": "text/plain"}), 401)
    assert srv.sql("billing", "SELECT 1 FROM stripe_customers WHERE stripe_customer_id = ?",
                   (good["stripe_customer_id"],)) == []


@pytest.mark.parametrize("body,pointer", [
    ({"stripe_customer_id": "acct_123", "tenant": "acme"}, "/stripe_customer_id"),
    ({"stripe_customer_id": "cus_a b", "tenant": "acme"}, "/stripe_customer_id"),
    ({"stripe_customer_id": "cus_" + "x" * 252, "tenant": "acme"}, "/stripe_customer_id"),
    ({"tenant": "acme"}, "/stripe_customer_id"),
    ({"stripe_customer_id": "cus_1", "tenant": ""}, "/tenant"),
    ({"stripe_customer_id": "cus_1", "tenant": "a" * 65}, "/tenant"),
    ({"stripe_customer_id": "cus_1", "tenant": "ac me"}, "/tenant"),
    ({"stripe_customer_id": "cus_1", "tenant": "acme", "role": "admin"}, "/role"),
])
def test_VAL1_admin_route_refuses_bad_bodies_with_422(srv, body, pointer):
    p = assert_problem(srv.post(CUSTOMERS, body, headers=admin_headers()), 422, "validation")
    assert pointer in [e["pointer"] for e in p["errors"]], p


def test_ERR1_other_methods_are_405(srv):
    r = srv.get(HOOK)
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"
    assert_problem(srv.request("PUT", CUSTOMERS, body={}, headers=admin_headers()), 405)
    assert_problem(srv.request("DELETE", HOOK), 405)
