"""shopify-webhook over real HTTP (HOOK2, HOOK3, HOOK4, AUTH5, AUTH1, REL8, ERR1).

Signatures are computed independently of the core (tests/shopify_events.py). Every test works
on shops of its own (a random <name>.myshopify.com), so tests sharing the
module's server never see each other's rows.
"""
import base64
import hashlib
import hmac
import json
import os
import tempfile
import threading
import uuid

import pytest

from conftest import (BUILD, SQLITE, Server, admin_headers, assert_problem,
                      failing_trigger, migrate, sql_trigger, user_headers)
from shopify_events import HOOK, SECRET, deliver, sign

TENANTS = "/api/admin/tenants"
DB = "shop"


@pytest.fixture(scope="module")
def srv(bundle):
    return bundle


# --- helpers -------------------------------------------------------------------

def new_shop():
    return f"s{uuid.uuid4().hex[:12]}.myshopify.com"


def install(srv, shop):
    r = srv.post(TENANTS, {"shop_domain": shop}, headers=admin_headers())
    assert r.status == 201, r
    return r


def customer(phone="+14155550100", **over):
    """A customer as Shopify sends it, with members this function never reads."""
    c = {"id": 706405506930370084, "email": "Bob.Norman@Example.com", "first_name": "Bob",
         "last_name": "Norman", "phone": phone, "tags": "vip, wholesale",
         "state": "enabled", "verified_email": True, "currency": "USD",
         "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in",
                                     "consent_updated_at": None},
         "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                   "consent_updated_at": "2024-01-01T10:00:00-05:00",
                                   "consent_collected_from": "SHOPIFY"},
         "addresses": [], "default_address": None, "admin_graphql_api_id": "gid://shopify/Customer/1"}
    c.update(over)
    return c


def contacts(srv, shop):
    """The shop's contacts; each one's contact_tags rows are checked to be its
    tags (the index a campaign's audience reads), under its created_at."""
    rows = srv.sql(DB, "SELECT id, phone, email, first_name, opted_in, tags, created_at "
                       "FROM contacts WHERE tenant = ? ORDER BY phone", (shop,))
    out = [dict(zip(("id", "phone", "email", "first_name", "opted_in", "tags", "created_at"),
                    r), tags=json.loads(r[5])) for r in rows]
    for c in out:
        tag_rows = srv.sql(DB, "SELECT tag, created_at FROM contact_tags "
                               "WHERE tenant = ? AND contact_id = ?", (shop, c["id"]))
        assert sorted(t for t, _ in tag_rows) == sorted(c["tags"]), (c, tag_rows)
        assert all(at == c["created_at"] for _, at in tag_rows), (c, tag_rows)
    return out


def ledger(srv, shop, webhook_id):
    rows = srv.sql(DB, "SELECT status, attempts, error, type FROM webhook_events "
                       "WHERE provider = 'shopify' AND id = ?", (f"{shop}/{webhook_id}",))
    return dict(zip(("status", "attempts", "error", "type"), rows[0])) if rows else None


def ledger_rows(srv, shop):
    return srv.sql(DB, "SELECT id FROM webhook_events WHERE id LIKE ?", (shop + "/%",))


def tenant(srv, shop):
    rows = srv.sql(DB, "SELECT status, installed_at, uninstalled_at FROM tenants "
                       "WHERE shop_domain = ?", (shop,))
    return dict(zip(("status", "installed_at", "uninstalled_at"), rows[0])) if rows else None


def assert_nothing_written(srv, shop):
    assert contacts(srv, shop) == []
    assert ledger_rows(srv, shop) == []


# --- HOOK2: the signature, before anything else ----------------------------------

