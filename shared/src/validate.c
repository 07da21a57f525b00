/*
 * Request-body validation (VAL1, VAL3).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bastion/http.h"
#include "bastion/validate.h"

/* RFC 3629 §4 well-formed UTF-8: no overlongs, no surrogates, ≤ U+10FFFF.
 * Returns the number of code points, or -1. */
static long utf8_count(const char *s, size_t len)
{
    long count = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) { n = 0; cp = b; }
        else if (b >= 0xC2 && b <= 0xDF) { n = 1; cp = b & 0x1Fu; }
        else if (b >= 0xE0 && b <= 0xEF) { n = 2; cp = b & 0x0Fu; }
        else if (b >= 0xF0 && b <= 0xF4) { n = 3; cp = b & 0x07u; }
        else return -1;
        if (len - i <= n)
            return -1;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += n + 1;
        count++;
    }
    return count;
}

/* see validate.h */
bool bastion_utf8_valid(bastion_str s)
{
    return utf8_count(s.ptr, s.len) >= 0;
}

static bool atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A deliberately strict, pattern-free subset of RFC 5321 §4.1.2 addresses:
 * dot-atom local part (no quoted strings), a domain of ≥ 2 LDH labels with
 * an alphabetic TLD, lengths per RFC 5321 §4.5.3.1. */
bool bastion_email_valid(bastion_str s)
{
    if (s.len < 3 || s.len > 254)
        return false;
    const char *at = memchr(s.ptr, '@', s.len);
    if (!at)
        return false;
    size_t local = (size_t)(at - s.ptr), dom = s.len - local - 1;
    if (local == 0 || local > 64 || dom == 0 || dom > 253)
        return false;
    for (size_t i = 0; i < local; i++) {
        char c = s.ptr[i];
        if (c == '.') {
            if (i == 0 || i == local - 1 || s.ptr[i - 1] == '.')
                return false;
        } else if (!atext(c)) {
            return false;
        }
    }
    const char *d = at + 1;
    size_t labels = 0, label_len = 0, last_start = 0;
    for (size_t i = 0; i <= dom; i++) {
        char c = i < dom ? d[i] : '.';
        if (c == '.') {
            if (label_len == 0 || label_len > 63 || d[i - 1] == '-' || d[last_start] == '-')
                return false;
            labels++;
            label_len = 0;
            last_start = i + 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            label_len++;
        } else {
            return false;
        }
    }
    if (labels < 2)
        return false;
    /* the TLD is alphabetic, at least two letters */
    const char *tld = s.ptr + s.len;
    size_t tl = 0;
    while (tld > d && tld[-1] != '.') { tld--; tl++; }
    if (tl < 2)
        return false;
    for (size_t i = 0; i < tl; i++)
        if (!((tld[i] >= 'a' && tld[i] <= 'z') || (tld[i] >= 'A' && tld[i] <= 'Z')))
            return false;
    return true;
}

/* RFC 6901 §3: '~' → "~0", '/' → "~1". */
static void add_error(cJSON *errors, const char *name, const char *detail)
{
    char ptr[160];
    size_t o = 0;
    ptr[o++] = '/';
    for (const char *p = name; *p && o + 3 < sizeof ptr; p++) {
        if (*p == '~') { ptr[o++] = '~'; ptr[o++] = '0'; }
        else if (*p == '/') { ptr[o++] = '~'; ptr[o++] = '1'; }
        else ptr[o++] = *p;
    }
    ptr[o] = 0;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", ptr);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bastion_str trim(bastion_str s)
{
    while (s.len && is_space(s.ptr[0])) { s.ptr++; s.len--; }
    while (s.len && is_space(s.ptr[s.len - 1])) s.len--;
    return s;
}

static bool has_control(bastion_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7F)
            return true;
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < s.len && (unsigned char)s.ptr[i + 1] < 0xA0)
            return true;
    }
    return false;
}

