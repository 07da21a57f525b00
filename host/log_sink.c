/*
 * Structured logs: one JSON object per line on the sink (stderr by default),
 * written with a single fwrite so concurrent workers never interleave lines.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"

static FILE *sink;

void host_log_init(FILE *f)
{
    sink = f;
}

/* see host.h; RFC 3629 §4 */
int host_utf8_valid(const void *text, size_t len)
{
    const uint8_t *s = text;
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            cp = b & 0x07;
        } else
            return 0;
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* RFC 8259 §7 string escaping. */
void host_json_escape(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20) {
                fputs("\\u00", f);
                fputc(hex[ch >> 4], f);
                fputc(hex[ch & 15], f);
            } else {
                fputc(ch, f);
            }
        }
    }
}

/* A log line being built: on the stack up to 1 KiB, on the heap past it. */
struct line {
    char *p;
    size_t len, cap;
    int failed; /* out of memory: the line is dropped */
    char stack[1024];
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->failed)
        return;
    if (l->len + n > l->cap) {
        size_t cap = l->cap * 2 > l->len + n ? l->cap * 2 : l->len + n;
        char *grown = l->p == l->stack ? malloc(cap) : realloc(l->p, cap);
        if (!grown) {
            l->failed = 1;
            return;
        }
        if (l->p == l->stack)
            memcpy(grown, l->stack, l->len);
        l->p = grown;
        l->cap = cap;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* host_json_escape into a line: runs of plain bytes are copied whole. */
static void put_escaped(struct line *l, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        put(l, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(l, u, 6);
        }
        }
    }
    put(l, s + run, len - run);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ": the seconds formatted once per second per thread. */
static void put_time(struct line *l)
{
    static _Thread_local time_t last = -1;
    static _Thread_local char secs[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
        last = ts.tv_sec;
    }
    put_str(l, secs);
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
    char frac[6] = {
        '.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', 0};
    put(l, frac, 5);
}

size_t host_log_line(const char *level, const char *fn, const char *request_id, const char *msg,
                     size_t msg_len, const char *const *kv, const size_t *kv_lens, size_t n_kv)
{
    if (!sink)
        sink = stderr;
    struct line l;
    l.p = l.stack;
    l.len = 0;
    l.cap = sizeof l.stack;
    l.failed = 0;
    put_str(&l, "{\"ts\":\"");
    put_time(&l);
    put_str(&l, "\",\"level\":\"");
    put_str(&l, level);
    put(&l, "\"", 1);
    if (fn) {
        put_str(&l, ",\"fn\":\"");
        put_str(&l, fn);
        put(&l, "\"", 1);
    }
    if (request_id && *request_id) {
        put_str(&l, ",\"request_id\":\"");
        put_str(&l, request_id);
        put(&l, "\"", 1);
    }
    put_str(&l, ",\"msg\":\"");
    put_escaped(&l, msg, msg_len);
    put(&l, "\"", 1);
    for (size_t i = 0; i < n_kv; i++) {
        const char *k = kv[2 * i];
        size_t kl = kv_lens ? kv_lens[2 * i] : strlen(k);
        /* guest fields never overwrite the host's own */
        put(&l, ",\"", 2);
        if ((kl == 2 && !memcmp(k, "ts", 2)) || (kl == 5 && !memcmp(k, "level", 5)) ||
            (kl == 3 && !memcmp(k, "msg", 3)) || (kl == 2 && !memcmp(k, "fn", 2)) ||
            (kl == 10 && !memcmp(k, "request_id", 10)))
            put(&l, "field_", 6);
        put_escaped(&l, k, kl);
        put(&l, "\":\"", 3);
        put_escaped(&l, kv[2 * i + 1], kv_lens ? kv_lens[2 * i + 1] : strlen(kv[2 * i + 1]));
        put(&l, "\"", 1);
    }
    put(&l, "}\n", 2);
    size_t len = l.failed ? 0 : l.len;
    if (len) {
        fwrite(l.p, 1, len, sink);
        fflush(sink);
    }
    if (l.p != l.stack)
        free(l.p);
    return len;
}
