"""Signed Stripe deliveries for the tests of every function that receives them.

Every Stripe-Signature comes from Stripe's own npm library
(stripe.webhooks.generateTestHeaderString, tests/tools/stripe_sign.mjs, the version pinned
in tests/tools/package.json and installed by ./build.sh test into .deps/npm-tools), so the
tests never share this project's reading of the signature scheme. Signing runs in batches:
one node start per call of sign().
"""
import json
import os
import subprocess
import time
import uuid

from conftest import ROOT, TEST_VARS

SECRET = TEST_VARS["BASTION_VAR_stripe_webhook_secrets"]
NPM_TOOLS = os.path.join(ROOT, ".deps", "npm-tools")
SIGN = os.path.join(ROOT, "tests", "tools", "stripe_sign.mjs")
HOOK = "/api/webhooks/stripe"


def sign(*items):
    """Stripe-Signature values for (body, secret, timestamp) items, in order, from one run
    of Stripe's library."""
    reqs = [{"payload": b, "secret": s, "timestamp": t} for b, s, t in items]
    out = subprocess.run(["node", SIGN, NPM_TOOLS], input=json.dumps(reqs), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    headers = json.loads(out.stdout)
    assert len(headers) == len(items) and all(h.startswith("t=") for h in headers), headers
    return headers


def body_of(event):
    return event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))


def post(srv, body, signature, timeout=30):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return srv.post(HOOK, body=body, headers=headers, timeout=timeout)


def deliver(srv, event, secret=SECRET, age_s=0):
    body = body_of(event)
    [sig] = sign((body, secret, int(time.time()) - age_s))
    return post(srv, body, sig)


def deliver_all(srv, events):
    """Delivers each event in turn (one signing run); their responses."""
    bodies = [body_of(e) for e in events]
    now = int(time.time())
    sigs = sign(*[(b, SECRET, now) for b in bodies])
    return [post(srv, b, s) for b, s in zip(bodies, sigs)]


def uid(prefix):
    return prefix + uuid.uuid4().hex[:20]


def event(type_, obj, created=None, event_id=None):
    """An event as Stripe sends it (with members no handler reads)."""
    return {"id": event_id or uid("evt_"), "object": "event", "api_version": "2024-06-20",
            "created": created or int(time.time()), "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type_,
            "data": {"object": obj}}
