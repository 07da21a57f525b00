/*
 * Exactly-once processing of provider events (HOOK3, HOOK5), in two layers:
 *
 *   1. A kv claim on (provider, event id), taken with one atomic add before
 *      any side effect (bastion_dedup). Of any number of concurrent
 *      deliveries exactly one holds it; the others answer 200
 *      {"received":true,"duplicate":true} at once. While processing, the
 *      claim lives BASTION_WEBHOOK_CLAIM_TTL_S (past the deadline), so a
 *      holder that dies mid-way cannot block the provider's retries for a
 *      day; once processed it is kept BASTION_WEBHOOK_KEEP_S (24 h).
 *   2. A durable ledger row in the function's database, table
 *      webhook_events (BASTION_WEBHOOK_EVENTS_SCHEMA): provider, id, type,
 *      status processing | processed | failed, attempts, error, times. An
 *      event the ledger calls processed is a duplicate even when the kv
 *      claim is gone (a flushed or failed-over kv never replays a side
 *      effect); a failed or interrupted one may run again.
 *
 * A handler verifies the signature, validates the event (HOOK4), then:
 *
 *     bastion_webhook_event ev;
 *     if (bastion_webhook_event_begin_or_problem(cx, KV, DB, "stripe", id, type, &ev))
 *         return;                      (a problem, or the duplicate's 200)
 *     ... side effects; put bastion_webhook_event_done_stmt in the same
 *         transaction when they live in DB, else call _done after them ...
 *     on failure: bastion_webhook_event_fail(cx, &ev, why) and a 5xx problem.
 */
#ifndef BASTION_WEBHOOK_EVENT_H
#define BASTION_WEBHOOK_EVENT_H

#include "core.h"
#include "host.h"
#include "idempotency.h"
#include "problem.h"

#define BASTION_WEBHOOK_CLAIM_TTL_S 120u   /* a claim in flight: past any webhook deadline */
#define BASTION_WEBHOOK_KEEP_S      86400u /* HOOK3: a processed event is remembered 24 h */
#define BASTION_WEBHOOK_ID_MAX      255
/* HOOK3, HOOK6: from the claim until done or fail, every store call's budget
 * ends this much before the request's deadline, so a store that hangs until
 * its budget runs out still leaves time to record the failure and give the
 * claim back (the last BASTION_WEBHOOK_RELEASE_MS of it are the release's). */
#define BASTION_WEBHOOK_RESERVE_MS 1000u
#define BASTION_WEBHOOK_RELEASE_MS 250u

typedef struct {
    const char *db;
    bastion_str provider, id;
    bastion_dedup claim;
    int64_t attempts;     /* this delivery's attempt number in the ledger */
    bool finished;        /* done or failed has run */
    uint64_t deadline_ms; /* the request's own deadline, held back until done or fail */
} bastion_webhook_event;

/*
 * Claims the event and records the attempt in the ledger.
 *
 * BASTION_OK: this request processes the event. Until done or fail,
 * cx->deadline_ms is BASTION_WEBHOOK_RESERVE_MS earlier than the host's, so
 * the caller MUST end with one of them: a store that hangs then times out
 * while there is still time to release the claim, instead of running into
 * the host's deadline, which unwinds the request with the claim held (every
 * retry within BASTION_WEBHOOK_CLAIM_TTL_S would then be a "duplicate").
 *
 * BASTION_ANSWERED: a duplicate (claimed by another delivery now, or
 * processed before), 200 already written, nothing to do. Otherwise a problem
 * is written: 400 for an id outside 1..BASTION_WEBHOOK_ID_MAX printable
 * ASCII, 503/504 when a store fails (the claim is released, so the
 * provider's retry can run).
 */
bastion_rc bastion_webhook_event_begin_or_problem(bastion_ctx *cx, const char *kv, const char *db,
                                                  const char *provider, bastion_str id,
                                                  bastion_str type, bastion_webhook_event *ev);

/* The ledger update that marks the event processed, for the caller's own
 * transaction on ev->db (the side effect and the mark commit together).
 * params MUST outlive the transaction call. */
bastion_sql_stmt bastion_webhook_event_done_stmt(const bastion_webhook_event *ev,
                                                 bastion_sql_value params[3]);

/* After the side effects committed: restores the request's deadline, marks
 * the ledger row (unless `marked`, when the caller's transaction already ran
 * the done statement) and keeps the kv claim for 24 h. Store failures are
 * logged only: the effect has happened, and the ledger or the claim still
 * stops a replay. */
void bastion_webhook_event_done(bastion_ctx *cx, bastion_webhook_event *ev, bool marked);

/* Processing failed: records `error` (masked like a log line) and the
 * failed status in the ledger, within the reserve but its last
 * BASTION_WEBHOOK_RELEASE_MS, then releases the claim so the provider's retry
 * can succeed, and restores the request's deadline. The caller writes the
 * 5xx problem (before or after). Safe to call once the event is done (then a
 * no-op). */
void bastion_webhook_event_fail(bastion_ctx *cx, bastion_webhook_event *ev, const char *error);

/* 200 {"received":true} plus `extra`'s members (may be NULL). */
void bastion_webhook_respond_received(bastion_ctx *cx, cJSON *extra);

/* 200 {"received":true,"ignored":true}: a type or topic this endpoint does
 * not handle. */
void bastion_webhook_respond_ignored(bastion_ctx *cx);

/* The webhook_events DDL, for reference and tests (functions repeat it in
 * their schema.sql, which must be plain SQL). */
extern const char BASTION_WEBHOOK_EVENTS_SCHEMA[];

#endif