static const char *check_text(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    if (!cJSON_IsString(item))
        return "must be a string";
    bastion_str s = trim(bastion_cstr(item->valuestring));
    if (!bastion_utf8_valid(s))
        return "must be valid UTF-8";
    if (has_control(s))
        return "must not contain control characters";
    long cps = utf8_count(s.ptr, s.len);
    if (f->type == BASTION_FIELD_EMAIL) {
        char *lower = bastion_alloc(s.len + 1);
        for (size_t i = 0; i < s.len; i++)
            lower[i] = (s.ptr[i] >= 'A' && s.ptr[i] <= 'Z') ? (char)(s.ptr[i] + 32) : s.ptr[i];
        lower[s.len] = 0;
        s = (bastion_str){lower, s.len};
        if (!bastion_email_valid(s))
            return "must be an email address";
    } else if (f->type == BASTION_FIELD_SLUG) {
        for (size_t i = 0; i < s.len; i++) {
            char c = s.ptr[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-'))
                return "may contain only letters, digits, '_' and '-'";
        }
    }
    if (f->min && cps < f->min)
        return s.len == 0 ? "must not be empty" : "is too short";
    if (f->max && cps > f->max)
        return "is too long";
    v->str = (bastion_str){bastion_str_dup(s), s.len};
    return NULL;
}

static const char *check_one(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    switch (f->type) {
    case BASTION_FIELD_STRING:
    case BASTION_FIELD_EMAIL:
    case BASTION_FIELD_SLUG:
        return check_text(f, item, v);
    case BASTION_FIELD_INTEGER: {
        if (!cJSON_IsNumber(item))
            return "must be an integer";
        double d = item->valuedouble;
        if (d != floor(d) || d < -9007199254740991.0 || d > 9007199254740991.0)
            return "must be an integer";
        if ((int64_t)d < f->min || (int64_t)d > f->max)
            return "is out of range";
        v->integer = (int64_t)d;
        return NULL;
    }
    case BASTION_FIELD_BOOL:
        if (!cJSON_IsBool(item))
            return "must be true or false";
        v->boolean = cJSON_IsTrue(item);
        return NULL;
    }
    return "has an unknown rule";
}

/* see validate.h */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors)
{
    size_t before = (size_t)cJSON_GetArraySize(errors);
    memset(out, 0, n * sizeof *out);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(fields[i].name, item->string) == 0;
        if (!known)
            add_error(errors, item->string, "is not a known field");
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, fields[i].name);
        /* a duplicate member is ambiguous: reject rather than pick one */
        int seen = 0;
        const cJSON *dup;
        cJSON_ArrayForEach(dup, obj) seen += strcmp(dup->string, fields[i].name) == 0;
        if (seen > 1) {
            add_error(errors, fields[i].name, "appears more than once");
            continue;
        }
        if (!it || cJSON_IsNull(it)) {
            if (fields[i].flags & BASTION_REQUIRED)
                add_error(errors, fields[i].name, "is required");
            continue;
        }
        const char *why = check_one(&fields[i], it, &out[i]);
        if (why)
            add_error(errors, fields[i].name, why);
        else
            out[i].present = true;
    }
    return (size_t)cJSON_GetArraySize(errors) - before;
}

/* Depth of nesting outside strings; cJSON recurses per level. */
static bool nesting_ok(bastion_str s, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

/* see validate.h */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out)
{
    bastion_str ct = bastion_header_get(cx, "content-type");
    size_t base = 0;
    while (ct.ptr && base < ct.len && ct.ptr[base] != ';')
        base++;
    bastion_str media = trim((bastion_str){ct.ptr, base});
    if (!ct.ptr || !bastion_str_eq_ci(media, BASTION_LIT("application/json")))
        return bastion_problem(cx, BASTION_E_UNSUPPORTED_MEDIA,
                               "The body must be sent as application/json.");
    if (!bastion_utf8_valid(cx->body))
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid UTF-8.");
    if (!nesting_ok(cx->body, 32))
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is nested too deeply.");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(cx->body.ptr, cx->body.len, &end, false);
    if (root) {
        while (end < cx->body.ptr + cx->body.len && is_space(*end))
            end++;
        if (end != cx->body.ptr + cx->body.len) {
            cJSON_Delete(root); /* trailing bytes after the value */
            root = NULL;
        }
    }
    if (!root)
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid JSON.");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body must be a JSON object.");
    }
    cJSON *errors = cJSON_CreateArray();
    size_t bad = bastion_validate(root, fields, n, out, errors); /* out[] lives in the arena */
    cJSON_Delete(root);
    if (bad > 0)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The request has invalid fields.",
                                  errors, 0);
    cJSON_Delete(errors);
    return BASTION_OK;
}