def test_HOOK2_valid_delivery_creates_the_contact(srv):
    shop = new_shop()
    install(srv, shop)
    wid = str(uuid.uuid4())
    r = deliver(srv, shop, "customers/create",
                customer(tags=" vip, wholesale,, vip ,Ünïcode tag"), webhook_id=wid)
    assert r.status == 200, r
    assert r.json() == {"received": True, "processed": True}
    [c] = contacts(srv, shop)
    assert c["phone"] == "+14155550100"
    assert c["email"] == "bob.norman@example.com"  # lower-cased
    assert c["first_name"] == "Bob"
    assert c["opted_in"] == 1  # sms consent subscribed
    assert c["tags"] == ["vip", "wholesale", "Ünïcode tag"]  # split, trimmed, distinct
    assert len(c["id"]) == 36
    assert ledger(srv, shop, wid) == {"status": "processed", "attempts": 1, "error": None,
                                      "type": "customers/create"}


def test_HOOK2_tampered_body_is_401_and_writes_nothing(srv):
    shop = new_shop()
    install(srv, shop)
    raw = json.dumps(customer()).encode()
    tampered = raw.replace(b"+14155550100", b"+14155550199")
    p = assert_problem(deliver(srv, shop, "customers/create", None, raw=tampered, sig=sign(raw)),
                       401, "auth")
    assert "X-Shopify-Hmac-Sha256" in p["detail"]
    assert_nothing_written(srv, shop)
    # the untampered bytes with the same signature go through
    assert deliver(srv, shop, "customers/create", None, raw=raw, sig=sign(raw)).status == 200
    assert len(contacts(srv, shop)) == 1


def test_HOOK2_wrong_secret_is_401(srv):
    shop = new_shop()
    install(srv, shop)
    r = deliver(srv, shop, "customers/create", customer(), secret="shpss_someone_elses_secret")
    assert_problem(r, 401, "auth")
    assert_nothing_written(srv, shop)


@pytest.mark.parametrize("sig", [
    None,  # the header left out
    "",
    "not base64 at all!",
    base64.b64encode(b"\x00" * 31).decode(),  # 31 bytes
    hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),  # hex, not base64
], ids=["missing", "empty", "garbage", "short", "hex"])
def test_HOOK2_missing_or_malformed_signature_is_401(srv, sig):
    shop = new_shop()
    install(srv, shop)
    drop = ("X-Shopify-Hmac-Sha256",) if sig is None else ()
    r = deliver(srv, shop, "customers/create", customer(), sig=sig or "", drop=drop)
    assert_problem(r, 401, "auth")
    assert_nothing_written(srv, shop)


def test_HOOK2_the_signature_is_checked_before_the_body_is_parsed(srv):
    shop = new_shop()
    install(srv, shop)
    # not JSON, and unsigned: 401, not 400
    assert_problem(deliver(srv, shop, "customers/create", None, raw=b"{nope", sig="AAAA"), 401)
    # the same bytes signed reach the parser: 400
    assert_problem(deliver(srv, shop, "customers/create", None, raw=b"{nope"), 400)
    assert_nothing_written(srv, shop)


def test_HOOK2_unknown_shop_bad_domain_or_missing_header_is_401(srv):
    shop = new_shop()
    install(srv, shop)
    name = shop.split(".")[0]
    for bad in [new_shop(),                        # well formed, never installed
                name.upper() + ".myshopify.com",   # the installed shop, but not lower case
                name + ".example.com",
                "-" + shop,
                "a" * 64 + ".myshopify.com",       # the name is longer than a DNS label
                ".myshopify.com",
                shop + ".evil.example",
                f"{name}_x.myshopify.com"]:
        r = deliver(srv, bad, "customers/create", customer())
        assert_problem(r, 401, "auth")
        assert contacts(srv, bad.lower()) == [], bad
        assert ledger_rows(srv, bad.lower()) == [], bad  # no claim, no ledger row
    assert_problem(deliver(srv, shop, "customers/create", customer(),
                           drop=("X-Shopify-Shop-Domain",)), 401)
    assert_nothing_written(srv, shop)
    assert srv.sql(DB, "SELECT count(*) FROM tenants WHERE shop_domain LIKE ?",
                   ("%" + name + "%",)) == [(1,)]


