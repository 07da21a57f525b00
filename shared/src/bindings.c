/*
 * The module's exports: `bastion:edge/handler@0.1.0#handle`, its post-return,
 * and `cabi_realloc`. handle turns the canonical request into a bastion_ctx,
 * dispatches through the module's route table and returns the response record.
 */
#include <string.h>

#include "bindings_internal.h"
#include "bastion/http.h"
#include "bastion/problem.h"
#include "core_internal.h"

extern const bastion_route *const bastion_app_routes;
extern const size_t bastion_app_n_routes;

bastion_ctx *bastion__current;

/* Canonical ABI realloc: the host allocates the request and every result
 * list through this. Like everything else a request allocates it is arena
 * memory (core.h): never returned, the instance dies first. */
EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size)
{
    if (new_size == 0)
        return (void *)align; /* a valid, aligned, empty allocation */
    void *p = bastion__alloc_aligned(new_size, align);
    if (old && old_size)
        memcpy(p, old, old_size < new_size ? old_size : new_size);
    return p;
}

static void dispatch(bastion_ctx *cx)
{
    char allow[128];
    size_t allow_len = 0;
    bool route_known = false;
    /* a job's run is dispatched on its name, only to a "CRON" entry; no
     * HTTP request ever reaches one */
    bool cron = cx->trigger == BASTION_TRIGGER_CRON;
    bastion_str want = cron ? cx->path : cx->route;
    for (size_t i = 0; i < bastion_app_n_routes; i++) {
        const bastion_route *r = &bastion_app_routes[i];
        if (cron != (strcmp(r->method, BASTION_CRON_METHOD) == 0) ||
            !bastion_str_eq(want, bastion_cstr(r->route)))
            continue;
        if (cron) {
            r->fn(cx);
            if (!cx->responded)
                bastion_problem(cx, BASTION_E_INTERNAL, "The job sent no response.");
            return;
        }
        route_known = true;
        if (bastion_str_eq(cx->method, bastion_cstr(r->method))) {
            r->fn(cx);
            if (!cx->responded)
                bastion_problem(cx, BASTION_E_INTERNAL, "The handler sent no response.");
            return;
        }
        size_t ml = strlen(r->method);
        if (allow_len + ml + 2 < sizeof allow) {
            if (allow_len) {
                memcpy(allow + allow_len, ", ", 2);
                allow_len += 2;
            }
            memcpy(allow + allow_len, r->method, ml);
            allow_len += ml;
        }
    }
    if (!route_known) {
        bastion_problem(cx, BASTION_E_NOT_FOUND,
                        cron ? "This function has no such job."
                             : "This function has no such route.");
        return;
    }
    bastion_problem(cx, BASTION_E_METHOD_NOT_ALLOWED, "This route does not accept that method.");
    bastion_set_header(cx, BASTION_LIT("allow"), (bastion_str){allow, allow_len});
}

EXPORT("bastion:edge/handler@0.1.0#handle")
cabi_response *bastion__handle(cabi_request *req)
{
    bastion__arena_adopt_json(); /* before any cJSON value exists (core.h) */
    bastion_ctx *cx = bastion_alloc(sizeof *cx);
    memset(cx, 0, sizeof *cx);
    cx->trigger = (bastion_trigger)req->trigger;
    cx->method = req->method;
    cx->path = req->path;
    cx->query = req->query;
    cx->route = req->route;
    cx->params = req->params.ptr;
    cx->n_params = req->params.len;
    cx->headers = req->headers.ptr;
    cx->n_headers = req->headers.len;
    cx->body = (bastion_str){(const char *)req->body.ptr, req->body.len};
    cx->client_ip = req->client_ip;
    cx->request_id = req->request_id;
    cx->deadline_ms = req->deadline_ms;
    bastion__current = cx;
    dispatch(cx);

    static cabi_response resp;
    resp.status = cx->status;
    resp.headers.ptr = cx->resp_headers;
    resp.headers.len = cx->n_resp_headers;
    resp.body.ptr = (uint8_t *)cx->resp_body.ptr;
    resp.body.len = cx->resp_body.len;
    return &resp;
}

/* Nothing to free: the host discards the instance after reading the response. */
EXPORT("cabi_post_bastion:edge/handler@0.1.0#handle")
void bastion__post_handle(cabi_response *resp)
{
    (void)resp;
}
