/*
 * The module imports: bastion:edge/{kv,sql,http-out,config,log}@0.1.0 and the
 * WASI preview1 subset Bastion modules need. HOST_BINDINGS at the end is the
 * one list of what the host provides: host_module_load refuses any other
 * import and fills each module's trampoline slots from it. Each binding
 * receives the request's struct host_call as `c`.
 *
 * Every binding runs in host mode from its first statement: the module's
 * generated trampoline (host/tools/glue.py) calls host_import_enter before
 * it and host_import_done after it. So the deadline never unwinds a binding;
 * it takes effect when the binding returns (SAFE3).
 *
 * Discipline (so a trap can never leak a host resource): a binding first reads
 * and checks every guest argument, then calls the backend, which releases its
 * own resources before returning, and only then writes results back into the
 * guest, which may call cabi_realloc and so may trap. Host memory a binding
 * holds meanwhile is registered with abi_own.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "abi.h"
#include "rt/rt.h"

/* see rt.h: the prologue of every import */
static void host_import_enter(void)
{
    host_rt_enter_import();
}

/* The epilogue: frees what the call owned, then back to guest mode, which
 * traps when the deadline passed meanwhile. */
static void host_import_done(struct host_call *c)
{
    abi_release(c);
    host_rt_leave_host();
}

uint32_t host_budget_ms(const struct host_call *c, uint32_t requested)
{
    if (!c->deadline_ns)
        return requested;
    uint64_t now = host_now_ns();
    if (now >= c->deadline_ns)
        return 0;
    uint64_t left = (c->deadline_ns - now) / 1000000ull;
    return left < requested ? (uint32_t)left : requested;
}

/* Writes the `err` case of a result whose payload starts at `payload`. */
static void put_error(struct host_call *c, uint8_t *ret, uint8_t *payload, const struct host_err *e)
{
    abi_w8(ret, 1);
    abi_w8(payload, (uint8_t)e->kind);
    if (e->kind == HOST_E_GUARD)
        abi_w32(payload + 4, e->statement); /* guard(u32) */
    else if (e->kind != HOST_E_TIMEOUT)
        abi_put_bytes(c, payload + 4, e->msg, strlen(e->msg));
}

/* Store names are checked against the manifest grant before any backend call. */
static char *granted(struct host_call *c, uint32_t ptr, uint32_t len, char **list, size_t n,
                     const char *what, struct host_err *e)
{
    char *name = abi_cstr(c, ptr, len);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return name;
    host_fail(e, HOST_E_DENIED, "%s '%s' is not granted to function '%s'", what, name,
              c->fn->name);
    return NULL;
}

/* Common prologue of every kv call: grant check and budget. */
struct kv_args {
    char *store;
    const uint8_t *key;
    uint32_t klen;
    uint32_t budget;
};

static int kv_begin(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                    uint32_t timeout, struct kv_args *a, struct host_err *e)
{
    c->counters.kv++;
    a->key = abi_span(c, kp, kl);
    a->klen = kl;
    a->store = granted(c, sp, sl, c->fn->kv, c->fn->n_kv, "kv store", e);
    if (!a->store)
        return -1;
    a->budget = host_budget_ms(c, timeout);
    if (a->budget == 0)
        return host_fail(e, HOST_E_TIMEOUT, "budget exhausted");
    return 0;
}

/* get: result<option<list<u8>>, error>; size 16, payload @4 */
static void kv_get(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                      uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    void *val = NULL;
    size_t vlen = 0;
    int found = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_get(c->env->state, a.store, a.key, a.klen, a.budget, &val, &vlen, &found, &e) == 0) {
        if (found)
            abi_own(c, val, free);
        abi_w8(r, 0);
        abi_w8(r + 4, found ? 1 : 0);
        if (found)
            abi_put_bytes(c, r + 8, val, vlen);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* set: result<_, error>; size 16, payload @4 */
static void kv_set(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                      uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    const uint8_t *v = abi_span(c, vp, vl);
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_set(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &e) == 0)
        abi_w8(r, 0);
    else
        put_error(c, r, r + 4, &e);
}

/* add: result<bool, error>; size 16, payload @4 */
static void kv_add(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                      uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    const uint8_t *v = abi_span(c, vp, vl);
    int added = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_add(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &added, &e) == 0) {
        abi_w8(r, 0);
        abi_w8(r + 4, added ? 1 : 0);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* increment: result<s64, error>; size 24, align 8, payload @8 */
static void kv_increment(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp,
                            uint32_t kl, uint64_t delta, uint64_t ttl, uint32_t timeout,
                            uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 24, 8);
    int64_t out = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_increment(c->env->state, a.store, a.key, a.klen, (int64_t)delta, ttl, a.budget,
                          &out, &e) == 0) {
        abi_w8(r, 0);
        abi_w64(r + 8, (uint64_t)out);
    } else {
        put_error(c, r, r + 8, &e);
    }
}

