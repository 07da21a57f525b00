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
 *
 * Each parameter list is the import's flat canonical-ABI signature, and each
 * value read or written in guest memory is a type of instance/abi_layout.h,
 * moved whole (ABI_LOAD/ABI_STORE): no binding knows an offset.
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

/* The `error` value for e, its string (if any) copied into the guest. The
 * host's kinds are the WIT cases, in order. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(HOST_E_TIMEOUT, ABI_ERROR_TIMEOUT) &&
                   SAME(HOST_E_UNAVAILABLE, ABI_ERROR_UNAVAILABLE) &&
                   SAME(HOST_E_CONFLICT, ABI_ERROR_CONFLICT) &&
                   SAME(HOST_E_INVALID, ABI_ERROR_INVALID) &&
                   SAME(HOST_E_DENIED, ABI_ERROR_DENIED) &&
                   SAME(HOST_E_INTERNAL, ABI_ERROR_INTERNAL) && SAME(HOST_E_GUARD, ABI_ERROR_GUARD),
               "host_err_kind is types.error's case order");

static abi_error error_value(struct host_call *c, const struct host_err *e)
{
    abi_error v = {.disc = (uint8_t)e->kind};
    if (e->kind == HOST_E_GUARD)
        v.u.statement = e->statement;
    else if (e->kind != HOST_E_TIMEOUT)
        v.u.text = abi_put_bytes(c, e->msg, strlen(e->msg));
    return v;
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

/* Each kv binding checks its return area first (it is written last), runs
 * the backend, then stores the whole result. */

static void kv_get(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                   uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_option_list r;
    ABI_CHECK(c, ret, abi_result_option_list);
    void *val = NULL;
    size_t vlen = 0;
    int found = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_get(c->env->state, a.store, a.key, a.klen, a.budget, &val, &vlen, &found, &e) == 0) {
        r = (abi_result_option_list){.disc = ABI_OK};
        if (found) {
            abi_own(c, val, free);
            r.u.ok.disc = ABI_SOME;
            r.u.ok.value = abi_put_bytes(c, val, vlen);
        }
    } else {
        r = (abi_result_option_list){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    }
    ABI_STORE(c, ret, abi_result_option_list, &r);
}

static void kv_set(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                   uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_unit r;
    ABI_CHECK(c, ret, abi_result_unit);
    const uint8_t *v = abi_span(c, vp, vl);
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_set(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &e) == 0)
        r = (abi_result_unit){.disc = ABI_OK};
    else
        r = (abi_result_unit){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    ABI_STORE(c, ret, abi_result_unit, &r);
}

/* result<bool, error>, the answer of add, swap and delete */
static abi_result_bool bool_result(struct host_call *c, int rc, int flag, const struct host_err *e)
{
    if (rc != 0)
        return (abi_result_bool){.disc = ABI_ERR, .u.err = error_value(c, e)};
    return (abi_result_bool){.disc = ABI_OK, .u.ok = flag ? 1 : 0};
}

static void kv_add(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                   uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    ABI_CHECK(c, ret, abi_result_bool);
    const uint8_t *v = abi_span(c, vp, vl);
    int added = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_add(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &added, &e);
    r = bool_result(c, rc, added, &e);
    ABI_STORE(c, ret, abi_result_bool, &r);
}

static void kv_increment(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                         uint64_t delta, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_s64 r;
    ABI_CHECK(c, ret, abi_result_s64);
    int64_t out = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_increment(c->env->state, a.store, a.key, a.klen, (int64_t)delta, ttl, a.budget,
                          &out, &e) == 0)
        r = (abi_result_s64){.disc = ABI_OK, .u.ok = out};
    else
        r = (abi_result_s64){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    ABI_STORE(c, ret, abi_result_s64, &r);
}

/* `expected: option<list<u8>>` arrives flattened: its discriminant, then the
 * list (ABI-NOTES "Passing values"). */
