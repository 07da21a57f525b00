/*
 * Idempotency keys (CONC4) and duplicate-submission claims (CONC3), kept in
 * the host's kv store: nothing lives in instance memory (CONC7).
 *
 * Idempotency-Key follows draft-ietf-httpapi-idempotency-key-header-07
 * ("the draft" below). Bastion's published policy, which §2.3 and §2.5 ask
 * the resource server to publish:
 *   - Syntax (§2.1): an RFC 8941 sf-string, e.g. "8e03978e-…"; a bare token
 *     (8e03978e-…) is accepted too, for clients that predate the draft. Both
 *     forms name the same key. 1–255 printable ASCII characters; exactly one
 *     field per request. Anything else is 400.
 *   - Scope (§2.2, and the draft's Security Considerations): keys are unique
 *     per caller scope (the authenticated subject or tenant), so two clients
 *     that pick the same key never meet.
 *   - Fingerprint (§2.4): SHA-256 over method, path, query and the raw body.
 *     The same key with another fingerprint is 422 (§2.7).
 *   - In flight (§2.6): a second request with the key while the first runs
 *     is 409 with Retry-After (§2.7); nothing needs correcting before retry.
 *   - Completed (§2.6): the stored status, Content-Type, Location and body
 *     are replayed, with `Idempotent-Replayed: true`.
 *   - Not stored: 5xx, 408, 429, 401 and 403 answers, and requests that never
 *     responded. They describe the server's or the credentials' state at that
 *     moment, not the operation's outcome, so the key is released and the
 *     client's retry runs the operation again.
 *   - Retention (§2.3): 24 h from completion.
 *   - A response body over 64 KiB is not kept; a retry within 24 h gets 409
 *     ("completed; not replayable") and should read the resource instead.
 *
 * A handler reads top to bottom:
 *     bastion_idem idem;
 *     if (bastion_idempotency_begin_or_problem(cx, "idem", tenant, true, &idem))
 *         return;                 (problem or replay already written)
 *     ... the operation, then bastion_respond_* ...
 *     bastion_idempotency_finish(cx, &idem);
 */
#ifndef BASTION_IDEMPOTENCY_H
#define BASTION_IDEMPOTENCY_H

#include "core.h"
#include "crypto.h"
#include "host.h"
#include "problem.h"

#define BASTION_IDEM_KEY_MAX            255       /* characters, after unquoting */
#define BASTION_IDEM_BODY_MAX           65536     /* largest replayable response body */
#define BASTION_IDEM_RETENTION_MS       86400000u /* 24 h */
#define BASTION_IDEM_INFLIGHT_MARGIN_MS 30000u    /* marker TTL past the request deadline */

/*
 * Returned by bastion_idempotency_begin_or_problem when it has replayed a
 * stored response. Not an error, but a response is written, so the caller
 * returns exactly as after a failed `_or_problem` call.
 */
#define BASTION_IDEM_REPLAYED BASTION_ANSWERED

/* One request's hold on an idempotency key. Caller-allocated, usually on the
 * handler's stack; the slices point into the request arena. No release
 * function: bastion_idempotency_finish is the only follow-up. */
typedef struct {
    const char *store;
    bool active;   /* this request owns the in-flight marker */
    bool replayed; /* begin answered from the stored record */
    bastion_str kv_key;
    bastion_str marker; /* the exact in-flight value written, for the CAS in finish */
    uint8_t fp[BASTION_SHA256_LEN];
} bastion_idem;

/*
 * Parses one Idempotency-Key field value (§2.1): optional surrounding SP/HTAB,
 * then either an sf-string (RFC 8941 §3.3.3; escapes \" and \\ only, no
 * parameters) or a bare run of VCHAR without DQUOTE, backslash, comma or
 * semicolon. Writes the unquoted key to `out` and its length to `*out_len`.
 * Returns false for anything else, including an empty key and one longer
 * than BASTION_IDEM_KEY_MAX. Touches no store; safe on any bytes.
 */
