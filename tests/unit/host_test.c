/*
 * Unit tests for shared/src/host.c: the wrappers over the host imports.
 * REL1: every WIT error case maps to its bastion_host_rc, "not found" is not
 * an error, and errors become the right problem. REL2: each call passes
 * min(budget, time left) and never calls the host once the deadline passed.
 */
#include "../../shared/src/host.c"

#include "fake_host.h"
#include "unit.h"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

/* wit/bastion.wit `types.error`, case by case */
static const bastion_host_rc TAG_RC[] = {
    BASTION_HOST_TIMEOUT, BASTION_HOST_UNAVAILABLE, BASTION_HOST_CONFLICT, BASTION_HOST_INVALID,
    BASTION_HOST_DENIED,  BASTION_HOST_INTERNAL,    BASTION_HOST_GUARD,
};

/* --- one caller per wrapper, so each property is checked for all of them --- */

static bastion_ctx *the_cx(bastion_ctx *cx, uint64_t deadline_ms)
{
    unit_ctx(cx);
    cx->deadline_ms = deadline_ms;
    return cx;
}

static bastion_host_rc call_kv_get(bastion_ctx *cx)
{
    bastion_str v;
    bool found = true;
    bastion_host_rc rc = bastion_kv_get(cx, "cache", BASTION_LIT("k"), &v, &found);
    if (rc != BASTION_HOST_OK)
        assert_false(found);
    return rc;
}

static bastion_host_rc call_kv_set(bastion_ctx *cx)
{
    return bastion_kv_set(cx, "cache", BASTION_LIT("k"), BASTION_LIT("v"), 1000);
}

static bastion_host_rc call_kv_add(bastion_ctx *cx)
{
    bool added = true;
    bastion_host_rc rc = bastion_kv_add(cx, "cache", BASTION_LIT("k"), BASTION_LIT("v"), 0, &added);
    if (rc != BASTION_HOST_OK)
        assert_false(added);
    return rc;
}

static bastion_host_rc call_kv_increment(bastion_ctx *cx)
{
    int64_t v = 0;
    return bastion_kv_increment(cx, "cache", BASTION_LIT("k"), 1, 1000, &v);
}

static bastion_host_rc call_kv_swap(bastion_ctx *cx)
{
    bool swapped = true;
    bastion_host_rc rc = bastion_kv_swap(cx, "cache", BASTION_LIT("k"), BASTION_LIT("old"),
                                         BASTION_LIT("new"), 0, &swapped);
    if (rc != BASTION_HOST_OK)
        assert_false(swapped);
    return rc;
}

static bastion_host_rc call_kv_delete(bastion_ctx *cx)
{
    bool deleted = true;
    bastion_host_rc rc = bastion_kv_delete(cx, "cache", BASTION_LIT("k"), &deleted);
    if (rc != BASTION_HOST_OK)
        assert_false(deleted);
    return rc;
}

static bastion_host_rc call_sql_query(bastion_ctx *cx)
{
    bastion_rows rows;
    memset(&rows, 0x5A, sizeof rows);
    bastion_host_rc rc = bastion_sql_query(cx, "main", "SELECT 1", NULL, 0, &rows);
    if (rc != BASTION_HOST_OK)
        assert_int_equal(rows.n_rows, 0); /* never half-filled */
    return rc;
}

static bastion_host_rc call_sql_transaction(bastion_ctx *cx)
{
    bastion_sql_stmt st[1] = {{"DELETE FROM t", NULL, 0, true, 1}};
    bastion_rows out[1];
    memset(out, 0x5A, sizeof out);
    bastion_host_rc rc = bastion_sql_transaction(cx, "main", st, 1, out);
    if (rc != BASTION_HOST_OK)
        assert_int_equal(out[0].n_rows, 0);
    return rc;
}

static bastion_host_rc call_http_send(bastion_ctx *cx)
{
    bastion_http_response resp;
    memset(&resp, 0x5A, sizeof resp);
    bastion_host_rc rc = bastion_http_send(cx, "POST", "https://api.example.com/v1", NULL, 0,
                                           BASTION_LIT("{}"), &resp);
    if (rc != BASTION_HOST_OK)
        assert_int_equal(resp.status, 0);
    return rc;
}

