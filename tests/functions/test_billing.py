"""billing over real HTTP (REL2, REL3, AUTH4, AUTH5, AUTH1, CONC2, VAL1, REL8, ERR1).

The payment API is a fake on loopback (conftest's FakePayments: it records every request and
answers like Stripe's POST /v1/subscriptions/{id}, or refuses, fails or hangs, as a test
says). Subscriptions are rows in billing.subscriptions as stripe-webhook writes them,
inserted directly. Plan usage is counted by the function that counts (assessments, kv
store "assessments"); until that function exists, the tests write its counter where
plans.c keeps it, so they prove billing reads the counting function's store.

Tests that make the provider fail or hang, or change a variable, get a fresh server, so
the payments breaker and the write limit stay theirs.
"""
import json
import os
import re
import sqlite3
import threading
import time
import uuid

import pytest

from conftest import (BUILD, SQLITE, TEST_VARS, FakePayments, Server, assert_problem, bearer, migrate, mint_jwt,
                      redis_command)

KEY = TEST_VARS["BASTION_VAR_payments_api_key"]
PRICES = "price_pro=pro, price_team=team"
PERIOD_END_MS = 4102444800123  # 2100-01-01T00:00:00.123Z
PERIOD_END = "2100-01-01T00:00:00.123Z"
DEADLINE_S = 10  # manifest.toml: [functions.billing] timeout_ms = 10000
SUB, CANCEL, VERIFY = "/api/billing/subscription", "/api/billing/cancel", "/api/billing/verify"


# --- servers -----------------------------------------------------------------------------------

def serve(payments, env=None):
    manifest = os.path.join(BUILD, "manifest.json")
    srv = Server(manifest, env={"BASTION_VAR_payments_api_base": payments.base,
                                "BASTION_VAR_billing_plan_prices": PRICES, **(env or {})})
    srv.payments = payments
    migrate(manifest, srv.state)
    return srv.start()


@pytest.fixture(scope="module")
def payments():
    fake = FakePayments()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def srv(payments):
    s = serve(payments)
    yield s
    assert s.stop() == 0


@pytest.fixture
def fresh():
    """A server of its own, with its own fake provider: fresh(env) starts it."""
    made = []

    def start(env=None):
        fake = FakePayments()
        s = serve(fake, env)
        made.append((s, fake))
        return s
    yield start
    for s, fake in made:
        assert s.stop() == 0
        fake.close()


# --- data and tokens ---------------------------------------------------------------------------

def tenant():
    return "t-" + uuid.uuid4().hex[:10]


