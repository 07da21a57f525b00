"""reminders, the [[cron]] job that reminds a confirmed appointment's customer 24 h and 1 h
ahead (REL6), claiming each (appointment, kind) before it sends.

Confirmed appointments are written straight into the database (the confirm route has its
own tests in test_appointments.py, and one here end to end); the job runs with
`bastion invoke --cron reminders`, "later" on the host's test clock
(BASTION_TEST_CLOCK_OFFSET_MS). The provider is conftest's FakeEmail.
"""
import threading
import time
import uuid

import pytest

from conftest import admin_headers, lease_free_twin, run_cron, serve_with_fake_email

MIN = 60000
HOUR = 60 * MIN
DAY = 24 * HOUR
JOB = "reminders"
ADMIN = "front-desk@example.test"


@pytest.fixture
def srv():
    yield from serve_with_fake_email({"BASTION_VAR_admin_email": ADMIN})


def now_ms():
    return int(time.time() * 1000)


def confirmed(srv, start_in_ms, n=1, status="confirmed"):
    """n appointments confirmed (or left as `status`) for now + start_in_ms; their
    customers' addresses."""
    out = []
    for _ in range(n):
        address = f"{uuid.uuid4().hex[:10]}@example.test"
        start = now_ms() + start_in_ms
        confirmed_start = None if status == "requested" else start
        srv.sql("appointments",
                "INSERT INTO appointments (id, service, preferred_start, name, email, status, "
                "confirmed_start, confirmed_by, cancelled_by, created_at, updated_at) "
                "VALUES (?, 'fitting', ?, 'Ada', ?, ?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), start, address, status, confirmed_start,
                 confirmed_start and "admin-1", "admin-1" if status == "cancelled" else None,
                 now_ms(), now_ms()))
        out.append(address)
    return out


def job(srv, later_ms=0, expect_rc=0):
    rc, body, lines = run_cron(srv, JOB, later_ms)
    assert rc == expect_rc and body is not None, (rc, body, lines)
    return body


def counts(body):
    return tuple(body[k] for k in ("scanned", "sent", "queued", "skipped"))


def claims(srv):
    return srv.sql("appointments", "SELECT COUNT(*) FROM appointment_reminders")[0][0]


def test_REL6_a_day_ahead_then_an_hour_ahead_each_once(srv):
    [a] = confirmed(srv, 3 * DAY)
    assert counts(job(srv)) == (0, 0, 0, 0)  # three days ahead: nothing yet
    later = 3 * DAY - 20 * HOUR
    body = job(srv, later)
    assert (counts(body), body["stopped"]) == ((1, 1, 0, 0), None), body
    [m] = srv.email.sent_to(a)
    assert m["subject"] == "Reminder: your appointment is tomorrow" and "fitting" in m["text"]
    assert counts(job(srv, later)) == (0, 0, 0, 0)  # the day's reminder is claimed
    assert counts(job(srv, later + 5 * MIN)) == (0, 0, 0, 0)
    later = 3 * DAY - 30 * MIN
    assert counts(job(srv, later)) == (1, 1, 0, 0)
    assert counts(job(srv, later + 5 * MIN)) == (0, 0, 0, 0)
    assert [m["subject"] for m in srv.email.sent_to(a)] == [
        "Reminder: your appointment is tomorrow", "Reminder: your appointment is in an hour"]
    assert srv.sql("appointments", "SELECT kind FROM appointment_reminders ORDER BY kind") == \
        [("1h",), ("24h",)]
    assert srv.sql("appointments", "SELECT COUNT(*) FROM email_failures") == [(0,)]


def test_REL6_only_confirmed_future_appointments_in_the_window(srv):
    [soon] = confirmed(srv, 30 * MIN)  # confirmed late: the hour's reminder only
    confirmed(srv, 2 * HOUR, status="requested")
    confirmed(srv, 2 * HOUR, status="cancelled")
    confirmed(srv, -5 * MIN)  # already started
    confirmed(srv, 25 * HOUR)  # not yet
    body = job(srv)
    assert counts(body) == (1, 1, 0, 0), body
    [m] = srv.email.sent_to(soon)
    assert m["subject"] == "Reminder: your appointment is in an hour"
    assert len(srv.email.calls()) == 1


def test_REL6_a_claimed_reminder_is_never_sent_again(srv):
    [a, b] = confirmed(srv, 10 * HOUR, n=2)
    # another run claimed a's reminder and is still sending it (or died after the claim):
    # the claim row is the truth, whatever the candidate query saw
    srv.sql("appointments", "INSERT INTO appointment_reminders (appointment_id, kind, start_at, "
            "claimed_at) SELECT id, '24h', confirmed_start, ? FROM appointments WHERE email = ?",
            (now_ms(), a))
    assert counts(job(srv)) == (1, 1, 0, 0)
    assert srv.email.sent_to(a) == [] and len(srv.email.sent_to(b)) == 1