def test_REL8_unset_secret_is_500_misconfigured():
    """The variable is required, so serve refuses to start without it; a
    manifest that makes it optional shows the module's own refusal."""
    with open(os.path.join(BUILD, "manifest.json")) as f:
        doc = json.load(f)
    doc["vars"]["shopify_api_secret"]["required"] = False
    path = os.path.join(tempfile.mkdtemp(prefix="bastion-manifest-"), "manifest.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    srv = Server(path)
    srv.env.pop("BASTION_VAR_shopify_api_secret")
    migrate(path, srv.state)
    srv.start()
    try:
        r = deliver(srv, new_shop(), "customers/create", customer())
        p = assert_problem(r, 500, "internal")
        assert "shopify_api_secret" in p["detail"]
        assert srv.sql(DB, "SELECT count(*) FROM webhook_events") == [(0,)]
    finally:
        assert srv.stop() == 0


# --- HOOK3: the event id, exactly once ---------------------------------------------

@pytest.mark.parametrize("wid", [None, "", "x" * 129, "has space"],
                         ids=["missing", "empty", "too-long", "space"])
def test_HOOK3_missing_or_bad_webhook_id_is_400(srv, wid):
    shop = new_shop()
    install(srv, shop)
    if wid is None:
        r = deliver(srv, shop, "customers/create", customer(), drop=("X-Shopify-Webhook-Id",))
    else:
        r = deliver(srv, shop, "customers/create", customer(), **{"X-Shopify-Webhook-Id": wid})
    p = assert_problem(r, 400, "validation")
    assert "X-Shopify-Webhook-Id" in p["detail"]
    assert_nothing_written(srv, shop)


def test_HOOK3_missing_topic_is_400_and_other_topics_are_ignored(srv):
    shop = new_shop()
    install(srv, shop)
    assert_problem(deliver(srv, shop, "x", customer(), drop=("X-Shopify-Topic",)), 400)
    wid = str(uuid.uuid4())
    for topic in ("products/update", "customers/delete", "orders/paid"):
        r = deliver(srv, shop, topic, {"id": 1, "anything": ["at", "all"]}, webhook_id=wid)
        assert r.status == 200, r
        assert r.json() == {"received": True, "ignored": True}
    # an ignored topic is not even parsed, and leaves no trace
    r = deliver(srv, shop, "products/update", None, raw=b"not json")
    assert r.json() == {"received": True, "ignored": True}
    assert_nothing_written(srv, shop)


def test_HOOK3_create_then_update_changes_the_same_contact(srv):
    shop = new_shop()
    install(srv, shop)
    assert deliver(srv, shop, "customers/create", customer()).status == 200
    [before] = contacts(srv, shop)
    upd = customer(email="robert@EXAMPLE.com", first_name="Robert", tags="gold",
                   sms_marketing_consent={"state": "unsubscribed", "opt_in_level": None})
    r = deliver(srv, shop, "customers/update", upd)
    assert r.status == 200 and r.json()["processed"] is True, r
    [after] = contacts(srv, shop)
    assert after["id"] == before["id"] and after["created_at"] == before["created_at"]
    assert after["email"] == "robert@example.com"
    assert after["first_name"] == "Robert"
    assert after["opted_in"] == 0  # unsubscribed
    assert after["tags"] == ["gold"]
    # a payload without SMS consent, email or tags keeps what is known
    keep = customer(email=None, first_name="", tags="")
    del keep["sms_marketing_consent"]
    assert deliver(srv, shop, "customers/update", keep).status == 200
    [kept] = contacts(srv, shop)
    assert (kept["email"], kept["first_name"], kept["opted_in"]) == \
        ("robert@example.com", "Robert", 0)
    assert kept["tags"] == []  # tags "" says: no tags
    # email consent alone never opts in to SMS
    email_only = customer(email_marketing_consent={"state": "subscribed"},
                          sms_marketing_consent={"state": "not_subscribed"})
    assert deliver(srv, shop, "customers/update", email_only).status == 200
    assert contacts(srv, shop)[0]["opted_in"] == 0


def test_HOOK3_orders_create_upserts_the_customer(srv):
    shop = new_shop()
    install(srv, shop)
    assert deliver(srv, shop, "customers/create", customer()).status == 200
    [known] = contacts(srv, shop)
    # the customer's phone wins over the order's
    order = {"id": 450789469, "email": "", "phone": "+14155550122", "total_price": "10.00",
             "line_items": [{"id": 1, "title": "Tea"}],
             "customer": {"id": 706405506930370084, "email": "NEW@example.com",
                          "first_name": "Bobby", "phone": "+14155550100",
                          "tags": "vip, repeat"}}
    r = deliver(srv, shop, "orders/create", order)
    assert r.status == 200 and r.json() == {"received": True, "processed": True}, r
    [c] = contacts(srv, shop)
    assert c["id"] == known["id"]
    assert (c["email"], c["first_name"], c["tags"]) == ("new@example.com", "Bobby",
                                                        ["vip", "repeat"])
    assert c["opted_in"] == 1  # no consent in the order: the known one stays
    # a guest order: the order's own phone and email make a new contact
    guest = {"id": 450789470, "email": "Guest@Example.com", "phone": "+14155550111",
             "customer": None}
    assert deliver(srv, shop, "orders/create", guest).status == 200
    new = [x for x in contacts(srv, shop) if x["phone"] == "+14155550111"]
    assert len(new) == 1
    assert (new[0]["email"], new[0]["first_name"], new[0]["opted_in"], new[0]["tags"]) == \
        ("guest@example.com", None, 0, [])
    assert len(contacts(srv, shop)) == 2


def test_HOOK3_a_customer_without_a_phone_is_skipped(srv):
    shop = new_shop()
    install(srv, shop)
    wid = str(uuid.uuid4())
    r = deliver(srv, shop, "customers/create", customer(phone=None), webhook_id=wid)
    assert r.status == 200, r
    assert r.json() == {"received": True, "processed": True, "skipped": "no phone"}
    r = deliver(srv, shop, "orders/create", {"id": 5, "email": "a@example.com", "phone": "",
                                             "customer": {"id": 9, "phone": None}})
    assert r.json()["skipped"] == "no phone"
    assert contacts(srv, shop) == []
    assert ledger(srv, shop, wid)["status"] == "processed"
    again = deliver(srv, shop, "customers/create", customer(), webhook_id=wid)
    assert again.json() == {"received": True, "duplicate": True}
    assert contacts(srv, shop) == []


def test_HOOK3_concurrent_identical_deliveries_process_once(srv):
    shop = new_shop()
    install(srv, shop)
    wid = str(uuid.uuid4())
    raw = json.dumps(customer()).encode()
    results, start = [], threading.Barrier(50)

    def one():
        start.wait()
        r = deliver(srv, shop, "customers/create", None, raw=raw, webhook_id=wid)
        results.append((r.status, r.json()))

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in results] == [200] * 50, results
    bodies = [b for _, b in results]
    assert bodies.count({"received": True, "processed": True}) == 1, bodies
    assert bodies.count({"received": True, "duplicate": True}) == 49, bodies
    assert len(contacts(srv, shop)) == 1
    assert ledger(srv, shop, wid)["attempts"] == 1
    # and a redelivery later is a duplicate too
    r = deliver(srv, shop, "customers/create", None, raw=raw, webhook_id=wid)
    assert r.json() == {"received": True, "duplicate": True}


