/*
 * For the unit tests of a provider client (payments_test.c, sms_test.c): the real
 * breaker (breaker.c, renamed, #included) on fake_kv.h's kv model, a spy that keeps a
 * copy of each http-out call's headers (the fake host keeps pointers into the caller's
 * frame), and the provider's next answer on the fake host. Include it after fake_host.h
 * and unit.h, then `#define bastion_http_send spy_http_send` and #include the client's
 * source.
 */
#ifndef FAKE_PROVIDER_H
#define FAKE_PROVIDER_H

#include "fake_kv.h"
/* this file's own copy of the breaker, on the kv model above (breaker.o,
 * linked too, keeps the real names) */
#define bastion_breaker_allow            model_breaker_allow
#define bastion_breaker_allow_or_problem model_breaker_allow_or_problem
#define bastion_breaker_record           model_breaker_record
#include "../../shared/src/breaker.c"

static struct {
    char text[512]; /* "name: value\n" each */
} spy;

static bastion_host_rc spy_http_send(bastion_ctx *cx, const char *method, const char *url,
                                     const bastion_header *h, size_t n, bastion_str body,
                                     bastion_http_response *out)
{
    size_t o = 0;
    spy.text[0] = 0;
    for (size_t i = 0; i < n && o < sizeof spy.text; i++)
        o += (size_t)snprintf(spy.text + o, sizeof spy.text - o,
                              BASTION_STR_FMT ": " BASTION_STR_FMT "\n", BASTION_STR_ARG(h[i].name),
                              BASTION_STR_ARG(h[i].value));
    return bastion_http_send(cx, method, url, h, n, body, out);
}

/* The provider's next answer. */
static void provider_answers(uint16_t status, const char *body)
{
    fake.error_tag = -1;
    fake.http_response.status = status;
    fake.http_response.body.ptr = (uint8_t *)body;
    fake.http_response.body.len = strlen(body);
}

#endif
