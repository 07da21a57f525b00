/*
 * Unit tests for shared/src/payments.c: the payment API client (REL2, REL3).
 *
 * The form encoding is checked against the WHATWG URL Standard's
 * application/x-www-form-urlencoded serializer (§5.2: ASCII alphanumerics
 * and *-._ as they are, space as '+', every other byte of the UTF-8 as %XX),
 * whose output URLSearchParams gives, e.g.
 *   new URLSearchParams({"metadata[kind]": "order"}).toString()
 *     === "metadata%5Bkind%5D=order".
 *
 * Each provider outcome is scripted on the fake host's http-out, and the
 * "payments" breaker runs for real (breaker.c, renamed and #included here)
 * on the kv model of fake_kv.h, so a test sees what a sequence of requests
 * leaves behind: 4xx never counts, 5xx, timeouts and no connection do, and
 * the fifth opens the breaker, after which no call is made.
 */
#include "fake_host.h"
#include "unit.h"

#include "fake_provider.h"
#define bastion_http_send spy_http_send
#include "../../shared/src/payments.c"
#undef bastion_now_ms /* the model's clock is the breaker's; deadlines stay real */

#define BASE "http://127.0.0.1:4242"
#define KEY  "sk_test_unit"
#define PATH "/v1/subscriptions/sub_123"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    fake.config_names[0] = "payments_api_base";
    fake.config_values[0] = BASE;
    fake.config_names[1] = "payments_api_key";
    fake.config_values[1] = KEY;
    return 0;
}

/* The provider's next call fails in the host with WIT error case `tag`. */
static void provider_fails(int tag)
{
    fake.error_tag = tag;
}

static const bastion_form_field CANCEL[] = {{"cancel_at_period_end", BASTION_LIT("true")}};

static bastion_rc post(bastion_ctx *cx, cJSON **out)
{
    unit_ctx(cx);
    return bastion_payments_post_or_problem(cx, "billing", PATH, CANCEL, BASTION_COUNTOF(CANCEL),
                                            out);
}

/* The breaker's consecutive-failure count in the model (0 when absent). */
static long failures(void)
{
    tkv_entry *e = tkv_find("billing", BASTION_LIT("cb:payments:failures"));
    char buf[24] = {0};
    if (e)
        memcpy(buf, e->val, e->len < sizeof buf - 1 ? e->len : sizeof buf - 1);
    return strtol(buf, NULL, 10);
}

static bool breaker_open(void)
{
    return tkv_only("cb:payments:open_until") != NULL;
}

/* Asserts the problem and its retryable flag. */
static void assert_failure(const bastion_ctx *cx, int status, const char *slug, bool retryable)
{
    cJSON *p = unit_assert_problem(cx, status, slug);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(p, "retryable")), retryable);
}

/* --- form encoding --- */

static void test_form_encoding_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value, *want;
    } V[] = {
        {"cancel_at_period_end", "true", "cancel_at_period_end=true"},
        {"metadata[kind]", "order", "metadata%5Bkind%5D=order"},
        {"q", "a b", "q=a+b"},
        {"q", "caf\xc3\xa9 \xe2\x82\xac", "q=caf%C3%A9+%E2%82%AC"}, /* "café €" */
        {"q", "a&b=c+d", "q=a%26b%3Dc%2Bd"},
        {"q", "~!'()", "q=%7E%21%27%28%29"},
        {"safe", "AZaz09*-._", "safe=AZaz09*-._"},
        {"e", "", "e="},
    };
    for (size_t i = 0; i < BASTION_COUNTOF(V); i++) {
        bastion_form_field f = {V[i].name, bastion_cstr(V[i].value)};
        bastion_str got = bastion_form_encode(&f, 1);
        if (!unit_str_is(got, V[i].want))
            unit_fail("%s=%s: got %.*s, want %s", V[i].name, V[i].value, (int)got.len,
                      got.ptr ? got.ptr : "", V[i].want);
        assert_int_equal(got.ptr[got.len], 0); /* terminated, for the host call */
    }
}

static void test_form_encoding_joins_fields_in_order(void **state)
{
    (void)state;
    const char raw[] = {'x', '\0', 'y'}; /* a slice holding NUL: encoded, not cut */
    const bastion_form_field f[] = {
        {"cancel_at_period_end", BASTION_LIT("true")},
        {"metadata[kind]", BASTION_LIT("order")},
        {"v", (bastion_str){raw, sizeof raw}},
    };
    assert_true(unit_str_is(bastion_form_encode(f, BASTION_COUNTOF(f)),
                            "cancel_at_period_end=true&metadata%5Bkind%5D=order&v=x%00y"));
    assert_true(unit_str_is(bastion_form_encode(f, 0), ""));
}

/* --- the call --- */

/* REL2: POST {base}{path}, Bearer key, form body, under the external budget
 * capped by the deadline; the answer's JSON object comes back. */
