/*
 * The answers every awaited call to an external JSON API gives its client
 * (REL2, REL3) — the billing contract, shared by the payment API
 * (payments.h) and the candidate-matching provider (functions/jobs):
 *
 *   the breaker open                    503 + Retry-After, no call made (breaker.h)
 *   the budget or the deadline ran out  504
 *   no connection, or the provider 5xx  502, retryable
 *   the provider 4xx (3xx too)          502 upstream-refused, not retryable
 *   a 2xx that is not a JSON object     502, retryable
 *
 * The caller makes the call itself (bastion_http_send under its breaker)
 * and hands the outcome here; only what bastion_provider_healthy calls
 * unhealthy counts against the breaker: a refused request says nothing
 * about the provider's health.
 */
#ifndef BASTION_PROVIDER_H
#define BASTION_PROVIDER_H

#include <cjson/cJSON.h>

#include "core.h"
#include "host.h"
#include "problem.h"

typedef struct {
    const char *name; /* in problem details: "payment provider" */
    const char *log;  /* in log lines: "payment API" */
} bastion_provider;

/* The outcome for the breaker: answered, and not with a 5xx. */
bool bastion_provider_healthy(bastion_host_rc rc, const bastion_http_response *r);

/*
 * BASTION_OK with *out the provider's JSON object (arena memory) for a 2xx
 * whose body is one; otherwise the failure is logged (a warning naming
 * `path` and the status, never the body) and answered as above, its code
 * returned and *out NULL. `r` is read only when rc is BASTION_HOST_OK.
 */
bastion_rc bastion_provider_answer_or_problem(bastion_ctx *cx, const bastion_provider *p,
                                              const char *path, bastion_host_rc rc,
                                              const bastion_http_response *r, cJSON **out);

#endif
