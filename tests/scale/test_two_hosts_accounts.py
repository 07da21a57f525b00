"""Two hosts, one Redis + PostgreSQL: accounts and sessions (AUTH3, AUTH4, CONC7).

The login limits, CSRF tokens and the logout denylist live in the shared
kv store, so what one host counts, consumes or revokes, the other sees at
once. The pair and the burst helper are tests/scale/test_two_hosts.py's.
"""
import uuid

import pytest

from conftest import admin_headers, assert_problem, bearer
from test_two_hosts import Pair, burst, new_ip, statuses

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def pair(email):
    p = Pair(email, env={"BASTION_VAR_auth_pbkdf2_iterations": "1000"})
    p.start()
    yield p
    rcs = p.stop()
    assert rcs == [0, 0], rcs


def csrf(host, headers):
    r = host.get("/api/auth/csrf", headers=headers)
    assert r.status == 200, r
    return dict(headers, **{"X-CSRF-Token": r.json()["csrf_token"]})


def new_user(pair):
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    a = pair.hosts[0]
    r = a.post("/api/admin/users", {"email": email, "password": PASSWORD, "role": "user"},
               headers=csrf(a, admin_headers()))
    assert r.status == 201, r
    return email


def login(host, email, password=PASSWORD, ip=None):
    return host.post("/api/auth/login", {"email": email, "password": password},
                     headers={"X-Forwarded-For": ip or new_ip()})


def password_checks(pair):
    return sum(1 for h in pair.hosts for line in h.log_lines()
               if line.get("msg") == "password check")


def test_AUTH3_two_hosts_20_concurrent_wrong_logins_reach_5_password_checks(pair):
    email, ip = new_user(pair), new_ip()
    before = password_checks(pair)
    calls = [("POST", "/api/auth/login", {"email": email, "password": f"wrong {i}"},
              {"X-Forwarded-For": ip}) for i in range(20)]
    rs = burst(pair.hosts, calls)
    assert statuses(rs) == [401] * 5 + [429] * 15, (statuses(rs), pair.logs())
    assert password_checks(pair) - before == 5


def test_AUTH4_two_hosts_one_of_10_concurrent_csrf_uses_succeeds(pair):
    headers = csrf(pair.hosts[0], admin_headers())
    calls = [("POST", "/api/admin/users",
              {"email": f"c{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD,
               "role": "user"}, headers) for _ in range(10)]
    rs = burst(pair.hosts, calls)
    assert statuses(rs) == [201] + [403] * 9, (statuses(rs), pair.logs())


def test_AUTH4_two_hosts_logout_on_one_host_revokes_on_the_other(pair):
    a, b = pair.hosts
    token = login(a, new_user(pair)).json()["token"]
    h = bearer(token)
    assert_problem(b.get("/api/orders/ord_missing", headers=h), 404)
    r = a.post("/api/auth/logout", headers=csrf(b, h))  # issued on b, consumed on a
    assert r.status == 204, r
    for host in (a, b):
        assert_problem(host.get("/api/orders/ord_missing", headers=h), 401)
