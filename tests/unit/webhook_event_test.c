/*
 * Unit tests for shared/src/webhook_event.c: the order of the ledger's store
 * calls and the budgets they get (HOOK3, HOOK6). Exactly-once under real
 * concurrency, kv loss and redelivery are proven over HTTP against both
 * backends (tests/functions/test_stripe_webhook.py).
 */
#include "../../shared/src/webhook_event.c"

#include "fake_host.h"
#include "unit.h"

#define LEFT_MS                                                                                    \
    1800u /* time left in every test: less than the cache budget, so kv budgets show it */

static bastion_sql_value attempts_row[1];
static __typeof__(*fake.rows.rows.ptr) one_row[1];
static bastion_str attempts_col[] = {BASTION_LIT("attempts")};

/* A store that answers: the claim is free and the ledger says attempt n. */
static void script_fresh_claim(int64_t n)
{
    fake_reset();
    fake.ok_bool = true; /* kv.add: added */
    attempts_row[0] = BASTION_SQL_INT(n);
    one_row[0].ptr = attempts_row;
    one_row[0].len = 1;
    fake.rows.columns.ptr = attempts_col;
    fake.rows.columns.len = 1;
    fake.rows.rows.ptr = one_row;
    fake.rows.rows.len = 1;
}

static void begin(bastion_ctx *cx, bastion_webhook_event *ev, bastion_rc want)
{
    unit_ctx(cx);
    cx->deadline_ms = bastion_now_ms() + LEFT_MS;
    assert_int_equal(bastion_webhook_event_begin_or_problem(cx, "webhooks", "billing", "stripe",
                                                            BASTION_LIT("evt_1"),
                                                            BASTION_LIT("x.y"), ev),
                     want);
}

/* HOOK6: while the event is processed, a store call's budget ends
 * BASTION_WEBHOOK_RESERVE_MS before the request's deadline, and done gives
 * the whole remainder back. */
static void test_HOOK6_processing_budgets_keep_the_reserve(void **state)
{
    (void)state;
    script_fresh_claim(1);
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin(&cx, &ev, BASTION_OK);
    assert_int_equal(ev.attempts, 1);
    assert_int_equal(fake.n_calls, 2); /* kv.add, then the ledger row */
    assert_int_equal(fake.calls[0].fn, FAKE_KV_ADD);
    assert_int_equal(fake.calls[1].fn, FAKE_SQL_QUERY);
    assert_true(fake.calls[1].timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_true(bastion_remaining_ms(&cx) <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    bastion_webhook_event_done(&cx, &ev, false);
    assert_true(bastion_remaining_ms(&cx) > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    const fake_call *mark = &fake.calls[2], *keep = &fake.calls[3];
    assert_int_equal(mark->fn, FAKE_SQL_QUERY);
    assert_non_null(strstr(mark->key, "status = 'processed'"));
    assert_true(mark->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(keep->fn, FAKE_KV_SET);
    assert_int_equal(keep->ttl_ms, (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u);
}

/* HOOK3 + HOOK6: a failure is recorded inside the reserve, then the claim is
 * released with time still left for it, and the deadline is the request's
 * own again. */
static void test_HOOK3_fail_records_then_releases_within_the_deadline(void **state)
{
    (void)state;
    script_fresh_claim(2);
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin(&cx, &ev, BASTION_OK);
    uint64_t deadline = ev.deadline_ms;
    bastion_webhook_event_fail(&cx, &ev, "unknown order");
    assert_int_equal(cx.deadline_ms, deadline);
    assert_int_equal(fake.n_calls, 4);
    const fake_call *record = &fake.calls[2], *release = &fake.calls[3];
    assert_int_equal(record->fn, FAKE_SQL_QUERY);
    assert_non_null(strstr(record->key, "status = 'failed'"));
    assert_true(record->timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RELEASE_MS);
    assert_true(record->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(release->fn, FAKE_KV_DELETE);
    assert_string_equal(release->key, fake.calls[0].key); /* the claim taken */
    assert_true(release->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RELEASE_MS);
    bastion_webhook_event_fail(&cx, &ev, "again");
    assert_int_equal(fake.n_calls, 4); /* once only */
}

/* HOOK6: the ledger write times out (a locked database) before the
 * deadline, so there is time to answer 504 and give the claim back. */
static void test_HOOK6_ledger_write_timeout_releases_the_claim(void **state)
{
    (void)state;
    script_fresh_claim(1);
    fake.error_tag = 0; /* timeout */
    fake.error_on_call = 2;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin(&cx, &ev, BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
    assert_int_equal(fake.n_calls, 3);
    assert_true(fake.calls[1].timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(fake.calls[2].fn, FAKE_KV_DELETE);
    assert_true(fake.calls[2].timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(cx.deadline_ms, ev.deadline_ms);
}

/* HOOK3: a delivery the ledger already calls processed (the kv forgot it)
 * is a duplicate: 200, nothing to do, the kv memory re-armed for 24 h. */
static void test_HOOK3_processed_in_the_ledger_is_a_duplicate(void **state)
{
    (void)state;
    script_fresh_claim(1);
    fake.rows.rows.len = 0; /* the upsert's WHERE kept the processed row */
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin(&cx, &ev, BASTION_ANSWERED);
    assert_int_equal(cx.status, 200);
    cJSON *j = unit_body_json(&cx);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "received")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "duplicate")));
    assert_int_equal(fake_last()->fn, FAKE_KV_SET);
    assert_int_equal(fake_last()->ttl_ms, (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u);
    assert_int_equal(cx.deadline_ms, ev.deadline_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_HOOK6_processing_budgets_keep_the_reserve),
        cmocka_unit_test(test_HOOK3_fail_records_then_releases_within_the_deadline),
        cmocka_unit_test(test_HOOK6_ledger_write_timeout_releases_the_claim),
        cmocka_unit_test(test_HOOK3_processed_in_the_ledger_is_a_duplicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
