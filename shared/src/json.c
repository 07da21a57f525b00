/*
 * RFC 8259 syntax check (see json.h). An explicit stack of container kinds
 * replaces recursion, so hostile nesting costs a few bytes per level, bounded;
 * with each level it keeps the member name or array index it is at, so that
 * a \u0000 can be blamed on its field (VAL3) before cJSON's C strings lose it.
 */
#include <stdio.h>
#include <string.h>

#include "bastion/json.h"

#define MAX_DEPTH 64

struct scan {
    const char *p, *end;
    bool nul; /* the string just scanned holds \u0000 */
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
    s->nul = false;
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
                s->nul = true; /* valid JSON: scanning goes on, the caller decides */
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

/* --- the pointer of a NUL (RFC 6901) --- */

struct ptr {
    char *buf;
    size_t len, cap; /* cap counts the terminating NUL */
};

static bool put(struct ptr *o, const char *bytes, size_t n)
{
    if (o->cap - o->len <= n)
        return false;
    memcpy(o->buf + o->len, bytes, n);
    o->len += n;
    return true;
}

/* RFC 6901 §3: '~' → "~0", '/' → "~1"; other bytes as they are. */
static bool put_escaped(struct ptr *o, const char *bytes, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = bytes[i] == '~'   ? put(o, "~0", 2)
             : bytes[i] == '/' ? put(o, "~1", 2)
                               : put(o, bytes + i, 1);
    return ok;
}

/* Decodes a member name exactly as scan_string accepted it (escapes and
 * surrogate pairs already checked) and appends it escaped. */
static bool put_name(struct ptr *o, bastion_str raw)
{
    const char *p = raw.ptr, *end = raw.ptr + raw.len;
    while (p < end) {
        if (*p != '\\') {
            const char *run = p;
            while (p < end && *p != '\\')
                p++;
            if (!put_escaped(o, run, (size_t)(p - run)))
                return false;
            continue;
        }
        char e = p[1];
        p += 2;
        if (e != 'u') {
            char c = e == 'b'   ? '\b'
                     : e == 'f' ? '\f'
                     : e == 'n' ? '\n'
                     : e == 'r' ? '\r'
                     : e == 't' ? '\t'
                                : e; /* '"', '\\' and '/' stand for themselves */
            if (!put_escaped(o, &c, 1))
                return false;
            continue;
        }
        unsigned cp = hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
            p += 6;
        }
        char u[4]; /* RFC 3629 §3 */
        size_t n;
        if (cp < 0x80) {
            u[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | cp >> 6);
            u[1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | cp >> 12);
            u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            u[0] = (char)(0xF0 | cp >> 18);
            u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
            u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
            u[3] = (char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (!put_escaped(o, u, n))
            return false;
    }
    return true;
}

/* The pointer of what the first `depth` open containers are at: one
 * reference token per level, a decoded member name or an array index. A
 * token that does not fit is dropped with everything after it. */
static void locate(bastion_json_nul *nul, const char *kind, const bastion_str *name,
                   const size_t *index, int depth, bool in_name)
{
    struct ptr o = {nul->pointer, 0, sizeof nul->pointer};
    for (int i = 0; i < depth; i++) {
        size_t keep = o.len;
        bool ok = put(&o, "/", 1);
        if (ok && kind[i] == '{') {
            ok = put_name(&o, name[i]);
        } else if (ok) {
            char num[24];
            int n = snprintf(num, sizeof num, "%zu", index[i]);
            ok = put(&o, num, (size_t)n);
        }
        if (!ok) {
            o.len = keep;
            break;
        }
    }
    o.buf[o.len] = 0;
    nul->in_name = in_name;
}

/* see json.h */
bastion_json_rc bastion_json_check(bastion_str text, int max_depth)
{
    return bastion_json_check_at(text, max_depth, NULL);
}

/* see json.h */
bastion_json_rc bastion_json_check_at(bastion_str text, int max_depth, bastion_json_nul *nul)
{
    if (max_depth > MAX_DEPTH)
        max_depth = MAX_DEPTH;
    char stack[MAX_DEPTH];       /* '{' or '[' per open container */
    bastion_str name[MAX_DEPTH]; /* an object's current member name, raw */
    size_t index[MAX_DEPTH];     /* an array's current element */
    int depth = 0;
    bool found_nul = false;
    struct scan s = {text.ptr, text.ptr + text.len, false};
    const char *quote; /* where the member name being scanned opens */
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
        index[depth] = 0;
        name[depth] = BASTION_STR_NULL;
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
        if (s.nul && !found_nul && nul)
            locate(nul, stack, name, index, depth, false);
        found_nul |= s.nul;
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
    quote = s.p;
    if ((rc = scan_string(&s)) != BASTION_JSON_OK)
        return rc;
    name[depth - 1] = (bastion_str){quote + 1, (size_t)(s.p - quote - 2)};
    if (s.nul && !found_nul && nul)
        locate(nul, stack, name, index, depth - 1, true);
    found_nul |= s.nul;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != ':')
        return BASTION_JSON_SYNTAX;
    s.p++;
    goto value;

after_value:
    skip_ws(&s);
    if (depth == 0) {
        if (s.p != s.end)
            return BASTION_JSON_SYNTAX;
        return found_nul ? BASTION_JSON_NUL : BASTION_JSON_OK;
    }
    if (s.p >= s.end)
        return BASTION_JSON_SYNTAX;
    if (*s.p == ',') {
        s.p++;
        if (stack[depth - 1] == '{')
            goto member;
        index[depth - 1]++;
        goto value;
    }
    if (*s.p == (stack[depth - 1] == '{' ? '}' : ']')) {
        s.p++;
        depth--;
        goto after_value;
    }
    return BASTION_JSON_SYNTAX;
}
