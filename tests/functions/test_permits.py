"""permits over real HTTP (AUTH6, AUTH7, REL4, CONC5, OBS1, VAL1, ERR1).

Approval tokens are minted here too, from token.h's format and the test
value of permit_token_secret, to reach states a live link cannot (expired,
another purpose, another key):

    BASE64URL(0x01 ‖ expiry u64 BE ‖ nonce[16] ‖ resource ‖ HMAC-SHA256(key, all before))
    key = HMAC(HMAC("bastion/token/v1", master), "bastion/token/v1/" ‖ purpose ‖ 0x01)

Tests that make the email provider fail or hang get a fresh server and a
fresh fake, so the email circuit breaker's state in kv stays theirs.
"""
import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from conftest import TEST_VARS, FakeEmail, assert_problem, b64url, failing_trigger, serve_bundle

ADMIN = "parking-office@example.test"
BASE = "https://permits.example.test"
TRUSTED = "park.example.com"
PERMIT_SECRET = TEST_VARS["BASTION_VAR_permit_token_secret"]
LINK = re.compile(r"(\S+)/api/permits/approve\?token=([A-Za-z0-9_-]+)")


def serve(email, **env):
    return serve_bundle(email, {"BASTION_VAR_admin_email": ADMIN,
                                "BASTION_VAR_base_url": BASE + "/",
                                "BASTION_VAR_forwarded_hosts": f" {TRUSTED} ,Other.Example.org",
                                **env})


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


# --- tokens, as token.c makes them -----------------------------------------

def token_key(purpose="permit-approve", master=PERMIT_SECRET):
    prk = hmac.new(b"bastion/token/v1", master.encode(), hashlib.sha256).digest()
    return hmac.new(prk, b"bastion/token/v1/" + purpose.encode() + b"\x01",
                    hashlib.sha256).digest()


def mint(resource, expires_s, purpose="permit-approve", master=PERMIT_SECRET):
    raw = b"\x01" + expires_s.to_bytes(8, "big") + os.urandom(16) + resource.encode()
    return b64url(raw + hmac.new(token_key(purpose, master), raw, hashlib.sha256).digest())


def decode(token):
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return {"version": raw[0], "expires_s": int.from_bytes(raw[1:9], "big"),
            "resource": raw[25:-32].decode()}


# --- helpers ------------------------------------------------------------------

def unique_email(tag="guest"):
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def body(**over):
    b = {"booking_id": "bk-" + uuid.uuid4().hex[:8], "plate": "AB-123-CD", "name": "Ada Lovelace",
         "email": unique_email()}
    b.update(over)
    return {k: v for k, v in b.items() if v is not None}


def request(srv, b=None, headers=None):
    return srv.post("/api/permits", b if b is not None else body(), headers=headers)


def link_for(srv, permit_id):
    """(origin, token) from the admin's email about this permit."""
    mails = [m for m in srv.email.sent_to(ADMIN) if permit_id in m["text"]]
    assert len(mails) == 1, mails
    m = LINK.search(mails[0]["text"])
    return m.group(1), m.group(2)


def created(srv, headers=None, **over):
    b = body(**over)
    r = request(srv, b, headers)
    assert r.status == 201, r
    return r.json()["id"], b


def view(srv, token):
    """What the admin's link shows: GET, no state change (mail scanners fetch it)."""
    return srv.get("/api/permits/approve?token=" + token)


def approve(srv, token):
    """The admin's decision: the link's token, POSTed."""
    return srv.post("/api/permits/approve", {"token": token})


def status(srv, permit_id):
    return srv.sql("permits", "SELECT status FROM permits WHERE id = ?", (permit_id,))[0][0]


def flip(token, i=None):
    i = len(token) // 2 if i is None else i
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


# --- the happy path and its one-time link (AUTH6, REL4) ----------------------