static const struct {
    const char *name;
    bastion_host_rc (*call)(bastion_ctx *cx);
    enum fake_fn import;
    uint32_t budget;
} CALLS[] = {
    {"kv.get", call_kv_get, FAKE_KV_GET, BASTION_BUDGET_CACHE},
    {"kv.set", call_kv_set, FAKE_KV_SET, BASTION_BUDGET_CACHE},
    {"kv.add", call_kv_add, FAKE_KV_ADD, BASTION_BUDGET_CACHE},
    {"kv.increment", call_kv_increment, FAKE_KV_INCREMENT, BASTION_BUDGET_CACHE},
    {"kv.swap", call_kv_swap, FAKE_KV_SWAP, BASTION_BUDGET_CACHE},
    {"kv.delete", call_kv_delete, FAKE_KV_DELETE, BASTION_BUDGET_CACHE},
    {"sql.query", call_sql_query, FAKE_SQL_QUERY, BASTION_BUDGET_DB},
    {"sql.transaction", call_sql_transaction, FAKE_SQL_TRANSACTION, BASTION_BUDGET_DB},
    {"http-out.send", call_http_send, FAKE_HTTP_SEND, BASTION_BUDGET_EXTERNAL},
};
#define N_CALLS (sizeof CALLS / sizeof CALLS[0])

/* --- REL1: error mapping --- */

static void test_REL1_every_error_case_maps_to_host_rc(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CALLS; i++) {
        for (int tag = 0; tag <= 5; tag++) { /* 6, guard, has its own test */
            fake_reset();
            fake.error_tag = tag;
            fake.error_msg = "backend said no";
            bastion_ctx cx;
            bastion_host_rc rc = CALLS[i].call(the_cx(&cx, bastion_now_ms() + 15000));
            if (rc != TAG_RC[tag])
                unit_fail("%s with error case %d gave %d, want %d", CALLS[i].name, tag, rc,
                          TAG_RC[tag]);
            assert_int_equal(fake_count(CALLS[i].import), 1);
            assert_int_equal(fake.n_calls, 1); /* no retry, no other call */
            /* the host's text is kept for the log */
            bastion_str text = bastion_host_error_text();
            assert_true(unit_str_is(text, tag == 0 ? "timeout" : "backend said no"));
            assert_false(cx.responded); /* wrappers never respond themselves */
        }
    }
}

/* A failed expect-changes guard is its own WIT case, guard(N); a constraint
 * is conflict(text), whatever the text says. Handlers answer 409 only for
 * the first, and the core maps the second to 500. */
static void test_REL1_guard_told_from_constraint(void **state)
{
    (void)state;
    static const struct {
        int tag;
        uint32_t statement;
        const char *msg;
        bastion_host_rc rc;
        size_t want;
    } cases[] = {
        {6, 1, NULL, BASTION_HOST_GUARD, 1},
        {6, 12, NULL, BASTION_HOST_GUARD, 12},
        {2, 0, "statement 1", BASTION_HOST_CONFLICT, 0}, /* text is never parsed */
        {2, 0, "statement 2: UNIQUE constraint failed", BASTION_HOST_CONFLICT, 0},
        {7, 0, NULL, BASTION_HOST_INTERNAL, 0}, /* no such case */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_reset();
        fake.error_tag = cases[i].tag;
        fake.guard_statement = cases[i].statement;
        fake.error_msg = cases[i].msg;
        bastion_ctx cx;
        bastion_sql_stmt st = {
            .sql = "UPDATE t SET a = 1", .has_expect = true, .expect_changes = 1};
        bastion_rows out;
        assert_int_equal(
            bastion_sql_transaction(the_cx(&cx, bastion_now_ms() + 15000), "db", &st, 1, &out),
            cases[i].rc);
        if (bastion_sql_guard_failed() != cases[i].want)
            unit_fail("case %zu: guard %zu, want %zu", i, bastion_sql_guard_failed(),
                      cases[i].want);
    }
    /* a later success forgets the guard */
    fake_reset();
    bastion_ctx cx;
    bastion_sql_stmt st = {.sql = "UPDATE t SET a = 1"};
    bastion_rows out;
    fake.error_tag = 6;
    fake.guard_statement = 3;
    bastion_sql_transaction(the_cx(&cx, bastion_now_ms() + 15000), "db", &st, 1, &out);
    fake.error_tag = 2;
    fake.error_msg = "x";
    bastion_sql_transaction(&cx, "db", &st, 1, &out);
    assert_int_equal(bastion_sql_guard_failed(), 0);
}

static void test_REL1_success_is_ok(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CALLS; i++) {
        fake_reset();
        bastion_ctx cx;
        assert_int_equal(CALLS[i].call(the_cx(&cx, bastion_now_ms() + 15000)), BASTION_HOST_OK);
        assert_int_equal(fake_count(CALLS[i].import), 1);
    }
}

static void test_REL1_kv_get_not_found_is_not_error(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_str v = BASTION_LIT("stale");
    bool found = true;
    fake.get_some = false;
    assert_int_equal(bastion_kv_get(the_cx(&cx, bastion_now_ms() + 15000), "cache",
                                    BASTION_LIT("missing"), &v, &found),
                     BASTION_HOST_OK);
    assert_false(found);
    assert_null(v.ptr);
    assert_string_equal(fake.calls[0].store, "cache");
    assert_string_equal(fake.calls[0].key, "missing");
}

