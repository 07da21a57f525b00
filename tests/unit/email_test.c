/*
 * Unit tests for shared/src/email.c: the REL4 answer shapes, and the CONC5
 * transaction of a several-statement change with its outbox row. (Sending,
 * the outbox and the breaker are proven over HTTP against a fake provider:
 * tests/functions/test_{bookings,appointments,permits,stripe_webhook}.py.)
 */
#include "../../shared/src/email.c"

#include "fake_host.h"
#include "unit.h"

static void test_REL4_requested_answer(void **state)
{
    (void)state;
    fake_reset();
    bastion_ctx cx;
    unit_ctx(&cx);
    const bastion_email_result not_sent = {.sent = false, .error = "email provider timed out"};
    const char id[] = {'a', 'b', 'c', 'X'}; /* a slice, not a C string */
    bastion_email_respond_requested(&cx, (bastion_str){id, 3}, "pending", &not_sent);
    assert_int_equal(cx.status, 201);
    cJSON *j = unit_body_json(&cx);
    assert_int_equal(cJSON_GetArraySize(j), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "abc");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "pending");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "admin_notified")));
    /* the provider's reason is for the outbox and the admin, not the requester */
    assert_false(unit_contains(cx.resp_body, "timed out"));
}

static void test_REL4_admin_action_fields(void **state)
{
    (void)state;
    cJSON *body = cJSON_CreateObject();
    const bastion_email_result sent = {.sent = true};
    bastion_email_result_json(body, &sent);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(body, "email_sent")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(body, "email_error")));
    body = cJSON_CreateObject();
    const bastion_email_result failed = {.sent = false, .error = "email provider answered 500"};
    bastion_email_result_json(body, &failed);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(body, "email_sent")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "email_error")),
                        "email provider answered 500");
}

/* --- bastion_email_with_changes_or_problem (CONC5) --- */

static const bastion_email MAIL = {.kind = "order-paid",
                                   .to = BASTION_LIT("ann@example.com"),
                                   .subject = BASTION_LIT("Paid"),
                                   .text = BASTION_LIT("Thanks.")};
static const bastion_email_sender SENDER = {"orders", "webhooks"};
static const bastion_sql_value P1[] = {BASTION_SQL_INT(1)};
static const bastion_sql_value P2[] = {BASTION_SQL_INT(2), BASTION_SQL_INT(3)};

/* A transaction of n changes whose last result, the outbox row's, is its
 * RETURNING id 41. */
static void script_committed_n(size_t n)
{
    fake_reset();
    static bastion_str id_col[] = {BASTION_LIT("id")};
    static bastion_sql_value id_val[1];
    static __typeof__(*fake.rows.rows.ptr) id_row[1];
    static cabi_rows results[3];
    memset(results, 0, sizeof results);
    id_val[0] = BASTION_SQL_INT(41);
    id_row[0].ptr = id_val;
    id_row[0].len = 1;
    for (size_t i = 0; i < n; i++)
        results[i].changes = 1;
    results[n].columns.ptr = id_col;
    results[n].columns.len = 1;
    results[n].rows.ptr = id_row;
    results[n].rows.len = 1;
    results[n].changes = 1;
    fake.rows_list = results;
    fake.n_rows_list = n + 1;
}

static void script_committed(void)
{
    script_committed_n(2);
}

static bastion_rc run_changes(bastion_ctx *cx, size_t n, const char *conflict_detail,
                              bastion_email_result *sent)
{
    const bastion_sql_stmt changes[] = {
        BASTION_SQL_CHANGE_ONE("UPDATE orders SET status = 'paid' WHERE id = $1", P1),
        BASTION_SQL_CHANGE_ONE("INSERT INTO order_payments VALUES ($1, $2)", P2),
    };
    unit_ctx(cx);
    return bastion_email_with_changes_or_problem(cx, &SENDER, changes, n, &MAIL, conflict_detail,
                                                 sent);
}

/* CONC5: every change statement and the outbox row go to the host as one
 * transaction, in order, before any send; the outbox id comes from the
 * last statement's RETURNING. */
static void test_CONC5_changes_and_outbox_row_are_one_transaction(void **state)
{
    (void)state;
    script_committed();
    bastion_ctx cx;
    bastion_email_result sent;
    assert_int_equal(run_changes(&cx, 2, "gone", &sent), BASTION_OK);
    assert_int_equal(fake_count(FAKE_SQL_TRANSACTION), 1);
    const fake_call *tx = &fake.calls[0];
    assert_int_equal(tx->fn, FAKE_SQL_TRANSACTION);
    assert_string_equal(tx->store, "orders");
    assert_int_equal(tx->n_stmts, 3);
    assert_true(unit_str_is(tx->stmts[0].sql, "UPDATE orders SET status = 'paid' WHERE id = $1"));
    assert_ptr_equal(tx->stmts[0].params.ptr, P1);
    assert_true(unit_str_is(tx->stmts[1].sql, "INSERT INTO order_payments VALUES ($1, $2)"));
    assert_int_equal(tx->stmts[1].params.len, 2);
    assert_true(tx->stmts[1].has_expect);
    assert_true(unit_contains(tx->stmts[2].sql, "INSERT INTO email_failures"));
    /* not configured here: the send fails and the queued row 41 keeps the error */
    assert_false(sent.sent);
    assert_int_equal(sent.outbox_id, 41);
    const fake_call *kept = fake_last();
    assert_int_equal(kept->fn, FAKE_SQL_QUERY);
    assert_non_null(strstr(kept->key, "UPDATE email_failures SET error"));
    assert_int_equal(kept->params[2].v.i, 41);
    assert_false(cx.responded);
}

