/* The SMS provider's client (sms.h). */
#include <stdio.h>

#include "bastion/breaker.h"
#include "bastion/host.h"
#include "bastion/sms.h"

static const bastion_breaker SMS_BREAKER = {"sms", NULL, 5, 30000, 0};

#define ID_MAX 255 /* campaign_recipients.provider_id's bound */

static bastion_sms_result failed(bastion_sms_outcome outcome, const char *error)
{
    return (bastion_sms_result){.outcome = outcome, .error = error};
}

/* see sms.h */
bastion_sms_result bastion_sms_send(bastion_ctx *cx, const char *kv_store, bastion_str to,
                                    bastion_str body, bastion_str idempotency_key)
{
    bastion_str base = bastion_config("sms_api_base");
    bastion_str key = bastion_config("sms_api_key");
    bastion_str from = bastion_config("sms_from");
    if (!base.len || !key.len || !from.len)
        return failed(BASTION_SMS_MISCONFIGURED, "sms_api_base, sms_api_key and sms_from unset");
    bastion_breaker b = SMS_BREAKER;
    b.store = kv_store;
    bastion_breaker_ticket ticket;
    uint64_t retry_ms;
    if (!bastion_breaker_allow(cx, &b, &ticket, &retry_ms))
        return failed(BASTION_SMS_CIRCUIT_OPEN, "SMS provider circuit open");

    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "to", bastion_str_dup(to));
    cJSON_AddStringToObject(msg, "from", bastion_str_dup(from));
    cJSON_AddStringToObject(msg, "body", bastion_str_dup(body));
    char *json = cJSON_PrintUnformatted(msg); /* arena memory (core.h) */
    if (!json)
        __builtin_trap();
    bastion_str url = bastion_sprintf(BASTION_STR_FMT "/messages", BASTION_STR_ARG(base));
    bastion_header h[] = {
        {BASTION_LIT("authorization"),
         bastion_sprintf("Bearer " BASTION_STR_FMT, BASTION_STR_ARG(key))},
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
        {BASTION_LIT("idempotency-key"), idempotency_key},
    };
    bastion_http_response r;
    bastion_host_rc rc =
        bastion_http_send(cx, "POST", url.ptr, h, BASTION_COUNTOF(h), bastion_cstr(json), &r);
    bastion_breaker_record(cx, &b, &ticket, rc == BASTION_HOST_OK && r.status < 500);
    if (rc == BASTION_HOST_TIMEOUT)
        return failed(BASTION_SMS_FAILED, "SMS provider timed out");
    if (rc == BASTION_HOST_DENIED)
        return failed(BASTION_SMS_MISCONFIGURED, "SMS provider not on the outbound allow-list");
    if (rc != BASTION_HOST_OK)
        return failed(BASTION_SMS_FAILED, "SMS provider unreachable");
    if (r.status >= 500 || r.status < 200)
        return failed(BASTION_SMS_FAILED,
                      bastion_sprintf("SMS provider answered %u", (unsigned)r.status).ptr);
    if (r.status >= 300)
        return failed(
            BASTION_SMS_REFUSED,
            bastion_sprintf("SMS provider refused the message (%u)", (unsigned)r.status).ptr);
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_ParseWithLength(r.body.ptr, r.body.len), "id"));
    bastion_str sid = bastion_cstr(id);
    if (!id || sid.len == 0 || sid.len > ID_MAX)
        return failed(BASTION_SMS_FAILED, "SMS provider's answer had no message id");
    return (bastion_sms_result){.outcome = BASTION_SMS_SENT, .provider_id = sid};
}