def subscribe(srv, tenant, status="active", price="price_pro", cancel=0, age_s=0):
    """A subscription as stripe-webhook stores it (its customer mapped first), its last
    event age_s seconds old; its id."""
    now = int(time.time() * 1000) - age_s * 1000
    cus, sub = "cus_" + uuid.uuid4().hex[:14], "sub_" + uuid.uuid4().hex[:14]
    srv.sql("billing", "INSERT INTO stripe_customers (stripe_customer_id, tenant, created_at) "
            "VALUES (?, ?, ?)", (cus, tenant, now))
    srv.sql("billing", "INSERT INTO subscriptions (stripe_subscription_id, tenant, "
            "stripe_customer_id, status, price_id, current_period_end, cancel_at_period_end, "
            "event_created, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sub, tenant, cus, status, price, PERIOD_END_MS, cancel, now // 1000, now))
    return sub


def row(srv, sub):
    rows = srv.sql("billing", "SELECT status, cancel_at_period_end FROM subscriptions "
                   "WHERE stripe_subscription_id = ?", (sub,))
    return tuple(rows[0])


def seed_usage(srv, tenant, period_end_ms, n, feature="assessments", store="assessments"):
    """The counting function's counter, where plans.c keeps it: kv store `store`, key
    usage:<feature>:<period end ms>:<tenant>, decimal text."""
    key = f"usage:{feature}:{period_end_ms}:{tenant}"
    if srv.backend == SQLITE:
        conn = sqlite3.connect(os.path.join(srv.state, "kv.sqlite"), timeout=10,
                               isolation_level=None)
        try:
            conn.execute("INSERT INTO kv (store, key, value, expires_at) VALUES (?, ?, ?, 0)",
                         (store, key.encode(), str(n).encode()))
        finally:
            conn.close()
        return
    with open(srv.runtime_config) as f:
        prefix = re.search(r'key_prefix = "([^"]+)"', f.read()).group(1)
    redis_command("SET", f"{prefix}{store}:{key}", str(n))


def user(tenant, role="user", **kw):
    return bearer(mint_jwt(role=role, sub="u-" + uuid.uuid4().hex[:8], tenant=tenant, **kw))


def admin(tenant):
    return user(tenant, role="admin")


def with_csrf(srv, headers):
    r = srv.get("/api/auth/csrf", headers=headers)
    assert r.status == 200, r
    return dict(headers, **{"X-CSRF-Token": r.json()["csrf_token"]})


def cancel(srv, headers):
    return srv.post(CANCEL, headers=headers)


def verify(srv, headers, feature):
    return srv.post(VERIFY, {"feature": feature}, headers=headers)


# --- GET /api/billing/subscription --------------------------------------------------------------

def test_AUTH5_no_subscription_reads_none_and_free(srv):
    r = srv.get(SUB, headers=user(tenant()))
    assert r.status == 200, r
    assert r.json() == {"status": "none", "plan": "free", "current_period_end": None,
                        "cancel_at_period_end": False,
                        "usage": {"assessments_used": 0, "assessments_limit": 5}}
    assert r.headers["cache-control"] == "private, no-store"


def test_AUTH5_the_tenants_subscription_and_plan(srv):
    t = tenant()
    subscribe(srv, t, price="price_pro", cancel=1)
    r = srv.get(SUB, headers=user(t))
    assert r.status == 200, r
    assert r.json() == {"status": "active", "plan": "pro", "current_period_end": PERIOD_END,
                        "cancel_at_period_end": True,
                        "usage": {"assessments_used": 0, "assessments_limit": 100}}


@pytest.mark.parametrize("status,price,plan", [
    ("active", "price_team", "team"),
    ("trialing", "price_pro", "pro"),
    ("past_due", "price_team", "team"),
    ("active", "price_unmapped", "free"),
    ("canceled", "price_team", "free"),
    ("unpaid", "price_pro", "free"),
])
def test_REL8_billing_plan_prices_maps_prices_to_plans(srv, status, price, plan):
    t = tenant()
    subscribe(srv, t, status=status, price=price)
    r = srv.get(SUB, headers=user(t))
    assert r.status == 200, r
    body = r.json()
    assert (body["status"], body["plan"]) == (status, plan)
    assert body["current_period_end"] == PERIOD_END  # the subscription's, paying or not
    assert body["usage"]["assessments_limit"] == {"free": 5, "pro": 100, "team": 1000}[plan]


def test_AUTH5_a_paying_subscription_wins_over_a_newer_ended_one(srv, payments):
    """A tenant moved to a new subscription; the old one's deletion event came later."""
    t = tenant()
    new = subscribe(srv, t, status="active", price="price_team", age_s=60)
    old = subscribe(srv, t, status="canceled", price="price_pro", age_s=0)
    assert srv.get(SUB, headers=user(t)).json()["plan"] == "team"
    assert cancel(srv, with_csrf(srv, admin(t))).status == 200
    assert payments.calls()[-1]["path"] == f"/v1/subscriptions/{new}"
    assert (row(srv, new), row(srv, old)) == (("active", 1), ("canceled", 0))


def test_REL8_a_price_map_naming_no_plan_is_500(fresh):
    s = fresh({"BASTION_VAR_billing_plan_prices": "price_pro=pro, price_x=platinum"})
    t = tenant()
    subscribe(s, t, price="price_pro")  # its own member is fine: the map is wrong as a whole
    for headers in (user(t), user(tenant())):
        p = assert_problem(s.get(SUB, headers=headers), 500, "internal")
        assert "billing_plan_prices" in p["detail"] and "platinum" not in p["detail"]
    assert_problem(verify(s, user(t), "assessments"), 500)


def test_AUTH5_usage_is_the_tenants_counter_in_the_counting_functions_store(srv):
    t, other = tenant(), tenant()
    subscribe(srv, t, price="price_pro")
    subscribe(srv, other, price="price_pro")
    seed_usage(srv, t, PERIOD_END_MS, 7)
    seed_usage(srv, t, PERIOD_END_MS, 99, store="billing")  # not where assessments counts
    assert srv.get(SUB, headers=user(t)).json()["usage"] == {"assessments_used": 7,
                                                             "assessments_limit": 100}
    assert srv.get(SUB, headers=user(other)).json()["usage"]["assessments_used"] == 0


# --- POST /api/billing/verify ----------------------------------------------------------------------

def test_AUTH5_verify_reports_each_feature_of_the_plan(srv):
    free, pro = tenant(), tenant()
    subscribe(srv, pro, price="price_pro")
    cases = [(free, "assessments", True, 5), (free, "ai_matching", False, 0),
             (pro, "assessments", True, 100), (pro, "ai_matching", True, 50)]
    for t, feature, allowed, limit in cases:
        r = verify(srv, user(t), feature)
        assert r.status == 200, r
        assert r.json() == {"feature": feature, "allowed": allowed, "used": 0, "limit": limit}


def test_AUTH5_verify_at_the_limit_is_not_allowed_and_counts_nothing(srv):
    t = tenant()
    subscribe(srv, t, price="price_pro")
    seed_usage(srv, t, PERIOD_END_MS, 100)
    seed_usage(srv, t, PERIOD_END_MS, 49, feature="ai_matching", store="jobs")
    for _ in range(3):  # reading only: the counts stay where they are
        assert verify(srv, user(t), "assessments").json() == {
            "feature": "assessments", "allowed": False, "used": 100, "limit": 100}
        assert verify(srv, user(t), "ai_matching").json() == {
            "feature": "ai_matching", "allowed": True, "used": 49, "limit": 50}


@pytest.mark.parametrize("body", [{}, {"feature": "bogus"}, {"feature": ""}, {"feature": 3},
                                  {"feature": "Assessments"}])
def test_VAL1_verify_missing_or_unknown_feature_is_422(srv, body):
    p = assert_problem(srv.post(VERIFY, body, headers=user(tenant())), 422, "validation")
    assert [e["pointer"] for e in p["errors"]] == ["/feature"], p


def test_VAL1_verify_refuses_unknown_members_and_bad_bodies(srv):
    h = user(tenant())
    p = assert_problem(srv.post(VERIFY, {"feature": "assessments", "tenant": "other"}, headers=h),
                       422)
    assert [e["pointer"] for e in p["errors"]] == ["/tenant"]
    assert_problem(srv.post(VERIFY, "{", headers=dict(h, **{"Content-Type": "application/json"})),
                   400)
    assert_problem(srv.post(VERIFY, "feature=x", headers=dict(h, **{
        "Content-Type": "application/x-www-form-urlencoded"})), 415)


# --- POST /api/billing/cancel ----------------------------------------------------------------------

def test_AUTH4_cancel_asks_the_provider_then_marks_the_row(srv, payments):
    t = tenant()
    sub = subscribe(srv, t)
    before = len(payments.calls())
    r = cancel(srv, with_csrf(srv, admin(t)))
    assert r.status == 200, r
    assert r.json() == {"status": "active", "cancel_at_period_end": True}
    calls = payments.calls()[before:]
    assert len(calls) == 1
    assert calls[0]["path"] == f"/v1/subscriptions/{sub}"
    assert calls[0]["body"] == "cancel_at_period_end=true"
    assert calls[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert calls[0]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert row(srv, sub) == ("active", 1)
    assert srv.get(SUB, headers=user(t)).json()["cancel_at_period_end"] is True


def test_AUTH4_cancel_without_a_csrf_token_is_403(srv, payments):
    t = tenant()
    sub = subscribe(srv, t)
    before = len(payments.calls())
    for h in (admin(t), dict(admin(t), **{"X-CSRF-Token": "not-a-token"})):
        assert_problem(cancel(srv, h), 403, "auth")
    assert len(payments.calls()) == before
    assert row(srv, sub) == ("active", 0)


def test_AUTH4_a_csrf_token_is_used_once_and_only_by_its_session(srv, payments):
    t = tenant()
    sub = subscribe(srv, t)
    h = with_csrf(srv, admin(t))
    assert cancel(srv, h).status == 200
    before = len(payments.calls())
    assert_problem(cancel(srv, h), 403, "auth")  # reused
    other = with_csrf(srv, admin(t))  # another session's token with this bearer
    assert_problem(cancel(srv, dict(h, **{"X-CSRF-Token": other["X-CSRF-Token"]})), 403)
    assert len(payments.calls()) == before
    assert row(srv, sub) == ("active", 1)


def test_AUTH1_cancel_needs_the_tenants_admin(srv, payments):
    t = tenant()
    sub = subscribe(srv, t)
    before = len(payments.calls())
    assert_problem(cancel(srv, with_csrf(srv, user(t, role="user"))), 403, "auth")
    assert_problem(cancel(srv, {}), 401, "auth")
    assert len(payments.calls()) == before
    assert row(srv, sub) == ("active", 0)


def test_REL3_provider_refusing_is_502_not_retryable_and_the_row_unchanged(fresh):
    s = fresh()
    t = tenant()
    sub = subscribe(s, t)
    s.payments.mode = "refuse"
    p = assert_problem(cancel(s, with_csrf(s, admin(t))), 502, "conflict")
    assert p["retryable"] is False
    assert p["type"].endswith("/upstream-refused")
    assert len(s.payments.calls()) == 1
    assert row(s, sub) == ("active", 0)


def test_REL3_provider_failing_is_502_retryable_and_the_row_unchanged(fresh):
    s = fresh()
    t = tenant()
    sub = subscribe(s, t)
    s.payments.mode = "fail"
    p = assert_problem(cancel(s, with_csrf(s, admin(t))), 502, "infrastructure")
    assert p["retryable"] is True
    assert "api_error" not in json.dumps(p)  # the provider's words stay in the log
    assert row(s, sub) == ("active", 0)


def test_REL1_an_answer_that_does_not_confirm_changes_nothing(fresh):
    s = fresh()
    t = tenant()
    sub = subscribe(s, t)
    s.payments.mode = "unconfirmed"
    p = assert_problem(cancel(s, with_csrf(s, admin(t))), 502)
    assert p["retryable"] is True
    assert row(s, sub) == ("active", 0)


def test_REL2_provider_hanging_is_504_within_the_deadline(fresh):
    s = fresh()
    t = tenant()
    sub = subscribe(s, t)
    s.payments.mode = "hang"
    h = with_csrf(s, admin(t))
    start = time.monotonic()
    r = cancel(s, h)
    took = time.monotonic() - start
    p = assert_problem(r, 504, "transient")
    assert p["retryable"] is True
    assert took < DEADLINE_S + 0.5, took
    assert took > 7, took  # the 8 s external budget ran out, not something else
    assert len(s.payments.calls()) == 1
    assert row(s, sub) == ("active", 0)


def test_REL3_five_failures_open_the_breaker_then_503_fast_without_a_call(fresh):
    s = fresh()
    t = tenant()
    sub = subscribe(s, t)
    s.payments.mode = "fail"
    for _ in range(5):
        assert_problem(cancel(s, with_csrf(s, admin(t))), 502)
    assert len(s.payments.calls()) == 5
    s.payments.mode = "accept"  # healthy again, but the breaker does not know yet
    h = with_csrf(s, admin(t))
    start = time.monotonic()
    r = cancel(s, h)
    took = time.monotonic() - start
    assert_problem(r, 503, "infrastructure")
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert took < 1, took
    assert len(s.payments.calls()) == 5
    assert row(s, sub) == ("active", 0)
    # reads do not depend on the provider
    assert s.get(SUB, headers=user(t)).status == 200


def test_REL3_refusals_never_open_the_breaker(fresh):
    s = fresh()
    t = tenant()
    subscribe(s, t)
    s.payments.mode = "refuse"
    for _ in range(6):
        assert_problem(cancel(s, with_csrf(s, admin(t))), 502)
    s.payments.mode = "accept"
    assert cancel(s, with_csrf(s, admin(t))).status == 200
    assert len(s.payments.calls()) == 7


def test_AUTH5_tenants_see_and_cancel_only_their_own(srv, payments):
    a, b = tenant(), tenant()
    sub_a = subscribe(srv, a, price="price_team")
    before = len(payments.calls())
    # b has none: reads none, cancels 404, and a's row is untouched
    assert srv.get(SUB, headers=user(b)).json()["status"] == "none"
    assert_problem(cancel(srv, with_csrf(srv, admin(b))), 404)
    assert len(payments.calls()) == before
    assert row(srv, sub_a) == ("active", 0)
    # b with one of its own cancels that one only
    sub_b = subscribe(srv, b, price="price_pro")
    assert cancel(srv, with_csrf(srv, admin(b))).status == 200
    assert payments.calls()[-1]["path"] == f"/v1/subscriptions/{sub_b}"
    assert (row(srv, sub_a), row(srv, sub_b)) == (("active", 0), ("active", 1))
    assert srv.get(SUB, headers=user(a)).json()["plan"] == "team"


def test_AUTH5_a_token_without_a_tenant_is_403(srv):
    h = bearer(mint_jwt(role="admin", sub="admin-1"))
    assert_problem(srv.get(SUB, headers=h), 403, "auth")
    assert_problem(verify(srv, h, "assessments"), 403, "auth")
    assert_problem(cancel(srv, with_csrf(srv, h)), 403, "auth")
    assert_problem(srv.get(SUB, headers=bearer(mint_jwt(tenant=""))), 403)
    assert_problem(srv.get(SUB), 401, "auth")


def test_ERR1_cancelling_an_ended_subscription_is_409(srv, payments):
    t = tenant()
    sub = subscribe(srv, t, status="canceled")
    before = len(payments.calls())
    assert_problem(cancel(srv, with_csrf(srv, admin(t))), 409, "conflict")
    assert len(payments.calls()) == before
    assert row(srv, sub) == ("canceled", 0)


def test_CONC2_cancel_counts_against_the_tenants_write_limit(fresh):
    s = fresh({"BASTION_VAR_tenant_writes_per_minute": "2"})
    t, other = tenant(), tenant()
    subscribe(s, t)
    subscribe(s, other)
    for _ in range(2):
        r = cancel(s, with_csrf(s, admin(t)))
        assert r.status == 200, r
        assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers
    r = cancel(s, with_csrf(s, admin(t)))
    assert_problem(r, 429, "transient")
    assert len(s.payments.calls()) == 2
    assert cancel(s, with_csrf(s, admin(other))).status == 200  # per tenant


def test_ERR1_other_methods_are_405(srv):
    h = user(tenant())
    for method, path in (("POST", SUB), ("GET", CANCEL), ("GET", VERIFY)):
        r = srv.request(method, path, headers=h)
        assert_problem(r, 405)
