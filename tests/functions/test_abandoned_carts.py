"""abandoned-carts, the [[cron]] job that reminds open carts (REL6, REL1): an hour idle, at
most two reminders a day apart, each claimed by its cart_reminders row before it is sent,
and counted as sent only when that insert committed.

Carts are made through PUT /api/carts/{id}; the job runs with
`bastion invoke --cron abandoned-carts`, "later" on the host's test clock
(BASTION_TEST_CLOCK_OFFSET_MS). The provider is conftest's FakeEmail.
"""
import threading
import uuid

import pytest

from conftest import SQLITE, lease_free_twin, run_cron, serve_with_fake_email

MIN = 60000
HOUR = 60 * MIN
DAY = 24 * HOUR
JOB = "abandoned-carts"


@pytest.fixture
def srv():
    yield from serve_with_fake_email()


def cart(srv, items=None):
    """A new open cart; (its id, its shopper's address)."""
    cart_id, address = str(uuid.uuid4()), f"{uuid.uuid4().hex[:10]}@example.test"
    items = [{"sku": "mug", "name": "Blue mug", "qty": 2, "price_cents": 1250}] \
        if items is None else items
    r = srv.request("PUT", f"/api/carts/{cart_id}", {"email": address, "items": items})
    assert r.status == 201, r
    return cart_id, address


def job(srv, later_ms=0, expect_rc=0):
    rc, body, lines = run_cron(srv, JOB, later_ms)
    assert rc == expect_rc and body is not None, (rc, body, lines)
    return body


def counts(body):
    return tuple(body[k] for k in ("scanned", "sent", "queued", "skipped", "errors"))


def reminders(srv, cart_id):
    return [r[0] for r in srv.sql("carts", "SELECT seq FROM cart_reminders WHERE cart_id = ? "
                                  "ORDER BY seq", (cart_id,))]


def test_REL6_an_idle_cart_gets_two_reminders_a_day_apart_then_none(srv):
    cart_id, address = cart(srv)
    assert counts(job(srv, 30 * MIN)) == (0, 0, 0, 0, 0)  # touched half an hour ago
    assert counts(job(srv, 61 * MIN)) == (1, 1, 0, 0, 0)
    [m] = srv.email.sent_to(address)
    assert m["subject"] == "You left something in your cart"
    assert "2 x Blue mug (12.50 each)" in m["text"] and "Total: 25.00" in m["text"]
    assert cart_id in m["text"]
    assert counts(job(srv, 76 * MIN)) == (0, 0, 0, 0, 0)  # not again the same day
    assert counts(job(srv, 61 * MIN + DAY - MIN)) == (0, 0, 0, 0, 0)
    assert counts(job(srv, 62 * MIN + DAY)) == (1, 1, 0, 0, 0)
    assert counts(job(srv, 63 * MIN + 3 * DAY)) == (0, 0, 0, 0, 0)  # two at most
    assert len(srv.email.sent_to(address)) == 2 and reminders(srv, cart_id) == [1, 2]


def test_REL6_completed_empty_and_recently_touched_carts_are_left_alone(srv):
    done, _ = cart(srv)
    assert srv.post(f"/api/carts/{done}/complete").status == 200
    cart(srv, items=[])
    body = job(srv, 2 * HOUR)
    assert counts(body) == (0, 0, 0, 0, 0) and body["stopped"] is None, body
    assert srv.email.calls() == []


