"""campaign-sender on two hosts with one Redis + PostgreSQL (CONC5, REL1, REL3, REL6):
both hosts' runners fire every second, the SMS provider fails about one message in ten,
and still every recipient is attempted once, sent or failed once, and every sent message
costs exactly one credit.
"""
import json
import os
import tempfile
import time
import uuid

from conftest import (BUILD, REMOTE, FakeSMS, Server, bearer, mint_jwt, pg_database,
                      runtime_config)

DB = "shop"
N = 2000


def test_CONC5_2000_recipients_two_hosts_provider_failing_one_in_ten(tmp_path):
    with open(os.path.join(BUILD, "manifest.json")) as f:
        doc = json.load(f)
    for c in doc["cron"]:
        c["every_s"], c["jitter_s"] = 1, 0
    manifest = str(tmp_path / "manifest.json")
    with open(manifest, "w") as f:
        json.dump(doc, f)
    sms = FakeSMS()
    sms.fail_one_in = 10
    config = runtime_config(REMOTE, str(tmp_path), pg_url=pg_database())
    env = {"BASTION_VAR_sms_api_base": sms.base, "BASTION_VAR_tenant_writes_per_minute": "1000"}
    # host a serves the API with no jobs until the campaign is enqueued; then both run them
    api = Server(manifest, env=env, state=tempfile.mkdtemp(prefix="bastion-send-api-"),
                 runtime_config=config)
    api.migrate()
    api.start()
    hosts = []
    try:
        t = f"s{uuid.uuid4().hex[:12]}.myshopify.com"
        assert api.post("/api/admin/tenants", {"shop_domain": t},
                        headers=bearer(mint_jwt(role="admin"))).status == 201
        h = bearer(mint_jwt(sub="u-1", tenant=t))
        for start in (0, 1000):
            batch = [{"phone": f"+1415{i:07d}", "opted_in": True} for i in range(start, start + 1000)]
            assert api.post("/api/contacts", {"contacts": batch}, headers=h).status == 200
        api.sql(DB, "INSERT INTO credit_accounts (tenant, balance, updated_at) VALUES (?, ?, 0)",
                (t, N))
        r = api.post("/api/campaigns", {"name": "n", "message": "m", "audience": {"all": True}},
                     headers=h)
        cid = r.json()["id"]
        r = api.post(f"/api/campaigns/{cid}/enqueue", headers=dict(h, **{"Idempotency-Key": "k"}))
        assert r.status == 202 and r.json()["recipients"] == N, r
        hosts = [Server(manifest, env=env, state=tempfile.mkdtemp(prefix=f"bastion-send-{n}-"),
                        runtime_config=config, cron=True).start() for n in "ab"]
        deadline = time.time() + 150
        while time.time() < deadline:
            if api.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sent":
                break
            time.sleep(0.5)
        rows = {s: n for s, n in api.sql(DB, "SELECT status, COUNT(*) FROM campaign_recipients "
                                             "WHERE campaign_id = ? GROUP BY status", (cid,))}
        assert api.get(f"/api/campaigns/{cid}", headers=h).json()["status"] == "sent", rows
        sent, failed = rows.get("sent", 0), rows.get("failed", 0)
        assert sent + failed == N and set(rows) <= {"sent", "failed"}, rows
        keys = [c["headers"]["idempotency-key"] for c in sms.calls()]
        assert len(keys) == len(set(keys)) == N  # each recipient attempted exactly once
        assert len(sms.messages()) == sent
        assert api.sql(DB, "SELECT balance FROM credit_accounts WHERE tenant = ?", (t,))[0][0] \
            == N - sent
        assert tuple(api.sql(DB, "SELECT status, consumed FROM credit_reservations WHERE "
                                 "campaign_id = ?", (cid,))[0]) == ("consumed", sent)
        runs = [l for s in hosts for l in s.log_lines()
                if l.get("msg") in ("cron run", "cron skipped") and l.get("job") == "campaign-sender"]
        assert any(l["msg"] == "cron run" for l in runs)
    finally:
        for s in hosts:
            assert s.stop() == 0
        assert api.stop() == 0
        sms.close()
