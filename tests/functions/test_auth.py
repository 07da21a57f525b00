"""auth over real HTTP: accounts, login, CSRF and logout (AUTH2, AUTH3,
AUTH4, REL4, CONC7).

Servers here trust the test as their proxy, so each test picks its own
client IP through X-Forwarded-For and the login limits never leak between
tests. Most use a low PBKDF2 cost (auth_pbkdf2_iterations) to stay fast;
the default of 600,000 is proved on its own.
"""
import base64
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (AUTH_SECRET, BASTION, ROOT, SQLITE, FakeEmail, admin_headers,
                      assert_problem, bearer, mint_jwt, serve_bundle, user_headers)

PASSWORD = "correct horse battery staple"
FAST = {"BASTION_VAR_auth_pbkdf2_iterations": "1000"}
_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return f"10.77.{(n >> 8) & 255}.{n & 255}"


def serve(email, **env):
    return serve_bundle(email, {**FAST, **env}, trusted_proxies=["127.0.0.1"])


@pytest.fixture(scope="module")
def srv(email):
    s = serve(email)
    yield s
    assert s.stop() == 0


@pytest.fixture
def fresh():
    """A private server and email fake, for tests that break the provider
    (the email breaker's state is in kv) or change the limits."""
    made = []

    def make(**env):
        fake = FakeEmail()
        s = serve(fake, **env)
        made.append((s, fake))
        return s

    yield make
    for s, fake in made:
        assert s.stop() == 0
        fake.close()


def unique_email(tag="user"):
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def csrf_token(srv, headers):
    r = srv.get("/api/auth/csrf", headers=headers)
    assert r.status == 200, r
    return r.json()["csrf_token"]


def admin_with_csrf(srv):
    h = admin_headers()
    return dict(h, **{"X-CSRF-Token": csrf_token(srv, h)})


def create_user(srv, email=None, password=PASSWORD, role="user", tenant=None, headers=None):
    body = {"email": email or unique_email(), "password": password, "role": role}
    if tenant is not None:
        body["tenant"] = tenant
    return srv.post("/api/admin/users", body,
                    headers=admin_with_csrf(srv) if headers is None else headers)


def user(srv, **kw):
    r = create_user(srv, **kw)
    assert r.status == 201, r
    return r.json()


def login(srv, email, password=PASSWORD, ip=None, timeout=30):
    return srv.post("/api/auth/login", {"email": email, "password": password},
                    headers={"X-Forwarded-For": ip or new_ip()}, timeout=timeout)


def token_for(srv, email, **kw):
    r = login(srv, email, **kw)
    assert r.status == 200, r
    return r.json()["token"]


def password_checks(srv):
    return [l for l in srv.log_lines() if l.get("msg") == "password check"]


