/*
 * The answers of an external JSON API's outcome (see provider.h).
 */
#include <stdio.h>

#include "bastion/formats.h"
#include "bastion/json.h"
#include "bastion/log.h"
#include "bastion/provider.h"

/* see provider.h */
bool bastion_provider_healthy(bastion_host_rc rc, const bastion_http_response *r)
{
    return rc == BASTION_HOST_OK && r->status < 500;
}

static void log_provider(const bastion_provider *p, const char *path, const char *what,
                         unsigned status)
{
    char code[8];
    snprintf(code, sizeof code, "%u", status);
    bastion_header f[] = {{BASTION_LIT("path"), bastion_cstr(path)},
                          {BASTION_LIT("status"), bastion_cstr(code)},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_str line = bastion_sprintf("%s %s", p->log, what);
    bastion_log_safe(BASTION_LOG_WARN, line.ptr, f, status ? BASTION_COUNTOF(f) : 1);
}

/* "The <provider><rest>": every detail names the provider once. */
static bastion_rc refuse(bastion_ctx *cx, const bastion_provider *p, bastion_rc code,
                         const char *rest)
{
    return bastion_problem(cx, code, bastion_sprintf("The %s%s", p->name, rest).ptr);
}

/* see provider.h */
bastion_rc bastion_provider_answer_or_problem(bastion_ctx *cx, const bastion_provider *p,
                                              const char *path, bastion_host_rc rc,
                                              const bastion_http_response *r, cJSON **out)
{
    *out = NULL;
    if (rc == BASTION_HOST_TIMEOUT) {
        log_provider(p, path, "timed out", 0);
        return refuse(cx, p, BASTION_E_TIMEOUT, " did not answer in time.");
    }
    if (rc != BASTION_HOST_OK) {
        log_provider(p, path, "unreachable", 0);
        return refuse(cx, p, BASTION_E_BAD_GATEWAY, " could not be reached.");
    }
    if (r->status >= 500) {
        log_provider(p, path, "failed", r->status);
        return refuse(cx, p, BASTION_E_BAD_GATEWAY, " failed; try again.");
    }
    if (r->status >= 300) {
        log_provider(p, path, "refused the request", r->status);
        return refuse(cx, p, BASTION_E_UPSTREAM_REFUSED, " refused the request.");
    }
    /* strict first (json.h): cJSON alone takes trailing bytes, raw control
     * characters and a \u0000 that cuts a string short */
    cJSON *json = bastion_utf8_valid(r->body) && bastion_json_check(r->body, 32) == BASTION_JSON_OK
                      ? cJSON_ParseWithLength(r->body.ptr, r->body.len)
                      : NULL;
    if (!cJSON_IsObject(json)) {
        log_provider(p, path, "answered something other than a JSON object", r->status);
        return refuse(cx, p, BASTION_E_BAD_GATEWAY, "'s answer was not understood.");
    }
    *out = json;
    return BASTION_OK;
}
