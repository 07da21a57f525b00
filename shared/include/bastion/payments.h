/*
 * The payment API (REL2, REL3), Stripe-compatible: POST
 * {payments_api_base}{path} with `Authorization: Bearer {payments_api_key}`
 * and a form-encoded body (application/x-www-form-urlencoded, keys such as
 * "metadata[kind]" percent-encoded), awaited under the external budget and
 * the "payments" circuit breaker, whose state is in the caller's kv store.
 *
 * Every failure has its own answer, written as a problem:
 *   the variables unset                 500 misconfigured
 *   the breaker open                    503 + Retry-After, no call made
 *   the budget or the deadline ran out  504
 *   no connection, or the provider 5xx  502, retryable
 *   the provider 4xx                    502, not retryable (the request was refused)
 *   a 2xx that is not a JSON object     502, retryable
 * Only 5xx, timeouts and connection errors count against the breaker: a
 * refused request says nothing about the provider's health.
 */
#ifndef BASTION_PAYMENTS_H
#define BASTION_PAYMENTS_H

#include <cjson/cJSON.h>

#include "core.h"
#include "http.h"
#include "problem.h"

/* One form field; names and values are percent-encoded by the call. */
typedef struct {
    const char *name;
    bastion_str value;
} bastion_form_field;

/*
 * POSTs the form to the provider. BASTION_OK with *out the provider's JSON
 * object (arena memory); otherwise the problem above is written and its code
 * returned, *out NULL. `kv_store` holds the breaker's state.
 */
bastion_rc bastion_payments_post_or_problem(bastion_ctx *cx, const char *kv_store, const char *path,
                                            const bastion_form_field *form, size_t n, cJSON **out);

/* application/x-www-form-urlencoded of form[0..n), in the arena (WHATWG URL
 * §5.2: unreserved bytes as they are, space as '+', the rest %XX). */
bastion_str bastion_form_encode(const bastion_form_field *form, size_t n);

#endif