def test_REL6_a_forced_insert_failure_is_an_error_never_sent(srv):
    bad, bad_address = cart(srv)
    good, good_address = cart(srv)
    # the insert of one cart's reminder row fails (as a full disk or a constraint would)
    _fail_one(srv, bad)
    rc, body, lines = run_cron(srv, JOB, 2 * HOUR)
    assert rc == 1 and counts(body) == (2, 1, 0, 0, 1), (body, lines)
    [err] = [l for l in lines if l.get("msg") == "cart reminder not recorded; not sent"]
    assert err["cart"] == bad and err["level"] == "error"
    [run] = [l for l in lines if l.get("msg") == "cron run"]
    assert (run["level"], run["status"]) == ("error", "503")
    assert srv.email.sent_to(bad_address) == [] and len(srv.email.sent_to(good_address)) == 1
    assert reminders(srv, bad) == [] and reminders(srv, good) == [1]
    assert srv.sql("carts", "SELECT COUNT(*) FROM email_failures") == [(0,)]  # rolled back too
    # fixed: the next run reminds it, and only it
    _drop_fail_one(srv)
    assert counts(job(srv, 2 * HOUR + 15 * MIN)) == (1, 1, 0, 0, 0)
    assert len(srv.email.sent_to(bad_address)) == 1 and len(srv.email.sent_to(good_address)) == 1


def _fail_one(srv, cart_id):
    if srv.backend == SQLITE:
        srv.sql("carts", "CREATE TRIGGER test_fail_one_reminder BEFORE INSERT ON cart_reminders "
                f"WHEN NEW.cart_id = '{cart_id}' BEGIN SELECT RAISE(ABORT, 'test trigger says "
                "no'); END")
        return
    srv.sql("carts", "CREATE FUNCTION test_fail_one_reminder() RETURNS trigger LANGUAGE plpgsql "
            f"AS $f$ BEGIN IF NEW.cart_id = '{cart_id}' THEN RAISE EXCEPTION 'test trigger says "
            "no' USING ERRCODE = '23514'; END IF; RETURN NEW; END $f$; "
            "CREATE TRIGGER test_fail_one_reminder BEFORE INSERT ON cart_reminders "
            "FOR EACH ROW EXECUTE FUNCTION test_fail_one_reminder()")


def _drop_fail_one(srv):
    srv.sql("carts", "DROP TRIGGER test_fail_one_reminder" if srv.backend == SQLITE
            else "DROP FUNCTION test_fail_one_reminder() CASCADE")


def test_REL6_candidate_query_failing_fails_the_run_and_sends_nothing(srv):
    cart(srv)
    srv.sql("carts", "ALTER TABLE cart_reminders RENAME TO cart_reminders_x")
    try:
        rc, body, lines = run_cron(srv, JOB, 2 * HOUR)
    finally:
        srv.sql("carts", "ALTER TABLE cart_reminders_x RENAME TO cart_reminders")
    assert rc == 1 and body["stopped"] == "store" and body["sent"] == 0, (body, lines)
    assert srv.email.calls() == []
    assert counts(job(srv, 2 * HOUR)) == (1, 1, 0, 0, 0)


def test_REL6_provider_down_is_queued_in_the_outbox_not_reminded_twice(srv):
    _, address = cart(srv)
    srv.email.mode = "fail"
    assert counts(job(srv, 2 * HOUR)) == (1, 0, 1, 0, 0)
    assert srv.sql("carts", "SELECT kind, recipient, attempts, status FROM email_failures") == \
        [("cart-reminder", address, 1, "pending")]
    srv.email.mode = "accept"
    assert counts(job(srv, 2 * HOUR + 15 * MIN)) == (0, 0, 0, 0, 0)
    rc, body, _ = run_cron(srv, "email-retry", 2 * HOUR + 15 * MIN)
    assert rc == 0 and body["sent"] == 1, body
    assert len(srv.email.sent_to(address)) == 2  # refused once, delivered once


def test_REL6_two_runs_at_once_without_a_lease_remind_each_cart_once(srv, tmp_path):
    carts = [cart(srv) for _ in range(30)]
    hosts = [srv, lease_free_twin(srv, tmp_path)]
    out = [None, None]
    barrier = threading.Barrier(2)

    def go(i):
        barrier.wait()
        out[i] = run_cron(hosts[i], JOB, 2 * HOUR)
    ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert [o[0] for o in out] == [0, 0], [o[2] for o in out]
    assert sum(o[1]["sent"] for o in out) == 30, [o[1] for o in out]
    assert all(len(srv.email.sent_to(a)) == 1 for _, a in carts)
    assert all(reminders(srv, c) == [1] for c, _ in carts)