def test_HOOK3_a_failed_attempt_is_recorded_and_the_retry_succeeds(srv):
    shop = new_shop()
    install(srv, shop)
    wid = str(uuid.uuid4())
    with failing_trigger(srv, DB, "contacts", "INSERT"):
        r = deliver(srv, shop, "customers/create", customer(), webhook_id=wid)
        p = assert_problem(r, 500)
        assert "test trigger" not in json.dumps(p)  # no store text reaches the client
        assert contacts(srv, shop) == []
        led = ledger(srv, shop, wid)
        assert led["status"] == "failed" and led["attempts"] == 1
        assert "contact upsert" in led["error"]
    r = deliver(srv, shop, "customers/create", customer(), webhook_id=wid)
    assert r.status == 200 and r.json() == {"received": True, "processed": True}, r
    assert len(contacts(srv, shop)) == 1
    assert ledger(srv, shop, wid) == {"status": "processed", "attempts": 2, "error": None,
                                      "type": "customers/create"}
    assert deliver(srv, shop, "customers/create", customer(), webhook_id=wid).json() == \
        {"received": True, "duplicate": True}


# --- HOOK4: the structure of each topic ------------------------------------------

MALFORMED = [
    ("customers/create", {"email": "a@example.com"}, "/id"),
    ("customers/create", customer(id="706405506930370084"), "/id"),
    ("customers/create", customer(id=1.5), "/id"),
    ("customers/create", customer(phone="415-555-0100"), "/phone"),
    ("customers/create", customer(email="not an email"), "/email"),
    ("customers/create", customer(first_name=7), "/first_name"),
    ("customers/create", customer(tags=["vip"]), "/tags"),
    ("customers/create", customer(tags="x" * 256), "/tags"),
    ("customers/create", customer(sms_marketing_consent="subscribed"), "/sms_marketing_consent"),
    ("customers/create", customer(sms_marketing_consent={"state": True}),
     "/sms_marketing_consent/state"),
    ("customers/update", customer(sms_marketing_consent={"opt_in_level": "single_opt_in"}),
     "/sms_marketing_consent/state"),
    ("orders/create", {"customer": customer()}, "/id"),
    ("orders/create", {"id": 1, "phone": "5550100"}, "/phone"),
    ("orders/create", {"id": 1, "email": 3}, "/email"),
    ("orders/create", {"id": 1, "customer": "bob"}, "/customer"),
    ("orders/create", {"id": 1, "customer": customer(id=None)}, "/customer/id"),
    ("orders/create", {"id": 1, "customer": customer(phone="+0123")}, "/customer/phone"),
    ("orders/create", {"id": 1, "customer": customer(tags=1)}, "/customer/tags"),
    ("app/uninstalled", {"id": 1}, "/myshopify_domain"),
    ("app/uninstalled", {"myshopify_domain": "x.myshopify.com"}, "/id"),
    ("app/uninstalled", {"id": 1, "myshopify_domain": 5}, "/myshopify_domain"),
]


