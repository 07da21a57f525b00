/*
 * bastion:edge/http-out@0.1.0: send, through the outbound client
 * (outbound_curl.c), only to the function's allow-list and never to an
 * internal address it does not name (SAFE4).
 */
#include <stdlib.h>
#include <string.h>

#include "imports/imports.h"

static void resp_destroy(void *p)
{
    host_http_resp_free(p);
    free(p);
}

/* Reads a list<header> into host memory owned by the call; names and values
 * borrow guest memory, checked as UTF-8. */
static struct host_header *read_headers(struct host_call *c, abi_list list)
{
    const uint8_t *p = GUEST_ARRAY(c, list, abi_pair);
    struct host_header *hs = host_call_own(c, calloc(list.len ? list.len : 1, sizeof *hs), free);
    for (uint32_t i = 0; i < list.len; i++) {
        abi_pair in;
        GUEST_ELEM(p, i, abi_pair, &in);
        hs[i].name = (char *)guest_str(c, in.name.ptr, in.name.len);
        hs[i].name_len = in.name.len;
        hs[i].value = (char *)guest_str(c, in.value.ptr, in.value.len);
        hs[i].value_len = in.value.len;
    }
    return hs;
}

/* see imports.h */
int host_import_http_do(struct host_call *c, const char *method, const char *url,
                        const struct host_header *hs, size_t nh, const void *body, size_t bl,
                        uint32_t timeout, struct host_http_resp *resp, struct host_err *e)
{
    c->counters.http++;
    uint32_t budget = host_budget_ms(c, timeout);
    if (!host_http_allowed(c->fn, url))
        return host_fail(e, HOST_E_DENIED, "outbound URL not on the allow-list of '%s'",
                         c->fn->name);
    if (budget == 0)
        return host_fail(e, HOST_E_TIMEOUT, "budget exhausted");
    return host_http_send(c->fn, method, url, hs, nh, body, bl, budget, resp, e);
}

/* see imports.h */
void host_import_http_send(struct host_call *c, uint32_t mp, uint32_t ml, uint32_t up, uint32_t ul,
                           uint32_t hp, uint32_t hl, uint32_t bp, uint32_t bl, uint32_t timeout,
                           uint32_t ret)
{
    struct host_err e;
    abi_result_response r;
    GUEST_CHECK(c, ret, abi_result_response);
    const uint8_t *body = guest_span(c, bp, bl);
    struct host_header *hs = read_headers(c, (abi_list){hp, hl});
    char *method = guest_cstr(c, mp, ml);
    char *url = guest_cstr(c, up, ul);
    struct host_http_resp *resp = host_call_own(c, calloc(1, sizeof *resp), resp_destroy);
    if (host_import_http_do(c, method, url, hs, hl, body, bl, timeout, resp, &e) == 0) {
        r = (abi_result_response){.disc = ABI_OK, .u.ok.status = resp->status};
        r.u.ok.headers =
            (abi_list){GUEST_ALLOC_ARRAY(c, resp->n_headers, abi_pair), (uint32_t)resp->n_headers};
        for (size_t i = 0; i < resp->n_headers; i++) {
            abi_pair h = {guest_put_bytes(c, resp->headers[i].name, resp->headers[i].name_len),
                          guest_put_bytes(c, resp->headers[i].value, resp->headers[i].value_len)};
            GUEST_STORE_ELEM(c, r.u.ok.headers.ptr, i, abi_pair, &h);
        }
        r.u.ok.body = guest_put_bytes(c, resp->body, resp->body_len);
    } else {
        r = (abi_result_response){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    }
    GUEST_STORE(c, ret, abi_result_response, &r);
}