def test_REL6_two_processes_at_once_send_each_reminder_once(srv, tmp_path):
    to = confirmed(srv, 10 * HOUR, n=40)
    hosts = [srv, lease_free_twin(srv, tmp_path)]
    out = [None, None]
    barrier = threading.Barrier(2)

    def go(i):
        barrier.wait()
        out[i] = run_cron(hosts[i], JOB)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [o[0] for o in out] == [0, 0], [o[2] for o in out]  # no lease between them
    bodies = [o[1] for o in out]
    assert sum(b["sent"] for b in bodies) == 40, bodies
    assert all(len(srv.email.sent_to(x)) == 1 for x in to)
    assert len(srv.email.calls()) == 40 and claims(srv) == 40
    # and on one host, two runs at once: the lease lets one run and skips the other
    more = confirmed(srv, 10 * HOUR, n=10)

    def go_one(i):
        barrier.wait()
        out[i] = run_cron(srv, JOB)
    threads = [threading.Thread(target=go_one, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(o[0] for o in out) in ([0, 0], [0, 3]), [o[2] for o in out]
    assert all(len(srv.email.sent_to(x)) == 1 for x in more)
    assert len(srv.email.calls()) == 50


def test_REL6_candidate_query_failing_fails_the_run_and_sends_nothing(srv):
    to = confirmed(srv, 10 * HOUR, n=3)
    # the claims table gone: the audit's bug read a failed lookup as "not reminded yet"
    srv.sql("appointments", "ALTER TABLE appointment_reminders RENAME TO appointment_reminders_x")
    try:
        rc, body, lines = run_cron(srv, JOB)
    finally:
        srv.sql("appointments",
                "ALTER TABLE appointment_reminders_x RENAME TO appointment_reminders")
    assert rc == 1 and body["sent"] == 0 and body["stopped"] == "store", (body, lines)
    [run] = [l for l in lines if l.get("msg") == "cron run"]
    assert (run["level"], run["job"], run["status"]) == ("error", JOB, "503")
    assert [l for l in lines if l.get("msg") == "reminder candidates not read; nothing sent"]
    assert srv.email.calls() == []
    assert srv.sql("appointments", "SELECT COUNT(*) FROM email_failures") == [(0,)]
    # once the store is back, the next run sends them, once
    assert counts(job(srv)) == (3, 3, 0, 0)
    assert all(len(srv.email.sent_to(x)) == 1 for x in to)


def test_REL6_provider_down_leaves_the_outbox_row_and_no_second_reminder(srv):
    [a] = confirmed(srv, 10 * HOUR)
    srv.email.mode = "fail"
    assert counts(job(srv)) == (1, 0, 1, 0)
    [(kind, recipient, attempts, status)] = srv.sql(
        "appointments", "SELECT kind, recipient, attempts, status FROM email_failures")
    assert (kind, recipient, attempts, status) == ("appointment-reminder-24h", a, 1, "pending")
    assert len(srv.email.sent_to(a)) == 1  # the one refused
    srv.email.mode = "accept"
    calls = len(srv.email.calls())
    assert counts(job(srv, 5 * MIN)) == (0, 0, 0, 0)  # claimed: the outbox's now
    assert len(srv.email.calls()) == calls
    rc, body, _ = run_cron(srv, "email-retry", 5 * MIN)  # the outbox's job sends it
    assert rc == 0 and body["sent"] == 1, body
    assert len(srv.email.sent_to(a)) == 2  # refused once, delivered once
    assert counts(job(srv, 10 * MIN)) == (0, 0, 0, 0)
    assert len(srv.email.sent_to(a)) == 2


def test_REL6_confirm_then_remind_end_to_end(srv):
    address = f"{uuid.uuid4().hex[:10]}@example.test"
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * 86400))
    r = srv.post("/api/appointments", {"service": "repair", "preferred_start": start,
                                       "name": "Grace", "email": address})
    assert r.status == 201, r
    appt = r.json()["id"]
    r = srv.post(f"/api/admin/appointments/{appt}/confirm", {"start": start},
                 headers=admin_headers())
    assert r.status == 200 and r.json()["status"] == "confirmed", r
    assert [m["subject"] for m in srv.email.sent_to(address)] == ["Your appointment is confirmed"]
    assert counts(job(srv, DAY + 12 * HOUR)) == (1, 1, 0, 0)
    texts = [m["text"] for m in srv.email.sent_to(address)]
    assert len(texts) == 2 and appt in texts[1] and "repair" in texts[1]
