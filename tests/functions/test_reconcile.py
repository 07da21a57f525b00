"""reconcile, the [[cron]] job that recovers stuck campaigns and releases what expired (REL7).

"Later" is the host's test clock: `bastion invoke --cron reconcile` with
BASTION_TEST_CLOCK_OFFSET_MS moves the modules' wall clock (rt.h) forward, so a campaign
enqueued now has made no progress for 16 minutes. A sender killed mid-batch is its rows
still leased and the campaign's progress_at where it stopped.
"""
import uuid

import pytest

from campaign_jobs import enqueued, run_cron, sms_server, statuses

DB = "shop"
MIN = 60000


@pytest.fixture
def srv():
    with sms_server() as s:
        yield s


def job(srv, name, later_ms=0):
    rc, body, lines = run_cron(srv, name, later_ms)
    assert body is not None, lines
    return rc, body


def killed_mid_batch(srv, cid, leased):
    """What a sender killed after claiming `leased` rows leaves: a lease far from over."""
    srv.sql(DB, "UPDATE campaign_recipients SET lease_id = ?, lease_until = ? WHERE campaign_id = ? "
                "AND contact_id IN (SELECT contact_id FROM campaign_recipients WHERE campaign_id = ? "
                "ORDER BY contact_id LIMIT ?)",
            (str(uuid.uuid4()), 10 ** 13, cid, cid, leased))


def test_REL7_a_campaign_stuck_by_a_killed_sender_is_recovered(srv):
    t, h, cid = enqueued(srv, 6)
    killed_mid_batch(srv, cid, 6)
    # the sender cannot take rows under a live lease: nothing moves
    assert job(srv, "campaign-sender")[1]["claimed"] == 0
    rc, body = job(srv, "reconcile")  # not 15 minutes yet: not stuck
    assert rc == 0 and body["stuck"] == 0, body
    rc, body = job(srv, "reconcile", later_ms=16 * MIN)
    assert rc == 0 and (body["stuck"], body["recovered"], body["failed"]) == (1, 1, 0), body
    assert srv.sql(DB, "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = ? AND "
                       "lease_id IS NOT NULL", (cid,))[0][0] == 0
    rc, body = job(srv, "campaign-sender")
    assert rc == 0 and (body["sent"], body["completed"]) == (6, 1), body
    assert statuses(srv, cid) == {"sent": 6}
    assert len(srv.sms.messages()) == 6
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sent"


def test_REL7_a_campaign_stuck_three_times_fails_and_releases_its_credits(srv):
    t, h, cid = enqueued(srv, 4)
    for i in (1, 2):
        later = i * 16 * MIN
        killed_mid_batch(srv, cid, 4)
        assert job(srv, "reconcile", later_ms=later)[1]["recovered"] == 1
    rc, body = job(srv, "reconcile", later_ms=3 * 16 * MIN)
    assert rc == 0 and (body["recovered"], body["failed"]) == (0, 1), body
    c = srv.get(f"/api/campaigns/{cid}", headers=h).json()
    assert c["status"] == "failed" and c["completed_at"], c
    assert statuses(srv, cid) == {"failed": 4}
    assert tuple(srv.sql(DB, "SELECT status, consumed FROM credit_reservations WHERE "
                             "campaign_id = ?", (cid,))[0]) == ("released", 0)
    assert srv.get("/api/credits", headers=h).json() == {"balance": 4, "reserved": 0,
                                                         "available": 4}
    assert job(srv, "campaign-sender")[1]["campaigns"] == 0  # nothing left to send


def test_REL7_a_sender_making_progress_is_left_alone(srv):
    t, h, cid = enqueued(srv, 3)
    srv.sql(DB, "UPDATE campaigns SET progress_at = ? WHERE id = ?", (10 ** 13, cid))
    rc, body = job(srv, "reconcile", later_ms=16 * MIN)
    assert rc == 0 and body["stuck"] == 0, body
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sending"


def test_REL7_expired_reservations_are_released_and_their_campaigns_stop(srv):
    t, h, cid = enqueued(srv, 5)
    srv.sql(DB, "UPDATE credit_reservations SET expires_at = 1 WHERE campaign_id = ?", (cid,))
    # the sender no longer sends what no reservation covers
    assert job(srv, "campaign-sender")[1]["campaigns"] == 0
    rc, body = job(srv, "reconcile")
    assert rc == 0 and (body["expired"], body["failed"]) == (1, 1), body
    assert statuses(srv, cid) == {"failed": 5}
    assert srv.sql(DB, "SELECT DISTINCT error FROM campaign_recipients WHERE campaign_id = ?",
                   (cid,))[0][0] == "credit reservation expired"
    assert srv.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "failed"
    assert tuple(srv.sql(DB, "SELECT status FROM credit_reservations WHERE campaign_id = ?",
                         (cid,))[0]) == ("released",)
    assert job(srv, "reconcile")[1]["expired"] == 0  # once


def test_REL7_old_webhook_ledger_rows_are_purged(srv):
    day = 86400000
    now = int(__import__("time").time() * 1000)
    rows = [("old-done", "processed", now - 31 * day), ("old-failed", "failed", now - 40 * day),
            ("recent", "processed", now - 29 * day), ("old-open", "processing", now - 31 * day)]
    for db in ("shop", "billing"):
        for i, status, at in rows:
            srv.sql(db, "INSERT INTO webhook_events (provider, id, type, status, attempts, "
                        "received_at, updated_at) VALUES ('test', ?, 't', ?, 1, ?, ?)",
                    (i, status, at, at))
    rc, body = job(srv, "reconcile")
    assert rc == 0 and body["purged"] == 4, body
    for db in ("shop", "billing"):
        left = sorted(r[0] for r in srv.sql(db, "SELECT id FROM webhook_events WHERE provider = 'test'"))
        assert left == ["old-open", "recent"]
