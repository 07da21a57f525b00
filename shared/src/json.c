/*
 * RFC 8259 syntax check (see json.h). An explicit stack of container kinds
 * replaces recursion, so hostile nesting costs one byte per level, bounded.
 */
#include "bastion/json.h"

#define MAX_DEPTH 64

struct scan {
    const char *p, *end;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r'; /* RFC 8259 §2 */
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool hexdigit(char c)
{
    return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* RFC 8259 §7 */
static bastion_json_rc scan_string(struct scan *s)
{
    s->p++; /* opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"')
            return BASTION_JSON_OK;
        if (c < 0x20)
            return BASTION_JSON_SYNTAX; /* control characters must be escaped */
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return BASTION_JSON_SYNTAX;
        char e = *s->p++;
        if (e == 'u') {
            if (s->end - s->p < 4)
                return BASTION_JSON_SYNTAX;
            for (int i = 0; i < 4; i++)
                if (!hexdigit(s->p[i]))
                    return BASTION_JSON_SYNTAX;
            unsigned cp = hex4(s->p);
            s->p += 4;
            if (cp == 0)
                return BASTION_JSON_NUL;
            /* RFC 8259 §8.2: a lone surrogate cannot become UTF-8; cJSON
             * rejects it too, so it is malformed here, not a later surprise */
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return BASTION_JSON_SYNTAX;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
                    return BASTION_JSON_SYNTAX;
                for (int i = 2; i < 6; i++)
                    if (!hexdigit(s->p[i]))
                        return BASTION_JSON_SYNTAX;
                unsigned lo = hex4(s->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return BASTION_JSON_SYNTAX;
                s->p += 6;
            }
        } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                     e == 'r' || e == 't')) {
            return BASTION_JSON_SYNTAX;
        }
    }
    return BASTION_JSON_SYNTAX;
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool scan_number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end || !digit(*s->p))
        return false;
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || !digit(*s->p))
            return false;
        while (s->p < s->end && digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || !digit(*s->p))
            return false;
        while (s->p < s->end && digit(*s->p))
            s->p++;
    }
    return true;
}

static bool scan_literal(struct scan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s->p[i] != lit[i])
            return false;
    s->p += n;
    return true;
}

/* see json.h */
bastion_json_rc bastion_json_check(bastion_str text, int max_depth)
{
    if (max_depth > MAX_DEPTH)
        max_depth = MAX_DEPTH;
    char stack[MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0;
    struct scan s = {text.ptr, text.ptr + text.len};
    bastion_json_rc rc;

value:
    skip_ws(&s);
    if (s.p >= s.end)
        return BASTION_JSON_SYNTAX;
    switch (*s.p) {
    case '{':
    case '[':
        if (depth == max_depth)
            return BASTION_JSON_TOO_DEEP;
        stack[depth++] = *s.p++;
        skip_ws(&s);
        if (s.p < s.end && *s.p == (stack[depth - 1] == '{' ? '}' : ']')) {
            s.p++;
            depth--;
            goto after_value;
        }
        if (stack[depth - 1] == '{')
            goto member;
        goto value;
    case '"':
        if ((rc = scan_string(&s)) != BASTION_JSON_OK)
            return rc;
        goto after_value;
    case 't':
        if (!scan_literal(&s, "true", 4))
            return BASTION_JSON_SYNTAX;
        goto after_value;
    case 'f':
        if (!scan_literal(&s, "false", 5))
            return BASTION_JSON_SYNTAX;
        goto after_value;
    case 'n':
        if (!scan_literal(&s, "null", 4))
            return BASTION_JSON_SYNTAX;
        goto after_value;
    default:
        if (!scan_number(&s))
            return BASTION_JSON_SYNTAX;
        goto after_value;
    }

member: /* inside an object, before a name */
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '"')
        return BASTION_JSON_SYNTAX;
    if ((rc = scan_string(&s)) != BASTION_JSON_OK)
        return rc;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != ':')
        return BASTION_JSON_SYNTAX;
    s.p++;
    goto value;

after_value:
    skip_ws(&s);
    if (depth == 0)
        return s.p == s.end ? BASTION_JSON_OK : BASTION_JSON_SYNTAX;
    if (s.p >= s.end)
        return BASTION_JSON_SYNTAX;
    if (*s.p == ',') {
        s.p++;
        if (stack[depth - 1] == '{')
            goto member;
        goto value;
    }
    if (*s.p == (stack[depth - 1] == '{' ? '}' : ']')) {
        s.p++;
        depth--;
        goto after_value;
    }
    return BASTION_JSON_SYNTAX;
}
