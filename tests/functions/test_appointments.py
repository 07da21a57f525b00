"""appointments over real HTTP (REL4, AUTH1, CONC5, CONC2, OBS1, VAL1, ERR1).

Each server here is private and trusts the test as its proxy, so every test
picks its own client IP through X-Forwarded-For and the per-IP limit (5 per
minute) never leaks between tests. Tests that make the email provider fail
or hang get a fresh server and a fresh fake, so the email circuit breaker's
state in kv stays theirs too.
"""
import itertools
import json
import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import (FakeEmail, admin_headers, assert_problem, bearer, failing_trigger, mint_jwt,
                      serve_bundle, user_headers)

ADMIN = "front-desk@example.test"
_ips = itertools.count(1)


def serve(email, **env):
    return serve_bundle(email, {"BASTION_VAR_admin_email": ADMIN, **env},
                        trusted_proxies=["127.0.0.1"])


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


def new_ip():
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def xff(ip=None):
    return {"X-Forwarded-For": ip or new_ip()}


def future(days=3, offset="+00:00"):
    t = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + offset


def unique_email(tag="cust"):
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def body(**over):
    b = {"service": "fitting", "preferred_start": future(), "name": "Ada Lovelace",
         "email": unique_email()}
    b.update(over)
    return {k: v for k, v in b.items() if v is not None}


def request(srv, b=None, ip=None, **kw):
    return srv.post("/api/appointments", b if b is not None else body(), headers=xff(ip), **kw)


def cancel(srv, appt_id, headers=None):
    return srv.post(f"/api/admin/appointments/{appt_id}/cancel",
                    headers=admin_headers() if headers is None else headers)


def confirm(srv, appt_id, start=None, headers=None):
    return srv.post(f"/api/admin/appointments/{appt_id}/confirm",
                    {"start": start or future(days=4)},
                    headers=admin_headers() if headers is None else headers)


def utc(rfc3339):
    """The instant as the bundle writes it back: UTC, milliseconds, Z."""
    t = datetime.fromisoformat(rfc3339).astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def created(srv, **over):
    b = body(**over)
    r = request(srv, b)
    assert r.status == 201, r
    return r.json()["id"], b


def row(srv, appt_id):
    rows = srv.sql("appointments", "SELECT service, preferred_start, name, email, phone, notes, "
                   "status, cancelled_by FROM appointments WHERE id = ?", (appt_id,))
    return rows[0] if rows else None


def outbox(srv, kind):
    return srv.sql("appointments", "SELECT recipient, subject, body, error, attempts, status "
                   "FROM email_failures WHERE kind = ?", (kind,))


def outbox_down(srv):
    """Makes every outbox insert fail inside the database, as a full disk or a
    broken table would: the multi-step write must then leave nothing behind."""
    return failing_trigger(srv, "appointments", "email_failures", "INSERT")


