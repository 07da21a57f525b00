/*
 * Typed configuration variables and the module-level check (REL8).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bastion/config.h"
#include "bastion/host.h"

/* The variable's text, or NULL-ptr when unset or empty. */
static bastion_str lookup(const char *name)
{
    bastion_str v = bastion_config(name);
    return v.len ? v : BASTION_STR_NULL;
}

/* Strict decimal: [-]DIGIT+ and nothing else. Overflow is detected before
 * it happens (INT64_MIN included). */
static bastion_config_rc parse_int(bastion_str v, int64_t *out)
{
    size_t i = 0;
    bool neg = v.ptr[0] == '-';
    i += neg;
    if (i == v.len)
        return BASTION_CONFIG_MALFORMED;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, n = 0;
    bool overflow = false;
    for (; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return BASTION_CONFIG_MALFORMED;
        unsigned d = (unsigned)(v.ptr[i] - '0');
        if (n > (limit - d) / 10)
            overflow = true; /* keep reading: "99…9x" is malformed, not out of range */
        else
            n = n * 10 + d;
    }
    if (overflow)
        return BASTION_CONFIG_OUT_OF_RANGE;
    *out = neg ? (n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n) : (int64_t)n;
    return BASTION_CONFIG_OK;
}

/* see config.h */
bastion_config_rc bastion_config_int(const char *name, int64_t dflt, int64_t min, int64_t max,
                                     int64_t *out)
{
    *out = dflt;
    bastion_str v = lookup(name);
    if (!v.ptr)
        return BASTION_CONFIG_UNSET;
    int64_t n;
    bastion_config_rc rc = parse_int(v, &n);
    if (rc != BASTION_CONFIG_OK)
        return rc;
    if (n < min || n > max)
        return BASTION_CONFIG_OUT_OF_RANGE;
    *out = n;
    return BASTION_CONFIG_OK;
}

/* see config.h */
bastion_config_rc bastion_config_bool(const char *name, bool dflt, bool *out)
{
    static const char *const YES[] = {"true", "1", "yes", "on"};
    static const char *const NO[] = {"false", "0", "no", "off"};
    *out = dflt;
    bastion_str v = lookup(name);
    if (!v.ptr)
        return BASTION_CONFIG_UNSET;
    for (size_t i = 0; i < BASTION_COUNTOF(YES); i++) {
        if (bastion_str_eq_ci(v, bastion_cstr(YES[i]))) {
            *out = true;
            return BASTION_CONFIG_OK;
        }
        if (bastion_str_eq_ci(v, bastion_cstr(NO[i]))) {
            *out = false;
            return BASTION_CONFIG_OK;
        }
    }
    return BASTION_CONFIG_MALFORMED;
}

/* see config.h */
bastion_config_rc bastion_config_str(const char *name, bastion_str dflt, bastion_str *out)
{
    bastion_str v = lookup(name);
    *out = v.ptr ? v : dflt;
    return v.ptr ? BASTION_CONFIG_OK : BASTION_CONFIG_UNSET;
}

/* see config.h */
bastion_rc bastion_config_require_or_problem(bastion_ctx *cx, const char *const *names, size_t n)
{
    static const char head[] = "Missing configuration: ";
    size_t cap = sizeof head;
    for (size_t i = 0; i < n; i++)
        cap += strlen(names[i]) + 2;
    char *detail = bastion_alloc(cap);
    size_t o = sizeof head - 1, missing = 0;
    memcpy(detail, head, o);
    for (size_t i = 0; i < n; i++) {
        if (lookup(names[i]).ptr)
            continue;
        if (missing++) {
            detail[o++] = ',';
            detail[o++] = ' ';
        }
        size_t l = strlen(names[i]);
        memcpy(detail + o, names[i], l);
        o += l;
    }
    detail[o] = 0;
    if (!missing)
        return BASTION_OK;
    bastion_header f[] = {
        {BASTION_LIT("missing"), (bastion_str){detail + sizeof head - 1, o - (sizeof head - 1)}},
    };
    bastion_log(BASTION_LOG_ERROR, "missing configuration", f, BASTION_COUNTOF(f));
    return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail);
}

/* Logs and answers for one variable that is set but unusable. */
static bastion_rc misconfigured(bastion_ctx *cx, const char *name, bastion_config_rc rc,
                                const char *expected)
{
    bastion_header f[] = {
        {BASTION_LIT("variable"), bastion_cstr(name)},
        {BASTION_LIT("error"), rc == BASTION_CONFIG_OUT_OF_RANGE ? BASTION_LIT("out of range")
                                                                 : BASTION_LIT("malformed")},
        {BASTION_LIT("expected"), bastion_cstr(expected)},
    };
    bastion_log(BASTION_LOG_ERROR, "invalid configuration", f, BASTION_COUNTOF(f));
    size_t cap = strlen(name) + strlen(expected) + 32;
    char *detail = bastion_alloc(cap);
    snprintf(detail, cap, "Variable %s must be %s.", name, expected);
    return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail);
}

/* see config.h */
bastion_rc bastion_config_int_or_problem(bastion_ctx *cx, const char *name, int64_t dflt,
                                         int64_t min, int64_t max, int64_t *out)
{
    bastion_config_rc rc = bastion_config_int(name, dflt, min, max, out);
    if (rc == BASTION_CONFIG_OK || rc == BASTION_CONFIG_UNSET)
        return BASTION_OK;
    char expected[64];
    snprintf(expected, sizeof expected, "an integer in %" PRId64 "..%" PRId64, min, max);
    return misconfigured(cx, name, rc, expected);
}

/* see config.h */
bastion_rc bastion_config_bool_or_problem(bastion_ctx *cx, const char *name, bool dflt, bool *out)
{
    bastion_config_rc rc = bastion_config_bool(name, dflt, out);
    if (rc == BASTION_CONFIG_OK || rc == BASTION_CONFIG_UNSET)
        return BASTION_OK;
    return misconfigured(cx, name, rc, "true or false");
}
