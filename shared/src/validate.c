/*
 * Declarative field rules (VAL1, VAL3): each bastion_field checks one JSON
 * member, and every failure is collected as {pointer, detail}. See
 * validate.h. The formats come from formats.c and calendar.c; the request
 * front door that feeds these rules is input.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bastion/calendar.h"
#include "bastion/formats.h"
#include "bastion/validate.h"
#include "validate_internal.h"

/* see validate_internal.h. RFC 6901 §3: '~' → "~0", '/' → "~1". An empty
 * name is the pointer "/"; NULL is the whole document, "". */
static void name_pointer(const char *name, char ptr[160])
{
    size_t o = 0;
    if (name)
        ptr[o++] = '/';
    for (const char *p = name; p && *p && o + 3 < 160; p++) {
        if (*p == '~') {
            ptr[o++] = '~';
            ptr[o++] = '0';
        } else if (*p == '/') {
            ptr[o++] = '~';
            ptr[o++] = '1';
        } else
            ptr[o++] = *p;
    }
    ptr[o] = 0;
}

void bastion__error_add_name(cJSON *errors, const char *name, const char *detail)
{
    char ptr[160];
    name_pointer(name, ptr);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", ptr);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* see validate_internal.h */
bastion_str bastion__trim(bastion_str s)
{
    while (s.len && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* C0, DEL and C1 controls; with `breaks`, '\t' '\n' '\r' are text. */
static bool has_control(bastion_str s, bool breaks)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (breaks && (c == '\t' || c == '\n' || c == '\r'))
            continue;
        if (c < 0x20 || c == 0x7F)
            return true;
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < s.len && (unsigned char)s.ptr[i + 1] < 0xA0)
            return true;
    }
    return false;
}

/* A NUL-terminated arena copy, ASCII upper case folded when `lower`. */
static bastion_str copy_text(bastion_str s, bool lower)
{
    char *d = bastion_str_dup(s);
    for (size_t i = 0; lower && i < s.len; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] = (char)(d[i] + 32);
    return (bastion_str){d, s.len};
}

