"""The bundle with a fake SMS provider, enqueued campaigns and runs of their [[cron]]
jobs, for the campaign-sender and reconcile tests (tests/functions, tests/scale)."""
import os
import uuid
from contextlib import contextmanager

from conftest import BUILD, FakeSMS, Server, bearer, migrate, mint_jwt, run_cron  # noqa: F401

DB = "shop"


@contextmanager
def sms_server():
    """The real bundle (no jobs of its own) with its SMS provider at a FakeSMS (srv.sms)."""
    sms = FakeSMS()
    manifest = os.path.join(BUILD, "manifest.json")
    s = Server(manifest, env={"BASTION_VAR_sms_api_base": sms.base,
                              "BASTION_VAR_tenant_writes_per_minute": "1000"})
    s.sms = sms
    migrate(manifest, s.state)
    s.start()
    try:
        yield s
    finally:
        assert s.stop() == 0
        sms.close()


def enqueued(srv, n, credits=None, message="Spring sale: 20% off today"):
    """A new installed tenant with n opted-in contacts, `credits` (default n) and a campaign
    to all of them, enqueued: (tenant, headers, campaign id)."""
    t = f"s{uuid.uuid4().hex[:12]}.myshopify.com"
    r = srv.post("/api/admin/tenants", {"shop_domain": t}, headers=bearer(mint_jwt(role="admin")))
    assert r.status == 201, r
    h = bearer(mint_jwt(sub="u-1", tenant=t))
    for start in range(0, n, 1000):
        batch = [{"phone": f"+1415{i:07d}", "opted_in": True}
                 for i in range(start, min(n, start + 1000))]
        assert srv.post("/api/contacts", {"contacts": batch}, headers=h).status == 200
    srv.sql(DB, "INSERT INTO credit_accounts (tenant, balance, updated_at) VALUES (?, ?, 0)",
            (t, n if credits is None else credits))
    r = srv.post("/api/campaigns", {"name": "Spring", "message": message,
                                    "audience": {"all": True}}, headers=h)
    assert r.status == 201, r
    cid = r.json()["id"]
    r = srv.post(f"/api/campaigns/{cid}/enqueue", headers=dict(h, **{"Idempotency-Key": "k1"}))
    assert r.status == 202, r
    return t, h, cid


def statuses(srv, cid):
    """{recipient status: count} of a campaign."""
    return {s: n for s, n in srv.sql(DB, "SELECT status, COUNT(*) FROM campaign_recipients "
                                         "WHERE campaign_id = ? GROUP BY status", (cid,))}
