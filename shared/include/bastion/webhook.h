/*
 * Webhook signature verification (HOOK1, HOOK2): Stripe, Shopify, GitHub and
 * Standard Webhooks, all HMAC-SHA256 over the raw body bytes.
 *
 * A handler MUST verify before it parses or acts on the body: verification
 * is over the exact bytes received, and a body that fails it is an
 * unauthenticated request, not a malformed event.
 *
 * Memory: nothing allocates (but the problems the _or_problem functions
 * write, in the request arena); every working buffer is on the stack and
 * bounded by BASTION_WEBHOOK_MAX_SECRETS and BASTION_WEBHOOK_MAX_SIGNATURES.
 * All arguments are borrowed for the duration of the call only; nothing is
 * retained, so there is no context and no release function.
 *
 * Comparison: every signature is decoded to its 32 MAC bytes and compared
 * with bastion_ct_equal over all 32 of them, against every configured
 * secret, without an early exit. A signature that does not decode to exactly
 * 32 bytes (truncated, padded, too long) is MALFORMED; a prefix is never
 * compared.
 *
 * Secrets: 1..BASTION_WEBHOOK_MAX_SECRETS of them, tried in turn, so a new
 * secret can be deployed next to the old one and the old one retired later
 * (rotation). Checks run in this order, and the first failure is returned:
 * secrets (BAD_SECRET), header presence (NO_HEADER), header grammar
 * (MALFORMED), a signature of the verified scheme (NO_SIGNATURE), timestamp
 * (STALE), MAC (MISMATCH). Checking the timestamp before the MAC means a
 * replayed or stale delivery costs no HMAC over its body.
 */
#ifndef BASTION_WEBHOOK_H
#define BASTION_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "problem.h"

/* At most this many secrets are configured for one endpoint. */
#define BASTION_WEBHOOK_MAX_SECRETS 8
/* A header carrying more signatures of the verified scheme is MALFORMED. */
#define BASTION_WEBHOOK_MAX_SIGNATURES 8
/* Stripe's and Standard Webhooks' recommended tolerance (±5 min). */
#define BASTION_WEBHOOK_TOLERANCE_S 300

typedef enum {
    BASTION_WEBHOOK_OK = 0,
    BASTION_WEBHOOK_NO_HEADER,    /* a required header is absent or empty */
    BASTION_WEBHOOK_MALFORMED,    /* a header is not in the provider's grammar */
    BASTION_WEBHOOK_NO_SIGNATURE, /* well formed, but no v1 signature to verify */
    BASTION_WEBHOOK_STALE,        /* timestamp more than the tolerance from now, past or future */
    BASTION_WEBHOOK_MISMATCH,     /* no signature matches any secret */
    BASTION_WEBHOOK_BAD_SECRET,   /* the configured secrets are unusable (our misconfiguration) */
    BASTION_WEBHOOK__COUNT
} bastion_webhook_rc;

/* A short lower-case phrase for logs and problem details, e.g. "no
 * signature matches". Never NULL; unknown codes give "unknown failure". */
const char *bastion_webhook_rc_text(bastion_webhook_rc rc);

/*
 * Stripe (HOOK1). Stripe docs, "Receive Stripe events in your webhook
 * endpoint" → "Verify signatures manually" (docs.stripe.com/webhooks).
 *
 * `header` is the Stripe-Signature value: comma-separated `key=value`
 * items without whitespace, keys of [A-Za-z0-9_-]. Exactly one `t` (decimal
 * Unix seconds, at most 18 digits); 1..MAX_SIGNATURES `v1` items, each 64 hex
 * digits (either case: the decoded bytes are compared). Other schemes (`v0`,
 * sent in test mode) are ignored. A duplicate `t`, an empty item or a bad
 * `v1` is MALFORMED; no `v1` at all is NO_SIGNATURE.
 *
 * The MAC is HMAC-SHA256(secret, t "." body), with `t` exactly as sent and
 * each secret used as its raw bytes — the whole "whsec_…" string, which is
 * not decoded. `tolerance_s` bounds |now_s - t| and 0 means "same second":
 * there is no way to switch the check off.
 */
bastion_webhook_rc bastion_webhook_stripe(bastion_str header, /* Stripe-Signature */
                                          bastion_str body,   /* raw request body */
                                          const bastion_str *secrets, size_t n_secrets,
                                          int64_t now_s, /* Unix seconds */
                                          uint32_t tolerance_s);

