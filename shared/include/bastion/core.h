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

/*
 * A borrowed run of bytes: ptr[0..len). ptr == NULL means "absent"
 * (BASTION_STR_NULL); an empty value that is present has a non-NULL ptr.
 *
 * The slice contract:
 *  - A slice is NOT NUL-terminated unless the function that made it says
 *    so. Code MUST NOT pass .ptr where a C string is expected (printf's %s,
 *    strlen, cJSON_Add*ToObject, strcmp): print a slice with
 *    BASTION_STR_FMT / BASTION_STR_ARG, and make a C string of it with
 *    bastion_str_dup.
 *  - NUL-terminated (ptr[len] == 0), for C APIs that need one: BASTION_LIT,
 *    bastion_cstr, bastion_str_dup, bastion_sprintf, bastion_u64_str,
 *    bastion_query_get values, bastion_kv_get values, bastion_field_value.str,
 *    bastion_jwt_claims strings, bastion_log_mask.
 *  - Not terminated: everything the host wrote into the instance, used in
 *    place — the request (method, path, query, route, client_ip,
 *    request_id, headers, route params, body), bastion_config values, SQL
 *    text and blobs (bastion_row_text / _blob), bastion_http_send's
 *    response, bastion_host_error_text — and every sub-slice of anything.
 *  - No text that reaches a handler through the core's front doors holds a
 *    NUL: the body (bastion_json_body_or_problem), the query
 *    (bastion_query_or_problem) and route parameters
 *    (bastion_param_or_problem) refuse it with a 422, and bastion_row_text
 *    refuses stored text holding one with a 500. Raw accessors
 *    (bastion_param, bastion_query_get, bastion_header_get) MAY hold a NUL:
 *    compare them as bytes, never as C strings.
 */
typedef struct {
    const char *ptr;
    size_t len;
} bastion_str;

#define BASTION_LIT(s)   ((bastion_str){(s), sizeof(s) - 1})
#define BASTION_STR_NULL ((bastion_str){NULL, 0})

/*
 * printf of a slice, terminated or not: the precision bounds the read.
 *
 *     bastion_sprintf("plate " BASTION_STR_FMT, BASTION_STR_ARG(plate))
 *
 * BASTION_STR_NULL prints as nothing (printf MUST NOT get a NULL %s even
 * with precision 0). `s` is evaluated more than once: pass a variable, not
 * a call. Slices in this core are far below INT_MAX bytes (bodies, rows and
 * variables are capped by the host), so the cast loses nothing.
 */
#define BASTION_STR_FMT    "%.*s"
#define BASTION_STR_ARG(s) (int)(s).len, ((s).ptr ? (s).ptr : "")

/*
 * The number of elements of an array, checked at compile time to be an
 * array: a pointer (which would count sizeof(T *) / sizeof(T)) is an error.
 * Use it wherever a call takes an array and its length.
 */
#if defined(__GNUC__) || defined(__clang__)
#define BASTION__IS_ARRAY(a) (!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])))
#define BASTION_COUNTOF(a)                                                                         \
    (sizeof(a) / sizeof((a)[0]) +                                                                  \
     0 * sizeof(struct {                                                                           \
         _Static_assert(BASTION__IS_ARRAY(a), "BASTION_COUNTOF needs an array, not a pointer");    \
         int unused;                                                                               \
     }))
#else
#define BASTION_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* A slice of the C string s (NULL gives BASTION_STR_NULL); terminated. */
bastion_str bastion_cstr(const char *s);
bool bastion_str_eq(bastion_str a, bastion_str b);
bool bastion_str_eq_ci(bastion_str a, bastion_str b); /* ASCII case-insensitive */
/* A NUL-terminated copy in the request arena. A NUL inside `s` would end the
 * C string early: callers pass text that the front doors checked. */
char *bastion_str_dup(bastion_str s);
/* printf into the request arena (NUL-terminated too). Slices go through
 * BASTION_STR_FMT / BASTION_STR_ARG, never "%s" with .ptr. */
bastion_str bastion_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Decimal text of v in the request arena (NUL-terminated too). */
bastion_str bastion_u64_str(uint64_t v);
/* "true" or "false" (static, terminated), e.g. for a log field. */
bastion_str bastion_bool_str(bool b);

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
    const bastion_header *params; /* route {name} → value, decoded */
    size_t n_params;
    const bastion_header *headers; /* names lower-case */
    size_t n_headers;
    bastion_str body;
    uint64_t deadline_ms; /* Unix epoch ms */

    /* response under construction */
    uint16_t status;
    bastion_header *resp_headers;
    size_t n_resp_headers, cap_resp_headers;
    bastion_str resp_body;
    bool responded;
} bastion_ctx;

/* Request accessors. Missing → BASTION_STR_NULL (ptr == NULL). The values
 * are raw: they MAY hold a NUL (see the slice contract above). */
bastion_str bastion_param(const bastion_ctx *cx, const char *name);
bastion_str bastion_header_get(const bastion_ctx *cx, const char *name); /* case-insensitive */
/* The first value of `name` in the query string, percent-decoded ('+' → ' '),
 * in the arena and NUL-terminated; a decoded %00 stays in it, so validate
 * with bastion_query_or_problem before using it as text. */
bastion_str bastion_query_get(const bastion_ctx *cx, const char *name);

/* Milliseconds left before the host's deadline (0 when passed). */
uint32_t bastion_remaining_ms(const bastion_ctx *cx);
uint64_t bastion_now_ms(void); /* wall clock, Unix epoch ms */

#endif
