"""email-retry, the [[cron]] job over every email outbox (REL5, REL3).

Outbox rows are written as the core's email client leaves them after a failed send
(shared/schema/email_failures.sql), straight into the databases; the job runs with
`bastion invoke --cron email-retry`, "later" on the host's test clock
(BASTION_TEST_CLOCK_OFFSET_MS). The provider is conftest's FakeEmail.
"""
import threading
import time
import uuid

import pytest

from conftest import run_cron, serve_with_fake_email

MIN = 60000
ADMIN = "ops@example.test"
JOB = "email-retry"


@pytest.fixture
def srv():
    yield from serve_with_fake_email({"BASTION_VAR_admin_alert_email": ADMIN})


def now_ms():
    return int(time.time() * 1000)


def queued(srv, db="orders", n=1, attempts=0, kind="order-paid"):
    """n outbox rows due now in `db`; their recipients."""
    to = []
    for _ in range(n):
        address = f"{uuid.uuid4().hex[:10]}@example.test"
        srv.sql(db, "INSERT INTO email_failures (kind, recipient, subject, body, error, attempts, "
                    "status, next_attempt_at, created_at) VALUES (?, ?, 'Your order', 'Paid.', "
                    "'email provider answered 500', ?, 'pending', ?, ?)",
                (kind, address, attempts, now_ms(), now_ms()))
        to.append(address)
    return to


def row(srv, address, db="orders"):
    r = srv.sql(db, "SELECT status, attempts, next_attempt_at, sent_at, alerted_at, lease_id "
                    "FROM email_failures WHERE recipient = ?", (address,))
    return dict(zip(("status", "attempts", "next", "sent_at", "alerted_at", "lease"), r[0]))


def job(srv, later_ms=0):
    rc, body, lines = run_cron(srv, JOB, later_ms)
    assert rc == 0 and body is not None, lines
    return body


def test_REL5_a_due_email_is_resent_once_and_marked_sent(srv):
    [a] = queued(srv, "orders")
    [b] = queued(srv, "bookings")
    body = job(srv)
    assert (body["scanned"], body["sent"], body["stopped"]) == (2, 2, None), body
    for address, db in ((a, "orders"), (b, "bookings")):
        r = row(srv, address, db)
        assert (r["status"], r["attempts"], r["lease"]) == ("sent", 1, None) and r["sent_at"]
        [m] = srv.email.sent_to(address)
        assert (m["subject"], m["text"]) == ("Your order", "Paid.")
    assert job(srv, 10 * MIN)["scanned"] == 0  # once


def test_REL5_attempts_grow_with_jitter_then_fail_with_exactly_one_alert(srv):
    srv.email.mode = "fail"
    [a] = queued(srv)
    t0 = now_ms()
    assert job(srv)["retrying"] == 1
    r = row(srv, a)
    assert r["attempts"] == 1 and t0 + MIN <= r["next"] <= now_ms() + 1.5 * MIN + 1000, r
    assert job(srv)["scanned"] == 0  # not due yet
    assert job(srv, 2 * MIN)["retrying"] == 1
    r2 = row(srv, a)
    assert r2["attempts"] == 2
    wait = r2["next"] - (t0 + 2 * MIN)
    assert 2 * MIN - 1000 <= wait <= 3 * MIN + 5000, wait  # twice the first wait, plus jitter
    body = job(srv, 6 * MIN)
    assert (body["failed"], body["alerts"]) == (1, 1), body
    r3 = row(srv, a)
    assert (r3["status"], r3["attempts"]) == ("failed", 3) and r3["alerted_at"], r3
    assert len([x for x in srv.email.calls() if x["json"]["to"] == a]) == 3
    # the alert could not go either: it waits in the same outbox, and never alerts itself
    alerts = srv.sql("orders", "SELECT status, attempts FROM email_failures WHERE kind = "
                               "'admin-alert' AND recipient = ?", (ADMIN,))
    assert [tuple(x) for x in alerts] == [("pending", 1)]
    srv.email.mode = "accept"
    assert job(srv, 8 * MIN)["sent"] == 1
    tries = srv.email.sent_to(ADMIN)  # every request to the provider: the failed one, then this
    assert len(tries) == 2 and tries[0] == tries[1]
    assert a in tries[1]["text"] and "orders" in tries[1]["subject"]
    for later in (9, 20, 60):
        assert job(srv, later * MIN)["scanned"] == 0
    assert len(srv.email.sent_to(ADMIN)) == 2 and len(srv.email.sent_to(a)) == 3


def test_REL3_an_open_breaker_stops_the_run_and_leaves_the_rest(srv):
    srv.email.mode = "fail"
    to = queued(srv, n=10)
    body = job(srv)
    assert (body["retrying"], body["stopped"]) == (5, "breaker"), body
    rows = [row(srv, x) for x in to]
    assert sorted(r["attempts"] for r in rows) == [0] * 5 + [1] * 5
    assert all(r["lease"] is None and r["status"] == "pending" for r in rows)
    assert len(srv.email.calls()) == 5


def test_REL5_two_runs_at_once_send_each_email_once(srv):
    to = queued(srv, "orders", n=15) + queued(srv, "appointments", n=15)
    out = [None, None]

    def go(i):
        out[i] = run_cron(srv, JOB)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    [x.start() for x in threads]
    [x.join() for x in threads]
    assert sorted(o[0] for o in out) in ([0, 0], [0, 3]), [l.get("reason") for o in out for l in o[2] if "lease" in l.get("msg", "")]
    assert all(len(srv.email.sent_to(x)) == 1 for x in to)
    assert len(srv.email.calls()) == 30