/*
 * Shopify (HOOK2). Shopify docs, "Deliver webhooks through HTTPS" → "Verify
 * the webhook" (shopify.dev/docs/apps/build/webhooks/subscribe/https):
 * X-Shopify-Hmac-Sha256 is the standard base64 (RFC 4648 §4, padded) of
 * HMAC-SHA256(client secret, body); each secret is used as its raw bytes.
 * A value that is not canonical base64 of exactly 32 bytes is MALFORMED.
 * Shopify sends no timestamp; replays are HOOK3's job.
 */
bastion_webhook_rc bastion_webhook_shopify(bastion_str header_b64, /* X-Shopify-Hmac-Sha256 */
                                           bastion_str body, const bastion_str *secrets,
                                           size_t n_secrets);

/*
 * GitHub. GitHub docs, "Validating webhook deliveries": X-Hub-Signature-256
 * is "sha256=" followed by the hex HMAC-SHA256(secret, body); each secret is
 * used as its raw bytes. The prefix must be exactly "sha256=" (lower case);
 * the 64 hex digits may be of either case, since the decoded bytes are
 * compared (GitHub sends lower case). Anything else is MALFORMED.
 */
bastion_webhook_rc bastion_webhook_github(bastion_str header, /* X-Hub-Signature-256 */
                                          bastion_str body, const bastion_str *secrets,
                                          size_t n_secrets);

/*
 * Standard Webhooks v1.0.0 (github.com/standard-webhooks/standard-webhooks,
 * spec/standard-webhooks.md, "Signature scheme", "Webhook headers",
 * "Verifying signatures").
 *
 * Each secret is "whsec_" followed by the base64 (padded or not) of 24..64
 * random bytes (the spec's "at least 24 bytes … 512 [bits] maximum"); any
 * other secret is BAD_SECRET. `id` MUST NOT contain '.' (the spec forbids it
 * so that "{id}.{timestamp}.{body}" stays unambiguous). `timestamp` is
 * decimal Unix seconds. `signature` is a list of "version,base64" items
 * separated by single spaces; only `v1` (HMAC-SHA256) is verified, and
 * others (`v1a` is ed25519) are ignored. A `v1` that is not the padded base64
 * of 32 bytes, an empty item or an item without ',' is MALFORMED.
 */
bastion_webhook_rc bastion_webhook_standard(bastion_str id,        /* webhook-id */
                                            bastion_str timestamp, /* webhook-timestamp */
                                            bastion_str signature, /* webhook-signature */
                                            bastion_str body,
                                            const bastion_str *secrets, /* "whsec_…" */
                                            size_t n_secrets, int64_t now_s, uint32_t tolerance_s);

/*
 * The endpoint's secrets, from the configuration variable `var` (granted to
 * the function): a comma list (list.h: spaces around members and empty
 * members ignored) of 1..BASTION_WEBHOOK_MAX_SECRETS secrets, so that during
 * a rotation it holds the old and the new one ("whsec_old, whsec_new").
 * Unset, empty, or more than the maximum → 500 BASTION_E_MISCONFIGURED
 * naming the variable, never a value (REL8). On BASTION_OK secrets[0..*n)
 * are sub-slices of the variable's value, which lives as long as the
 * instance.
 */
bastion_rc bastion_webhook_secrets_or_problem(bastion_ctx *cx, const char *var,
                                              bastion_str secrets[BASTION_WEBHOOK_MAX_SECRETS],
                                              size_t *n);

/*
 * The same checks on the request in `cx` (its lower-case headers and raw
 * body), with now = bastion_now_ms() / 1000 and BASTION_WEBHOOK_TOLERANCE_S.
 *
 * On failure the problem is already written, so the handler just returns:
 * 401 BASTION_E_UNAUTHORIZED whose detail names the header and the failure
 * class, or 500 BASTION_E_MISCONFIGURED for BAD_SECRET. Details never
 * contain a secret, a header value or an expected MAC.
 *
 *     if (bastion_webhook_stripe_or_problem(cx, secrets, n)) return;
 */
bastion_rc bastion_webhook_stripe_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                             size_t n_secrets);
bastion_rc bastion_webhook_shopify_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                              size_t n_secrets);
bastion_rc bastion_webhook_github_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                             size_t n_secrets);
bastion_rc bastion_webhook_standard_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                               size_t n_secrets);

#endif
