/*
 * The payment API client (see payments.h).
 */
#include <string.h>

#include "bastion/breaker.h"
#include "bastion/host.h"
#include "bastion/log.h"
#include "bastion/payments.h"
#include "bastion/provider.h"

static const bastion_provider PAYMENTS = {"payment provider", "payment API"};
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
    bastion_breaker_record(cx, &b, &ticket, bastion_provider_healthy(hrc, &r));
    return bastion_provider_answer_or_problem(cx, &PAYMENTS, path, hrc, &r, out);
}