static bool slug_ok(bastion_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "must be one of: a, b, c" — the choices are the module's own constants,
 * never request data, so they may appear in a response. */
static const char *enum_detail(const char *const *choices)
{
    static const char head[] = "must be one of: ";
    if (!choices || !choices[0])
        return "has no allowed values"; /* a rule without choices accepts nothing */
    size_t len = sizeof head;
    for (size_t i = 0; choices[i]; i++)
        len += strlen(choices[i]) + 2;
    char *d = bastion_alloc(len), *o = d;
    memcpy(o, head, sizeof head - 1);
    o += sizeof head - 1;
    for (size_t i = 0; choices[i]; i++) {
        if (i) {
            *o++ = ',';
            *o++ = ' ';
        }
        size_t l = strlen(choices[i]);
        memcpy(o, choices[i], l);
        o += l;
    }
    *o = 0;
    return d;
}

static const char *check_timestamp(bastion_str s, bastion_field_value *v)
{
    int64_t ms = 0;
    switch (bastion_parse_rfc3339_ex(s, &ms)) {
    case BASTION_TIME_OK: break;
    case BASTION_TIME_NO_OFFSET: return "must include a UTC offset (Z, +hh:mm or -hh:mm)";
    case BASTION_TIME_BAD_DATE: return "is not a valid date and time";
    case BASTION_TIME_LEAP_SECOND: return "must not be a leap second (:60)";
    case BASTION_TIME_OUT_OF_RANGE: return "is out of range";
    default: return "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z";
    }
    char buf[BASTION_RFC3339_BUF];
    size_t n = bastion_format_rfc3339(ms, buf);
    v->integer = ms;
    v->str = (bastion_str){bastion_str_dup((bastion_str){buf, n}), n};
    return NULL;
}

static const char *check_instant(const bastion_field *f, bastion_str s, bastion_field_value *v)
{
    int64_t ms = 0;
    switch (bastion_parse_instant(s, (f->flags & BASTION_DAY_END) != 0, &ms)) {
    case BASTION_TIME_OK: break;
    case BASTION_TIME_NO_OFFSET: return "must include a UTC offset (Z, +hh:mm or -hh:mm)";
    case BASTION_TIME_BAD_DATE: return "is not a valid date and time";
    case BASTION_TIME_LEAP_SECOND: return "must not be a leap second (:60)";
    case BASTION_TIME_OUT_OF_RANGE: return "is out of range";
    default: return "must be a date (YYYY-MM-DD) or an RFC 3339 date-time with offset";
    }
    char buf[BASTION_RFC3339_BUF];
    size_t n = bastion_format_rfc3339(ms, buf);
    v->integer = ms;
    v->str = (bastion_str){bastion_str_dup((bastion_str){buf, n}), n};
    return NULL;
}

static const char *check_text(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    if (!cJSON_IsString(item))
        return "must be a string";
    bastion_str s = bastion_cstr(item->valuestring);
    if (!(f->flags & BASTION_NO_TRIM))
        s = bastion__trim(s);
    if (!bastion_utf8_valid(s))
        return "must be valid UTF-8";
    bool breaks = f->type == BASTION_FIELD_STRING && (f->flags & BASTION_MULTILINE);
    if (has_control(s, breaks))
        return breaks ? "must not contain control characters other than tab and line breaks"
                      : "must not contain control characters";
    bool lower = f->type == BASTION_FIELD_EMAIL || f->type == BASTION_FIELD_UUID ||
                 (f->flags & BASTION_LOWERCASE);
    s = copy_text(s, lower);
    switch (f->type) {
    case BASTION_FIELD_EMAIL:
        if (!bastion_email_valid(s))
            return "must be an email address";
        break;
    case BASTION_FIELD_SLUG:
        if (!slug_ok(s))
            return "may contain only letters, digits, '_' and '-'";
        break;
    case BASTION_FIELD_PHONE:
        if (!bastion_phone_valid(s))
            return "must be an E.164 phone number such as +14155552671";
        v->str = s;
        return NULL;
    case BASTION_FIELD_UUID:
        if (!bastion_uuid_parse(s, NULL))
            return "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000";
        v->str = s;
        return NULL;
    case BASTION_FIELD_TIMESTAMP: return check_timestamp(s, v);
    case BASTION_FIELD_INSTANT: return check_instant(f, s, v);
    case BASTION_FIELD_DATE:
        switch (bastion_parse_date_ex(s, &v->integer)) {
        case BASTION_TIME_OK: v->str = s; return NULL;
        case BASTION_TIME_BAD_DATE: return "is not a valid date";
        default: return "must be a date such as 2024-05-01";
        }
    case BASTION_FIELD_ENUM:
        for (size_t i = 0; f->choices && f->choices[i]; i++) {
            if (bastion_str_eq(s, bastion_cstr(f->choices[i]))) {
                v->integer = (int64_t)i;
                v->str = bastion_cstr(f->choices[i]);
                return NULL;
            }
        }
        return enum_detail(f->choices);
    default: break;
    }
    long cps = bastion__utf8_count(s);
    if (f->min && cps < f->min)
        return s.len == 0 ? "must not be empty" : "is too short";
    if (f->max && cps > f->max)
        return "is too long";
    v->str = s;
    return NULL;
}

#define MAX_SAFE_INTEGER 9007199254740991.0 /* 2^53 - 1: every integer below is a double */

static const char *check_cents(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    if (!cJSON_IsNumber(item))
        return "must be an integer amount in cents";
    double d = item->valuedouble;
    if (d != floor(d))
        return "must be a whole number of cents";
    if (d <= 0)
        return "must be a positive amount in cents";
    int64_t hi = f->max > 0 ? f->max : (int64_t)MAX_SAFE_INTEGER;
    if (d > MAX_SAFE_INTEGER || (int64_t)d > hi)
        return "is too large";
    if ((int64_t)d < (f->min > 1 ? f->min : 1))
        return "is too small";
    v->integer = (int64_t)d;
    return NULL;
}

static const char *check_one(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    switch (f->type) {
    case BASTION_FIELD_STRING:
    case BASTION_FIELD_EMAIL:
    case BASTION_FIELD_SLUG:
    case BASTION_FIELD_PHONE:
    case BASTION_FIELD_UUID:
    case BASTION_FIELD_TIMESTAMP:
    case BASTION_FIELD_DATE:
    case BASTION_FIELD_ENUM:
    case BASTION_FIELD_INSTANT: return check_text(f, item, v);
    case BASTION_FIELD_OBJECT: break; /* bastion_validate: its errors are many */
    case BASTION_FIELD_INTEGER: {
        if (!cJSON_IsNumber(item))
            return "must be an integer";
        double d = item->valuedouble;
        if (d != floor(d) || d < -MAX_SAFE_INTEGER || d > MAX_SAFE_INTEGER)
            return "must be an integer";
        if ((int64_t)d < f->min || (int64_t)d > f->max)
            return "is out of range";
        v->integer = (int64_t)d;
        return NULL;
    }
    case BASTION_FIELD_CENTS: return check_cents(f, item, v);
    case BASTION_FIELD_BOOL:
        if (!cJSON_IsBool(item))
            return "must be true or false";
        v->boolean = cJSON_IsTrue(item);
        return NULL;
    }
    return "has an unknown rule";
}

static size_t validate_members(const cJSON *obj, const bastion_field *fields, size_t n,
                               bastion_field_value *out, cJSON *errors, bool open);

/* An OBJECT rule: the member's own rules, their errors moved under its
 * pointer; `open` carries down (provider payloads are open at every level).
 * Recursion is bounded by the rule tables, which are static. */
static void check_object(const bastion_field *f, const cJSON *item, bastion_field_value *out,
                         cJSON *errors, bool open)
{
    if (!cJSON_IsObject(item)) {
        bastion__error_add_name(errors, f->name, "must be an object");
        return;
    }
    bastion_field_value *values = bastion_alloc((f->n_fields + 1) * sizeof *values);
    cJSON *inner = cJSON_CreateArray();
    if (validate_members(item, f->fields, f->n_fields, values, inner, open) > 0) {
        char prefix[160];
        name_pointer(f->name, prefix);
        bastion_errors_move_under(errors, inner, prefix);
        return; /* a failed field leaves no partial value behind */
    }
    *out = (bastion_field_value){.present = true, .object = values};
}

/* bastion_validate, and with `open` the same rules with members that no rule
 * names ignored (bastion__validate_open). */
static size_t validate_members(const cJSON *obj, const bastion_field *fields, size_t n,
                               bastion_field_value *out, cJSON *errors, bool open)
{
    size_t before = (size_t)cJSON_GetArraySize(errors);
    memset(out, 0, n * sizeof *out);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        bool known = open;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(fields[i].name, item->string) == 0;
        if (!known)
            bastion__error_add_name(errors, item->string, "is not a known field");
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, fields[i].name);
        /* a duplicate member is ambiguous: reject rather than pick one */
        int seen = 0;
        const cJSON *dup;
        cJSON_ArrayForEach(dup, obj) seen += strcmp(dup->string, fields[i].name) == 0;
        if (seen > 1) {
            bastion__error_add_name(errors, fields[i].name, "appears more than once");
            continue;
        }
        if (!it || cJSON_IsNull(it)) {
            if (fields[i].flags & BASTION_REQUIRED)
                bastion__error_add_name(errors, fields[i].name, "is required");
            continue;
        }
        if (fields[i].type == BASTION_FIELD_OBJECT) {
            check_object(&fields[i], it, &out[i], errors, open);
            continue;
        }
        bastion_field_value v = {0};
        const char *why = check_one(&fields[i], it, &v);
        if (why) {
            bastion__error_add_name(errors, fields[i].name, why);
        } else {
            v.present = true;
            out[i] = v; /* a failed field leaves no partial value behind */
        }
    }
    return (size_t)cJSON_GetArraySize(errors) - before;
}