static void test_REL2_success_posts_the_form_with_the_key(void **state)
{
    (void)state;
    provider_answers(200, "{\"id\":\"sub_123\",\"object\":\"subscription\","
                          "\"cancel_at_period_end\":true}");
    bastion_ctx cx;
    cJSON *out = NULL;
    unit_ctx(&cx);
    cx.deadline_ms = bastion_now_ms() + 5000; /* less than the 8 s budget */
    assert_int_equal(bastion_payments_post_or_problem(&cx, "billing", PATH, CANCEL,
                                                      BASTION_COUNTOF(CANCEL), &out),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "cancel_at_period_end")));
    assert_int_equal(fake_count(FAKE_HTTP_SEND), 1);
    const fake_call *c = fake_last();
    assert_string_equal(c->store, "POST");
    assert_string_equal(c->key, BASE PATH);
    assert_string_equal(c->value, "cancel_at_period_end=true");
    assert_true(c->timeout_ms > 0 && c->timeout_ms <= 5000);
    assert_string_equal(spy.text, "authorization: Bearer " KEY "\n"
                                  "content-type: application/x-www-form-urlencoded\n"
                                  "accept: application/json\n");
    /* the key never reaches a log line */
    for (size_t i = 0; i < fake.n_logs; i++)
        assert_null(strstr(fake.logs[i].fields, KEY));
}

/* REL8: the variables unset → 500 misconfigured, nothing called. */
static void test_REL8_unset_variables_are_500(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        setup(NULL);
        fake.config_values[which] = "";
        bastion_ctx cx;
        cJSON *out = (cJSON *)1;
        assert_int_equal(post(&cx, &out), BASTION_E_MISCONFIGURED);
        assert_null(out);
        cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
        assert_int_equal(fake.n_calls + tkv.n_calls, 0);
    }
}

/* A 4xx is the provider refusing this request: 502 upstream-refused, not
 * retryable, and no mark against the breaker (it even proves the provider
 * answers, so earlier failures stop being consecutive). */
static void test_REL3_4xx_is_502_not_retryable_and_not_a_failure(void **state)
{
    (void)state;
    provider_answers(503, "{}");
    bastion_ctx cx;
    cJSON *out;
    post(&cx, &out);
    assert_int_equal(failures(), 1);
    static const uint16_t REFUSED[] = {400, 402, 404, 409, 429};
    for (size_t i = 0; i < BASTION_COUNTOF(REFUSED); i++) {
        provider_answers(REFUSED[i], "{\"error\":{\"type\":\"invalid_request_error\"}}");
        assert_int_equal(post(&cx, &out), BASTION_E_UPSTREAM_REFUSED);
        assert_null(out);
        assert_failure(&cx, 502, "upstream-refused", false);
        assert_int_equal(failures(), 0);
    }
    for (int i = 0; i < 10; i++) /* ten refusals never open it */
        post(&cx, &out);
    assert_false(breaker_open());
}

/* A 5xx: 502 bad-gateway, retryable, one failure counted. */
static void test_REL3_5xx_is_502_retryable_and_a_failure(void **state)
{
    (void)state;
    static const uint16_t FAILED[] = {500, 502, 503};
    for (size_t i = 0; i < BASTION_COUNTOF(FAILED); i++) {
        provider_answers(FAILED[i], "<html>oops</html>");
        bastion_ctx cx;
        cJSON *out;
        assert_int_equal(post(&cx, &out), BASTION_E_BAD_GATEWAY);
        assert_failure(&cx, 502, "bad-gateway", true);
        assert_int_equal(failures(), (long)i + 1);
    }
}

/* REL2: no answer within the budget → 504, a failure; no connection → 502
 * retryable, a failure. */
static void test_REL2_timeout_is_504_and_no_connection_502(void **state)
{
    (void)state;
    bastion_ctx cx;
    cJSON *out;
    provider_fails(0); /* timeout */
    assert_int_equal(post(&cx, &out), BASTION_E_TIMEOUT);
    assert_failure(&cx, 504, "timeout", true);
    assert_int_equal(failures(), 1);
    provider_fails(1); /* unavailable: connection refused */
    assert_int_equal(post(&cx, &out), BASTION_E_BAD_GATEWAY);
    assert_failure(&cx, 502, "bad-gateway", true);
    assert_int_equal(failures(), 2);
}

