/*
 * Wrappers over the host imports (bindings_internal.h): budgets, arena
 * copies, error mapping.
 */
#include <stdio.h>
#include <string.h>

#include "bindings_internal.h"
#include "bastion/host.h"
#include "bastion/log.h"

static bastion_str last_error;
static uint32_t last_guard; /* statement index of the last guard error, else 0 */

/* see host.h */
bastion_str bastion_host_error_text(void)
{
    return last_error;
}

static bastion_host_rc take_error(const cabi_error *e)
{
    last_guard = 0;
    if (e->tag > CABI_ERROR_GUARD) { /* not a WIT error case: never index tables with it */
        last_error = BASTION_LIT("host returned an unknown error case");
        return BASTION_HOST_INTERNAL;
    }
    if (e->tag == CABI_ERROR_GUARD) {
        last_guard = e->u.statement;
        last_error = BASTION_LIT("expect-changes did not hold");
        return BASTION_HOST_GUARD;
    }
    last_error = e->tag == CABI_ERROR_TIMEOUT ? BASTION_LIT("timeout") : e->u.msg;
    return (bastion_host_rc)(e->tag + 1); /* see bindings_layout.h */
}

/* see host.h */
bastion_rc bastion_host_rc_problem(bastion_host_rc rc)
{
    switch (rc) {
    case BASTION_HOST_OK: return BASTION_OK;
    case BASTION_HOST_TIMEOUT: return BASTION_E_TIMEOUT;
    case BASTION_HOST_UNAVAILABLE: return BASTION_E_UNAVAILABLE;
    case BASTION_HOST_GUARD: return BASTION_E_CONFLICT;
    default: return BASTION_E_INTERNAL; /* conflict: a constraint the module did not expect */
    }
}

/* see host.h */
bastion_str bastion_host_rc_name(bastion_host_rc rc)
{
    static const char *const names[] = {
        [BASTION_HOST_OK] = "ok",
        [BASTION_HOST_TIMEOUT] = "timeout",
        [BASTION_HOST_UNAVAILABLE] = "unavailable",
        [BASTION_HOST_CONFLICT] = "conflict",
        [BASTION_HOST_INVALID] = "invalid",
        [BASTION_HOST_DENIED] = "denied",
        [BASTION_HOST_INTERNAL] = "internal",
        [BASTION_HOST_GUARD] = "guard",
    };
    return bastion_cstr(names[(size_t)rc < BASTION_COUNTOF(names) ? rc : BASTION_HOST_INTERNAL]);
}

/* see host.h */
bastion_rc bastion_host_fail_or_problem(bastion_ctx *cx, bastion_host_rc rc, const char *what)
{
    bastion_header f[] = {
        {BASTION_LIT("op"), bastion_cstr(what)},
        {BASTION_LIT("error"), bastion_host_rc_name(rc)},
        {BASTION_LIT("detail"), last_error},
    };
    /* host text may echo data */
    bastion_log_safe(BASTION_LOG_ERROR, "host call failed", f, BASTION_COUNTOF(f));
    bastion_rc p = bastion_host_rc_problem(rc);
    const char *detail = p == BASTION_E_TIMEOUT       ? "A backing service did not answer in time."
                         : p == BASTION_E_UNAVAILABLE ? "A backing service is unavailable."
                         : p == BASTION_E_CONFLICT ? "The request conflicts with the current state."
                                                   : "The request could not be completed.";
    return bastion_problem_ex(cx, p, detail, NULL, p == BASTION_E_UNAVAILABLE ? 5 : 0);
}

/* Operators may override each default budget with a variable granted to the
 * function (budget_cache_ms, budget_db_ms, budget_external_ms); read once per
 * instance, that is once per request. A malformed value keeps the default. */
