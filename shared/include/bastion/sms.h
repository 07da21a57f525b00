/*
 * The SMS provider (REL2, REL3): POST {sms_api_base}/messages with the JSON
 * {"to", "from", "body"} (from = sms_from), `Authorization: Bearer
 * {sms_api_key}` and an `Idempotency-Key` the caller chooses per message, so
 * that a message sent again after a crash between the provider's answer and
 * the caller's commit is still one message. Awaited under the external
 * budget and the "sms" circuit breaker, whose state is in the caller's kv
 * store; only 5xx, timeouts and connection errors count against it.
 *
 * A job marks each message by the outcome, never answers for it: SENT (a 2xx
 * with the provider's "id"), REFUSED (a 4xx: this message will not go),
 * FAILED (5xx, no connection, the budget out, or a 2xx without an id),
 * CIRCUIT_OPEN (not called: stop for now) and MISCONFIGURED (the variables
 * unset: nothing can go).
 */
#ifndef BASTION_SMS_H
#define BASTION_SMS_H

#include "core.h"

typedef enum {
    BASTION_SMS_SENT,
    BASTION_SMS_REFUSED,
    BASTION_SMS_FAILED,
    BASTION_SMS_CIRCUIT_OPEN,
    BASTION_SMS_MISCONFIGURED,
} bastion_sms_outcome;

typedef struct {
    bastion_sms_outcome outcome;
    bastion_str provider_id; /* SENT: the provider's message id (arena) */
    const char *error;       /* otherwise: why, for the row and the log (no provider text) */
} bastion_sms_result;

bastion_sms_result bastion_sms_send(bastion_ctx *cx, const char *kv_store, bastion_str to,
                                    bastion_str body, bastion_str idempotency_key);

#endif