@pytest.mark.parametrize("topic,payload,pointer", MALFORMED,
                         ids=[f"{t}{p}-{i}" for i, (t, _, p) in enumerate(MALFORMED)])
def test_HOOK4_a_malformed_event_is_400_with_its_pointer(srv, topic, payload, pointer):
    shop = new_shop()
    install(srv, shop)
    r = deliver(srv, shop, topic, payload)
    p = assert_problem(r, 400, "validation")
    assert pointer in [e["pointer"] for e in p["errors"]], p
    assert_nothing_written(srv, shop)
    assert tenant(srv, shop)["status"] == "installed"


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b'{"id": 01}',
                                 b'{"id": 1, "id": 2, "phone": "+14155550100"}'],
                         ids=["truncated", "array", "string", "leading-zero", "duplicate"])
def test_HOOK4_a_body_that_is_not_an_event_object_is_400(srv, raw):
    shop = new_shop()
    install(srv, shop)
    assert_problem(deliver(srv, shop, "customers/create", None, raw=raw), 400)
    assert_nothing_written(srv, shop)


# --- AUTH5: one tenant's webhooks never reach another's rows ----------------------

def test_AUTH5_the_same_phone_in_two_shops_is_two_contacts(srv):
    a, b = new_shop(), new_shop()
    install(srv, a)
    install(srv, b)
    wid = str(uuid.uuid4())  # the same id under both shops: two events (scoped ledger)
    assert deliver(srv, a, "customers/create", customer(first_name="Alice-A"),
                   webhook_id=wid).json()["processed"] is True
    assert deliver(srv, b, "customers/create", customer(first_name="Bea-B", tags="b-only"),
                   webhook_id=wid).json()["processed"] is True
    [ca], [cb] = contacts(srv, a), contacts(srv, b)
    assert ca["id"] != cb["id"] and ca["phone"] == cb["phone"]
    # a webhook for A changes A's row only
    upd = customer(first_name="Alice-2", email="alice@a.example", tags="a-tag",
                   sms_marketing_consent={"state": "unsubscribed"})
    assert deliver(srv, a, "customers/update", upd).status == 200
    assert deliver(srv, a, "orders/create", {"id": 3, "customer": upd}).status == 200
    [ca2], [cb2] = contacts(srv, a), contacts(srv, b)
    assert (ca2["first_name"], ca2["opted_in"], ca2["tags"]) == ("Alice-2", 0, ["a-tag"])
    assert cb2 == cb
    # and A's uninstall leaves B installed
    assert deliver(srv, a, "app/uninstalled", {"id": 1, "myshopify_domain": a}).status == 200
    assert tenant(srv, b)["status"] == "installed"
    assert deliver(srv, b, "customers/update", customer(first_name="Bea-2")).status == 200
    assert contacts(srv, b)[0]["first_name"] == "Bea-2"