/* swap: result<bool, error>; size 16, payload @4 */
static void kv_swap(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                       uint32_t has_exp, uint32_t ep, uint32_t el, uint32_t vp, uint32_t vl,
                       uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    if (has_exp > 1)
        host_rt_trap(HOST_TRAP_ABI);
    const uint8_t *exp = has_exp ? abi_span(c, ep, el) : NULL;
    const uint8_t *v = abi_span(c, vp, vl);
    int swapped = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_swap(c->env->state, a.store, a.key, a.klen, exp, has_exp ? el : 0, (int)has_exp,
                     v, vl, ttl, a.budget, &swapped, &e) == 0) {
        abi_w8(r, 0);
        abi_w8(r + 4, swapped ? 1 : 0);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* delete: result<bool, error>; size 16, payload @4 */
static void kv_delete(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                         uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    int deleted = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_delete(c->env->state, a.store, a.key, a.klen, a.budget, &deleted, &e) == 0) {
        abi_w8(r, 0);
        abi_w8(r + 4, deleted ? 1 : 0);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* --- sql ----------------------------------------------------------------- */

/* Reads list<value> (16 bytes each, align 8) into host memory owned by the
 * call. The text and blob pointers borrow guest memory; they stay valid until
 * the call returns because the backend runs before anything is allocated in
 * the guest. */
static struct host_value *read_values(struct host_call *c, uint32_t ptr, uint32_t n)
{
    const uint8_t *p = abi_span_aligned(c, ptr, (uint64_t)n * 16, 8);
    struct host_value *v = abi_own(c, calloc(n ? n : 1, sizeof *v), free);
    for (uint32_t i = 0; i < n; i++, p += 16) {
        v[i].type = p[0];
        switch (p[0]) {
        case 0: break;
        case 1: v[i].i = (int64_t)abi_r64(p + 8); break;
        case 2: { uint64_t bits = abi_r64(p + 8); memcpy(&v[i].r, &bits, 8); break; }
        case 3: v[i].p = (char *)abi_str(c, abi_r32(p + 8), abi_r32(p + 12));
                v[i].len = abi_r32(p + 12); break;
        case 4: v[i].p = (char *)abi_span(c, abi_r32(p + 8), abi_r32(p + 12));
                v[i].len = abi_r32(p + 12); break;
        default: host_rt_trap(HOST_TRAP_ABI);
        }
    }
    return v;
}

/* Writes a rows record (24 bytes, align 8) at `at`. */
static void put_rows(struct host_call *c, uint8_t *at, const struct host_rows *rows)
{
    uint32_t cols = abi_alloc(c, 4, (uint32_t)(rows->n_cols * 8));
    for (size_t i = 0; i < rows->n_cols; i++)
        abi_put_bytes(c, c->mem->data + cols + i * 8, rows->cols[i], strlen(rows->cols[i]));
    abi_w32(at, cols);
    abi_w32(at + 4, (uint32_t)rows->n_cols);
    uint32_t list = abi_alloc(c, 4, (uint32_t)(rows->n_rows * 8));
    for (size_t r = 0; r < rows->n_rows; r++) {
        uint32_t vals = abi_alloc(c, 8, (uint32_t)(rows->n_cols * 16));
        for (size_t k = 0; k < rows->n_cols; k++) {
            const struct host_value *v = &rows->vals[r * rows->n_cols + k];
            uint8_t *p = c->mem->data + vals + k * 16;
            abi_w8(p, (uint8_t)v->type);
            if (v->type == 1)
                abi_w64(p + 8, (uint64_t)v->i);
            else if (v->type == 2) {
                uint64_t bits;
                memcpy(&bits, &v->r, 8);
                abi_w64(p + 8, bits);
            } else if (v->type >= 3)
                abi_put_bytes(c, p + 8, v->p, v->len);
        }
        abi_w32(c->mem->data + list + r * 8, vals);
        abi_w32(c->mem->data + list + r * 8 + 4, (uint32_t)rows->n_cols);
    }
    abi_w32(at + 8, list);
    abi_w32(at + 12, (uint32_t)rows->n_rows);
    abi_w64(at + 16, rows->changes);
}

static void rows_destroy(void *p)
{
    host_rows_free(p);
    free(p);
}

struct rows_list {
    size_t n;
    struct host_rows rows[];
};

static void rows_list_destroy(void *p)
{
    struct rows_list *l = p;
    for (size_t i = 0; i < l->n; i++)
        host_rows_free(&l->rows[i]);
    free(l);
}

static char *sql_begin(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t timeout,
                       uint32_t *budget, struct host_err *e)
{
    c->counters.sql++;
    char *db = granted(c, dp, dl, c->fn->sql, c->fn->n_sql, "database", e);
    if (!db)
        return NULL;
    *budget = host_budget_ms(c, timeout);
    if (*budget == 0) {
        host_fail(e, HOST_E_TIMEOUT, "budget exhausted");
        return NULL;
    }
    return db;
}

/* query: result<rows, error>; size 32, align 8, payload @8 */
static void sql_query(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t qp, uint32_t ql,
                         uint32_t pp, uint32_t pl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 32, 8);
    struct host_stmt s = {0};
    s.sql = abi_str(c, qp, ql);
    s.sql_len = ql;
    s.params = read_values(c, pp, pl);
    s.n_params = pl;
    struct host_rows *rows = abi_own(c, calloc(1, sizeof *rows), rows_destroy);
    uint32_t budget = 0;
    char *db = sql_begin(c, dp, dl, timeout, &budget, &e);
    int rc = db ? host_sql_query(c->env->state, db, &s, budget, rows, &e) : -1;
    if (rc == 0) {
        abi_w8(r, 0);
        put_rows(c, r + 8, rows);
    } else {
        put_error(c, r, r + 8, &e);
    }
}

/* transaction: result<list<rows>, error>; size 16, payload @4 */
static void sql_transaction(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t stp,
                               uint32_t stl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 16, 4);
    const uint8_t *sp = abi_span_aligned(c, stp, (uint64_t)stl * 32, 8);
    struct host_stmt *st = abi_own(c, calloc(stl ? stl : 1, sizeof *st), free);
    struct rows_list *list = abi_own(c, calloc(1, sizeof *list + (size_t)stl * sizeof(struct host_rows)),
                                     rows_list_destroy);
    list->n = stl;
    struct host_rows *rows = list->rows;
    for (uint32_t i = 0; i < stl; i++, sp += 32) {
        st[i].sql = abi_str(c, abi_r32(sp), abi_r32(sp + 4));
        st[i].sql_len = abi_r32(sp + 4);
        st[i].params = read_values(c, abi_r32(sp + 8), abi_r32(sp + 12));
        st[i].n_params = abi_r32(sp + 12);
        if (sp[16] > 1)
            host_rt_trap(HOST_TRAP_ABI);
        st[i].has_expect = sp[16];
        st[i].expect = abi_r64(sp + 24);
    }
    uint32_t budget = 0;
    char *db = sql_begin(c, dp, dl, timeout, &budget, &e);
    int rc = db ? host_sql_transaction(c->env->state, db, st, stl, budget, rows, &e) : -1;
    if (rc == 0) {
        abi_w8(r, 0);
        uint32_t list = abi_alloc(c, 8, stl * 24);
        for (uint32_t i = 0; i < stl; i++)
            put_rows(c, c->mem->data + list + i * 24, &rows[i]);
        abi_w32(r + 4, list);
        abi_w32(r + 8, stl);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* --- http-out ------------------------------------------------------------ */

static void resp_destroy(void *p)
{
    host_http_resp_free(p);
    free(p);
}

/* send: result<response, error>; size 24, payload @4 */
static void http_send(struct host_call *c, uint32_t mp, uint32_t ml, uint32_t up, uint32_t ul,
                         uint32_t hp, uint32_t hl, uint32_t bp, uint32_t bl, uint32_t timeout,
                         uint32_t ret)
{
    struct host_err e;
    uint8_t *r = abi_span_aligned(c, ret, 24, 4);
    const uint8_t *body = abi_span(c, bp, bl);
    const uint8_t *h = abi_span_aligned(c, hp, (uint64_t)hl * 16, 4);
    struct host_header *hs = abi_own(c, calloc(hl ? hl : 1, sizeof *hs), free);
    for (uint32_t i = 0; i < hl; i++) {
        hs[i].name = (char *)abi_str(c, abi_r32(h + i * 16), abi_r32(h + i * 16 + 4));
        hs[i].name_len = abi_r32(h + i * 16 + 4);
        hs[i].value = (char *)abi_str(c, abi_r32(h + i * 16 + 8), abi_r32(h + i * 16 + 12));
        hs[i].value_len = abi_r32(h + i * 16 + 12);
    }
    char *method = abi_cstr(c, mp, ml);
    char *url = abi_cstr(c, up, ul);
    c->counters.http++;
    struct host_http_resp *resp = abi_own(c, calloc(1, sizeof *resp), resp_destroy);
    int rc;
    uint32_t budget = host_budget_ms(c, timeout);
    if (!host_http_allowed(c->fn, url))
        rc = host_fail(&e, HOST_E_DENIED, "outbound URL not on the allow-list of '%s'",
                       c->fn->name);
    else if (budget == 0)
        rc = host_fail(&e, HOST_E_TIMEOUT, "budget exhausted");
    else
        rc = host_http_send(method, url, hs, hl, body, bl, budget, resp, &e);
    if (rc == 0) {
        abi_w8(r, 0);
        abi_w16(r + 4, resp->status);
        uint32_t list = abi_alloc(c, 4, (uint32_t)(resp->n_headers * 16));
        for (size_t i = 0; i < resp->n_headers; i++) {
            uint8_t *at = c->mem->data + list + i * 16;
            abi_put_bytes(c, at, resp->headers[i].name, resp->headers[i].name_len);
            abi_put_bytes(c, at + 8, resp->headers[i].value, resp->headers[i].value_len);
        }
        abi_w32(r + 8, list);
        abi_w32(r + 12, (uint32_t)resp->n_headers);
        abi_put_bytes(c, r + 16, resp->body, resp->body_len);
    } else {
        put_error(c, r, r + 4, &e);
    }
}

/* --- config & log -------------------------------------------------------- */

/* get: option<string>; size 12, payload @4 */
static void config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret)
{
    uint8_t *r = abi_span_aligned(c, ret, 12, 4);
    char *name = abi_cstr(c, np, nl);
    const char *v = host_var_get(c->env->manifest, c->fn, name);
    abi_w8(r, v ? 1 : 0);
    if (v)
        abi_put_bytes(c, r + 4, v, strlen(v));
}

/* A request's log output is capped at [server] guest_log_bytes (SAFE3): a
 * module must not fill the disk or hold the log sink. The cap counts what
 * reaches the sink, framing included: each line is charged what it wrote,
 * and admitted only while its worst case (every byte escaped as \u00XX, six
 * bytes, plus the framing) still fits. What does not fit is dropped and
 * counted; the access line reports the count. */
#define LOG_FRAMING 256 /* ts, level, fn, request id and keys of one line */

static size_t log_fits(const struct host_call *c, size_t framing, size_t len)
{
    size_t cap = c->env->manifest->limits.guest_log_bytes;
    if (c->log_bytes + framing >= cap)
        return 0;
    size_t room = (cap - c->log_bytes - framing) / 6;
    return len < room ? len : room;
}

static void log_write(struct host_call *c, uint32_t level, uint32_t mp, uint32_t ml,
                      uint32_t fp, uint32_t fl)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    if (level > 3)
        host_rt_trap(HOST_TRAP_ABI);
    const char *msg = abi_str(c, mp, ml);
    const uint8_t *f = abi_span_aligned(c, fp, (uint64_t)fl * 16, 4);
    if (fl > 64)
        fl = 64; /* a log line is not a bulk channel */
    const char *kv[128];
    size_t lens[128];
    for (uint32_t i = 0; i < fl; i++) {
        kv[2 * i] = abi_str(c, abi_r32(f + i * 16), abi_r32(f + i * 16 + 4));
        lens[2 * i] = abi_r32(f + i * 16 + 4);
        kv[2 * i + 1] = abi_str(c, abi_r32(f + i * 16 + 8), abi_r32(f + i * 16 + 12));
        lens[2 * i + 1] = abi_r32(f + i * 16 + 12);
    }
    size_t bytes = ml;
    for (uint32_t i = 0; i < 2 * fl; i++)
        bytes += lens[i];
    /* a structured line is kept whole or dropped whole */
    if (log_fits(c, LOG_FRAMING + 8 * (size_t)fl, bytes) < bytes)
        c->counters.log_dropped += bytes;
    else
        c->log_bytes +=
            host_log_line(levels[level], c->fn->name, c->req->request_id, msg, ml, kv, lens, fl);
}

