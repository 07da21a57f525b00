/*
 * The payment API client (see payments.h).
 */
#include <stdio.h>
#include <string.h>

#include "bastion/breaker.h"
#include "bastion/host.h"
#include "bastion/log.h"
#include "bastion/payments.h"

static const bastion_breaker PAYMENTS_BREAKER = {"payments", NULL, 5, 30000, 0};

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '*';
}

static size_t encode_into(char *out, bastion_str s)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (unreserved(c)) {
            out[n++] = (char)c;
        } else if (c == ' ') {
            out[n++] = '+';
        } else {
            out[n++] = '%';
            out[n++] = HEX[c >> 4];
            out[n++] = HEX[c & 15];
        }
    }
    return n;
}

/* see payments.h */
bastion_str bastion_form_encode(const bastion_form_field *form, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += 3 * (strlen(form[i].name) + form[i].value.len) + 2;
    char *out = bastion_alloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = '&';
        len += encode_into(out + len, bastion_cstr(form[i].name));
        out[len++] = '=';
        len += encode_into(out + len, form[i].value);
    }
    out[len] = 0;
    return (bastion_str){out, len};
}

static void log_provider(const char *path, const char *what, unsigned status)
{
    char code[8];
    snprintf(code, sizeof code, "%u", status);
    bastion_header f[] = {{BASTION_LIT("path"), bastion_cstr(path)},
                          {BASTION_LIT("status"), bastion_cstr(code)},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_WARN, what, f, status ? BASTION_COUNTOF(f) : 1);
}

/* see payments.h */
bastion_rc bastion_payments_post_or_problem(bastion_ctx *cx, const char *kv_store, const char *path,
                                            const bastion_form_field *form, size_t n, cJSON **out)
{
    *out = NULL;
    bastion_str base = bastion_config("payments_api_base");
    bastion_str key = bastion_config("payments_api_key");
    if (!base.ptr || !base.len || !key.ptr || !key.len)
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "Variables payments_api_base and payments_api_key must be set.");
    bastion_breaker b = PAYMENTS_BREAKER;
    b.store = kv_store;
    bastion_breaker_ticket ticket;
    bastion_rc rc = bastion_breaker_allow_or_problem(cx, &b, &ticket);
    if (rc)
        return rc;
    bastion_str url = bastion_sprintf(BASTION_STR_FMT "%s", BASTION_STR_ARG(base), path);
    bastion_str auth = bastion_sprintf("Bearer " BASTION_STR_FMT, BASTION_STR_ARG(key));
    bastion_header h[] = {
        {BASTION_LIT("authorization"), auth},
        {BASTION_LIT("content-type"), BASTION_LIT("application/x-www-form-urlencoded")},
        {BASTION_LIT("accept"), BASTION_LIT("application/json")},
    };
    bastion_http_response r;
    bastion_host_rc hrc = bastion_http_send(cx, "POST", url.ptr, h, BASTION_COUNTOF(h),
                                            bastion_form_encode(form, n), &r);
    bool healthy = hrc == BASTION_HOST_OK && r.status < 500;
    bastion_breaker_record(cx, &b, &ticket, healthy);
    if (hrc == BASTION_HOST_TIMEOUT) {
        log_provider(path, "payment API timed out", 0);
        return bastion_problem(cx, BASTION_E_TIMEOUT,
                               "The payment provider did not answer in time.");
    }
    if (hrc != BASTION_HOST_OK) {
        log_provider(path, "payment API unreachable", 0);
        return bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                               "The payment provider could not be reached.");
    }
    if (r.status >= 500) {
        log_provider(path, "payment API failed", r.status);
        return bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                               "The payment provider failed; try again.");
    }
    if (r.status >= 300) {
        log_provider(path, "payment API refused the request", r.status);
        return bastion_problem(cx, BASTION_E_UPSTREAM_REFUSED,
                               "The payment provider refused the request.");
    }
    cJSON *json = cJSON_ParseWithLength(r.body.ptr, r.body.len);
    if (!cJSON_IsObject(json)) {
        log_provider(path, "payment API answered something other than a JSON object", r.status);
        return bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                               "The payment provider's answer was not understood.");
    }
    *out = json;
    return BASTION_OK;
}