static void test_REL1_kv_get_found_value_copied(void **state)
{
    (void)state;
    static char stored[] = "v\0lue";
    fake.get_some = true;
    fake.get_value = stored;
    fake.get_value_len = 5;
    bastion_ctx cx;
    bastion_str v;
    bool found = false;
    assert_int_equal(bastion_kv_get(the_cx(&cx, bastion_now_ms() + 15000), "cache",
                                    BASTION_LIT("k"), &v, &found),
                     BASTION_HOST_OK);
    assert_true(found);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.ptr, "v\0lue", 5);
    assert_ptr_not_equal(v.ptr, stored); /* copied into the arena */
    assert_int_equal(v.ptr[5], 0);
    stored[0] = 'X';
    assert_int_equal(v.ptr[0], 'v');
    /* an empty value is found, not missing */
    fake.get_value = "";
    fake.get_value_len = 0;
    assert_int_equal(bastion_kv_get(&cx, "cache", BASTION_LIT("k"), &v, &found), BASTION_HOST_OK);
    assert_true(found);
    assert_non_null(v.ptr);
    assert_int_equal(v.len, 0);
}

static void test_REL1_kv_set_arguments(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(bastion_kv_set(the_cx(&cx, bastion_now_ms() + 15000), "sessions",
                                    BASTION_LIT("s:1"), BASTION_LIT("{\"u\":1}"), 60000),
                     BASTION_HOST_OK);
    const fake_call *c = &fake.calls[0];
    assert_int_equal(c->fn, FAKE_KV_SET);
    assert_string_equal(c->store, "sessions");
    assert_string_equal(c->key, "s:1");
    assert_string_equal(c->value, "{\"u\":1}");
    assert_int_equal(c->ttl_ms, 60000);
}

static void test_REL1_kv_add_existing_is_not_error(void **state)
{
    (void)state;
    bastion_ctx cx;
    bool added = false;
    fake.ok_bool = true;
    assert_int_equal(bastion_kv_add(the_cx(&cx, bastion_now_ms() + 15000), "dedup",
                                    BASTION_LIT("k"), BASTION_LIT("1"), 5000, &added),
                     BASTION_HOST_OK);
    assert_true(added);
    assert_int_equal(fake.calls[0].ttl_ms, 5000);
    fake.ok_bool = false; /* the key was there: a normal answer */
    assert_int_equal(bastion_kv_add(&cx, "dedup", BASTION_LIT("k"), BASTION_LIT("1"), 5000, &added),
                     BASTION_HOST_OK);
    assert_false(added);
}

static void test_REL1_kv_increment_value_and_arguments(void **state)
{
    (void)state;
    bastion_ctx cx;
    int64_t v = 0;
    fake.ok_s64 = -7;
    assert_int_equal(bastion_kv_increment(the_cx(&cx, bastion_now_ms() + 15000), "counters",
                                          BASTION_LIT("c"), -8, 900000, &v),
                     BASTION_HOST_OK);
    assert_int_equal(v, -7);
    assert_int_equal(fake.calls[0].delta, -8);
    assert_int_equal(fake.calls[0].ttl_ms, 900000);
}

static void test_REL1_kv_swap_expected_option(void **state)
{
    (void)state;
    bastion_ctx cx;
    bool swapped = false;
    the_cx(&cx, bastion_now_ms() + 15000);
    fake.ok_bool = true;
    /* NULL expected: option none, "swap only if absent" */
    assert_int_equal(bastion_kv_swap(&cx, "s", BASTION_LIT("k"), BASTION_STR_NULL,
                                     BASTION_LIT("v1"), 10, &swapped),
                     BASTION_HOST_OK);
    assert_true(swapped);
    assert_false(fake.calls[0].has_expected);
    /* an empty expected value is some(""), not none */
    assert_int_equal(bastion_kv_swap(&cx, "s", BASTION_LIT("k"), BASTION_LIT(""), BASTION_LIT("v2"),
                                     10, &swapped),
                     BASTION_HOST_OK);
    assert_true(fake.calls[1].has_expected);
    assert_int_equal(fake.calls[1].expected_len, 0);
    assert_int_equal(bastion_kv_swap(&cx, "s", BASTION_LIT("k"), BASTION_LIT("v2"),
                                     BASTION_LIT("v3"), 10, &swapped),
                     BASTION_HOST_OK);
    assert_true(fake.calls[2].has_expected);
    assert_string_equal(fake.calls[2].expected, "v2");
    assert_string_equal(fake.calls[2].value, "v3");
    /* a lost compare is an answer, not an error */
    fake.ok_bool = false;
    assert_int_equal(bastion_kv_swap(&cx, "s", BASTION_LIT("k"), BASTION_LIT("v2"),
                                     BASTION_LIT("v3"), 10, &swapped),
                     BASTION_HOST_OK);
    assert_false(swapped);
}

