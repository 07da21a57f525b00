/*
 * Circuit breakers for external dependencies (REL3), with all state in kv so
 * that every instance sees the same breaker (CONC7).
 *
 * States, from three keys per breaker:
 *   closed     no "cb:<name>:open_until"           calls go through
 *   open       open_until in the future            503 + Retry-After, no call
 *   half-open  open_until in the past              one caller wins the probe
 *                                                  slot "cb:<name>:probe" (kv add);
 *                                                  the rest get 503
 * "cb:<name>:failures" counts consecutive failures, increment-first (as
 * CONC2 counts hits), so concurrent failures are never lost. The Nth opens
 * the breaker; any success deletes it. A successful probe closes the
 * breaker, a failed one re-opens it for another open_ms.
 *
 * The breaker's own store failing never decides the real call: the breaker
 * then fails OPEN — the call is allowed and the failure logged. A breaker
 * exists to shed load from a sick dependency, and a kv outage says nothing
 * about the dependency; refusing every payment because a cache is down would
 * turn one outage into two. The call itself still runs under its own budget
 * (REL2), so a dead dependency still fails in bounded time.
 *
 * Use:
 *     bastion_breaker_ticket t;
 *     if (bastion_breaker_allow_or_problem(cx, &EMAIL, &t))
 *         return;                         (503 already written)
 *     rc = bastion_http_send(...);
 *     bastion_breaker_record(cx, &EMAIL, &t, rc == BASTION_HOST_OK && res.status < 500);
 */
#ifndef BASTION_BREAKER_H
#define BASTION_BREAKER_H

#include "core.h"
#include "problem.h"

#define BASTION_BREAKER_DEFAULT_WINDOW_MS 3600000u /* failures decay after 1 h */
#define BASTION_BREAKER_LINGER_MS         3600000u /* open state outlives open_ms by 1 h */

/* One dependency's breaker. Usually a static const in the module. */
typedef struct {
    const char *name;          /* e.g. "email"; [a-z0-9_-], appears in keys and logs */
    const char *store;         /* kv store granted to the function */
    uint32_t failures_to_open; /* N consecutive failures open it (0 counts as 1) */
    uint32_t open_ms;          /* how long it stays open before a probe */
    /* Failures counted within this long of the first one (0 = the 1 h
     * default); older ones decay, so a flaky dependency called once a day
     * does not trip on last week's errors. The counter's TTL is set when
     * it is created (increment-first), not refreshed. */
    uint32_t failure_window_ms;
} bastion_breaker;

/* What allow decided, for record. Caller-allocated, one per guarded call. */
typedef struct {
    bool probe; /* this caller holds the half-open probe slot */
} bastion_breaker_ticket;

/*
 * The decision alone, writing no response: true when the call may go ahead
 * (then bastion_breaker_record with the same ticket); false while open, with
 * *retry_ms the time until a probe may run. For callers whose own request
 * still succeeds when the dependency is skipped (e.g. email into the outbox).
 */
bool bastion_breaker_allow(bastion_ctx *cx, const bastion_breaker *b, bastion_breaker_ticket *t,
                           uint64_t *retry_ms);

/*
 * Asks whether a call may go to the dependency now. Returns BASTION_OK
 * (call it, then bastion_breaker_record with the same ticket) or
 * BASTION_E_UNAVAILABLE with a 503 problem written whose Retry-After is the
 * seconds left open (1 while another caller probes). Fails open on store
 * errors (see above). Makes one kv call when closed, two when half-open.
 */
bastion_rc bastion_breaker_allow_or_problem(bastion_ctx *cx, const bastion_breaker *b,
                                            bastion_breaker_ticket *t);

/*
 * Records the outcome of a call that allow let through. `success` is the
 * caller's judgement: transport errors, timeouts and 5xx from the dependency
 * are failures; a 4xx about the request itself usually is not. Store
 * failures here are logged and otherwise ignored; they never change what the
 * caller does with the real outcome.
 */
void bastion_breaker_record(bastion_ctx *cx, const bastion_breaker *b,
                            const bastion_breaker_ticket *t, bool success);

#endif
