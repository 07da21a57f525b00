/*
 * Slices, the request arena, request accessors and time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bastion/core.h"
#include "core_internal.h"

/* see core.h */
bastion_str bastion_cstr(const char *s)
{
    return (bastion_str){s, s ? strlen(s) : 0};
}

/* see core.h */
bool bastion_str_eq(bastion_str a, bastion_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* see core.h */
bool bastion_str_eq_ci(bastion_str a, bastion_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.ptr[i]) != lower(b.ptr[i]))
            return false;
    return true;
}

/*
 * The arena: bump allocation from 64 KiB chunks. In a module the chunks are
 * never freed — the host throws the whole linear memory away after the
 * response. Native tests and fuzzers release them with bastion__arena_reset.
 * The chunks stay linked from `arena`, so LeakSanitizer sees them as
 * reachable, never as leaks.
 */
#define CHUNK_SIZE   65536
#define CHUNK_HEADER 16 /* keeps every allocation 8-aligned on 32- and 64-bit */

struct chunk {
    struct chunk *next;
    size_t size; /* bytes, header included */
};
_Static_assert(sizeof(struct chunk) <= CHUNK_HEADER, "the chunk header must fit");

static struct {
    char *cur, *end;
    struct chunk *chunks;
    size_t used; /* bytes handed out since the last reset, rounding included */
} arena;

/* see core.h */
void *bastion_alloc(size_t n)
{
    n = n ? (n + 7) & ~(size_t)7 : 8; /* a zero-size request still gets a unique pointer */
    if ((size_t)(arena.end - arena.cur) < n) {
        size_t chunk = n > CHUNK_SIZE - CHUNK_HEADER ? n + CHUNK_HEADER : CHUNK_SIZE;
        struct chunk *c = malloc(chunk);
        if (!c)
            __builtin_trap(); /* out of memory: the host answers 500 */
        c->next = arena.chunks;
        c->size = chunk;
        arena.chunks = c;
        arena.cur = (char *)c + CHUNK_HEADER;
        arena.end = (char *)c + chunk;
    }
    void *p = arena.cur;
    arena.cur += n;
    arena.used += n;
    return p;
}

/* see core_internal.h */
void *bastion__alloc_aligned(size_t n, size_t align)
{
    if (align <= 8)
        return bastion_alloc(n);
    /* bastion_alloc is 8-aligned, so rounding up skips at most align - 8 bytes */
    uintptr_t p = (uintptr_t)bastion_alloc(n + align - 8);
    return (void *)((p + align - 1) & ~(uintptr_t)(align - 1));
}

/* cJSON's free under the arena rule (core.h): the memory goes with the
 * instance, so there is nothing to do. */
static void json_free(void *p)
{
    (void)p;
}

/* see core_internal.h */
void bastion__arena_adopt_json(void)
{
    /* With a malloc_fn/free_fn pair other than libc's, cJSON never calls
     * realloc (cJSON.c, cJSON_InitHooks): printing grows its buffer by
     * allocate-and-copy instead, which the arena serves like anything else. */
    cJSON_Hooks hooks = {.malloc_fn = bastion_alloc, .free_fn = json_free};
    cJSON_InitHooks(&hooks);
}

/* see core_internal.h */
size_t bastion__arena_used(void)
{
    return arena.used;
}

/* see core_internal.h */
bool bastion__arena_contains(const void *p)
{
    for (const struct chunk *c = arena.chunks; c; c = c->next)
        if ((const char *)p >= (const char *)c + CHUNK_HEADER &&
            (const char *)p < (const char *)c + c->size)
            return true;
    return false;
}

/* see core_internal.h */
void bastion__arena_reset(void)
{
    while (arena.chunks) {
        struct chunk *next = arena.chunks->next;
        free(arena.chunks);
        arena.chunks = next;
    }
    arena.cur = arena.end = NULL;
    arena.used = 0;
}

/* see core.h */
char *bastion_str_dup(bastion_str s)
{
    char *d = bastion_alloc(s.len + 1);
    if (s.len)
        memcpy(d, s.ptr, s.len);
    d[s.len] = 0;
    return d;
}

/* see core.h */
bastion_str bastion_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        __builtin_trap(); /* an invalid format is a bug in the caller */
    char *out = bastion_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return (bastion_str){out, (size_t)n};
}

/* see core.h */
bastion_str bastion_u64_str(uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char *d = bastion_alloc(n + 1);
    for (size_t i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    d[n] = 0;
    return (bastion_str){d, n};
}

/* see core.h */
bastion_str bastion_bool_str(bool b)
{
    return b ? BASTION_LIT("true") : BASTION_LIT("false");
}

static bastion_str lookup(const bastion_header *h, size_t n, const char *name, bool ci)
{
    bastion_str want = bastion_cstr(name);
    for (size_t i = 0; i < n; i++) {
        if (!(ci ? bastion_str_eq_ci(h[i].name, want) : bastion_str_eq(h[i].name, want)))
            continue;
        /* the canonical ABI may write an empty list as (0, 0): present, not
         * absent ("If-Match:" with no value is still an If-Match) */
        return h[i].value.ptr ? h[i].value : (bastion_str){"", 0};
    }
    return BASTION_STR_NULL;
}

/* see core.h */
bastion_str bastion_param(const bastion_ctx *cx, const char *name)
{
    return lookup(cx->params, cx->n_params, name, false);
}

/* see core.h */
bastion_str bastion_header_get(const bastion_ctx *cx, const char *name)
{
    return lookup(cx->headers, cx->n_headers, name, true);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* application/x-www-form-urlencoded decoding (WHATWG URL §5.1). Malformed
 * escapes are kept literally, as browsers do. */
static bastion_str form_decode(const char *s, size_t n)
{
    char *out = bastion_alloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return (bastion_str){out, o};
}

/* see core.h */
bastion_str bastion_query_get(const bastion_ctx *cx, const char *name)
{
    const char *p = cx->query.ptr, *end = cx->query.ptr + cx->query.len;
    bastion_str want = bastion_cstr(name);
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        bastion_str key = form_decode(p, (size_t)(kend - p));
        if (bastion_str_eq(key, want))
            return eq ? form_decode(eq + 1, (size_t)(stop - eq - 1)) : (bastion_str){"", 0};
        p = amp ? amp + 1 : end;
    }
    return BASTION_STR_NULL;
}

/* see core.h */
uint64_t bastion_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* see core.h */
uint32_t bastion_remaining_ms(const bastion_ctx *cx)
{
    uint64_t now = bastion_now_ms();
    if (now >= cx->deadline_ms)
        return 0;
    uint64_t left = cx->deadline_ms - now;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}