static void test_REL1_kv_delete_missing_is_not_error(void **state)
{
    (void)state;
    bastion_ctx cx;
    bool deleted = true;
    fake.ok_bool = false;
    assert_int_equal(bastion_kv_delete(the_cx(&cx, bastion_now_ms() + 15000), "csrf",
                                       BASTION_LIT("t"), &deleted),
                     BASTION_HOST_OK);
    assert_false(deleted);
    fake.ok_bool = true;
    assert_int_equal(bastion_kv_delete(&cx, "csrf", BASTION_LIT("t"), &deleted), BASTION_HOST_OK);
    assert_true(deleted);
}

static void test_REL1_sql_query_rows(void **state)
{
    (void)state;
    static bastion_str cols[] = {BASTION_LIT("id"), BASTION_LIT("email")};
    static bastion_sql_value r0[2], r1[2];
    r0[0] = BASTION_SQL_INT(1);
    r0[1] = BASTION_SQL_STR(BASTION_LIT("a@example.com"));
    r1[0] = BASTION_SQL_INT(2);
    r1[1] = BASTION_SQL_NULLV;
    static __typeof__(*fake.rows.rows.ptr) list[2];
    list[0].ptr = r0;
    list[0].len = 2;
    list[1].ptr = r1;
    list[1].len = 2;
    fake.rows.columns.ptr = cols;
    fake.rows.columns.len = 2;
    fake.rows.rows.ptr = list;
    fake.rows.rows.len = 2;
    fake.rows.changes = 0;

    const bastion_sql_value params[] = {BASTION_SQL_STR(BASTION_LIT("x' OR 1=1 --")),
                                        BASTION_SQL_INT(5)};
    bastion_ctx cx;
    bastion_rows out;
    assert_int_equal(bastion_sql_query(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                       "SELECT id, email FROM users WHERE name = $1 LIMIT $2",
                                       params, 2, &out),
                     BASTION_HOST_OK);
    /* VAL3: the text travels as a parameter, the SQL is the literal */
    const fake_call *c = &fake.calls[0];
    assert_string_equal(c->store, "main");
    assert_string_equal(c->key, "SELECT id, email FROM users WHERE name = $1 LIMIT $2");
    assert_ptr_equal(c->params_from, params); /* passed through, not copied */
    assert_int_equal(c->n_params, 2);
    assert_int_equal(out.n_columns, 2);
    assert_true(unit_str_is(out.columns[1], "email"));
    assert_int_equal(out.n_rows, 2);
    assert_int_equal(out.rows[0][0].type, BASTION_SQL_INTEGER);
    assert_int_equal(out.rows[0][0].v.i, 1);
    assert_true(unit_str_is(out.rows[0][1].v.s, "a@example.com"));
    assert_int_equal(out.rows[1][0].v.i, 2);
    assert_int_equal(out.rows[1][1].type, BASTION_SQL_NULL);
    assert_int_equal(out.changes, 0);
}

static void test_REL1_sql_query_empty_result_is_not_error(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rows out;
    fake.rows.changes = 3;
    assert_int_equal(bastion_sql_query(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                       "UPDATE t SET x = 1", NULL, 0, &out),
                     BASTION_HOST_OK);
    assert_int_equal(out.n_rows, 0);
    assert_int_equal(out.changes, 3);
}

/* The handler form: success writes nothing; a failure is the mapped problem
 * with the host's text in the log only. */