def fresh_window(window_s, margin_s=4):
    """Waits out the end of a fixed rate-limit window so a burst lands in one."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.2)


# --- requesting -------------------------------------------------------------

def test_REL4_request_is_stored_and_admin_notified_before_the_response(srv):
    b = body(email="  Grace.Hopper@Example.COM ", phone="+14155552671", notes="Left-handed.",
             preferred_start=future(offset="+02:00"))
    r = request(srv, b)
    assert r.status == 201, r
    out = r.json()
    assert set(out) == {"id", "status", "admin_notified"}
    assert out["status"] == "requested" and out["admin_notified"] is True
    assert uuid.UUID(out["id"]).version == 4
    # awaited: the provider already has it when the client gets the 201
    mails = [m for m in srv.email.sent_to(ADMIN) if out["id"] in m["text"]]
    assert len(mails) == 1
    assert "grace.hopper@example.com" in mails[0]["text"]
    stored = row(srv, out["id"])
    start = datetime.fromisoformat(b["preferred_start"]).timestamp() * 1000
    assert stored == ("fitting", int(start), "Ada Lovelace", "grace.hopper@example.com",
                      "+14155552671", "Left-handed.", "requested", None)
    # sent, so nothing waits in the outbox
    assert not [o for o in outbox(srv, "appointment-requested") if out["id"] in o[2]]


def test_VAL1_each_invalid_field_is_reported(srv):
    cases = [
        ({"service": "massage"}, "/service"),
        ({"service": "Fitting"}, "/service"),
        ({"preferred_start": "2030-01-01 10:00:00Z"}, "/preferred_start"),
        ({"preferred_start": "2030-01-01T10:00:00"}, "/preferred_start"),  # no offset
        ({"preferred_start": "2030-02-30T10:00:00Z"}, "/preferred_start"),
        ({"preferred_start": "2001-01-01T10:00:00Z"}, "/preferred_start"),  # in the past
        ({"preferred_start": future(days=400)}, "/preferred_start"),  # beyond a year
        ({"name": ""}, "/name"),
        ({"name": "x" * 101}, "/name"),
        ({"name": "Ada\u0007"}, "/name"),
        ({"email": "not-an-email"}, "/email"),
        ({"phone": "415-555-2671"}, "/phone"),
        ({"phone": "+0123456789"}, "/phone"),
        ({"notes": "n" * 1001}, "/notes"),
        ({"notes": 5}, "/notes"),
        ({"price": 100}, "/price"),  # unknown fields are rejected
    ]
    for over, pointer in cases:
        r = request(srv, body(**over))
        p = assert_problem(r, 422, "validation")
        assert [e["pointer"] for e in p["errors"]] == [pointer], (over, p)
    r = request(srv, {"extra": True})
    p = assert_problem(r, 422)
    assert {e["pointer"] for e in p["errors"]} == {
        "/service", "/preferred_start", "/name", "/email", "/extra"}
    # the limits themselves are fine
    assert request(srv, body(name="x" * 100, notes="n" * 1000, phone=None)).status == 201


def test_VAL1_malformed_wrong_type_and_too_large_bodies(srv):
    r = srv.post("/api/appointments", '{"service": "fitting",',
                 headers={"Content-Type": "application/json", **xff()})
    assert_problem(r, 400, "validation")
    r = srv.post("/api/appointments", json.dumps(body()),
                 headers={"Content-Type": "text/plain", **xff()})
    assert_problem(r, 415)
    r = request(srv, body(notes="n" * 9000))
    assert_problem(r, 413)


def test_ERR1_wrong_methods_are_405(srv):
    r = srv.get("/api/appointments")
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"
    r = srv.get(f"/api/admin/appointments/{uuid.uuid4()}/cancel", headers=admin_headers())
    assert_problem(r, 405)


# --- rate limits (CONC2) ------------------------------------------------------

def test_CONC2_per_ip_limit_is_5_per_minute_and_counts_first(srv):
    fresh_window(60)
    ip = new_ip()
    statuses = []
    barrier = threading.Barrier(9)

    def go(i):
        barrier.wait()
        # invalid bodies count too: the IP limit runs before the body is read
        b = body() if i % 2 else {"bogus": 1}
        statuses.append(request(srv, b, ip=ip))
    ts = [threading.Thread(target=go, args=(i,)) for i in range(9)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    limited = [r for r in statuses if r.status == 429]
    assert len(limited) == 4, [r.status for r in statuses]
    for r in limited:
        p = assert_problem(r, 429, "transient")
        assert p["retryable"] is True
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-policy"] == '"appointments-ip";q=5;w=60'
        assert r.headers["ratelimit"].startswith('"appointments-ip";r=0;')
    # another client is not affected
    assert request(srv).status == 201


def test_CONC2_per_email_limit_is_3_per_hour_across_ips(srv):
    fresh_window(3600)
    email = unique_email("limited")
    ok = [request(srv, body(email=email)) for _ in range(3)]
    assert [r.status for r in ok] == [201, 201, 201]
    assert '"appointments-email";q=3;w=3600' in ok[0].headers["ratelimit-policy"]
    # the same address in another case, from yet another IP, is the same subject
    r = request(srv, body(email=email.upper()))
    assert_problem(r, 429, "transient")
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    assert r.headers["ratelimit-policy"] == '"appointments-email";q=3;w=3600'
    n = srv.sql("appointments", "SELECT COUNT(*) FROM appointments WHERE email = ?", (email,))
    assert n == [(3,)]


# --- cancelling -------------------------------------------------------------

def test_REL4_cancel_emails_the_customer_and_reports_it(srv):
    appt_id, b = created(srv)
    r = cancel(srv, appt_id)
    assert r.status == 200, r
    assert r.json() == {"status": "cancelled", "start": utc(b["preferred_start"]),
                        "email_sent": True, "email_error": None}
    mails = srv.email.sent_to(b["email"])
    assert len(mails) == 1 and appt_id in mails[0]["text"]
    assert row(srv, appt_id)[6:] == ("cancelled", "admin-1")
    assert not [o for o in outbox(srv, "appointment-cancelled") if appt_id in o[2]]


def test_CONC5_cancel_twice_is_409(srv):
    appt_id, b = created(srv)
    assert cancel(srv, appt_id).status == 200
    r = cancel(srv, appt_id)
    assert_problem(r, 409, "conflict")
    assert len(srv.email.sent_to(b["email"])) == 1


def test_CONC5_concurrent_cancels_one_wins(srv):
    appt_id, b = created(srv)
    out = []
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        out.append(cancel(srv, appt_id))
    ts = [threading.Thread(target=go) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(r.status for r in out) == [200] + [409] * 7
    assert len(srv.email.sent_to(b["email"])) == 1


def test_cancel_unknown_id_is_404(srv):
    assert_problem(cancel(srv, uuid.uuid4()), 404)
    assert_problem(cancel(srv, "not-a-uuid"), 404)


def test_AUTH1_cancel_needs_an_admin_token_before_the_body(srv):
    appt_id, _ = created(srv)
    path = f"/api/admin/appointments/{appt_id}/cancel"
    garbage = {"Content-Type": "application/json"}
    now = int(time.time())
    cases = [
        ({}, 401),
        (user_headers(), 403),
        (bearer(mint_jwt(role="admin", iat=now - 600, exp=now - 300)), 401),
        (bearer(mint_jwt(role="admin", secret="another-secret-0123456789abcdef0123456789")), 401),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401),
    ]
    for headers, status in cases:
        # a malformed body never gets a 400: the token is checked before it
        r = srv.post(path, "{not json", headers={**garbage, **headers})
        assert_problem(r, status, "auth")
    assert row(srv, appt_id)[6] == "requested"
    assert cancel(srv, appt_id).status == 200


# --- confirming ---------------------------------------------------------------

def confirmed_row(srv, appt_id):
    return srv.sql("appointments", "SELECT status, confirmed_start, confirmed_by FROM "
                   "appointments WHERE id = ?", (appt_id,))[0]


def test_REL4_confirm_sets_the_start_and_emails_the_customer(srv):
    appt_id, b = created(srv)
    start = future(days=5, offset="+02:00")
    r = confirm(srv, appt_id, start)
    assert r.status == 200, r
    assert r.json() == {"status": "confirmed", "start": utc(start), "email_sent": True,
                        "email_error": None}
    status, at, by = confirmed_row(srv, appt_id)
    expect_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
    assert (status, at, by) == ("confirmed", expect_ms, "admin-1")
    [m] = srv.email.sent_to(b["email"])
    assert m["subject"] == "Your appointment is confirmed"
    assert appt_id in m["text"] and utc(start) in m["text"] and "fitting" in m["text"]
    # a confirmed appointment may still be cancelled, and its email names the confirmed time
    r = cancel(srv, appt_id)
    assert r.status == 200 and r.json()["start"] == utc(start), r
    assert confirmed_row(srv, appt_id) == ("cancelled", expect_ms, "admin-1")


def test_CONC5_confirm_is_guarded_requested_to_confirmed(srv):
    appt_id, b = created(srv)
    assert confirm(srv, appt_id).status == 200
    assert_problem(confirm(srv, appt_id), 409, "conflict")
    other, b2 = created(srv)
    assert cancel(srv, other).status == 200
    assert_problem(confirm(srv, other), 409, "conflict")
    assert confirmed_row(srv, other)[:2] == ("cancelled", None)
    assert len(srv.email.sent_to(b["email"])) == 1
    assert len(srv.email.sent_to(b2["email"])) == 1  # the cancellation only


def test_CONC5_concurrent_confirms_one_wins(srv):
    appt_id, b = created(srv)
    out = []
    barrier = threading.Barrier(8)

    def go(i):
        barrier.wait()
        out.append(confirm(srv, appt_id, future(days=4 + i)))
    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(r.status for r in out) == [200] + [409] * 7
    [winner] = [r for r in out if r.status == 200]
    expect_ms = int(datetime.fromisoformat(winner.json()["start"].replace("Z", "+00:00"))
                    .timestamp() * 1000)
    assert confirmed_row(srv, appt_id)[1] == expect_ms
    assert len(srv.email.sent_to(b["email"])) == 1


def test_VAL1_confirm_start_must_be_a_future_rfc3339_time(srv):
    appt_id, _ = created(srv)
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for bad in ({}, {"start": "tomorrow"}, {"start": 1767225600000}, {"start": past},
                {"start": future(days=400)}, {"start": future(), "extra": 1}):
        r = srv.post(f"/api/admin/appointments/{appt_id}/confirm", bad, headers=admin_headers())
        assert_problem(r, 422)
        p = r.json()
        assert p["errors"] and p["errors"][0]["pointer"] in ("/start", "/extra", ""), p
    r = srv.post(f"/api/admin/appointments/{appt_id}/confirm", "{not json",
                 headers={"Content-Type": "application/json", **admin_headers()})
    assert_problem(r, 400)
    assert confirmed_row(srv, appt_id) == ("requested", None, None)


def test_AUTH1_confirm_needs_an_admin_token_and_a_real_id(srv):
    appt_id, _ = created(srv)
    assert_problem(confirm(srv, appt_id, headers={}), 401, "auth")
    assert_problem(confirm(srv, appt_id, headers=user_headers()), 403, "auth")
    assert_problem(confirm(srv, uuid.uuid4()), 404)
    assert_problem(confirm(srv, "not-a-uuid"), 404)
    assert confirmed_row(srv, appt_id) == ("requested", None, None)


# --- atomicity (CONC5) --------------------------------------------------------

def test_CONC5_cancel_rolls_back_when_the_outbox_write_fails(srv):
    appt_id, b = created(srv)
    with outbox_down(srv):
        r = cancel(srv, appt_id)
        p = assert_problem(r, 500)
        assert "trigger" not in json.dumps(p)  # ERR1: no SQL error text
    # the status change did not commit without its email, and nothing was sent
    assert row(srv, appt_id)[6:] == ("requested", None)
    assert srv.email.sent_to(b["email"]) == []
    assert cancel(srv, appt_id).status == 200


def test_CONC5_request_rolls_back_when_the_outbox_write_fails(srv):
    email = unique_email("rollback")
    with outbox_down(srv):
        assert_problem(request(srv, body(email=email)), 500)
    assert srv.sql("appointments", "SELECT COUNT(*) FROM appointments WHERE email = ?",
                   (email,)) == [(0,)]
    assert not [m for m in srv.email.sent_to(ADMIN) if email in m["text"]]


# --- the email provider down or hanging (REL4) -------------------------------

def test_REL4_provider_down_request_and_cancel_succeed_with_outbox(fresh):
    fresh.email.mode = "fail"
    b = body()
    t0 = time.time()
    r = request(fresh, b)
    assert time.time() - t0 < 10
    assert r.status == 201, r
    assert r.json()["admin_notified"] is False
    appt_id = r.json()["id"]
    assert row(fresh, appt_id)[6] == "requested"
    [queued] = outbox(fresh, "appointment-requested")
    assert queued[0] == ADMIN and appt_id in queued[2]
    assert queued[3:] == ("email provider answered 500", 1, "pending")

    t0 = time.time()
    r = cancel(fresh, appt_id)
    assert time.time() - t0 < 10
    assert r.status == 200, r
    assert r.json() == {"status": "cancelled", "start": utc(b["preferred_start"]),
                        "email_sent": False, "email_error": "email provider answered 500"}
    assert row(fresh, appt_id)[6] == "cancelled"
    [queued] = outbox(fresh, "appointment-cancelled")
    assert queued[0] == b["email"] and appt_id in queued[2]
    assert queued[3:] == ("email provider answered 500", 1, "pending")


def test_REL4_provider_hanging_still_answers_within_the_deadline(fresh):
    fresh.email.mode = "hang"
    b = body()
    t0 = time.time()
    r = request(fresh, b)
    assert time.time() - t0 < 10
    assert r.status == 201, r
    assert r.json()["admin_notified"] is False
    appt_id = r.json()["id"]
    t0 = time.time()
    r = cancel(fresh, appt_id)
    assert time.time() - t0 < 10
    assert r.status == 200, r
    out = r.json()
    assert out["email_sent"] is False and out["email_error"] == "email provider timed out"
    kinds = fresh.sql("appointments", "SELECT kind, recipient, error FROM email_failures "
                      "ORDER BY id")
    assert kinds == [("appointment-requested", ADMIN, "email provider timed out"),
                     ("appointment-cancelled", b["email"], "email provider timed out")]


# --- logs (OBS1) ----------------------------------------------------------------

def test_OBS1_logs_carry_the_request_id_and_mask_addresses(srv):
    email = "obs.person." + uuid.uuid4().hex[:6] + "@example.com"
    b = body(email=email, phone="+14155550123", name="Zebulon Quartermaine")
    r = request(srv, b)
    assert r.status == 201, r
    rid = r.headers["x-request-id"]
    token_headers = admin_headers()
    assert cancel(srv, r.json()["id"], headers=token_headers).status == 200
    logs = srv.logs()
    assert email not in logs
    assert "+14155550123" not in logs
    assert "Zebulon" not in logs
    assert token_headers["Authorization"].split()[1] not in logs
    assert ADMIN not in logs
    mine = [ln for ln in srv.log_lines() if ln.get("request_id") == rid]
    assert any(ln.get("msg") == "appointment requested" or "appointment requested" in
               json.dumps(ln) for ln in mine), mine
    assert "o***@example.com" in json.dumps(mine)


def test_CONC5_constraint_failure_on_the_guarded_cancel_is_500_not_409(srv):
    appt_id, b = created(srv)
    with failing_trigger(srv, "appointments", "appointments", "UPDATE"):
        assert_problem(cancel(srv, appt_id), 500, "internal")
    assert row(srv, appt_id)[6] != "cancelled"
    assert cancel(srv, appt_id).status == 200
    assert_problem(cancel(srv, appt_id), 409, "conflict")  # the guard, for contrast