static void kv_swap(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                    uint32_t has_exp, uint32_t ep, uint32_t el, uint32_t vp, uint32_t vl,
                    uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    ABI_CHECK(c, ret, abi_result_bool);
    if (has_exp != ABI_NONE && has_exp != ABI_SOME)
        host_rt_trap(HOST_TRAP_ABI);
    const uint8_t *exp = has_exp ? abi_span(c, ep, el) : NULL;
    const uint8_t *v = abi_span(c, vp, vl);
    int swapped = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_swap(c->env->state, a.store, a.key, a.klen, exp, has_exp ? el : 0,
                          (int)has_exp, v, vl, ttl, a.budget, &swapped, &e);
    r = bool_result(c, rc, swapped, &e);
    ABI_STORE(c, ret, abi_result_bool, &r);
}

static void kv_delete(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                      uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    ABI_CHECK(c, ret, abi_result_bool);
    int deleted = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_delete(c->env->state, a.store, a.key, a.klen, a.budget, &deleted, &e);
    r = bool_result(c, rc, deleted, &e);
    ABI_STORE(c, ret, abi_result_bool, &r);
}

/* --- sql ----------------------------------------------------------------- */

_Static_assert(ABI_VALUE_NULL == 0 && ABI_VALUE_INTEGER == 1 && ABI_VALUE_REAL == 2 &&
                   ABI_VALUE_TEXT == 3 && ABI_VALUE_BLOB == 4,
               "struct host_value's type is sql.value's case order");

/* Reads a list<value> into host memory owned by the call. The text and blob
 * pointers borrow guest memory; they stay valid until the call returns
 * because the backend runs before anything is allocated in the guest. */
static struct host_value *read_values(struct host_call *c, abi_list list)
{
    const uint8_t *p = ABI_ARRAY(c, list, abi_value);
    struct host_value *v = abi_own(c, calloc(list.len ? list.len : 1, sizeof *v), free);
    for (uint32_t i = 0; i < list.len; i++) {
        abi_value in;
        ABI_ELEM(p, i, abi_value, &in);
        v[i].type = in.disc;
        switch (in.disc) {
        case ABI_VALUE_NULL: break;
        case ABI_VALUE_INTEGER: v[i].i = in.u.integer; break;
        case ABI_VALUE_REAL: v[i].r = in.u.real; break;
        case ABI_VALUE_TEXT:
            v[i].p = (char *)abi_str(c, in.u.bytes.ptr, in.u.bytes.len);
            v[i].len = in.u.bytes.len;
            break;
        case ABI_VALUE_BLOB:
            v[i].p = (char *)abi_span(c, in.u.bytes.ptr, in.u.bytes.len);
            v[i].len = in.u.bytes.len;
            break;
        default: host_rt_trap(HOST_TRAP_ABI);
        }
    }
    return v;
}