static void test_REL1_sql_query_or_problem(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rows out;
    fake.rows.changes = 1;
    assert_int_equal(bastion_sql_query_or_problem(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                                  "UPDATE t SET x = 1", NULL, 0, &out, "t update"),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(out.changes, 1);
    assert_int_equal(fake.n_logs, 0);

    fake_reset();
    fake.error_tag = (int)BASTION_HOST_UNAVAILABLE - 1;
    fake.error_msg = "database is locked: SELECT secret FROM t";
    assert_int_equal(bastion_sql_query_or_problem(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                                  "SELECT secret FROM t", NULL, 0, &out, "t read"),
                     BASTION_E_UNAVAILABLE);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    assert_false(unit_contains(cx.resp_body, "secret"));
    assert_int_equal(fake.n_logs, 1);
    assert_non_null(strstr(fake.logs[0].fields, "op=t read;"));
    assert_non_null(strstr(fake.logs[0].fields, "error=unavailable;"));
}

static void test_REL1_sql_transaction_statements_and_results(void **state)
{
    (void)state;
    static cabi_rows results[2];
    memset(results, 0, sizeof results);
    results[0].changes = 1;
    results[1].changes = 4;
    fake.rows_list = results;
    fake.n_rows_list = 2;
    const bastion_sql_value p[] = {BASTION_SQL_INT(9)};
    const bastion_sql_stmt st[] = {
        {"UPDATE credits SET n = n - 1 WHERE id = $1 AND n > 0", p, 1, true, 1},
        {"INSERT INTO log(x) VALUES (1)", NULL, 0, false, 0},
    };
    bastion_rows out[2];
    bastion_ctx cx;
    assert_int_equal(
        bastion_sql_transaction(the_cx(&cx, bastion_now_ms() + 15000), "main", st, 2, out),
        BASTION_HOST_OK);
    const fake_call *c = &fake.calls[0];
    assert_int_equal(c->n_stmts, 2);
    assert_true(unit_str_is(c->stmts[0].sql, st[0].sql));
    assert_ptr_equal(c->stmts[0].params.ptr, p);
    assert_int_equal(c->stmts[0].params.len, 1);
    assert_true(c->stmts[0].has_expect);
    assert_int_equal(c->stmts[0].expect, 1);
    assert_false(c->stmts[1].has_expect);
    assert_int_equal(out[0].changes, 1);
    assert_int_equal(out[1].changes, 4);
}

/* CONC5: a guard that fails rolls back and surfaces as guard → 409 */
static void test_REL1_sql_transaction_guard(void **state)
{
    (void)state;
    fake.error_tag = 6;
    fake.guard_statement = 1;
    const bastion_sql_stmt st[] = {{"UPDATE t SET v = 2 WHERE v = 1", NULL, 0, true, 1}};
    bastion_rows out[1];
    bastion_ctx cx;
    assert_int_equal(
        bastion_sql_transaction(the_cx(&cx, bastion_now_ms() + 15000), "main", st, 1, out),
        BASTION_HOST_GUARD);
    assert_int_equal(bastion_sql_guard_failed(), 1);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_GUARD), BASTION_E_CONFLICT);
}

/* The handler form of one guarded statement: the guard is the caller's
 * problem (409 / 412 with its detail), a constraint is a 500, never a 409. */
static void test_CONC1_change_one_is_guarded_and_counted(void **state)
{
    (void)state;
    const bastion_sql_value p[] = {BASTION_SQL_INT(1), BASTION_SQL_INT(2), BASTION_SQL_NULLV};
    const bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE("UPDATE t SET v = $2 WHERE id = $1", p);
    assert_string_equal(st.sql, "UPDATE t SET v = $2 WHERE id = $1");
    assert_ptr_equal(st.params, p);
    assert_int_equal(st.n_params, 3);
    assert_true(st.has_expect);
    assert_int_equal(st.expect_changes, 1);
}

static void test_REL1_host_rc_names(void **state)
{
    (void)state;
    assert_true(unit_str_is(bastion_host_rc_name(BASTION_HOST_OK), "ok"));
    assert_true(unit_str_is(bastion_host_rc_name(BASTION_HOST_TIMEOUT), "timeout"));
    assert_true(unit_str_is(bastion_host_rc_name(BASTION_HOST_DENIED), "denied"));
    assert_true(unit_str_is(bastion_host_rc_name(BASTION_HOST_GUARD), "guard"));
    assert_true(unit_str_is(bastion_host_rc_name((bastion_host_rc)99), "internal"));
}

static void test_CONC1_sql_change_or_problem(void **state)
{
    (void)state;
    const bastion_sql_stmt st = {
        .sql = "UPDATE t SET v = 2 WHERE v = 1", .has_expect = true, .expect_changes = 1};
    bastion_rows out;
    bastion_ctx cx;
    assert_int_equal(bastion_sql_change_or_problem(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                                   &st, &out, BASTION_E_PRECONDITION_FAILED,
                                                   "The page has changed.", "t update"),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(fake_count(FAKE_SQL_TRANSACTION), 1);
    assert_int_equal(fake.calls[0].n_stmts, 1);

    fake_reset();
    fake.error_tag = 6; /* guard(1) */
    fake.guard_statement = 1;
    assert_int_equal(bastion_sql_change_or_problem(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                                   &st, &out, BASTION_E_PRECONDITION_FAILED,
                                                   "The page has changed.", "t update"),
                     BASTION_E_PRECONDITION_FAILED);
    cJSON *p = unit_assert_problem(&cx, 412, "precondition-failed");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")),
                        "The page has changed.");
    cJSON_Delete(p);

    fake_reset();
    fake.error_tag = (int)BASTION_HOST_CONFLICT - 1; /* a constraint failed */
    fake.error_msg = "CHECK constraint failed: v";
    assert_int_equal(bastion_sql_change_or_problem(the_cx(&cx, bastion_now_ms() + 15000), "main",
                                                   &st, &out, BASTION_E_CONFLICT, "Taken.",
                                                   "t update"),
                     BASTION_E_INTERNAL);
    cJSON_Delete(unit_assert_problem(&cx, 500, "internal"));
    assert_false(unit_contains(cx.resp_body, "CHECK"));
    assert_non_null(strstr(fake.logs[0].fields, "op=t update;"));
}

