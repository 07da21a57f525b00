"""campaign-sender, the [[cron]] job that sends enqueued campaigns (CONC5, REL1, REL3, REL6).

Campaigns are made and enqueued over HTTP through the campaigns function; the job runs
with `bastion invoke --cron campaign-sender` against the server's stores (SQLite state or
Redis + PostgreSQL), as an operator would run it. The SMS provider is conftest's FakeSMS,
which keeps one message per Idempotency-Key: its messages() are what phones received.
"""
import threading
import uuid

import pytest

from campaign_jobs import enqueued, run_cron, sms_server, statuses

DB = "shop"
JOB = "campaign-sender"


@pytest.fixture
def srv():
    with sms_server() as s:
        yield s


def run_job(srv):
    return run_cron(srv, JOB)


def recipients(srv, cid):
    return set(statuses(srv, cid).items())


def one(srv, query, params=()):
    return tuple(srv.sql(DB, query, params)[0])


def test_CONC5_each_recipient_is_sent_once_and_its_credit_debited_with_it(srv):
    t, h, cid = enqueued(srv, 30, credits=50, message="Hello from the shop")
    rc, body, lines = run_job(srv)
    assert rc == 0, lines
    assert (body["sent"], body["failed"], body["completed"], body["stopped"]) == (30, 0, 1, None)
    msgs = srv.sms.messages()
    assert len(msgs) == 30 and len({m["to"] for m in msgs}) == 30
    assert {(m["from"], m["body"]) for m in msgs} == {("+15005550006", "Hello from the shop")}
    calls = srv.sms.calls()
    assert all(c["headers"]["authorization"] == "Bearer sms_test_0123456789abcdef" for c in calls)
    assert all(c["headers"]["idempotency-key"].startswith(cid + "/") for c in calls)
    assert recipients(srv, cid) == {("sent", 30)}
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ? AND "
                       "(provider_id IS NULL OR lease_id IS NOT NULL)", (cid,))[0][0] == 0
    c = srv.get(f"/api/campaigns/{cid}", headers=h).json()
    assert c["status"] == "sent" and c["completed_at"], c
    assert one(srv, "SELECT status, consumed, credits FROM credit_reservations "
                    "WHERE campaign_id = ?", (cid,)) == ("consumed", 30, 30)
    assert srv.get("/api/credits", headers=h).json() == {"balance": 20, "reserved": 0,
                                                         "available": 20}
    # the next run finds nothing to do and sends nothing
    rc, body, _ = run_job(srv)
    assert rc == 0 and (body["campaigns"], body["sent"]) == (0, 0)
    assert len(srv.sms.calls()) == 30
    run = [l for l in lines if l.get("msg") == "cron run"][0]
    assert (run["job"], run["result.sent"], run["result.completed"]) == (JOB, "30", "1")


def test_REL3_a_provider_failing_one_in_ten_leaves_each_recipient_sent_or_failed_once(srv):
    srv.sms.fail_one_in = 10
    t, h, cid = enqueued(srv, 300)
    rc, body, lines = run_job(srv)
    assert rc == 0, lines
    sent, failed = body["sent"], body["failed"]
    assert sent + failed == 300 and 10 < failed < 60, body
    assert recipients(srv, cid) == {("sent", sent), ("failed", failed)}
    assert len(srv.sms.messages()) == sent
    assert srv.sql(DB, "SELECT DISTINCT error FROM campaign_recipients WHERE campaign_id = ? "
                       "AND status = 'failed'", (cid,)) in ([("SMS provider answered 500",)],
                                                            [["SMS provider answered 500"]])
    # credits debited = messages sent; the unused rest released with the campaign
    assert one(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == (300 - sent,)
    assert one(srv, "SELECT status, consumed FROM credit_reservations WHERE campaign_id = ?",
               (cid,)) == ("consumed", sent)
    assert srv.get("/api/credits", headers=h).json()["reserved"] == 0
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sent"


def test_REL3_an_open_breaker_stops_the_run_and_leaves_the_rest_queued(srv):
    srv.sms.mode = "fail"
    t, h, cid = enqueued(srv, 40)
    rc, body, _ = run_job(srv)
    assert rc == 0, body
    assert (body["sent"], body["failed"], body["stopped"]) == (0, 5, "breaker"), body
    assert recipients(srv, cid) == {("failed", 5), ("queued", 35)}
    # given back, not leased: the next run (after the breaker) takes them
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ? AND "
                       "lease_id IS NOT NULL", (cid,))[0][0] == 0
    assert one(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == (40,)
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sending"
    assert srv.get("/api/credits", headers=h).json() == {"balance": 40, "reserved": 40,
                                                         "available": 0}


def test_CONC5_a_refused_message_is_failed_and_costs_nothing(srv):
    srv.sms.mode = "refuse"
    t, h, cid = enqueued(srv, 8)
    rc, body, _ = run_job(srv)
    assert rc == 0 and (body["sent"], body["failed"], body["completed"]) == (0, 8, 1), body
    assert one(srv, "SELECT status, consumed FROM credit_reservations WHERE campaign_id = ?",
               (cid,)) == ("released", 0)
    assert one(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == (8,)


def test_REL6_two_runs_at_once_one_is_skipped_and_nothing_is_sent_twice(srv):
    t, h, cid = enqueued(srv, 200)
    out = [None, None]

    def go(i):
        out[i] = run_job(srv)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    [x.start() for x in threads]
    [x.join() for x in threads]
    codes = sorted(o[0] for o in out)
    assert codes in ([0, 0], [0, 3]), out  # the second either waited out the first or was skipped
    assert recipients(srv, cid) == {("sent", 200)}
    assert len(srv.sms.calls()) == 200 and len(srv.sms.messages()) == 200
    assert one(srv, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,)) == (0,)


def test_REL1_a_row_leased_by_a_dead_run_is_sent_once_after_its_lease(srv):
    """A run that died after the provider accepted a message and before its commit: the row
    is still queued under the dead lease. Once the lease is over the next run sends it
    again with the same Idempotency-Key, so the phone gets one message."""
    t, h, cid = enqueued(srv, 3)
    [contact, phone] = srv.sql(DB, "SELECT contact_id, phone FROM campaign_recipients WHERE "
                                   "campaign_id = ? ORDER BY contact_id LIMIT 1", (cid,))[0]
    srv.sms.delivered[f"{cid}/{contact}"] = {"to": phone, "id": "sm_dead_run"}
    srv.sql(DB, "UPDATE campaign_recipients SET lease_id = ?, lease_until = 1 WHERE "
                "campaign_id = ? AND contact_id = ?", (str(uuid.uuid4()), cid, contact))
    rc, body, _ = run_job(srv)
    assert rc == 0 and body["sent"] == 3, body
    assert len(srv.sms.messages()) == 3
    assert one(srv, "SELECT provider_id FROM campaign_recipients WHERE campaign_id = ? AND "
                    "contact_id = ?", (cid, contact)) == ("sm_dead_run",)