def test_AUTH6_request_emails_a_signed_link_and_approval_notifies_the_guest(srv):
    b = body(plate="ab 123 cd", email="  Guest.Person@Example.COM ")
    r = request(srv, b)
    assert r.status == 201, r
    out = r.json()
    assert out["status"] == "pending" and out["admin_notified"] is True
    permit_id = out["id"]
    assert uuid.UUID(permit_id).version == 4
    assert srv.sql("permits", "SELECT booking_id, plate, email, status FROM permits WHERE id = ?",
                   (permit_id,)) == [(b["booking_id"], "AB 123 CD", "guest.person@example.com",
                                      "pending")]
    origin, token = link_for(srv, permit_id)
    assert origin == BASE
    # the link holds a signed token and nothing else: no API key, no secret
    mail = [m for m in srv.email.sent_to(ADMIN) if permit_id in m["text"]][0]
    url = LINK.search(mail["text"]).group(0)
    assert urlsplit(url).query == "token=" + token
    for secret in TEST_VARS.values():
        assert secret not in mail["text"]
    claims = decode(token)
    assert claims["version"] == 1 and claims["resource"] == permit_id
    assert abs(claims["expires_s"] - (time.time() + 72 * 3600)) < 120

    r = view(srv, token)
    assert r.status == 200, r
    assert status(srv, permit_id) == "pending"
    r = approve(srv, token)
    assert r.status == 200, r
    assert r.json() == {"id": permit_id, "status": "approved", "email_sent": True,
                        "email_error": None}
    assert status(srv, permit_id) == "approved"
    [note] = srv.email.sent_to("guest.person@example.com")
    assert "AB 123 CD" in note["text"] and permit_id in note["text"]
    assert srv.sql("permits", "SELECT COUNT(*) FROM email_failures") == [(0,)]


def test_AUTH6_the_link_shows_what_it_would_approve_and_a_get_changes_nothing(srv):
    """Mail scanners and link previews fetch every URL in a message: the GET
    the email points at shows the permit, twice alike, and approves nothing;
    only the POST with the token does."""
    b = body(plate="ab 123 cd", name="Ada Lovelace")
    permit_id, _ = created(srv, **{k: b[k] for k in ("plate", "name", "booking_id", "email")})
    _, token = link_for(srv, permit_id)
    before = srv.sql("permits", "SELECT * FROM permits WHERE id = ?", (permit_id,))
    outbox = srv.sql("permits", "SELECT COUNT(*) FROM email_failures")
    sent = len(srv.email.sent_to(b["email"]))
    first, second = view(srv, token), view(srv, token)
    for r in (first, second):
        assert r.status == 200, r
        assert r.headers["cache-control"] == "no-store"
    assert first.json() == second.json()
    out = first.json()
    assert {k: out[k] for k in ("id", "status", "booking_id", "plate", "name")} == {
        "id": permit_id, "status": "pending", "booking_id": b["booking_id"],
        "plate": "AB 123 CD", "name": "Ada Lovelace"}
    assert out["approve"] == {"method": "POST", "href": "/api/permits/approve",
                              "fields": ["token"]}
    assert calendar.timegm(time.strptime(out["link_expires_at"], "%Y-%m-%dT%H:%M:%S.000Z")) \
        == decode(token)["expires_s"]
    assert token not in first.body.decode()
    # nothing changed: the row, the outbox, the guest's mail, the nonce store
    assert srv.sql("permits", "SELECT * FROM permits WHERE id = ?", (permit_id,)) == before
    assert srv.sql("permits", "SELECT COUNT(*) FROM email_failures") == outbox
    assert len(srv.email.sent_to(b["email"])) == sent
    # the link still approves, once; then the GET says it is used
    assert approve(srv, token).status == 200
    assert status(srv, permit_id) == "approved"
    assert_problem(view(srv, token), 409, "conflict")
    assert_problem(approve(srv, token), 409, "conflict")


def test_AUTH6_reused_link_is_409(srv):
    permit_id, b = created(srv)
    _, token = link_for(srv, permit_id)
    assert approve(srv, token).status == 200
    assert_problem(approve(srv, token), 409, "conflict")
    assert len(srv.email.sent_to(b["email"])) == 1