static void test_REL1_http_send_response(void **state)
{
    (void)state;
    static bastion_header rh[] = {{BASTION_LIT("content-type"), BASTION_LIT("application/json")}};
    static uint8_t body[] = "{\"id\":\"em_1\"}";
    fake.http_response.status = 202;
    fake.http_response.headers.ptr = rh;
    fake.http_response.headers.len = 1;
    fake.http_response.body.ptr = body;
    fake.http_response.body.len = sizeof body - 1;
    const bastion_header h[] = {{BASTION_LIT("authorization"), BASTION_LIT("Bearer k")}};
    bastion_http_response resp;
    bastion_ctx cx;
    assert_int_equal(bastion_http_send(the_cx(&cx, bastion_now_ms() + 15000), "POST",
                                       "https://api.example.com/emails", h, 1,
                                       BASTION_LIT("{\"to\":\"a\"}"), &resp),
                     BASTION_HOST_OK);
    const fake_call *c = &fake.calls[0];
    assert_string_equal(c->store, "POST");
    assert_string_equal(c->key, "https://api.example.com/emails");
    assert_string_equal(c->value, "{\"to\":\"a\"}");
    assert_int_equal(c->n_headers, 1);
    assert_int_equal(resp.status, 202);
    assert_int_equal(resp.n_headers, 1);
    assert_true(unit_str_is(resp.headers[0].name, "content-type"));
    assert_true(unit_str_is(resp.body, "{\"id\":\"em_1\"}"));
    /* an upstream 5xx is a response, not a host error: the caller decides */
    fake.http_response.status = 500;
    assert_int_equal(
        bastion_http_send(&cx, "GET", "https://api.example.com/", NULL, 0, BASTION_STR_NULL, &resp),
        BASTION_HOST_OK);
    assert_int_equal(resp.status, 500);
}

/* --- REL1: host error → problem --- */

static void test_REL1_host_rc_problem_mapping(void **state)
{
    (void)state;
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_OK), BASTION_OK);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_TIMEOUT), BASTION_E_TIMEOUT);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_UNAVAILABLE), BASTION_E_UNAVAILABLE);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_CONFLICT), BASTION_E_INTERNAL);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_GUARD), BASTION_E_CONFLICT);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_INVALID), BASTION_E_INTERNAL);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_DENIED), BASTION_E_INTERNAL);
    assert_int_equal(bastion_host_rc_problem(BASTION_HOST_INTERNAL), BASTION_E_INTERNAL);
}

