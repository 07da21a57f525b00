/*
 * Unit tests for shared/src/breaker.c: circuit breakers in kv (REL3).
 *
 * A breaker is shared state across requests and instances, so these tests
 * run it against a small kv with the host's semantics (add is set-if-absent,
 * increment sets its TTL on create only, values expire) and a clock the test
 * controls; the scripted fake_host.c models neither. The kv calls and the
 * clock are renamed to that model (fake_kv.h, shared with idempotency_test.c)
 * before #including the .c.
 */
#include "fake_host.h"
#include "unit.h"

#include "bastion/breaker.h"

#include "fake_kv.h"
#include "../../shared/src/breaker.c"
#undef bastion_now_ms

/* N = 3, open for 30 s, failures decay after 60 s */
static const bastion_breaker EMAIL = {"email", "cb", 3, 30000, 60000};

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    return 0;
}

/* One guarded call: allow, then (if allowed) the outcome. */
static bastion_rc call(bastion_ctx *cx, const bastion_breaker *b, bool success)
{
    bastion_breaker_ticket t;
    unit_ctx(cx);
    bastion_rc rc = bastion_breaker_allow_or_problem(cx, b, &t);
    if (rc == BASTION_OK)
        bastion_breaker_record(cx, b, &t, success);
    return rc;
}

static bool logged(const char *needle)
{
    for (size_t i = 0; i < fake.n_logs; i++)
        if (strstr(fake.logs[i].msg, needle))
            return true;
    return false;
}

/* Asserts a 503 with Retry-After `secs`. */
static void assert_open(const bastion_ctx *cx, const char *secs)
{
    cJSON_Delete(unit_assert_problem(cx, 503, "unavailable"));
    bastion_str ra = unit_resp_header(cx, "retry-after");
    if (!unit_str_is(ra, secs))
        unit_fail("Retry-After %.*s, want %s", (int)ra.len, ra.ptr ? ra.ptr : "", secs);
}

static void test_REL3_closed_allows_with_one_read(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_breaker_ticket t;
    unit_ctx(&cx);
    assert_int_equal(bastion_breaker_allow_or_problem(&cx, &EMAIL, &t), BASTION_OK);
    assert_false(t.probe);
    assert_false(cx.responded);
    assert_int_equal(tkv.n_calls, 1);
    assert_int_equal(tkv.calls[0].op, TKV_GET);
    assert_string_equal(tkv.calls[0].key, "cb:email:open_until");
}

static void test_REL3_opens_after_n_consecutive_failures(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_null(tkv_only("cb:email:open_until"));
    /* increment-first, TTL on create */
    const tkv_call *inc = tkv_last(TKV_INCREMENT);
    assert_string_equal(inc->key, "cb:email:failures");
    assert_int_equal(inc->ttl_ms, 60000);
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK); /* the 3rd opens it */
    assert_non_null(tkv_only("cb:email:open_until"));
    assert_true(logged("breaker opened"));
    /* now it fails fast, without the call */
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_open(&cx, "30");
}

static void test_REL3_success_resets_the_count(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
        assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
        assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK);
        assert_null(tkv_only("cb:email:failures"));
    }
    assert_null(tkv_only("cb:email:open_until"));
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK);
}

/* Non-consecutive failures spread beyond the window do not add up. */
static void test_REL3_failures_decay_after_window(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    tkv.now += 60000;
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_null(tkv_only("cb:email:open_until"));
    /* and the default window applies when none is set */
    static const bastion_breaker dflt = {"dflt", "cb", 2, 1000, 0};
    assert_int_equal(call(&cx, &dflt, false), BASTION_OK);
    assert_int_equal(tkv_last(TKV_INCREMENT)->ttl_ms, BASTION_BREAKER_DEFAULT_WINDOW_MS);
}

static void test_REL3_open_is_503_with_retry_after(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    size_t before = tkv.n_calls;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_open(&cx, "30");
    assert_int_equal(tkv.n_calls, before + 1); /* one read, no write */
    tkv.now += 12500;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_open(&cx, "18"); /* 17.5 s rounds up */
    tkv.now += 17499;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_open(&cx, "1");
    cJSON *j = unit_body_json(&cx);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retryable")));
    assert_false(unit_contains(cx.resp_body, "email")); /* the dependency stays internal */
    cJSON_Delete(j);
}

/* Half-open: of many callers exactly one probes; the others fail fast. */
static void test_REL3_half_open_allows_exactly_one_probe(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    tkv.now += 30000;
    bastion_breaker_ticket t[5];
    int probes = 0;
    for (int i = 0; i < 5; i++) {
        unit_ctx(&cx);
        bastion_rc rc = bastion_breaker_allow_or_problem(&cx, &EMAIL, &t[i]);
        if (rc == BASTION_OK) {
            assert_true(t[i].probe);
            probes++;
        } else {
            assert_int_equal(rc, BASTION_E_UNAVAILABLE);
            assert_false(t[i].probe);
            assert_open(&cx, "1");
        }
    }
    assert_int_equal(probes, 1);
    const tkv_call *add = tkv_last(TKV_ADD);
    assert_string_equal(add->key, "cb:email:probe");
    assert_true(add->ttl_ms > 1000 && add->ttl_ms <= 16000); /* the prober's deadline + 1 s */
}

static void test_REL3_probe_success_closes(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    tkv.now += 30000;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK);
    assert_null(tkv_only("cb:email:open_until"));
    assert_null(tkv_only("cb:email:probe"));
    assert_null(tkv_only("cb:email:failures"));
    assert_true(logged("breaker closed"));
    for (int i = 0; i < 4; i++) {
        bastion_breaker_ticket t;
        unit_ctx(&cx);
        assert_int_equal(bastion_breaker_allow_or_problem(&cx, &EMAIL, &t), BASTION_OK);
        assert_false(t.probe);
    }
    /* and it needs N fresh failures to open again */
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK);
}