/* see validate.h */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors)
{
    return validate_members(obj, fields, n, out, errors, false);
}

/* see validate_internal.h */
size_t bastion__validate_open(const cJSON *obj, const bastion_field *fields, size_t n,
                              bastion_field_value *out, cJSON *errors)
{
    return validate_members(obj, fields, n, out, errors, true);
}

/* see validate.h */
void bastion_error_add(cJSON *errors, const char *pointer, const char *detail)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", pointer);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
}

/* see validate.h */
void bastion_errors_move_under(cJSON *to, cJSON *from, const char *prefix)
{
    cJSON *e;
    while ((e = cJSON_DetachItemFromArray(from, 0)) != NULL) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "pointer"));
        size_t n = strlen(prefix) + (p ? strlen(p) : 0) + 1;
        char *full = bastion_alloc(n);
        snprintf(full, n, "%s%s", prefix, p ? p : "");
        cJSON_ReplaceItemInObjectCaseSensitive(e, "pointer", cJSON_CreateString(full));
        cJSON_AddItemToArray(to, e);
    }
}

/* see validate.h */
bastion_rc bastion_field_problem(bastion_ctx *cx, const char *pointer, const char *detail)
{
    cJSON *errors = cJSON_CreateArray();
    bastion_error_add(errors, pointer, detail);
    return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The request has invalid fields.",
                              errors, 0);
}