static void test_REL1_fail_or_problem(void **state)
{
    (void)state;
    static const struct {
        bastion_host_rc rc;
        int status;
        const char *slug;
        const char *name;
    } cases[] = {
        {BASTION_HOST_TIMEOUT, 504, "timeout", "timeout"},
        {BASTION_HOST_UNAVAILABLE, 503, "unavailable", "unavailable"},
        {BASTION_HOST_CONFLICT, 500, "internal", "conflict"},
        {BASTION_HOST_INVALID, 500, "internal", "invalid"},
        {BASTION_HOST_DENIED, 500, "internal", "denied"},
        {BASTION_HOST_INTERNAL, 500, "internal", "internal"},
        {BASTION_HOST_GUARD, 409, "conflict", "guard"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_reset();
        /* the failing call leaves the host's text behind … */
        fake.error_tag = (int)cases[i].rc - 1;
        fake.error_msg = "SELECT password_hash FROM users WHERE email = 'x'";
        bastion_ctx cx;
        call_sql_query(the_cx(&cx, bastion_now_ms() + 15000));
        /* … and the problem response never shows it (ERR1) */
        bastion_rc p = bastion_host_fail_or_problem(&cx, cases[i].rc, "load user");
        assert_int_equal(p, bastion_host_rc_problem(cases[i].rc));
        cJSON_Delete(unit_assert_problem(&cx, cases[i].status, cases[i].slug));
        assert_false(unit_contains(cx.resp_body, "SELECT"));
        assert_false(unit_contains(cx.resp_body, "password"));
        assert_int_equal(unit_resp_header_count(&cx, "retry-after"), cases[i].status == 503);
        /* it is logged once, at error level, with the operation and the host's text */
        assert_int_equal(fake.n_logs, 1);
        assert_int_equal(fake.logs[0].level, BASTION_LOG_ERROR);
        char want[64];
        snprintf(want, sizeof want, "error=%s;", cases[i].name);
        assert_non_null(strstr(fake.logs[0].fields, "op=load user;"));
        assert_non_null(strstr(fake.logs[0].fields, want));
        /* timeout and guard carry no text of their own */
        assert_non_null(strstr(fake.logs[0].fields, cases[i].rc == BASTION_HOST_TIMEOUT
                                                        ? "detail=timeout;"
                                                    : cases[i].rc == BASTION_HOST_GUARD
                                                        ? "detail=expect-changes"
                                                        : "detail=SELECT password_hash"));
    }
}

/* --- REL2: budgets --- */

static void test_REL2_budget_ms(void **state)
{
    (void)state;
    bastion_ctx cx;
    the_cx(&cx, bastion_now_ms() + 60000);
    assert_int_equal(bastion_budget_ms(&cx, BASTION_BUDGET_CACHE), 2000);
    assert_int_equal(bastion_budget_ms(&cx, BASTION_BUDGET_DB), 10000);
    assert_int_equal(bastion_budget_ms(&cx, BASTION_BUDGET_EXTERNAL), 8000);
    the_cx(&cx, bastion_now_ms() + 1500);
    uint32_t b = bastion_budget_ms(&cx, BASTION_BUDGET_CACHE);
    assert_true(b > 1000 && b <= 1500);
    the_cx(&cx, bastion_now_ms() - 10);
    assert_int_equal(bastion_budget_ms(&cx, BASTION_BUDGET_DB), 0);
}

static void budget_overrides(void *arg)
{
    (void)arg;
    fake_reset();
    fake.config_names[0] = "budget_cache_ms";
    fake.config_values[0] = "500";
    fake.config_names[1] = "budget_db_ms";
    fake.config_values[1] = "12x"; /* malformed: the default stays */
    fake.config_names[2] = "budget_external_ms";
    fake.config_values[2] = "0"; /* zero would mean "never call": the default stays */
    bastion_ctx cx;
    the_cx(&cx, bastion_now_ms() + 60000);
    if (bastion_budget_ms(&cx, BASTION_BUDGET_CACHE) != 500)
        _exit(2);
    if (bastion_budget_ms(&cx, BASTION_BUDGET_DB) != BASTION_BUDGET_DB)
        _exit(3);
    if (bastion_budget_ms(&cx, BASTION_BUDGET_EXTERNAL) != BASTION_BUDGET_EXTERNAL)
        _exit(4);
    call_kv_get(&cx);
    if (fake.n_calls != 1 || fake.calls[0].timeout_ms != 500)
        _exit(5);
    size_t gets = fake.n_config_gets; /* read once per instance */
    bastion_budget_ms(&cx, BASTION_BUDGET_CACHE);
    bastion_budget_ms(&cx, BASTION_BUDGET_DB);
    if (fake.n_config_gets != gets)
        _exit(6);
    the_cx(&cx, bastion_now_ms() + 300); /* the deadline still caps it */
    if (bastion_budget_ms(&cx, BASTION_BUDGET_CACHE) > 300)
        _exit(7);
}

/*
 * REL2 "all configurable": budget_cache_ms / budget_db_ms /
 * budget_external_ms override the defaults. host.c caches them in statics for
 * the life of the instance, so this runs in a child of a process that has not
 * asked for a budget yet: keep this test FIRST in main().
 */
static void test_REL2_budgets_configurable(void **state)
{
    (void)state;
    int status = unit_run_isolated(budget_overrides, NULL);
    if (status != 0)
        unit_fail("budget override check failed at step %d (see budget_overrides)", status);
}

static void test_REL2_each_call_gets_its_budget(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CALLS; i++) {
        fake_reset();
        bastion_ctx cx;
        CALLS[i].call(the_cx(&cx, bastion_now_ms() + 60000));
        if (fake_last()->timeout_ms != CALLS[i].budget)
            unit_fail("%s passed timeout %u, want %u", CALLS[i].name, fake_last()->timeout_ms,
                      CALLS[i].budget);
    }
}

static void test_REL2_budget_capped_by_deadline(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CALLS; i++) {
        fake_reset();
        bastion_ctx cx;
        CALLS[i].call(the_cx(&cx, bastion_now_ms() + 700));
        uint32_t t = fake_last()->timeout_ms;
        if (t > 700 || t < 400)
            unit_fail("%s passed timeout %u with 700 ms left", CALLS[i].name, t);
    }
}

