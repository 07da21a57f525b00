/*
 * Response builders.
 */
#include <string.h>

#include "bastion/calendar.h"
#include "bastion/http.h"

/* see http.h */
void bastion_set_header(bastion_ctx *cx, bastion_str name, bastion_str value)
{
    if (cx->n_resp_headers == cx->cap_resp_headers) {
        size_t cap = cx->cap_resp_headers ? cx->cap_resp_headers * 2 : 8;
        bastion_header *grown = bastion_alloc(cap * sizeof *grown);
        if (cx->n_resp_headers)
            memcpy(grown, cx->resp_headers, cx->n_resp_headers * sizeof *grown);
        cx->resp_headers = grown;
        cx->cap_resp_headers = cap;
    }
    bastion_header *h = &cx->resp_headers[cx->n_resp_headers++];
    h->name = (bastion_str){bastion_str_dup(name), name.len};
    h->value = (bastion_str){bastion_str_dup(value), value.len};
}

/* `body` becomes the response as it is: the caller made it in the arena. */
static void respond_arena(bastion_ctx *cx, uint16_t status, bastion_str content_type,
                          bastion_str body)
{
    cx->status = status;
    cx->resp_body = body;
    if (content_type.ptr) /* NULL: no content at all, e.g. 204 */
        bastion_set_header(cx, BASTION_LIT("content-type"), content_type);
    cx->responded = true;
}

/* see http.h */
void bastion_respond(bastion_ctx *cx, uint16_t status, bastion_str content_type, bastion_str body)
{
    respond_arena(cx, status, content_type, (bastion_str){bastion_str_dup(body), body.len});
}

/* see http.h */
void bastion_respond_json(bastion_ctx *cx, uint16_t status, const cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);
    if (!text)
        __builtin_trap(); /* a NULL body is the caller's bug; out of memory traps earlier */
    /* cJSON's output is arena memory (core.h): it is the response body itself,
     * with no copy and nothing to free */
    respond_arena(cx, status, BASTION_LIT("application/json"), bastion_cstr(text));
}

/* see http.h */
void bastion_json_add_time(cJSON *obj, const char *name, int64_t epoch_ms)
{
    char buf[BASTION_RFC3339_BUF];
    if (bastion_format_rfc3339(epoch_ms, buf))
        cJSON_AddStringToObject(obj, name, buf);
    else
        cJSON_AddNullToObject(obj, name);
}

/* see http.h */
void bastion_json_add_counts(cJSON *obj, const bastion_count *counts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_AddNumberToObject(obj, counts[i].name, (double)counts[i].value);
}

/* see http.h */
void bastion_job_respond(bastion_ctx *cx, const bastion_count *counts, size_t n,
                         const char *stopped, bool failed)
{
    cJSON *o = cJSON_CreateObject();
    bastion_json_add_counts(o, counts, n);
    if (stopped)
        cJSON_AddStringToObject(o, "stopped", stopped);
    else
        cJSON_AddNullToObject(o, "stopped");
    bastion_respond_json(cx, failed ? 503 : 200, o);
}

/* see http.h */
bool bastion_job_out_of_time(const bastion_ctx *cx, uint32_t reserve_ms, const char **stopped)
{
    if (bastion_remaining_ms(cx) > reserve_ms)
        return false;
    *stopped = "deadline";
    return true;
}
