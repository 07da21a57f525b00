/*
 * The request's front door (VAL1, VAL3): the JSON body, the query string and
 * route parameters, each through the field rules (validate.c), or a problem
 * written. See input.h.
 */
#include <string.h>

#include "bastion/formats.h"
#include "bastion/input.h"
#include "bastion/json.h"
#include "validate_internal.h"

/* see input.h */
bastion_rc bastion_param_or_problem(bastion_ctx *cx, const bastion_field *rule,
                                    bastion_field_value *out)
{
    bastion_str raw = bastion_param(cx, rule->name);
    cJSON *errors = cJSON_CreateArray();
    memset(out, 0, sizeof *out);
    if (!raw.ptr || memchr(raw.ptr, 0, raw.len)) {
        bastion__error_add_name(errors, rule->name,
                                raw.ptr ? "must not contain the NUL character" : "is required");
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The path is invalid.", errors, 0);
    }
    cJSON *probe = cJSON_CreateObject();
    cJSON_AddStringToObject(probe, rule->name, bastion_str_dup(raw));
    size_t bad = bastion_validate(probe, rule, 1, out, errors);
    if (bad)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The path is invalid.", errors, 0);
    return BASTION_OK;
}

/* The body checks, for a form (`event` false: a \u0000 is 422, VAL1) or a
 * provider's event (true: 400, HOOK4). */
static bastion_rc json_body(bastion_ctx *cx, bool event, cJSON **root)
{
    *root = NULL;
    bastion_str ct = bastion_header_get(cx, "content-type");
    size_t base = 0;
    while (ct.ptr && base < ct.len && ct.ptr[base] != ';')
        base++;
    bastion_str media = bastion__trim((bastion_str){ct.ptr, base});
    if (!ct.ptr || !bastion_str_eq_ci(media, BASTION_LIT("application/json")))
        return bastion_problem(cx, BASTION_E_UNSUPPORTED_MEDIA,
                               "The body must be sent as application/json.");
    if (!bastion_utf8_valid(cx->body))
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid UTF-8.");
    /* cJSON is lenient; the strict RFC 8259 check runs first (json.h) */
    bastion_json_nul nul;
    switch (bastion_json_check_at(cx->body, 32, &nul)) {
    case BASTION_JSON_TOO_DEEP:
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is nested too deeply.");
    case BASTION_JSON_SYNTAX:
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid JSON.");
    case BASTION_JSON_NUL: {
        /* valid JSON, but no field may hold it (VAL3); the checker names the
         * member, which cJSON's C strings would lose */
        const char *detail = nul.in_name
                                 ? "must not have a member name with the NUL character (\\u0000)"
                                 : "must not contain the NUL character (\\u0000)";
        if (!event)
            return bastion_field_problem(cx, nul.pointer, detail);
        cJSON *errors = cJSON_CreateArray();
        bastion_error_add(errors, nul.pointer, detail);
        return bastion_event_errors_or_problem(cx, errors);
    }
    case BASTION_JSON_OK: break;
    }
    cJSON *tree = cJSON_ParseWithLength(cx->body.ptr, cx->body.len);
    if (!tree)
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid JSON.");
    if (!cJSON_IsObject(tree))
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body must be a JSON object.");
    *root = tree;
    return BASTION_OK;
}

/* see input.h */
bastion_rc bastion_json_body_or_problem(bastion_ctx *cx, cJSON **root)
{
    return json_body(cx, false, root);
}

/* see input.h */
bastion_rc bastion_event_body_or_problem(bastion_ctx *cx, cJSON **root)
{
    return json_body(cx, true, root);
}

/* The rules over one object of a tree, its errors under `pointer`; `open`
 * ignores members the rules do not name (events), else they are errors. */
static size_t fields_under(const cJSON *obj, const char *pointer, const bastion_field *fields,
                           size_t n, bastion_field_value *out, cJSON *errors, bool open)
{
    cJSON *inner = cJSON_CreateArray();
    if (!cJSON_IsObject(obj)) {
        memset(out, 0, n * sizeof *out);
        bastion_error_add(inner, "", "must be an object");
    } else if (open) {
        bastion__validate_open(obj, fields, n, out, inner);
    } else {
        bastion_validate(obj, fields, n, out, inner);
    }
    size_t added = (size_t)cJSON_GetArraySize(inner);
    bastion_errors_move_under(errors, inner, pointer);
    return added;
}

/* see input.h */
size_t bastion_event_fields(const cJSON *obj, const char *pointer, const bastion_field *fields,
                            size_t n, bastion_field_value *out, cJSON *errors)
{
    return fields_under(obj, pointer, fields, n, out, errors, true);
}

/* see input.h */
size_t bastion_item_fields(const cJSON *obj, const char *pointer, const bastion_field *fields,
                           size_t n, bastion_field_value *out, cJSON *errors)
{
    return fields_under(obj, pointer, fields, n, out, errors, false);
}

/* see input.h */
bastion_rc bastion_event_errors_or_problem(bastion_ctx *cx, cJSON *errors)
{
    if (cJSON_GetArraySize(errors) == 0)
        return BASTION_OK;
    return bastion_problem_ex(cx, BASTION_E_BAD_REQUEST, "The event is malformed.", errors, 0);
}

/* see input.h */
bastion_rc bastion_parse_json_collect_or_problem(bastion_ctx *cx, const bastion_field *fields,
                                                 size_t n, bastion_field_value *out, cJSON *errors)
{
    memset(out, 0, n * sizeof *out);
    cJSON *root;
    bastion_rc rc = bastion_json_body_or_problem(cx, &root);
    if (rc)
        return rc;
    bastion_validate(root, fields, n, out, errors);
    return BASTION_OK;
}

/* see input.h */
bastion_rc bastion_errors_or_problem(bastion_ctx *cx, cJSON *errors)
{
    if (cJSON_GetArraySize(errors) == 0)
        return BASTION_OK;
    return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The request has invalid fields.",
                              errors, 0);
}

/* see input.h */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out)
{
    cJSON *errors = cJSON_CreateArray();
    bastion_rc rc = bastion_parse_json_collect_or_problem(cx, fields, n, out, errors);
    if (rc)
        return rc;
    rc = bastion_errors_or_problem(cx, errors);
    if (rc)
        memset(out, 0, n * sizeof *out); /* input.h: on failure `out` is all zero */
    return rc;
}

/* see input.h */
bastion_rc bastion_query_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                    bastion_field_value *out)
{
    cJSON *errors = cJSON_CreateArray();
    /* VAL3: a decoded %00 would cut the C string the rules see ("standard%00x"
     * passing as "standard"); refuse it before any rule runs, as the JSON
     * front door refuses \u0000 */
    for (size_t i = 0; i < n; i++) {
        bastion_str v = bastion_query_get(cx, fields[i].name);
        if (v.ptr && memchr(v.ptr, 0, v.len))
            bastion__error_add_name(errors, fields[i].name, "must not contain the NUL character");
    }
    if (cJSON_GetArraySize(errors) > 0) {
        memset(out, 0, n * sizeof *out);
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The query has invalid parameters.",
                                  errors, 0);
    }
    cJSON *probe = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        bastion_str v = bastion_query_get(cx, fields[i].name);
        if (v.ptr)
            cJSON_AddStringToObject(probe, fields[i].name, bastion_str_dup(v));
    }
    size_t bad = bastion_validate(probe, fields, n, out, errors);
    if (bad)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The query has invalid parameters.",
                                  errors, 0);
    return BASTION_OK;
}
