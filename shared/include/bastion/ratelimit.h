/*
 * Fixed-window rate limits, counted increment-first (CONC2): the counter is
 * incremented before the decision, with the TTL set when the window's key is
 * created, so concurrent requests can never all read "under the limit".
 */
#ifndef BASTION_RATELIMIT_H
#define BASTION_RATELIMIT_H

#include "core.h"
#include "problem.h"

#define BASTION_RATE_NAME_MAX 48

typedef struct {
    const char *name;  /* policy name in the RateLimit headers, ≤ BASTION_RATE_NAME_MAX */
    const char *store; /* kv store granted to the function */
    uint32_t limit;    /* requests per window */
    uint32_t window_s;
} bastion_rate_policy;

typedef struct {
    bool allowed;
    uint32_t remaining;
    uint32_t reset_s; /* seconds until the window ends */
} bastion_rate_result;

/* Counts one hit for `subject` (e.g. the client IP; hashed before it becomes
 * a key). Writes RateLimit-Policy and RateLimit headers. On 429 or a store
 * failure the problem is already written. */
bastion_rc bastion_rate_limit_or_problem(bastion_ctx *cx, const bastion_rate_policy *p,
                                         bastion_str subject, bastion_rate_result *out);

/* CONC2 for tenant routes: every state-changing request counts one write
 * for the tenant, tenant_writes_per_minute of them (default 120) per
 * minute, in kv `store`. 500 when the variable is malformed. */
#define BASTION_TENANT_WRITES_DEFAULT 120
bastion_rc bastion_tenant_writes_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant);

#endif
