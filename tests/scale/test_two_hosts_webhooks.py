"""Two hosts, one Redis + PostgreSQL: webhooks act exactly once (HOOK3).

Stripe and Shopify deliver the same event to whichever host their load
balancer picks, at the same moment. The claim lives in the shared kv store
and the ledger in the shared database, so across both hosts exactly one
delivery processes the event and every other one answers 200 duplicate.
Signatures come from Stripe's own npm library and independent HMACs, as in
tests/functions; the pair and the burst helper are test_two_hosts.py's.
"""
import json
import os
import sys
import time
import uuid

import pytest

from conftest import ROOT, admin_headers

sys.path.insert(0, os.path.join(ROOT, "tests", "functions"))  # the signers and event builders
from test_shopify_webhook import HOOK as SHOPIFY_HOOK, customer, new_shop
from test_shopify_webhook import sign as shopify_sign
from test_stripe_webhook import HOOK as STRIPE_HOOK, SECRET, checkout, event, sign, uid
from test_two_hosts import Pair, burst  # noqa: E402


@pytest.fixture(scope="module")
def pair(email):
    p = Pair(email)
    p.start()
    yield p
    rcs = p.stop()
    assert rcs == [0, 0], rcs


def test_HOOK3_two_hosts_100_concurrent_stripe_deliveries_pay_the_order_once(pair):
    oid, now = uid("ord_"), int(time.time() * 1000)
    pair.sql("INSERT INTO orders.orders (id, user_id, status, total_cents, currency, created_at, "
             f"updated_at) VALUES ('{oid}', 'user-1', 'pending', 4500, 'EUR', {now}, {now})")
    buyer = uid("buyer") + "@example.test"
    body = json.dumps(event("checkout.session.completed", checkout(oid, email=buyer)),
                      separators=(",", ":"))
    [sig] = sign((body, SECRET, int(time.time())))
    headers = {"Content-Type": "application/json", "Stripe-Signature": sig}
    rs = burst(pair.hosts, [("POST", STRIPE_HOOK, body, headers)] * 100)
    assert all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:3]
    outcomes = sorted(json.dumps(r.json(), sort_keys=True) for r in rs)
    assert sum('"duplicate": true' in o for o in outcomes) == 99, outcomes[:3]
    assert pair.sql(f"SELECT status FROM orders.orders WHERE id = '{oid}'") == [["paid"]]
    assert pair.sql(f"SELECT COUNT(*) FROM orders.order_payments WHERE order_id = '{oid}'") == \
        [["1"]]
    assert len(pair.email.sent_to(buyer)) == 1


def test_HOOK3_two_hosts_50_concurrent_shopify_deliveries_write_one_contact(pair):
    shop = new_shop()
    r = pair.hosts[0].post("/api/admin/tenants", {"shop_domain": shop}, headers=admin_headers())
    assert r.status == 201, r
    raw = json.dumps(customer(phone="+14155550123")).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "customers/create",
               "X-Shopify-Hmac-Sha256": shopify_sign(raw), "X-Shopify-Shop-Domain": shop,
               "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    rs = burst(pair.hosts, [("POST", SHOPIFY_HOOK, raw, headers)] * 50)
    assert all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:3]
    assert sum(r.json().get("duplicate") is True for r in rs) == 49
    assert pair.sql(f"SELECT COUNT(*) FROM shop.contacts WHERE tenant = '{shop}'") == [["1"]]
    assert pair.sql("SELECT attempts, status FROM shop.webhook_events WHERE provider = 'shopify' "
                    f"AND id LIKE '{shop}/%'") == [["1", "processed"]]