/* CONC5: a lost guard of any change is the caller's 409; the outbox row's
 * own guard, and a lost guard with no conflict detail, are 500. */
static void test_CONC5_lost_guard_of_any_change_is_409(void **state)
{
    (void)state;
    static const struct {
        uint32_t statement;
        const char *detail;
        int status;
        const char *slug;
    } CASES[] = {
        {1, "The order is not pending.", 409, "conflict"},
        {2, "The order is not pending.", 409, "conflict"},
        {3, "The order is not pending.", 500, "internal"},
        {1, NULL, 500, "internal"},
    };
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        script_committed();
        fake.error_tag = 6;
        fake.guard_statement = CASES[i].statement;
        bastion_ctx cx;
        bastion_email_result sent;
        assert_int_not_equal(run_changes(&cx, 2, CASES[i].detail, &sent), BASTION_OK);
        cJSON *p = unit_assert_problem(&cx, CASES[i].status, CASES[i].slug);
        if (CASES[i].status == 409)
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")),
                                CASES[i].detail);
        assert_int_equal(fake.n_calls, 1); /* nothing sent, nothing else written */
        assert_int_equal(bastion_sql_guard_failed(), CASES[i].statement);
    }
}

/* No statements, or more than fit, is the caller's bug: 500, nothing run. */
static void test_CONC5_change_count_is_bounded(void **state)
{
    (void)state;
    script_committed();
    bastion_ctx cx;
    bastion_email_result sent;
    assert_int_equal(run_changes(&cx, 0, NULL, &sent), BASTION_E_INTERNAL);
    cJSON_Delete(unit_assert_problem(&cx, 500, "internal"));
    bastion_sql_stmt many[BASTION_EMAIL_MAX_CHANGES + 1];
    for (size_t i = 0; i < BASTION_COUNTOF(many); i++)
        many[i] = (bastion_sql_stmt){.sql = "UPDATE t SET x = 1"};
    unit_ctx(&cx);
    assert_int_equal(bastion_email_with_changes_or_problem(
                         &cx, &SENDER, many, BASTION_COUNTOF(many), &MAIL, NULL, &sent),
                     BASTION_E_INTERNAL);
    assert_int_equal(fake.n_calls, 0);
}

/* REL6: the jobs' variant writes no response: a lost guard of a change is
 * BASTION_HOST_GUARD (the claim another run holds), the outbox row's own
 * guard is internal, and nothing is sent either way. */
static void test_REL6_job_variant_reports_without_responding(void **state)
{
    (void)state;
    const bastion_sql_stmt claim[] = {BASTION_SQL_CHANGE_ONE(
        "INSERT INTO appointment_reminders VALUES ($1) ON CONFLICT DO NOTHING", P1)};
    static const struct {
        uint32_t statement;
        bastion_host_rc rc;
    } CASES[] = {{1, BASTION_HOST_GUARD}, {2, BASTION_HOST_INTERNAL}};
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        script_committed_n(1);
        fake.error_tag = 6;
        fake.guard_statement = CASES[i].statement;
        bastion_ctx cx;
        unit_ctx(&cx);
        bastion_email_result sent;
        assert_int_equal(bastion_email_with_changes(&cx, &SENDER, claim, 1, &MAIL, &sent),
                         CASES[i].rc);
        assert_false(cx.responded);
        assert_int_equal(fake.n_calls, 1);
    }
    script_committed_n(1);
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_email_result sent;
    assert_int_equal(bastion_email_with_changes(&cx, &SENDER, claim, 1, &MAIL, &sent),
                     BASTION_HOST_OK);
    assert_int_equal(sent.outbox_id, 41); /* not configured: kept in the outbox */
    assert_int_equal(fake.calls[0].n_stmts, 2);
    assert_false(cx.responded);
    assert_int_equal(bastion_email_with_changes(&cx, &SENDER, claim, 0, &MAIL, &sent),
                     BASTION_HOST_INTERNAL);
}

/* REL6: the claimed email counts its outcome: a lost claim is skipped (and
 * no failure), a committed one is queued when the send fails. */
static void test_REL6_claimed_email_counts_its_outcome(void **state)
{
    (void)state;
    const bastion_sql_stmt claim[] = {BASTION_SQL_CHANGE_ONE(
        "INSERT INTO cart_reminders VALUES ($1) ON CONFLICT DO NOTHING", P1)};
    bastion_email_tally t = {0};
    script_committed_n(1);
    fake.error_tag = 6;
    fake.guard_statement = 1;
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_email_claimed(&cx, &SENDER, claim, &MAIL, &t), BASTION_HOST_OK);
    assert_int_equal(t.skipped, 1);
    script_committed_n(1);
    unit_ctx(&cx);
    assert_int_equal(bastion_email_claimed(&cx, &SENDER, claim, &MAIL, &t), BASTION_HOST_OK);
    assert_int_equal(t.queued, 1); /* not configured here: the send fails */
    assert_int_equal(t.sent, 0);
    assert_false(cx.responded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_REL4_requested_answer),
        cmocka_unit_test(test_REL4_admin_action_fields),
        cmocka_unit_test(test_CONC5_changes_and_outbox_row_are_one_transaction),
        cmocka_unit_test(test_CONC5_lost_guard_of_any_change_is_409),
        cmocka_unit_test(test_CONC5_change_count_is_bounded),
        cmocka_unit_test(test_REL6_job_variant_reports_without_responding),
        cmocka_unit_test(test_REL6_claimed_email_counts_its_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