def wait_for(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- provisioning -------------------------------------------------------------

def test_AUTH3_admin_creates_user_with_a_self_describing_pbkdf2_hash(srv):
    email = unique_email().replace("user", "New.User")
    r = create_user(srv, email=email, role="user", tenant="acme")
    assert r.status == 201, r
    body = r.json()
    assert body["email"] == email.lower() and body["role"] == "user" and body["tenant"] == "acme"
    assert len(body["id"]) == 36 and set(body) == {"id", "email", "role", "tenant"}
    (stored,) = srv.sql("auth", "SELECT password_hash FROM users WHERE id = ?", (body["id"],))[0]
    # pbkdf2_sha256$<iterations>$<salt>$<hash>, checked by an independent PBKDF2
    algo, iterations, salt, digest = stored.split("$")
    assert algo == "pbkdf2_sha256" and iterations == "1000"
    salt = base64.b64decode(salt, validate=True)
    assert len(salt) == 16
    assert base64.b64decode(digest, validate=True) == hashlib.pbkdf2_hmac(
        "sha256", PASSWORD.encode(), salt, 1000)
    assert PASSWORD not in stored


def test_AUTH3_default_cost_is_600000_iterations(email):
    s = serve_bundle(email, trusted_proxies=["127.0.0.1"])  # no iteration override
    try:
        u = user(s)
        (stored,) = s.sql("auth", "SELECT password_hash FROM users WHERE id = ?", (u["id"],))[0]
        _, iterations, salt, digest = stored.split("$")
        assert iterations == "600000"
        assert base64.b64decode(digest) == hashlib.pbkdf2_hmac(
            "sha256", PASSWORD.encode(), base64.b64decode(salt), 600000)
        assert login(s, u["email"]).status == 200
    finally:
        assert s.stop() == 0


def test_AUTH3_hash_made_with_another_iteration_count_still_verifies(srv):
    u = user(srv)
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", b"an older password!", salt, 1234)
    stored = "pbkdf2_sha256$1234${}${}".format(base64.b64encode(salt).decode(),
                                                base64.b64encode(digest).decode())
    srv.sql("auth", "UPDATE users SET password_hash = ? WHERE id = ?", (stored, u["id"]))
    assert login(srv, u["email"], "an older password!").status == 200
    assert_problem(login(srv, u["email"], PASSWORD), 401)


def test_AUTH1_create_user_needs_an_admin_token_and_csrf(srv):
    body = {"email": unique_email(), "password": PASSWORD, "role": "user"}
    assert_problem(srv.post("/api/admin/users", body), 401)
    h = user_headers()
    assert_problem(srv.post("/api/admin/users", body,
                            headers=dict(h, **{"X-CSRF-Token": csrf_token(srv, h)})), 403)
    # AUTH4: an admin token alone is not enough for a state change
    assert_problem(srv.post("/api/admin/users", body, headers=admin_headers()), 403)
    # the host drops x-bastion-* from clients: the operator header is not theirs to send
    assert_problem(srv.post("/api/admin/users", body,
                            headers={"X-Bastion-Trusted": "operator"}), 401)
    assert srv.sql("auth", "SELECT COUNT(*) FROM users WHERE email = ?", (body["email"],)) == [(0,)]


def test_AUTH3_duplicate_email_is_409_whatever_its_case(srv):
    email = unique_email()
    assert create_user(srv, email=email).status == 201
    assert_problem(create_user(srv, email=email.upper()), 409, "conflict")
    assert srv.sql("auth", "SELECT COUNT(*) FROM users WHERE email = ?", (email,)) == [(1,)]


@pytest.mark.parametrize("over,pointer", [
    ({"password": "x" * 11}, "/password"),
    ({"password": "x" * 257}, "/password"),
    ({"role": "root"}, "/role"),
    ({"email": "not-an-email"}, "/email"),
    ({"tenant": "has space"}, "/tenant"),
    ({"extra": 1}, "/extra"),
])
def test_VAL1_create_user_validates_every_field(srv, over, pointer):
    body = {"email": unique_email(), "password": PASSWORD, "role": "user", **over}
    p = assert_problem(srv.post("/api/admin/users", body, headers=admin_with_csrf(srv)), 422)
    assert pointer in [e["pointer"] for e in p["errors"]], p


def test_AUTH1_operator_creates_the_first_admin_with_invoke_trusted(srv):
    email = unique_email("root")
    body = json.dumps({"email": email, "password": PASSWORD, "role": "admin"})
    cmd = [BASTION, "invoke", "auth", *srv.store_args(), "--method", "POST",
           "--path", "/api/admin/users", "--header", "content-type: application/json",
           "--body", body]
    denied = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=srv.env)
    assert denied.stdout.startswith("401"), denied.stdout
    forged = subprocess.run(cmd + ["--header", "x-bastion-trusted: operator"],
                            capture_output=True, text=True, cwd=ROOT, env=srv.env)
    assert forged.returncode == 2 and "belong to the host" in forged.stderr
    out = subprocess.run(cmd + ["--trusted"], capture_output=True, text=True, cwd=ROOT,
                         env=srv.env)
    assert out.stdout.startswith("201"), out.stdout + out.stderr
    # the new admin logs in over HTTP and provisions the next account
    token = token_for(srv, email)
    assert claims_of(token)["role"] == "admin"
    h = bearer(token)
    r = create_user(srv, headers=dict(h, **{"X-CSRF-Token": csrf_token(srv, h)}))
    assert r.status == 201, r


# --- login --------------------------------------------------------------------

