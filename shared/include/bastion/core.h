/*
 * Bastion core: slices, the request arena and the request context.
 *
 * Memory — one rule: the request arena owns everything a request allocates.
 *   - bastion_alloc, and everything the core builds on it: bastion_str_dup,
 *     bastion_sprintf, claims, field values, response headers and body.
 *   - Every cJSON value. Before a handler runs, the core points cJSON's
 *     allocator at the arena (cJSON_InitHooks: malloc_fn = bastion_alloc,
 *     free_fn does nothing), so cJSON_Parse, cJSON_Create*, cJSON_Print*
 *     all return arena memory. cJSON_Delete and cJSON_free are therefore
 *     no-ops: never needed, and harmless where they remain. A function
 *     MUST NOT free() anything cJSON returned (a printed text included): it
 *     is not malloc memory. A function MUST NOT call cJSON_InitHooks.
 *   - The request record and every host result (kv values, sql rows,
 *     http-out responses), which the host writes through cabi_realloc.
 * Nothing is freed piecemeal; the instance — and with it all of its memory —
 * is discarded after the response (DESIGN "Host rules"), so arena memory
 * lives exactly until then and nothing survives a request. The cost of the
 * rule is that memory only grows within one request: a handler that builds
 * and drops large trees in a loop holds all of them until the response
 * (cJSON, under these hooks, also never reallocs: printing grows its buffer
 * by allocate-and-copy, about 3x the text's length at worst).
 */
#ifndef BASTION_CORE_H
#define BASTION_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed run of bytes; never NUL-dependent. */
typedef struct {
    const char *ptr;
    size_t len;
} bastion_str;

#define BASTION_LIT(s) ((bastion_str){(s), sizeof(s) - 1})
#define BASTION_STR_NULL ((bastion_str){NULL, 0})

/*
 * The number of elements of an array, checked at compile time to be an
 * array: a pointer (which would count sizeof(T *) / sizeof(T)) is an error.
 * Use it wherever a call takes an array and its length.
 */
#if defined(__GNUC__) || defined(__clang__)
#define BASTION__IS_ARRAY(a) (!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])))
#define BASTION_COUNTOF(a)                                                                  \
    (sizeof(a) / sizeof((a)[0]) +                                                           \
     0 * sizeof(struct {                                                                    \
         _Static_assert(BASTION__IS_ARRAY(a), "BASTION_COUNTOF needs an array, not a pointer"); \
         int unused;                                                                        \
     }))
#else
#define BASTION_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#endif

bastion_str bastion_cstr(const char *s);
bool bastion_str_eq(bastion_str a, bastion_str b);
bool bastion_str_eq_ci(bastion_str a, bastion_str b); /* ASCII case-insensitive */
/* A NUL-terminated copy in the request arena. */
char *bastion_str_dup(bastion_str s);
/* printf into the request arena (NUL-terminated too). */
bastion_str bastion_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Decimal text of v in the request arena (NUL-terminated too). */
bastion_str bastion_u64_str(uint64_t v);

/* Allocates from the request arena; never returns NULL (out of memory traps
 * the instance, which the host answers with a 500 problem). */
void *bastion_alloc(size_t n);

typedef struct {
    bastion_str name, value;
} bastion_header;

typedef enum { BASTION_TRIGGER_HTTP = 0, BASTION_TRIGGER_CRON = 1 } bastion_trigger;

/* One request and the response being built for it. Owned by the core; a
 * handler reads the request fields and writes through the bastion_respond_*
 * and bastion_problem* functions only. */
typedef struct bastion_ctx {
    bastion_trigger trigger;
    bastion_str method, path, query, route, client_ip, request_id;
    const bastion_header *params;  /* route {name} → value, decoded */
    size_t n_params;
    const bastion_header *headers; /* names lower-case */
    size_t n_headers;
    bastion_str body;
    uint64_t deadline_ms;          /* Unix epoch ms */

    /* response under construction */
    uint16_t status;
    bastion_header *resp_headers;
    size_t n_resp_headers, cap_resp_headers;
    bastion_str resp_body;
    bool responded;
} bastion_ctx;

/* Request accessors. Missing → BASTION_STR_NULL (ptr == NULL). */
bastion_str bastion_param(const bastion_ctx *cx, const char *name);
bastion_str bastion_header_get(const bastion_ctx *cx, const char *name); /* case-insensitive */
/* The first value of `name` in the query string, percent-decoded ('+' → ' '). */
bastion_str bastion_query_get(const bastion_ctx *cx, const char *name);

/* Milliseconds left before the host's deadline (0 when passed). */
uint32_t bastion_remaining_ms(const bastion_ctx *cx);
uint64_t bastion_now_ms(void); /* wall clock, Unix epoch ms */

#endif