bool bastion_idempotency_key_parse(bastion_str value, char out[BASTION_IDEM_KEY_MAX],
                                   size_t *out_len);

/*
 * Starts an idempotent operation. Call it after authentication (so `scope`
 * is known) and before any side effect; on BASTION_OK run the operation,
 * respond, then call bastion_idempotency_finish.
 *
 *   store     kv store granted to the function; borrowed until finish
 *   scope     the caller's identity (subject, tenant); keys never collide
 *             across scopes. Empty means one global key space — only for
 *             unauthenticated routes, where key entropy is all that
 *             separates clients (the draft's Security Considerations).
 *   required  true for operations that MUST carry the key (CONC4): a missing
 *             key is 400 (§2.7). When false and absent, returns BASTION_OK
 *             with st->active false and nothing is stored.
 *   st        filled on every return
 *
 * Returns BASTION_OK (proceed), BASTION_IDEM_REPLAYED (the stored response is
 * written), or a problem code with the problem written: 400 bad or missing
 * key, 409 in flight or not replayable, 422 key reused with another payload,
 * 500 unreadable record, 503/504 store failure.
 */
bastion_rc bastion_idempotency_begin_or_problem(bastion_ctx *cx, const char *store,
                                                bastion_str scope, bool required, bastion_idem *st);

/*
 * Ends the operation from the response in `cx`. A final answer replaces this
 * request's own in-flight marker (compare-and-swap, so a marker that expired
 * and was re-taken by a later request is never overwritten) with the stored
 * record for 24 h. A transient answer (see the policy above) deletes the
 * marker so the client's retry runs again. Store failures are logged, never
 * turned into a different response: the operation has already happened.
 * A no-op unless st->active. Safe to call twice.
 */
void bastion_idempotency_finish(bastion_ctx *cx, bastion_idem *st);

/* --- duplicate-submission claims (CONC3) --- */

#define BASTION_DEDUP_DEFAULT_TTL_S 86400u

/* A claim on one request fingerprint. Caller-allocated; kv_key points into
 * the request arena. */
typedef struct {
    const char *store;
    bastion_str kv_key;
    bool claimed;   /* this request holds the claim */
    bool duplicate; /* someone else holds it */
} bastion_dedup;

/*
 * Claims `input` atomically with kv `add` and a TTL: of any number of
 * concurrent identical requests exactly one gets d->claimed. The input is
 * hashed (SHA-256) before it becomes a key, so it may hold personal data;
 * it MUST include a namespace and the caller's scope (e.g.
 * "waitlist:join\n" product "\n" email, or "stripe:" event id).
 * ttl_s is the dedup window (0 = BASTION_DEDUP_DEFAULT_TTL_S) and MUST exceed
 * the request deadline, so a claim cannot lapse while its holder still runs.
 *
 * Returns BASTION_OK with d->claimed or d->duplicate set, and writes nothing;
 * the caller decides what a duplicate gets (HOOK3 answers 200). Only a store
 * failure writes a problem (503/504).
 */
bastion_rc bastion_dedup_claim_or_problem(bastion_ctx *cx, const char *store, bastion_str input,
                                          uint32_t ttl_s, bastion_dedup *d);

/* As bastion_dedup_claim_or_problem, but a duplicate is written as 409
 * (conflict) and returned as BASTION_E_CONFLICT. */
bastion_rc bastion_dedup_or_problem(bastion_ctx *cx, const char *store, bastion_str input,
                                    uint32_t ttl_s, bastion_dedup *d);

/*
 * Gives the claim back after a failure, so that a retry can succeed (HOOK3).
 * A no-op unless d->claimed. A store failure is logged and returned; the
 * claim then lapses with its TTL.
 */
bastion_host_rc bastion_dedup_release(bastion_ctx *cx, bastion_dedup *d);

#endif