static void test_REL3_probe_failure_reopens(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    /* long enough for the failure count to decay: the probe still re-opens */
    tkv.now += 61000;
    assert_null(tkv_only("cb:email:failures"));
    assert_int_equal(call(&cx, &EMAIL, false), BASTION_OK);
    assert_true(logged("re-opened"));
    assert_null(tkv_only("cb:email:probe")); /* the slot is free for the next round */
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_open(&cx, "30");
    tkv.now += 30000;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK); /* the next probe */
    assert_null(tkv_only("cb:email:open_until"));
}

/* A prober that dies without recording frees the slot with its deadline. */
static void test_REL3_lost_probe_frees_slot(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    tkv.now += 30000;
    bastion_breaker_ticket t;
    unit_ctx(&cx);
    assert_int_equal(bastion_breaker_allow_or_problem(&cx, &EMAIL, &t), BASTION_OK);
    assert_true(t.probe); /* ... and never records */
    uint64_t ttl = tkv_last(TKV_ADD)->ttl_ms;
    tkv.now += ttl - 1;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    tkv.now += 1;
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_OK);
    assert_null(tkv_only("cb:email:open_until"));
}

/* The open state lingers past open_ms (so its end reads as half-open), then
 * decays to closed. */
static void test_REL3_open_state_ttl(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    assert_int_equal(tkv_count(TKV_SET), 1); /* only the failure that opened it writes */
    const tkv_call *set = tkv_last(TKV_SET);
    assert_string_equal(set->key, "cb:email:open_until");
    assert_int_equal(set->ttl_ms, 30000u + BASTION_BREAKER_LINGER_MS);
}

/* The breaker's own store failing never blocks the real call (fail-open),
 * and is logged. */
static void test_REL3_kv_error_fails_open_and_logs(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_breaker_ticket t;
    tkv.fail_mask = 1u << TKV_GET;
    tkv.fail_rc = BASTION_HOST_UNAVAILABLE;
    unit_ctx(&cx);
    assert_int_equal(bastion_breaker_allow_or_problem(&cx, &EMAIL, &t), BASTION_OK);
    assert_false(cx.responded);
    assert_true(logged("unreadable"));

    /* record's failures are logged too; nothing is written to the response */
    fake_reset();
    tkv.fail_mask = (1u << TKV_INCREMENT) | (1u << TKV_DELETE) | (1u << TKV_SET);
    bastion_breaker_record(&cx, &EMAIL, &t, false);
    bastion_breaker_record(&cx, &EMAIL, &t, true);
    assert_false(cx.responded);
    assert_true(logged("not counted"));
    assert_true(logged("not cleared"));

    /* half-open with a broken probe slot: still allowed */
    tkv.fail_mask = 0;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    tkv.now += 30000;
    fake_reset();
    tkv.fail_mask = 1u << TKV_ADD;
    unit_ctx(&cx);
    assert_int_equal(bastion_breaker_allow_or_problem(&cx, &EMAIL, &t), BASTION_OK);
    assert_false(t.probe);
    assert_true(logged("probe slot"));

    /* an open breaker that cannot be written stays closed, loudly */
    setup(NULL);
    tkv.fail_mask = 1u << TKV_SET;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    assert_true(logged("could not open"));
    assert_null(tkv_only("cb:email:open_until"));
}

static void test_REL3_malformed_state_fails_open(void **state)
{
    (void)state;
    bastion_ctx cx;
    static const char *const bad[] = {"", "soon", "-5", "12a", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setup(NULL);
        tkv_write("cb", BASTION_LIT("cb:email:open_until"), bad[i], strlen(bad[i]), 0);
        if (call(&cx, &EMAIL, true) != BASTION_OK)
            unit_fail("state \"%s\" blocked the call", bad[i]);
        assert_true(logged("malformed"));
    }
}

/* Each dependency has its own breaker. */
static void test_REL3_breakers_are_independent(void **state)
{
    (void)state;
    static const bastion_breaker PAY = {"payments", "cb", 3, 30000, 60000};
    bastion_ctx cx;
    for (int i = 0; i < 3; i++)
        call(&cx, &EMAIL, false);
    assert_int_equal(call(&cx, &EMAIL, true), BASTION_E_UNAVAILABLE);
    assert_int_equal(call(&cx, &PAY, true), BASTION_OK);
    assert_string_equal(tkv_last(TKV_GET)->key, "cb:payments:open_until");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_REL3_closed_allows_with_one_read, setup),
        cmocka_unit_test_setup(test_REL3_opens_after_n_consecutive_failures, setup),
        cmocka_unit_test_setup(test_REL3_success_resets_the_count, setup),
        cmocka_unit_test_setup(test_REL3_failures_decay_after_window, setup),
        cmocka_unit_test_setup(test_REL3_open_is_503_with_retry_after, setup),
        cmocka_unit_test_setup(test_REL3_half_open_allows_exactly_one_probe, setup),
        cmocka_unit_test_setup(test_REL3_probe_success_closes, setup),
        cmocka_unit_test_setup(test_REL3_probe_failure_reopens, setup),
        cmocka_unit_test_setup(test_REL3_lost_probe_frees_slot, setup),
        cmocka_unit_test_setup(test_REL3_open_state_ttl, setup),
        cmocka_unit_test_setup(test_REL3_kv_error_fails_open_and_logs, setup),
        cmocka_unit_test_setup(test_REL3_malformed_state_fails_open, setup),
        cmocka_unit_test_setup(test_REL3_breakers_are_independent, setup),
    };
    return cmocka_run_group_tests_name("breaker", tests, NULL, NULL);
}