/* REL2: a deadline already past is a 504 without a call. */
static void test_REL2_spent_deadline_is_504_without_a_call(void **state)
{
    (void)state;
    bastion_ctx cx;
    cJSON *out;
    unit_ctx(&cx);
    cx.deadline_ms = bastion_now_ms();
    assert_int_equal(bastion_payments_post_or_problem(&cx, "billing", PATH, CANCEL,
                                                      BASTION_COUNTOF(CANCEL), &out),
                     BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
    assert_int_equal(fake_count(FAKE_HTTP_SEND), 0);
}

/* A 2xx that is not a JSON object: 502 retryable; the provider did answer,
 * so the breaker is not charged. */
static void test_REL1_2xx_not_an_object_is_502(void **state)
{
    (void)state;
    static const char *const BODIES[] = {"", "not json", "[1,2]", "\"sub\"", "{\"id\":"};
    for (size_t i = 0; i < BASTION_COUNTOF(BODIES); i++) {
        provider_answers(200, BODIES[i]);
        bastion_ctx cx;
        cJSON *out = (cJSON *)1;
        assert_int_equal(post(&cx, &out), BASTION_E_BAD_GATEWAY);
        assert_null(out);
        assert_failure(&cx, 502, "bad-gateway", true);
        assert_int_equal(failures(), 0);
    }
}

/* REL3: the fifth consecutive failure opens the breaker; then 503 with
 * Retry-After and no call until open_ms (30 s) passed; then one probe, and
 * its success closes it. */
static void test_REL3_five_failures_open_then_503_without_a_call(void **state)
{
    (void)state;
    bastion_ctx cx;
    cJSON *out;
    for (int i = 0; i < 5; i++) {
        assert_false(breaker_open());
        if (i % 2)
            provider_fails(0); /* timeouts and 5xx alike */
        else
            provider_answers(500, "{}");
        post(&cx, &out);
    }
    assert_true(breaker_open());
    /* open for 30 s, and its state outlives that by the linger (breaker.h) */
    assert_int_equal(tkv_last(TKV_SET)->ttl_ms, 30000 + BASTION_BREAKER_LINGER_MS);
    size_t sent = fake_count(FAKE_HTTP_SEND);
    assert_int_equal(sent, 5);
    size_t reads = tkv_count(TKV_GET);
    provider_answers(200, "{\"id\":\"sub_123\"}");
    assert_int_equal(post(&cx, &out), BASTION_E_UNAVAILABLE);
    assert_failure(&cx, 503, "unavailable", true);
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "30"));
    assert_int_equal(tkv_count(TKV_GET), reads + 1); /* one read decided it */
    tkv.now += 29000;
    assert_int_equal(post(&cx, &out), BASTION_E_UNAVAILABLE);
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "1"));
    assert_int_equal(fake_count(FAKE_HTTP_SEND), sent);
    tkv.now += 1000; /* half-open: this call is the probe */
    assert_int_equal(post(&cx, &out), BASTION_OK);
    assert_int_equal(fake_count(FAKE_HTTP_SEND), sent + 1);
    assert_false(breaker_open());
    assert_int_equal(failures(), 0);
}

/* REL3: a success between failures makes them non-consecutive. */
static void test_REL3_success_resets_the_count(void **state)
{
    (void)state;
    bastion_ctx cx;
    cJSON *out;
    for (int i = 0; i < 4; i++) {
        provider_answers(500, "{}");
        post(&cx, &out);
    }
    provider_answers(200, "{}");
    assert_int_equal(post(&cx, &out), BASTION_OK);
    for (int i = 0; i < 4; i++) {
        provider_answers(500, "{}");
        post(&cx, &out);
    }
    assert_false(breaker_open());
    assert_int_equal(failures(), 4);
}

/* The breaker's state lives in the caller's kv store. */
static void test_REL3_state_is_in_the_callers_store(void **state)
{
    (void)state;
    provider_answers(500, "{}");
    bastion_ctx cx;
    cJSON *out;
    unit_ctx(&cx);
    bastion_payments_post_or_problem(&cx, "jobs", PATH, CANCEL, 1, &out);
    assert_non_null(tkv_find("jobs", BASTION_LIT("cb:payments:failures")));
    assert_int_equal(failures(), 0); /* not in "billing" */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_form_encoding_vectors, setup),
        cmocka_unit_test_setup(test_form_encoding_joins_fields_in_order, setup),
        cmocka_unit_test_setup(test_REL2_success_posts_the_form_with_the_key, setup),
        cmocka_unit_test_setup(test_REL8_unset_variables_are_500, setup),
        cmocka_unit_test_setup(test_REL3_4xx_is_502_not_retryable_and_not_a_failure, setup),
        cmocka_unit_test_setup(test_REL3_5xx_is_502_retryable_and_a_failure, setup),
        cmocka_unit_test_setup(test_REL2_timeout_is_504_and_no_connection_502, setup),
        cmocka_unit_test_setup(test_REL2_spent_deadline_is_504_without_a_call, setup),
        cmocka_unit_test_setup(test_REL1_2xx_not_an_object_is_502, setup),
        cmocka_unit_test_setup(test_REL3_five_failures_open_then_503_without_a_call, setup),
        cmocka_unit_test_setup(test_REL3_success_resets_the_count, setup),
        cmocka_unit_test_setup(test_REL3_state_is_in_the_callers_store, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