/* --- WASI preview1 subset ------------------------------------------------ */
/* errno values from the WASI preview1 witx */
#define WASI_ESUCCESS 0
#define WASI_EBADF 8
#define WASI_EINVAL 28
#define WASI_ENOSYS 52

static uint32_t wasi_clock_time_get(struct host_call *c, uint32_t id, uint64_t precision,
                                       uint32_t out)
{
    (void)precision;
    struct timespec ts;
    clockid_t clk;
    switch (id) {
    case 0: clk = CLOCK_REALTIME; break;
    case 1: clk = CLOCK_MONOTONIC; break;
    default: return WASI_EINVAL;
    }
    clock_gettime(clk, &ts);
    abi_w64(abi_span_aligned(c, out, 8, 8), (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    return WASI_ESUCCESS;
}

static uint32_t wasi_random_get(struct host_call *c, uint32_t buf, uint32_t len)
{
    uint8_t *p = abi_span(c, buf, len);
    for (uint32_t got = 0; got < len;) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n <= 0)
            return WASI_EINVAL;
        got += (uint32_t)n;
    }
    return WASI_ESUCCESS;
}

/* fd 1 and 2 go to the structured log as one line per call; nothing else is
 * writable. */
static uint32_t wasi_fd_write(struct host_call *c, uint32_t fd, uint32_t iovs, uint32_t n,
                                 uint32_t nwritten)
{
    if (fd != 1 && fd != 2)
        return WASI_EBADF;
    const uint8_t *iov = abi_span_aligned(c, iovs, (uint64_t)n * 8, 4);
    uint8_t *outp = abi_span_aligned(c, nwritten, 4, 4);
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = abi_r32(iov + i * 8), l = abi_r32(iov + i * 8 + 4);
        const char *s = (const char *)abi_span(c, p, l);
        while (l && (s[l - 1] == '\n'))
            l--;
        if (l && abi_utf8_valid((const uint8_t *)s, l)) {
            /* plain output may be cut, at a character boundary */
            size_t keep = log_fits(c, LOG_FRAMING, l);
            while (keep && keep < l && ((uint8_t)s[keep] & 0xC0) == 0x80)
                keep--;
            c->counters.log_dropped += l - keep;
            if (keep)
                c->log_bytes += host_log_line(fd == 1 ? "info" : "warn", c->fn->name,
                                              c->req->request_id, s, keep, NULL, NULL, 0);
        }
        total += abi_r32(iov + i * 8 + 4);
    }
    abi_w32(outp, total);
    return WASI_ESUCCESS;
}

