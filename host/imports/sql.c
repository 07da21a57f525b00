/*
 * bastion:edge/sql@0.1.0: query and transaction over the sql backend
 * (host.h), each database checked against the function's grant.
 */
#include <stdlib.h>
#include <string.h>

#include "imports/imports.h"
#include "rt/rt.h"

_Static_assert(ABI_VALUE_NULL == 0 && ABI_VALUE_INTEGER == 1 && ABI_VALUE_REAL == 2 &&
                   ABI_VALUE_TEXT == 3 && ABI_VALUE_BLOB == 4,
               "struct host_value's type is sql.value's case order");

/* Reads a list<value> into host memory owned by the call. The text and blob
 * pointers borrow guest memory; they stay valid until the call returns
 * because the backend runs before anything is allocated in the guest. */
static struct host_value *read_values(struct host_call *c, abi_list list)
{
    const uint8_t *p = GUEST_ARRAY(c, list, abi_value);
    struct host_value *v = host_call_own(c, calloc(list.len ? list.len : 1, sizeof *v), free);
    for (uint32_t i = 0; i < list.len; i++) {
        abi_value in;
        GUEST_ELEM(p, i, abi_value, &in);
        v[i].type = in.disc;
        switch (in.disc) {
        case ABI_VALUE_NULL: break;
        case ABI_VALUE_INTEGER: v[i].i = in.u.integer; break;
        case ABI_VALUE_REAL: v[i].r = in.u.real; break;
        case ABI_VALUE_TEXT:
            v[i].p = (char *)guest_str(c, in.u.bytes.ptr, in.u.bytes.len);
            v[i].len = in.u.bytes.len;
            break;
        case ABI_VALUE_BLOB:
            v[i].p = (char *)guest_span(c, in.u.bytes.ptr, in.u.bytes.len);
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
    out.columns.ptr = GUEST_ALLOC_ARRAY(c, rows->n_cols, abi_list);
    out.columns.len = (uint32_t)rows->n_cols;
    for (size_t i = 0; i < rows->n_cols; i++) {
        abi_list name = guest_put_bytes(c, rows->cols[i], strlen(rows->cols[i]));
        GUEST_STORE_ELEM(c, out.columns.ptr, i, abi_list, &name);
    }
    out.rows.ptr = GUEST_ALLOC_ARRAY(c, rows->n_rows, abi_list);
    out.rows.len = (uint32_t)rows->n_rows;
    for (size_t r = 0; r < rows->n_rows; r++) {
        abi_list row = {GUEST_ALLOC_ARRAY(c, rows->n_cols, abi_value), (uint32_t)rows->n_cols};
        for (size_t k = 0; k < rows->n_cols; k++) {
            const struct host_value *v = &rows->vals[r * rows->n_cols + k];
            abi_value w = {.disc = (uint8_t)v->type};
            if (v->type == ABI_VALUE_INTEGER)
                w.u.integer = v->i;
            else if (v->type == ABI_VALUE_REAL)
                w.u.real = v->r;
            else if (v->type == ABI_VALUE_TEXT || v->type == ABI_VALUE_BLOB)
                w.u.bytes = guest_put_bytes(c, v->p, v->len);
            GUEST_STORE_ELEM(c, row.ptr, k, abi_value, &w);
        }
        GUEST_STORE_ELEM(c, out.rows.ptr, r, abi_list, &row);
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
    char *db = guest_cstr(c, dp, dl);
    return host_import_begin(c, db, c->fn->sql, c->fn->n_sql, "database", timeout, budget, e) == 0
               ? db
               : NULL;
}

/* see imports.h */
void host_import_sql_query(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t qp, uint32_t ql,
                           uint32_t pp, uint32_t pl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    abi_result_rows r;
    GUEST_CHECK(c, ret, abi_result_rows);
    struct host_stmt s = {0};
    s.sql = guest_str(c, qp, ql);
    s.sql_len = ql;
    s.params = read_values(c, (abi_list){pp, pl});
    s.n_params = pl;
    struct host_rows *rows = host_call_own(c, calloc(1, sizeof *rows), rows_destroy);
    uint32_t budget = 0;
    char *db = sql_begin(c, dp, dl, timeout, &budget, &e);
    if (db && host_sql_query(c->env->state, db, &s, budget, rows, &e) == 0)
        r = (abi_result_rows){.disc = ABI_OK, .u.ok = rows_value(c, rows)};
    else
        r = (abi_result_rows){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    GUEST_STORE(c, ret, abi_result_rows, &r);
}

/* see imports.h */
void host_import_sql_transaction(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t stp,
                                 uint32_t stl, uint32_t timeout, uint32_t ret)
{
    struct host_err e;
    abi_result_rows_list r;
    GUEST_CHECK(c, ret, abi_result_rows_list);
    const uint8_t *sp = GUEST_ARRAY(c, ((abi_list){stp, stl}), abi_statement);
    struct host_stmt *st = host_call_own(c, calloc(stl ? stl : 1, sizeof *st), free);
    struct rows_list *list = host_call_own(
        c, calloc(1, sizeof *list + (size_t)stl * sizeof(struct host_rows)), rows_list_destroy);
    list->n = stl;
    struct host_rows *rows = list->rows;
    for (uint32_t i = 0; i < stl; i++) {
        abi_statement in;
        GUEST_ELEM(sp, i, abi_statement, &in);
        st[i].sql = guest_str(c, in.sql.ptr, in.sql.len);
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
        r.u.ok = (abi_list){GUEST_ALLOC_ARRAY(c, stl, abi_rows), stl};
        for (uint32_t i = 0; i < stl; i++) {
            abi_rows v = rows_value(c, &rows[i]);
            GUEST_STORE_ELEM(c, r.u.ok.ptr, i, abi_rows, &v);
        }
    } else {
        r = (abi_result_rows_list){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    }
    GUEST_STORE(c, ret, abi_result_rows_list, &r);
}
