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

size_t host_log_line(const char *level, const char *fn, const char *request_id, const char *msg,
                     size_t msg_len, const char *const *kv, const size_t *kv_lens, size_t n_kv)
{
    if (!sink)
        sink = stderr;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when, ts.tv_nsec / 1000000, level);
    if (fn)
        fprintf(f, ",\"fn\":\"%s\"", fn);
    if (request_id && *request_id)
        fprintf(f, ",\"request_id\":\"%s\"", request_id);
    fputs(",\"msg\":\"", f);
    host_json_escape(f, msg, msg_len);
    fputc('"', f);
    for (size_t i = 0; i < n_kv; i++) {
        const char *k = kv[2 * i];
        size_t kl = kv_lens ? kv_lens[2 * i] : strlen(k);
        /* guest fields never overwrite the host's own */
        fputs(",\"", f);
        if ((kl == 2 && !memcmp(k, "ts", 2)) || (kl == 5 && !memcmp(k, "level", 5)) ||
            (kl == 3 && !memcmp(k, "msg", 3)) || (kl == 2 && !memcmp(k, "fn", 2)) ||
            (kl == 10 && !memcmp(k, "request_id", 10)))
            fputs("field_", f);
        host_json_escape(f, k, kl);
        fputs("\":\"", f);
        host_json_escape(f, kv[2 * i + 1], kv_lens ? kv_lens[2 * i + 1] : strlen(kv[2 * i + 1]));
        fputc('"', f);
    }
    fputs("}\n", f);
    fclose(f);
    fwrite(buf, 1, len, sink);
    fflush(sink);
    free(buf);
    return len;
}
