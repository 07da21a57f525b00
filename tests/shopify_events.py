"""Signed Shopify deliveries for the tests of every function that receives them.

Signatures are computed here, independently of the core: the standard base64 of
HMAC-SHA256(shopify_api_secret, raw body bytes).
"""
import base64
import hashlib
import hmac
import json
import uuid

from conftest import TEST_VARS

SECRET = TEST_VARS["BASTION_VAR_shopify_api_secret"]
HOOK = "/api/webhooks/shopify"


def sign(raw, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def deliver(srv, shop, topic, payload, webhook_id=None, raw=None, sig=None, secret=SECRET,
            drop=(), **extra_headers):
    """One Shopify delivery: `payload` as JSON (or `raw` bytes), signed unless
    `sig` is given; headers in `drop` are left out."""
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sig if sig is not None else sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2024-07",
        **extra_headers,
    }
    for name in drop:
        headers.pop(name)
    return srv.post(HOOK, body=body, headers=headers)