/* wasi-libc's printf family links stderr's FILE, and with it close and seek;
 * no module can open a file, so both answer EBADF. */
static uint32_t wasi_fd_close(struct host_call *c, uint32_t fd)
{
    (void)c;
    (void)fd;
    return WASI_EBADF;
}

static uint32_t wasi_fd_seek(struct host_call *c, uint32_t fd, uint64_t offset, uint32_t whence,
                                uint32_t out)
{
    (void)c;
    (void)fd;
    (void)offset;
    (void)whence;
    (void)out;
    return WASI_EBADF;
}

static void wasi_proc_exit(struct host_call *c, uint32_t code)
{
    (void)c;
    (void)code;
    host_rt_trap(HOST_TRAP_EXIT);
}

/* --- what the host provides ---------------------------------------------- */

#define BIND(module, name, fn) {module, name, (host_import_fn)(fn)}

/* see host.h: the one list of imports; nothing else is linked to a module */
const struct host_binding host_bindings[] = {
    BIND("bastion:edge/kv@0.1.0", "get", kv_get),
    BIND("bastion:edge/kv@0.1.0", "set", kv_set),
    BIND("bastion:edge/kv@0.1.0", "add", kv_add),
    BIND("bastion:edge/kv@0.1.0", "increment", kv_increment),
    BIND("bastion:edge/kv@0.1.0", "swap", kv_swap),
    BIND("bastion:edge/kv@0.1.0", "delete", kv_delete),
    BIND("bastion:edge/sql@0.1.0", "query", sql_query),
    BIND("bastion:edge/sql@0.1.0", "transaction", sql_transaction),
    BIND("bastion:edge/http-out@0.1.0", "send", http_send),
    BIND("bastion:edge/config@0.1.0", "get", config_get),
    BIND("bastion:edge/log@0.1.0", "write", log_write),
    BIND("wasi_snapshot_preview1", "clock_time_get", wasi_clock_time_get),
    BIND("wasi_snapshot_preview1", "random_get", wasi_random_get),
    BIND("wasi_snapshot_preview1", "fd_write", wasi_fd_write),
    BIND("wasi_snapshot_preview1", "fd_close", wasi_fd_close),
    BIND("wasi_snapshot_preview1", "fd_seek", wasi_fd_seek),
    BIND("wasi_snapshot_preview1", "proc_exit", wasi_proc_exit),
};
const size_t host_n_bindings = sizeof host_bindings / sizeof host_bindings[0];
const host_import_fn host_import_prologue = (host_import_fn)host_import_enter;
const host_import_fn host_import_epilogue = (host_import_fn)host_import_done;