def test_AUTH6_concurrent_clicks_approve_once(srv):
    permit_id, b = created(srv)
    _, token = link_for(srv, permit_id)
    out = []
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        out.append(approve(srv, token).status)
    ts = [threading.Thread(target=go) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(out) == [200] + [409] * 7
    assert len(srv.email.sent_to(b["email"])) == 1


def test_AUTH6_tampered_link_is_401(srv):
    permit_id, _ = created(srv)
    _, token = link_for(srv, permit_id)
    now = int(time.time())
    bad = [
        flip(token),
        flip(token, 3),  # inside the expiry: the MAC is checked before it is believed
        flip(token, len(token) - 2),
        token[:-4],
        token + "A",
        "",
        "not-a-token",
        mint(permit_id, now + 3600, purpose="invite-accept"),  # another purpose's key
        mint(permit_id, now + 3600, master="x" * 48),  # another master secret
    ]
    for t in bad:
        for r in (view(srv, t), approve(srv, t)):
            assert_problem(r, 401, "auth")
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert_problem(srv.get("/api/permits/approve"), 401)
    # the body of the POST is validated like any other (VAL1, VAL3)
    p = assert_problem(srv.post("/api/permits/approve", {}), 422, "validation")
    assert [e["pointer"] for e in p["errors"]] == ["/token"]
    p = assert_problem(srv.post("/api/permits/approve", {"token": token, "permit": "x"}), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/permit"]
    assert_problem(srv.post("/api/permits/approve", "token=" + token,
                            headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    # a decoded %00 in the link is refused, never cut short
    p = assert_problem(srv.get("/api/permits/approve?token=" + token + "%00"), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/token"]
    assert status(srv, permit_id) == "pending"
    # the genuine link still works afterwards
    assert approve(srv, token).status == 200


def test_AUTH6_expired_link_is_410(srv):
    permit_id, _ = created(srv)
    now = int(time.time())
    assert_problem(view(srv, mint(permit_id, now - 5)), 410, "conflict")
    r = approve(srv, mint(permit_id, now - 5))
    assert_problem(r, 410, "conflict")
    assert status(srv, permit_id) == "pending"
    # the same derivation, unexpired, is accepted: the 410 was the expiry alone
    assert approve(srv, mint(permit_id, now + 60)).status == 200


def test_AUTH6_authentic_link_for_an_unknown_permit_is_404(srv):
    r = approve(srv, mint(str(uuid.uuid4()), int(time.time()) + 60))
    assert_problem(r, 404)
    assert_problem(view(srv, mint(str(uuid.uuid4()), int(time.time()) + 60)), 404)


# --- where the link points (AUTH7) -------------------------------------------

def test_AUTH7_allow_listed_forwarded_host_builds_the_link(srv):
    cases = [
        ({"X-Forwarded-Host": TRUSTED, "X-Forwarded-Proto": "https"}, "https://park.example.com"),
        ({"X-Forwarded-Host": TRUSTED, "X-Forwarded-Proto": "http"}, "http://park.example.com"),
        ({"X-Forwarded-Host": TRUSTED}, "https://park.example.com"),
        # matched ignoring case, spelled as configured
        ({"X-Forwarded-Host": "PARK.example.COM"}, "https://park.example.com"),
        ({"X-Forwarded-Host": "other.example.org"}, "https://Other.Example.org"),
    ]
    for headers, origin in cases:
        permit_id, _ = created(srv, headers=headers)
        assert link_for(srv, permit_id)[0] == origin, headers


def test_AUTH7_other_forwarded_hosts_fall_back_to_base_url(srv):
    cases = [
        {"X-Forwarded-Host": "evil.example.net", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-Host": "park.example.com.evil.net"},
        {"X-Forwarded-Host": "evil.example.net, park.example.com"},
        {"X-Forwarded-Host": "park.example.com, evil.example.net"},
        {"X-Forwarded-Host": "park.example.com:8443"},
        {"X-Forwarded-Host": "park.example.com/evil"},
        {"X-Forwarded-Host": TRUSTED, "X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Proto": "http"},
        {"Host": "evil.example.net"},
    ]
    for headers in cases:
        permit_id, _ = created(srv, headers=headers)
        assert link_for(srv, permit_id)[0] == BASE, headers


# --- validation (VAL1) ---------------------------------------------------------

def test_VAL1_each_invalid_field_is_reported(srv):
    cases = [
        ({"booking_id": "bk 1"}, "/booking_id"),
        ({"booking_id": "b" * 65}, "/booking_id"),
        ({"plate": "A"}, "/plate"),
        ({"plate": "AB--12"}, "/plate"),
        ({"plate": "-AB12"}, "/plate"),
        ({"plate": "ÄB 123"}, "/plate"),
        ({"plate": "AB_123"}, "/plate"),
        ({"plate": "A" * 17}, "/plate"),
        ({"name": ""}, "/name"),
        ({"email": "nope"}, "/email"),
        ({"status": "approved"}, "/status"),  # unknown fields are rejected
    ]
    for over, pointer in cases:
        p = assert_problem(request(srv, body(**over)), 422, "validation")
        assert [e["pointer"] for e in p["errors"]] == [pointer], (over, p)
    p = assert_problem(request(srv, {}), 422)
    assert {e["pointer"] for e in p["errors"]} == {"/booking_id", "/plate", "/name", "/email"}
    r = srv.post("/api/permits", "{", headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert_problem(request(srv, body(name="x" * 9000)), 413)


def test_ERR1_wrong_methods_are_405(srv):
    r = srv.request("PUT", "/api/permits/approve?token=x", {})
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, POST"
    assert_problem(srv.get("/api/permits"), 405)


# --- atomicity (CONC5) --------------------------------------------------------

def outbox_down(srv):
    """Makes every outbox insert fail inside the database, as a full disk or a
    broken table would: the multi-step write must then leave nothing behind."""
    return failing_trigger(srv, "permits", "email_failures", "INSERT")


def test_CONC5_request_and_approval_roll_back_without_their_outbox_row(srv):
    email = unique_email("rollback")
    with outbox_down(srv):
        assert_problem(request(srv, body(email=email)), 500)
    assert srv.sql("permits", "SELECT COUNT(*) FROM permits WHERE email = ?", (email,)) == [(0,)]
    assert not [m for m in srv.email.sent_to(ADMIN) if email in m["text"]]

    permit_id, b = created(srv)
    _, token = link_for(srv, permit_id)
    with outbox_down(srv):
        p = assert_problem(approve(srv, token), 500)
        assert "trigger" not in json.dumps(p)
    assert status(srv, permit_id) == "pending"
    assert srv.email.sent_to(b["email"]) == []
    # the failed attempt did not burn the link
    assert approve(srv, token).status == 200


# --- the email provider down or hanging (REL4) -------------------------------

def _outbox(srv):
    return srv.sql("permits", "SELECT kind, recipient, body, error, attempts FROM email_failures "
                   "ORDER BY id")


def test_REL4_provider_down_request_and_approval_still_succeed(fresh):
    fresh.email.mode = "fail"
    b = body()
    t0 = time.time()
    r = request(fresh, b)
    assert time.time() - t0 < 10
    assert r.status == 201, r
    assert r.json()["admin_notified"] is False
    permit_id = r.json()["id"]
    [(kind, to, text, error, attempts)] = _outbox(fresh)
    assert (kind, to, error, attempts) == ("permit-requested", ADMIN,
                                          "email provider answered 500", 1)
    # the queued email holds the working link, for the retry job
    token = LINK.search(text).group(2)
    t0 = time.time()
    r = approve(fresh, token)
    assert time.time() - t0 < 10
    assert r.status == 200, r
    assert r.json() == {"id": permit_id, "status": "approved", "email_sent": False,
                        "email_error": "email provider answered 500"}
    assert status(fresh, permit_id) == "approved"
    assert [row[:2] for row in _outbox(fresh)] == [("permit-requested", ADMIN),
                                                   ("permit-approved", b["email"])]


def test_REL4_provider_hanging_still_answers_within_the_deadline(fresh):
    fresh.email.mode = "hang"
    b = body()
    t0 = time.time()
    r = request(fresh, b)
    assert time.time() - t0 < 10
    assert r.status == 201 and r.json()["admin_notified"] is False, r
    token = LINK.search(_outbox(fresh)[0][2]).group(2)
    t0 = time.time()
    r = approve(fresh, token)
    assert time.time() - t0 < 10
    assert r.status == 200, r
    assert r.json()["email_sent"] is False
    assert r.json()["email_error"] == "email provider timed out"
    assert [(row[0], row[3]) for row in _outbox(fresh)] == [
        ("permit-requested", "email provider timed out"),
        ("permit-approved", "email provider timed out")]


# --- logs (OBS1) ----------------------------------------------------------------

def test_OBS1_logs_have_no_address_link_or_token(srv):
    email = "obs.guest." + uuid.uuid4().hex[:6] + "@example.com"
    r = request(srv, body(email=email, name="Zebulon Quartermaine"))
    assert r.status == 201, r
    rid = r.headers["x-request-id"]
    permit_id = r.json()["id"]
    _, token = link_for(srv, permit_id)
    assert approve(srv, token).status == 200
    assert approve(srv, flip(token)).status == 401
    logs = srv.logs()
    for leak in (email, ADMIN, token, flip(token), "Zebulon", "/api/permits/approve?token"):
        assert leak not in logs, leak
    mine = [ln for ln in srv.log_lines() if ln.get("request_id") == rid]
    assert "o***@example.com" in json.dumps(mine)


def test_AUTH6_constraint_failure_on_the_guarded_approval_is_500_not_409(srv):
    permit_id, b = created(srv)
    _, token = link_for(srv, permit_id)
    with failing_trigger(srv, "permits", "permits", "UPDATE"):
        assert_problem(approve(srv, token), 500, "internal")
    assert status(srv, permit_id) != "approved"
    assert approve(srv, token).status == 200  # the link was not used up
    assert_problem(approve(srv, token), 409, "conflict")  # the guard, for contrast