static void test_REL2_expired_deadline_skips_the_host(void **state)
{
    (void)state;
    const uint64_t deadlines[] = {bastion_now_ms() - 1, bastion_now_ms() - 60000, 0};
    for (size_t d = 0; d < sizeof deadlines / sizeof deadlines[0]; d++) {
        for (size_t i = 0; i < N_CALLS; i++) {
            fake_reset();
            bastion_ctx cx;
            bastion_host_rc rc = CALLS[i].call(the_cx(&cx, deadlines[d]));
            if (rc != BASTION_HOST_TIMEOUT)
                unit_fail("%s after the deadline gave %d, want BASTION_HOST_TIMEOUT", CALLS[i].name,
                          rc);
            if (fake.n_calls != 0)
                unit_fail("%s called the host after the deadline", CALLS[i].name);
            assert_true(bastion_host_error_text().len > 0);
            /* and that becomes a 504 */
            bastion_host_fail_or_problem(&cx, rc, CALLS[i].name);
            cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
        }
    }
}

/* --- config and log --- */

static void test_REL8_config(void **state)
{
    (void)state;
    fake.config_names[0] = "BASE_URL";
    fake.config_values[0] = "https://shop.example";
    fake.config_names[1] = "EMPTY";
    fake.config_values[1] = "";
    assert_true(unit_str_is(bastion_config("BASE_URL"), "https://shop.example"));
    bastion_str e = bastion_config("EMPTY");
    assert_non_null(e.ptr); /* set but empty is not unset */
    assert_int_equal(e.len, 0);
    assert_null(bastion_config("MISSING").ptr);
    assert_null(bastion_config("BASE").ptr);
}

static void test_OBS1_log_passes_fields(void **state)
{
    (void)state;
    const bastion_header f[] = {{BASTION_LIT("route"), BASTION_LIT("/api/x")},
                                {BASTION_LIT("n"), BASTION_LIT("3")}};
    bastion_log(BASTION_LOG_WARN, "slow store", f, 2);
    assert_int_equal(fake.n_logs, 1);
    assert_int_equal(fake.logs[0].level, BASTION_LOG_WARN);
    assert_string_equal(fake.logs[0].msg, "slow store");
    assert_string_equal(fake.logs[0].fields, "route=/api/x;n=3;");
    bastion_log(BASTION_LOG_DEBUG, "no fields", NULL, 0);
    assert_int_equal(fake.logs[1].level, BASTION_LOG_DEBUG);
    assert_string_equal(fake.logs[1].fields, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_REL2_budgets_configurable, setup), /* first: see there */
        cmocka_unit_test_setup(test_REL1_every_error_case_maps_to_host_rc, setup),
        cmocka_unit_test_setup(test_REL1_guard_told_from_constraint, setup),
        cmocka_unit_test_setup(test_REL1_success_is_ok, setup),
        cmocka_unit_test_setup(test_REL1_kv_get_not_found_is_not_error, setup),
        cmocka_unit_test_setup(test_REL1_kv_get_found_value_copied, setup),
        cmocka_unit_test_setup(test_REL1_kv_set_arguments, setup),
        cmocka_unit_test_setup(test_REL1_kv_add_existing_is_not_error, setup),
        cmocka_unit_test_setup(test_REL1_kv_increment_value_and_arguments, setup),
        cmocka_unit_test_setup(test_REL1_kv_swap_expected_option, setup),
        cmocka_unit_test_setup(test_REL1_kv_delete_missing_is_not_error, setup),
        cmocka_unit_test_setup(test_REL1_sql_query_rows, setup),
        cmocka_unit_test_setup(test_REL1_sql_query_empty_result_is_not_error, setup),
        cmocka_unit_test_setup(test_REL1_sql_query_or_problem, setup),
        cmocka_unit_test_setup(test_REL1_sql_transaction_statements_and_results, setup),
        cmocka_unit_test_setup(test_REL1_sql_transaction_guard, setup),
        cmocka_unit_test_setup(test_CONC1_sql_change_or_problem, setup),
        cmocka_unit_test_setup(test_REL1_host_rc_names, setup),
        cmocka_unit_test_setup(test_CONC1_change_one_is_guarded_and_counted, setup),
        cmocka_unit_test_setup(test_REL1_http_send_response, setup),
        cmocka_unit_test_setup(test_REL1_host_rc_problem_mapping, setup),
        cmocka_unit_test_setup(test_REL1_fail_or_problem, setup),
        cmocka_unit_test_setup(test_REL2_budget_ms, setup),
        cmocka_unit_test_setup(test_REL2_each_call_gets_its_budget, setup),
        cmocka_unit_test_setup(test_REL2_budget_capped_by_deadline, setup),
        cmocka_unit_test_setup(test_REL2_expired_deadline_skips_the_host, setup),
        cmocka_unit_test_setup(test_REL8_config, setup),
        cmocka_unit_test_setup(test_OBS1_log_passes_fields, setup),
    };
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