class uninstall_on_claim(sql_trigger):
    """An uninstall that lands between the tenant check and the commit: a
    trigger on the ledger's insert (which runs after the check, before the
    effect) marks `shop` uninstalled, on either backend."""

    def __init__(self, srv, shop):
        super().__init__(srv, DB)
        self.name = "test_uninstall_" + uuid.uuid4().hex[:8]
        update = ("UPDATE tenants SET status = 'uninstalled', uninstalled_at = 1 "
                  f"WHERE shop_domain = '{shop}'")
        if srv.backend == SQLITE:
            self.create = (f"CREATE TRIGGER {self.name} AFTER INSERT ON webhook_events "
                           f"BEGIN {update}; END")
            self.drop = f"DROP TRIGGER {self.name}"
        else:
            self.create = (f"CREATE FUNCTION {self.name}() RETURNS trigger LANGUAGE plpgsql AS "
                           f"$f$ BEGIN {update}; RETURN NEW; END $f$; "
                           f"CREATE TRIGGER {self.name} AFTER INSERT ON webhook_events "
                           f"FOR EACH ROW EXECUTE FUNCTION {self.name}()")
            self.drop = f"DROP FUNCTION {self.name}() CASCADE"


def test_AUTH5_an_uninstall_during_processing_changes_no_contact(srv):
    """The upsert itself requires the installed tenant (one guarded
    statement), so the tenant check cannot be raced."""
    shop = new_shop()
    install(srv, shop)
    wid = str(uuid.uuid4())
    with uninstall_on_claim(srv, shop):
        assert_problem(deliver(srv, shop, "customers/create", customer(), webhook_id=wid), 401)
    assert tenant(srv, shop)["status"] == "uninstalled"
    assert contacts(srv, shop) == []
    led = ledger(srv, shop, wid)
    assert led["status"] == "failed" and "not installed" in led["error"]


# --- app/uninstalled ---------------------------------------------------------------

def test_HOOK2_app_uninstalled_closes_the_tenant(srv):
    shop = new_shop()
    install(srv, shop)
    assert deliver(srv, shop, "customers/create", customer()).status == 200
    # a signed uninstall of another shop, replayed under this shop's header
    other = {"id": 2, "myshopify_domain": new_shop(), "name": "Other"}
    assert_problem(deliver(srv, shop, "app/uninstalled", other), 401)
    assert tenant(srv, shop)["status"] == "installed"
    wid = str(uuid.uuid4())
    r = deliver(srv, shop, "app/uninstalled",
                {"id": 548380009, "name": "Super Toys", "myshopify_domain": shop,
                 "domain": "toys.example.com", "plan_name": "basic"}, webhook_id=wid)
    assert r.status == 200 and r.json() == {"received": True, "processed": True}, r
    t = tenant(srv, shop)
    assert t["status"] == "uninstalled" and t["uninstalled_at"] >= t["installed_at"]
    assert ledger(srv, shop, wid)["status"] == "processed"
    before = contacts(srv, shop)
    # later webhooks for the shop are refused and change nothing
    for topic, payload in [("customers/update", customer(first_name="Late")),
                           ("orders/create", {"id": 9, "phone": "+14155550177"}),
                           ("app/uninstalled", {"id": 548380009, "myshopify_domain": shop})]:
        assert_problem(deliver(srv, shop, topic, payload), 401)
    assert contacts(srv, shop) == before
    assert len(ledger_rows(srv, shop)) == 2  # the first contact and the uninstall only