def test_AUTH2_login_issues_a_15_minute_hs256_token(srv):
    u = user(srv, tenant="acme")
    r = login(srv, u["email"])
    assert r.status == 200, r
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    head, payload, sig = body["token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"] == "HS256"
    want = hmac.new(AUTH_SECRET.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(want).rstrip(b"=").decode() == sig
    c = claims_of(body["token"])
    assert c["sub"] == u["id"] and c["role"] == "user" and c["tenant"] == "acme"
    assert c["iss"] == "bastion" and c["aud"] == "bastion-api"
    assert c["exp"] - c["iat"] == 900 and abs(c["iat"] - time.time()) < 30
    assert len(c["jti"]) >= 16
    # a second login is another session
    assert claims_of(token_for(srv, u["email"]))["jti"] != c["jti"]
    # no tenant claim for an account without one
    plain = user(srv)
    assert "tenant" not in claims_of(token_for(srv, plain["email"]))


def test_AUTH3_unknown_email_and_wrong_password_look_the_same(srv):
    u = user(srv)
    before = len(password_checks(srv))
    wrong = login(srv, u["email"], "wrong password, sorry")
    unknown = login(srv, unique_email("nobody"))
    for r in (wrong, unknown):
        assert_problem(r, 401, "auth")
    strip = lambda p: {k: v for k, v in p.items() if k not in ("instance", "request_id")}
    assert strip(wrong.json()) == strip(unknown.json())
    # the unknown email still ran one PBKDF2 (so timing says nothing either)
    assert wait_for(lambda: len(password_checks(srv)) == before + 2)
    outcomes = [l["outcome"] for l in password_checks(srv)[before:]]
    assert sorted(outcomes) == ["mismatch", "no account"]
    # and no line names the email
    assert u["email"] not in srv.logs()


def test_AUTH3_20_concurrent_wrong_logins_reach_5_password_checks(fresh):
    s = fresh(BASTION_VAR_auth_login_window_s="6")
    u = user(s)
    ip = new_ip()
    # start at the beginning of a fixed window, so all 20 fall into one
    while time.time() % 6 > 1:
        time.sleep(0.1)
    before = len(password_checks(s))
    results = [None] * 20

    def attempt(i):
        results[i] = login(s, u["email"], f"wrong password {i}", ip=ip)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [401] * 5 + [429] * 15, statuses
    limited = [r for r in results if r.status == 429]
    for r in limited:
        assert_problem(r, 429, "transient")
        assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers
    time.sleep(0.5)
    assert len(password_checks(s)) - before == 5
    # the right password is refused too while the window lasts ...
    assert_problem(login(s, u["email"], ip=ip), 429)
    # ... and accepted in the next one
    time.sleep(6 - time.time() % 6 + 0.2)
    assert login(s, u["email"], ip=ip).status == 200


def test_AUTH3_per_ip_limit_across_emails(fresh):
    s = fresh(BASTION_VAR_auth_login_ip_limit="3")
    ip = new_ip()
    for _ in range(3):
        assert_problem(login(s, unique_email(), ip=ip), 401)
    assert_problem(login(s, unique_email(), ip=ip), 429)
    # another client is not affected
    assert_problem(login(s, unique_email(), ip=new_ip()), 401)


def test_REL4_sign_in_email_is_awaited_with_time_and_masked_ip(srv):
    u = user(srv)
    assert login(srv, u["email"], ip="203.0.113.77").status == 200
    sent = srv.email.sent_to(u["email"])  # awaited: there before the answer
    assert len(sent) == 1
    assert sent[0]["subject"] == "New sign-in to your account"
    assert "203.0.113.*" in sent[0]["text"] and "203.0.113.77" not in sent[0]["text"]
    assert "(UTC)" in sent[0]["text"]


def test_REL4_sign_in_email_failure_goes_to_the_outbox(fresh):
    s = fresh()
    u = user(s)
    s.email.mode = "fail"
    assert login(s, u["email"]).status == 200
    rows = s.sql("auth", "SELECT kind, recipient, error FROM email_failures")
    assert [(k, r) for k, r, _ in rows] == [("sign-in", u["email"])]
    assert rows[0][2]


def test_REL4_hanging_provider_still_answers_within_the_deadline(fresh):
    s = fresh()
    u = user(s)
    s.email.mode = "hang"
    t0 = time.time()
    r = login(s, u["email"], timeout=20)
    assert r.status == 200, r
    assert time.time() - t0 < 10.5  # the route's deadline is 10 s
    assert s.sql("auth", "SELECT kind FROM email_failures") == [("sign-in",)]


# --- CSRF and logout ---------------------------------------------------------

def test_AUTH4_csrf_token_needs_a_session_and_is_random(srv):
    assert_problem(srv.get("/api/auth/csrf"), 401)
    h = user_headers()
    a, b = csrf_token(srv, h), csrf_token(srv, h)
    assert a != b and len(a) == 43 and len(base64.urlsafe_b64decode(a + "=")) == 32


def test_AUTH4_one_of_10_concurrent_uses_of_a_csrf_token_succeeds(srv):
    h = admin_headers()
    token = csrf_token(srv, h)
    headers = dict(h, **{"X-CSRF-Token": token})
    results = [None] * 10

    def use(i):
        results[i] = create_user(srv, headers=headers)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [201] + [403] * 9, statuses
    # reused afterwards: still 403
    assert_problem(create_user(srv, headers=headers), 403, "auth")


def test_AUTH4_csrf_token_is_bound_to_its_session(srv):
    mine, other = admin_headers(), admin_headers()
    token = csrf_token(srv, other)
    assert_problem(create_user(srv, headers=dict(mine, **{"X-CSRF-Token": token})), 403)
    # the refused attempt did not consume the other session's token
    assert create_user(srv, headers=dict(other, **{"X-CSRF-Token": token})).status == 201
    for bad in ("", "x" * 43, token[:-1]):
        assert_problem(create_user(srv, headers=dict(mine, **{"X-CSRF-Token": bad})), 403)


@pytest.mark.sqlite_only
def test_AUTH4_expired_csrf_token_is_refused(srv):
    import sqlite3
    h = admin_headers()
    token = csrf_token(srv, h)
    conn = sqlite3.connect(os.path.join(srv.state, "kv.sqlite"), timeout=10)
    try:
        ttl = conn.execute("SELECT MAX(expires_at) FROM kv WHERE store = 'sessions' AND "
                           "CAST(key AS TEXT) LIKE 'csrf:%'").fetchone()[0]
        assert abs(ttl / 1000 - time.time() - 3600) < 60  # 1 h
        # the stored key is a hash: the token itself is not in the store
        assert conn.execute("SELECT COUNT(*) FROM kv WHERE CAST(key AS TEXT) LIKE ?",
                            (f"%{token}%",)).fetchone()[0] == 0
        conn.execute("UPDATE kv SET expires_at = ? WHERE store = 'sessions' AND CAST(key AS TEXT) LIKE 'csrf:%'",
                     (int(time.time() * 1000) - 1,))
        conn.commit()
    finally:
        conn.close()
    assert_problem(create_user(srv, headers=dict(h, **{"X-CSRF-Token": token})), 403)


def test_AUTH4_logout_needs_csrf_and_revokes_the_token_everywhere(srv):
    u = user(srv)
    token = token_for(srv, u["email"])
    h = bearer(token)
    # the token works on another function (orders: an unknown order is 404)
    assert_problem(srv.get("/api/orders/ord_missing", headers=h), 404)
    assert_problem(srv.post("/api/auth/logout", headers=h), 403)
    r = srv.post("/api/auth/logout", headers=dict(h, **{"X-CSRF-Token": csrf_token(srv, h)}))
    assert r.status == 204 and r.body == b"", r
    # every function that authenticates refuses it now
    assert_problem(srv.get("/api/orders/ord_missing", headers=h), 401)
    assert_problem(srv.get("/api/auth/csrf", headers=h), 401)
    # another session of the same account is untouched
    assert srv.get("/api/auth/csrf", headers=bearer(token_for(srv, u["email"]))).status == 200


def test_AUTH2_token_without_jti_is_refused(srv):
    h = bearer(mint_jwt(jti=None, role="admin"))
    assert_problem(srv.get("/api/auth/csrf", headers=h), 401)
    assert_problem(srv.get("/api/orders/ord_missing", headers=h), 401)


def test_ERR1_auth_wrong_method_is_405(srv):
    assert_problem(srv.get("/api/auth/login"), 405)
    assert_problem(srv.post("/api/auth/csrf", headers=user_headers()), 405)