static uint32_t budget_default(bastion_budget kind)
{
    static uint32_t cache[3];
    static bool loaded[3];
    int i = kind == BASTION_BUDGET_CACHE ? 0 : kind == BASTION_BUDGET_DB ? 1 : 2;
    static const char *const names[] = {"budget_cache_ms", "budget_db_ms", "budget_external_ms"};
    if (!loaded[i]) {
        loaded[i] = true;
        cache[i] = (uint32_t)kind;
        bastion_str v = bastion_config(names[i]);
        uint32_t n = 0;
        size_t k = 0;
        for (; v.ptr && k < v.len && k < 9 && v.ptr[k] >= '0' && v.ptr[k] <= '9'; k++)
            n = n * 10 + (uint32_t)(v.ptr[k] - '0');
        if (v.ptr && k == v.len && k > 0 && n > 0)
            cache[i] = n;
    }
    return cache[i];
}

/* see host.h */
uint32_t bastion_budget_ms(const bastion_ctx *cx, bastion_budget kind)
{
    uint32_t left = bastion_remaining_ms(cx);
    uint32_t budget = budget_default(kind);
    return budget < left ? budget : left;
}

static bastion_str copy(const uint8_t *p, size_t n)
{
    char *d = bastion_alloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return (bastion_str){d, n};
}

#define NO_BUDGET(b) ((b) == 0 ? (last_error = BASTION_LIT("budget exhausted"), 1) : 0)

