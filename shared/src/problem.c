/*
 * RFC 9457 problem details (ERR1).
 */
#include <stdio.h>
#include <string.h>

#include "bastion/http.h"
#include "bastion/problem.h"

#define TYPE_BASE "https://bastion.dev/problems/"

/* RFC 9457 §3.1: type, title, status, detail; `class` and `retryable` are
 * Bastion's extensions (§3.2). */
static const bastion_problem_info TABLE[BASTION_E__COUNT] = {
    [BASTION_OK] = {200, "ok", "OK", "internal", false},
    [BASTION_E_BAD_REQUEST] = {400, "bad-request", "Bad Request", "validation", false},
    [BASTION_E_MALFORMED_JSON] = {400, "malformed-json", "Malformed JSON", "validation", false},
    [BASTION_E_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized", "auth", false},
    [BASTION_E_FORBIDDEN] = {403, "forbidden", "Forbidden", "auth", false},
    [BASTION_E_NOT_FOUND] = {404, "not-found", "Not Found", "validation", false},
    [BASTION_E_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method Not Allowed", "validation",
                                      false},
    [BASTION_E_CONFLICT] = {409, "conflict", "Conflict", "conflict", false},
    [BASTION_E_IN_PROGRESS] = {409, "in-progress", "Request In Progress", "transient", true},
    [BASTION_E_GONE] = {410, "gone", "Gone", "conflict", false},
    [BASTION_E_PRECONDITION_FAILED] = {412, "precondition-failed", "Precondition Failed",
                                       "conflict", false},
    [BASTION_E_TOO_LARGE] = {413, "content-too-large", "Content Too Large", "validation", false},
    [BASTION_E_UNSUPPORTED_MEDIA] = {415, "unsupported-media-type", "Unsupported Media Type",
                                     "validation", false},
    [BASTION_E_UNPROCESSABLE] = {422, "validation-failed", "Validation Failed", "validation",
                                 false},
    [BASTION_E_PRECONDITION_REQUIRED] = {428, "precondition-required", "Precondition Required",
                                         "validation", false},
    [BASTION_E_RATE_LIMITED] = {429, "rate-limited", "Too Many Requests", "transient", true},
    [BASTION_E_INTERNAL] = {500, "internal", "Internal Server Error", "internal", false},
    /* HOOK5: an event naming an unknown order or customer is answered 5xx so
     * the provider retries; the reference may arrive later. */
    [BASTION_E_UNRESOLVED] = {500, "unresolved-reference", "Unresolved Reference", "transient",
                              true},
    [BASTION_E_MISCONFIGURED] = {500, "misconfigured", "Service Misconfigured", "internal", false},
    [BASTION_E_BAD_GATEWAY] = {502, "bad-gateway", "Bad Gateway", "infrastructure", true},
    /* A provider refused the request (its 4xx): the same request will fail
     * again, so a client should not retry it as it is. */
    [BASTION_E_UPSTREAM_REFUSED] = {502, "upstream-refused", "Upstream Refused", "conflict", false},
    [BASTION_E_UNAVAILABLE] = {503, "unavailable", "Service Unavailable", "infrastructure", true},
    [BASTION_E_TIMEOUT] = {504, "timeout", "Gateway Timeout", "transient", true},
};

/* see problem.h */
const bastion_problem_info *bastion_problem_lookup(bastion_rc rc)
{
    if ((unsigned)rc >= BASTION_E__COUNT)
        rc = BASTION_E_INTERNAL;
    return &TABLE[rc];
}

/* The members RFC 9457 §3.1 defines and the extensions every problem carries. */
static bool reserved(const char *name)
{
    static const char *const NAMES[] = {"type", "title", "status", "detail", "class", "retryable"};
    for (size_t i = 0; i < BASTION_COUNTOF(NAMES); i++)
        if (strcmp(name, NAMES[i]) == 0)
            return true;
    return false;
}

/* see problem.h */
bastion_rc bastion_problem_with(bastion_ctx *cx, bastion_rc rc, const char *detail,
                                cJSON *extensions, uint32_t retry_after_s)
{
    const bastion_problem_info *p = bastion_problem_lookup(rc);
    char type[96];
    snprintf(type, sizeof type, TYPE_BASE "%s", p->slug);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "title", p->title);
    cJSON_AddNumberToObject(o, "status", p->status);
    cJSON_AddStringToObject(o, "detail", detail ? detail : p->title);
    cJSON_AddStringToObject(o, "class", p->cls);
    cJSON_AddBoolToObject(o, "retryable", p->retryable);
    cJSON *member;
    while (extensions && (member = extensions->child) != NULL) {
        cJSON_DetachItemViaPointer(extensions, member);
        /* the table's word is final (ERR1): a reserved member is just left out */
        if (member->string && !reserved(member->string))
            cJSON_AddItemToObject(o, member->string, member);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        __builtin_trap();
    bastion_respond(cx, p->status, BASTION_LIT("application/problem+json"), bastion_cstr(text));
    if (p->status == 429 || p->status == 503) {
        char ra[16];
        int n = snprintf(ra, sizeof ra, "%u", retry_after_s ? retry_after_s : 1);
        bastion_set_header(cx, BASTION_LIT("retry-after"), (bastion_str){ra, (size_t)n});
    }
    return rc;
}

/* see problem.h */
bastion_rc bastion_problem_ex(bastion_ctx *cx, bastion_rc rc, const char *detail, cJSON *errors,
                              uint32_t retry_after_s)
{
    cJSON *extensions = NULL;
    if (errors) {
        extensions = cJSON_CreateObject();
        cJSON_AddItemToObject(extensions, "errors", errors);
    }
    return bastion_problem_with(cx, rc, detail, extensions, retry_after_s);
}

/* see problem.h */
bastion_rc bastion_problem(bastion_ctx *cx, bastion_rc rc, const char *detail)
{
    return bastion_problem_ex(cx, rc, detail, NULL, 0);
}