# --- POST /api/admin/tenants (AUTH1, VAL1) -------------------------------------------

def test_AUTH1_admin_tenants_installs_once(srv):
    shop = new_shop()
    r = srv.post(TENANTS, {"shop_domain": shop}, headers=admin_headers())
    assert r.status == 201, r
    body = r.json()
    assert set(body) == {"shop_domain", "status", "installed_at"}
    assert body["shop_domain"] == shop and body["status"] == "installed"
    assert body["installed_at"].endswith("Z")
    assert tenant(srv, shop)["status"] == "installed"
    p = assert_problem(srv.post(TENANTS, {"shop_domain": shop}, headers=admin_headers()), 409,
                       "conflict")
    assert "already installed" in p["detail"]
    # upper case is the same shop
    assert_problem(srv.post(TENANTS, {"shop_domain": shop.upper()}, headers=admin_headers()), 409)


def test_AUTH1_admin_tenants_needs_an_admin_token_before_the_body(srv):
    shop = new_shop()
    assert_problem(srv.post(TENANTS, {"shop_domain": shop}), 401, "auth")
    assert_problem(srv.post(TENANTS, {"shop_domain": shop}, headers=user_headers()), 403, "auth")
    # before the body: garbage without a token is still 401
    assert_problem(srv.post(TENANTS, body=b"{", headers={"Content-Type": "application/json"}),
                   401)
    assert tenant(srv, shop) is None


@pytest.mark.parametrize("domain", ["acme.example.com", "-acme.myshopify.com", "acme",
                                    ".myshopify.com", "a" * 64 + ".myshopify.com",
                                    "ac me.myshopify.com", 42, None],
                         ids=["other-domain", "hyphen-first", "bare", "no-name", "too-long",
                              "space", "number", "missing"])
def test_VAL1_admin_tenants_refuses_a_bad_domain(srv, domain):
    body = {} if domain is None else {"shop_domain": domain}
    p = assert_problem(srv.post(TENANTS, body, headers=admin_headers()), 422, "validation")
    assert [e["pointer"] for e in p["errors"]] == ["/shop_domain"]
    assert srv.sql(DB, "SELECT count(*) FROM tenants WHERE shop_domain = ?",
                   (str(domain).lower(),)) == [(0,)]


def test_AUTH1_an_uninstalled_shop_can_be_installed_again(srv):
    shop = new_shop()
    install(srv, shop)
    assert deliver(srv, shop, "customers/create", customer()).status == 200
    assert deliver(srv, shop, "app/uninstalled", {"id": 1, "myshopify_domain": shop}).status == 200
    assert_problem(deliver(srv, shop, "customers/update", customer()), 401)
    r = srv.post(TENANTS, {"shop_domain": shop}, headers=admin_headers())
    assert r.status == 201 and r.json()["status"] == "installed", r
    t = tenant(srv, shop)
    assert t["status"] == "installed" and t["uninstalled_at"] is None
    assert len(contacts(srv, shop)) == 1  # the earlier contacts are kept
    assert deliver(srv, shop, "customers/update", customer(first_name="Back")).status == 200
    assert contacts(srv, shop)[0]["first_name"] == "Back"


def test_ERR1_other_methods_are_405(srv):
    for path in (HOOK, TENANTS):
        for method in ("GET", "PUT", "DELETE"):
            r = srv.request(method, path)
            assert_problem(r, 405)
            assert r.headers["allow"] == "POST"