/* see host.h */
bastion_host_rc bastion_kv_get(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str *value, bool *found)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    *found = false;
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_opt_bytes r;
    cabi_kv_get(store, strlen(store), key.ptr, key.len, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    *found = r.u.ok.is_some;
    if (value)
        *value = *found ? copy(r.u.ok.val.ptr, r.u.ok.val.len) : BASTION_STR_NULL;
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_host_rc bastion_kv_set(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_bool r;
    cabi_kv_set(store, strlen(store), key.ptr, key.len, value.ptr, value.len, ttl_ms, b, &r);
    return r.is_err ? take_error(&r.u.err) : BASTION_HOST_OK;
}

/* see host.h */
bastion_host_rc bastion_kv_add(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms, bool *added)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    *added = false;
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_bool r;
    cabi_kv_add(store, strlen(store), key.ptr, key.len, value.ptr, value.len, ttl_ms, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    *added = r.u.ok;
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_host_rc bastion_kv_increment(bastion_ctx *cx, const char *store, bastion_str key,
                                     int64_t delta, uint64_t ttl_ms, int64_t *value)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_s64 r;
    cabi_kv_increment(store, strlen(store), key.ptr, key.len, delta, ttl_ms, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    *value = r.u.ok;
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_host_rc bastion_kv_swap(bastion_ctx *cx, const char *store, bastion_str key,
                                bastion_str expected, bastion_str value, uint64_t ttl_ms,
                                bool *swapped)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    *swapped = false;
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_bool r;
    cabi_kv_swap(store, strlen(store), key.ptr, key.len, expected.ptr != NULL, expected.ptr,
                 expected.len, value.ptr, value.len, ttl_ms, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    *swapped = r.u.ok;
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_host_rc bastion_kv_delete(bastion_ctx *cx, const char *store, bastion_str key,
                                  bool *deleted)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_CACHE);
    *deleted = false;
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_bool r;
    cabi_kv_delete(store, strlen(store), key.ptr, key.len, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    *deleted = r.u.ok;
    return BASTION_HOST_OK;
}

/* The host's rows live in this instance's memory already (it allocated
 * them through cabi_realloc); only the row index is built here. */
static void adopt_rows(const cabi_rows *in, bastion_rows *out)
{
    out->columns = in->columns.ptr;
    out->n_columns = in->columns.len;
    out->n_rows = in->rows.len;
    out->changes = in->changes;
    const bastion_sql_value **rows = bastion_alloc((in->rows.len + 1) * sizeof *rows);
    for (size_t i = 0; i < in->rows.len; i++)
        rows[i] = in->rows.ptr[i].ptr;
    out->rows = rows;
}

/* see host.h */
bastion_host_rc bastion_sql_query(bastion_ctx *cx, const char *db, const char *sql,
                                  const bastion_sql_value *params, size_t n_params,
                                  bastion_rows *out)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_DB);
    memset(out, 0, sizeof *out);
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_rows r;
    cabi_sql_query(db, strlen(db), sql, strlen(sql), params, n_params, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    adopt_rows(&r.u.ok, out);
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_rc bastion_sql_query_or_problem(bastion_ctx *cx, const char *db, const char *sql,
                                        const bastion_sql_value *params, size_t n_params,
                                        bastion_rows *out, const char *what)
{
    bastion_host_rc rc = bastion_sql_query(cx, db, sql, params, n_params, out);
    return rc == BASTION_HOST_OK ? BASTION_OK : bastion_host_fail_or_problem(cx, rc, what);
}

/* see host.h */
bastion_host_rc bastion_sql_transaction(bastion_ctx *cx, const char *db,
                                        const bastion_sql_stmt *stmts, size_t n, bastion_rows *out)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_DB);
    memset(out, 0, n * sizeof *out);
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_statement *st = bastion_alloc((n + 1) * sizeof *st);
    for (size_t i = 0; i < n; i++) {
        st[i].sql = bastion_cstr(stmts[i].sql);
        st[i].params.ptr = stmts[i].params;
        st[i].params.len = stmts[i].n_params;
        st[i].has_expect = stmts[i].has_expect;
        st[i].expect = stmts[i].expect_changes;
    }
    cabi_ret_rows_list r;
    cabi_sql_transaction(db, strlen(db), st, n, b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    for (size_t i = 0; i < n && i < r.u.ok.len; i++)
        adopt_rows(&r.u.ok.ptr[i], &out[i]);
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_rc bastion_sql_change_or_problem(bastion_ctx *cx, const char *db,
                                         const bastion_sql_stmt *change, bastion_rows *out,
                                         bastion_rc lost, const char *lost_detail, const char *what)
{
    bastion_host_rc rc = bastion_sql_transaction(cx, db, change, 1, out);
    if (rc == BASTION_HOST_GUARD)
        return bastion_problem(cx, lost, lost_detail);
    return rc == BASTION_HOST_OK ? BASTION_OK : bastion_host_fail_or_problem(cx, rc, what);
}

/* see host.h */
size_t bastion_sql_guard_failed(void)
{
    return last_guard;
}

/* see host.h */
bastion_host_rc bastion_http_send(bastion_ctx *cx, const char *method, const char *url,
                                  const bastion_header *headers, size_t n_headers, bastion_str body,
                                  bastion_http_response *out)
{
    uint32_t b = bastion_budget_ms(cx, BASTION_BUDGET_EXTERNAL);
    memset(out, 0, sizeof *out);
    if (NO_BUDGET(b))
        return BASTION_HOST_TIMEOUT;
    cabi_ret_response r;
    cabi_http_send(method, strlen(method), url, strlen(url), headers, n_headers, body.ptr, body.len,
                   b, &r);
    if (r.is_err)
        return take_error(&r.u.err);
    out->status = r.u.ok.status;
    out->headers = r.u.ok.headers.ptr;
    out->n_headers = r.u.ok.headers.len;
    out->body = (bastion_str){(const char *)r.u.ok.body.ptr, r.u.ok.body.len};
    return BASTION_HOST_OK;
}

/* see host.h */
bastion_str bastion_config(const char *name)
{
    cabi_opt_str r;
    cabi_config_get(name, strlen(name), &r);
    if (!r.is_some)
        return BASTION_STR_NULL;
    return r.val.len ? r.val : (bastion_str){"", 0}; /* set but empty is not unset */
}

/* see host.h */
void bastion_log(bastion_log_level level, const char *msg, const bastion_header *fields, size_t n)
{
    cabi_log_write((uint32_t)level, msg, strlen(msg), fields, n);
}

/* see host.h */
bastion_host_rc bastion_sql_claim(bastion_ctx *cx, const char *db, const char *mark_sql,
                                  const bastion_sql_value *mark, size_t n_mark,
                                  const char *read_sql, const bastion_sql_value *read,
                                  size_t n_read, bastion_rows *out)
{
    const bastion_sql_stmt st[] = {
        {.sql = mark_sql, .params = mark, .n_params = n_mark},
        {.sql = read_sql, .params = read, .n_params = n_read},
    };
    bastion_rows rows[2];
    bastion_host_rc rc = bastion_sql_transaction(cx, db, st, 2, rows);
    if (rc == BASTION_HOST_OK)
        *out = rows[1];
    return rc;
}