/* The rows record for `rows`, its lists allocated in the guest. */
static abi_rows rows_value(struct host_call *c, const struct host_rows *rows)
{
    abi_rows out = {.changes = rows->changes};
    out.columns.ptr = ABI_ALLOC_ARRAY(c, rows->n_cols, abi_list);
    out.columns.len = (uint32_t)rows->n_cols;
    for (size_t i = 0; i < rows->n_cols; i++) {
        abi_list name = abi_put_bytes(c, rows->cols[i], strlen(rows->cols[i]));
        ABI_STORE_ELEM(c, out.columns.ptr, i, abi_list, &name);
    }
    out.rows.ptr = ABI_ALLOC_ARRAY(c, rows->n_rows, abi_list);
    out.rows.len = (uint32_t)rows->n_rows;
    for (size_t r = 0; r < rows->n_rows; r++) {
        abi_list row = {ABI_ALLOC_ARRAY(c, rows->n_cols, abi_value), (uint32_t)rows->n_cols};
        for (size_t k = 0; k < rows->n_cols; k++) {
            const struct host_value *v = &rows->vals[r * rows->n_cols + k];
            abi_value w = {.disc = (uint8_t)v->type};
            if (v->type == ABI_VALUE_INTEGER)
                w.u.integer = v->i;
            else if (v->type == ABI_VALUE_REAL)
                w.u.real = v->r;
            else if (v->type == ABI_VALUE_TEXT || v->type == ABI_VALUE_BLOB)
                w.u.bytes = abi_put_bytes(c, v->p, v->len);
            ABI_STORE_ELEM(c, row.ptr, k, abi_value, &w);
        }
        ABI_STORE_ELEM(c, out.rows.ptr, r, abi_list, &row);
    }
    return out;
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

static void sql_query(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t qp, uint32_t ql,
                      uint32_t pp, uint32_t pl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    abi_result_rows r;
    ABI_CHECK(c, ret, abi_result_rows);
    struct host_stmt s = {0};
    s.sql = abi_str(c, qp, ql);
    s.sql_len = ql;
    s.params = read_values(c, (abi_list){pp, pl});
    s.n_params = pl;
    struct host_rows *rows = abi_own(c, calloc(1, sizeof *rows), rows_destroy);
    uint32_t budget = 0;
    char *db = sql_begin(c, dp, dl, timeout, &budget, &e);
    if (db && host_sql_query(c->env->state, db, &s, budget, rows, &e) == 0)
        r = (abi_result_rows){.disc = ABI_OK, .u.ok = rows_value(c, rows)};
    else
        r = (abi_result_rows){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    ABI_STORE(c, ret, abi_result_rows, &r);
}

static void sql_transaction(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t stp,
                            uint32_t stl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    abi_result_rows_list r;
    ABI_CHECK(c, ret, abi_result_rows_list);
    const uint8_t *sp = ABI_ARRAY(c, ((abi_list){stp, stl}), abi_statement);
    struct host_stmt *st = abi_own(c, calloc(stl ? stl : 1, sizeof *st), free);
    struct rows_list *list = abi_own(c, calloc(1, sizeof *list + (size_t)stl * sizeof(struct host_rows)),
                                     rows_list_destroy);
    list->n = stl;
    struct host_rows *rows = list->rows;
    for (uint32_t i = 0; i < stl; i++) {
        abi_statement in;
        ABI_ELEM(sp, i, abi_statement, &in);
        st[i].sql = abi_str(c, in.sql.ptr, in.sql.len);
        st[i].sql_len = in.sql.len;
        st[i].params = read_values(c, in.params);
        st[i].n_params = in.params.len;
        if (in.expect_changes.disc != ABI_NONE && in.expect_changes.disc != ABI_SOME)
            host_rt_trap(HOST_TRAP_ABI);
        st[i].has_expect = in.expect_changes.disc == ABI_SOME;
        st[i].expect = in.expect_changes.value;
    }
    uint32_t budget = 0;
    char *db = sql_begin(c, dp, dl, timeout, &budget, &e);
    if (db && host_sql_transaction(c->env->state, db, st, stl, budget, rows, &e) == 0) {
        r = (abi_result_rows_list){.disc = ABI_OK};
        r.u.ok = (abi_list){ABI_ALLOC_ARRAY(c, stl, abi_rows), stl};
        for (uint32_t i = 0; i < stl; i++) {
            abi_rows v = rows_value(c, &rows[i]);
            ABI_STORE_ELEM(c, r.u.ok.ptr, i, abi_rows, &v);
        }
    } else {
        r = (abi_result_rows_list){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    }
    ABI_STORE(c, ret, abi_result_rows_list, &r);
}

/* --- http-out ------------------------------------------------------------ */

static void resp_destroy(void *p)
{
    host_http_resp_free(p);
    free(p);
}

/* Reads a list<header> into host memory owned by the call; names and values
 * borrow guest memory, checked as UTF-8. */
static struct host_header *read_headers(struct host_call *c, abi_list list)
{
    const uint8_t *p = ABI_ARRAY(c, list, abi_pair);
    struct host_header *hs = abi_own(c, calloc(list.len ? list.len : 1, sizeof *hs), free);
    for (uint32_t i = 0; i < list.len; i++) {
        abi_pair in;
        ABI_ELEM(p, i, abi_pair, &in);
        hs[i].name = (char *)abi_str(c, in.name.ptr, in.name.len);
        hs[i].name_len = in.name.len;
        hs[i].value = (char *)abi_str(c, in.value.ptr, in.value.len);
        hs[i].value_len = in.value.len;
    }
    return hs;
}

static void http_send(struct host_call *c, uint32_t mp, uint32_t ml, uint32_t up, uint32_t ul,
                      uint32_t hp, uint32_t hl, uint32_t bp, uint32_t bl, uint32_t timeout,
                      uint32_t ret)
{
    struct host_err e;
    abi_result_response r;
    ABI_CHECK(c, ret, abi_result_response);
    const uint8_t *body = abi_span(c, bp, bl);
    struct host_header *hs = read_headers(c, (abi_list){hp, hl});
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
        r = (abi_result_response){.disc = ABI_OK, .u.ok.status = resp->status};
        r.u.ok.headers = (abi_list){ABI_ALLOC_ARRAY(c, resp->n_headers, abi_pair),
                                    (uint32_t)resp->n_headers};
        for (size_t i = 0; i < resp->n_headers; i++) {
            abi_pair h = {abi_put_bytes(c, resp->headers[i].name, resp->headers[i].name_len),
                          abi_put_bytes(c, resp->headers[i].value, resp->headers[i].value_len)};
            ABI_STORE_ELEM(c, r.u.ok.headers.ptr, i, abi_pair, &h);
        }
        r.u.ok.body = abi_put_bytes(c, resp->body, resp->body_len);
    } else {
        r = (abi_result_response){.disc = ABI_ERR, .u.err = error_value(c, &e)};
    }
    ABI_STORE(c, ret, abi_result_response, &r);
}

/* --- config & log -------------------------------------------------------- */

static void config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret)
{
    ABI_CHECK(c, ret, abi_option_list);
    char *name = abi_cstr(c, np, nl);
    const char *v = host_var_get(c->env->manifest, c->fn, name);
    abi_option_list r = {.disc = v ? ABI_SOME : ABI_NONE};
    if (v)
        r.value = abi_put_bytes(c, v, strlen(v));
    ABI_STORE(c, ret, abi_option_list, &r);
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
    static const char *const levels[] = {
        [ABI_LOG_DEBUG] = "debug", [ABI_LOG_INFO] = "info", [ABI_LOG_WARN] = "warn",
        [ABI_LOG_ERROR] = "error"};
    if (level > ABI_LOG_ERROR)
        host_rt_trap(HOST_TRAP_ABI);
    const char *msg = abi_str(c, mp, ml);
    const uint8_t *f = ABI_ARRAY(c, ((abi_list){fp, fl}), abi_pair);
    if (fl > 64)
        fl = 64; /* a log line is not a bulk channel */
    const char *kv[128];
    size_t lens[128];
    for (uint32_t i = 0; i < fl; i++) {
        abi_pair in;
        ABI_ELEM(f, i, abi_pair, &in);
        kv[2 * i] = abi_str(c, in.name.ptr, in.name.len);
        lens[2 * i] = in.name.len;
        kv[2 * i + 1] = abi_str(c, in.value.ptr, in.value.len);
        lens[2 * i + 1] = in.value.len;
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
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    ABI_STORE(c, out, uint64_t, &ns); /* timestamp: u64 */
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
    const uint8_t *iov = ABI_ARRAY(c, ((abi_list){iovs, n}), abi_wasi_iovec);
    ABI_CHECK(c, nwritten, uint32_t); /* size: u32 */
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        abi_wasi_iovec v;
        ABI_ELEM(iov, i, abi_wasi_iovec, &v);
        uint32_t l = v.len;
        const char *s = (const char *)abi_span(c, v.buf, l);
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
        total += v.len;
    }
    ABI_STORE(c, nwritten, uint32_t, &total);
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
