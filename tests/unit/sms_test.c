/*
 * Unit tests for shared/src/sms.c: the SMS provider client of the jobs (REL2, REL3).
 *
 * Each provider answer is scripted on the fake host's http-out; the "sms" breaker runs for
 * real (breaker.c, renamed and #included here) on fake_kv.h's kv model, so the tests see
 * that 4xx never counts, 5xx and timeouts do, and the fifth failure opens it, after which
 * no call is made. Every outcome is a value for the job to record, never an answer.
 */
#include "fake_host.h"
#include "unit.h"

#include "fake_provider.h"
#define bastion_http_send spy_http_send
#include "../../shared/src/sms.c"
#undef bastion_now_ms

#define BASE "http://127.0.0.1:4343"
#define KEY  "sms_test_unit"
#define FROM "+15005550006"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    fake.config_names[0] = "sms_api_base";
    fake.config_values[0] = BASE;
    fake.config_names[1] = "sms_api_key";
    fake.config_values[1] = KEY;
    fake.config_names[2] = "sms_from";
    fake.config_values[2] = FROM;
    return 0;
}

static bastion_sms_result send(bastion_ctx *cx)
{
    unit_ctx(cx);
    return bastion_sms_send(cx, "jobs", BASTION_LIT("+14155550100"), BASTION_LIT("Hello \"you\""),
                            BASTION_LIT("camp/contact"));
}

static bool breaker_open(void)
{
    return tkv_only("cb:sms:open_until") != NULL;
}

static void test_REL2_a_sent_message_posts_json_with_key_and_idempotency(void **state)
{
    (void)state;
    provider_answers(200, "{\"id\":\"SM123\",\"status\":\"queued\"}");
    bastion_ctx cx;
    bastion_sms_result r = send(&cx);
    assert_int_equal(r.outcome, BASTION_SMS_SENT);
    assert_true(unit_str_is(r.provider_id, "SM123"));
    assert_null(r.error);
    assert_false(cx.responded); /* an outcome, never an answer */
    const fake_call *c = fake_last();
    assert_string_equal(c->store, "POST");
    assert_string_equal(c->key, BASE "/messages");
    cJSON *body = cJSON_Parse(c->value);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "to")), "+14155550100");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "from")), FROM);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "body")), "Hello \"you\"");
    assert_string_equal(spy.text, "authorization: Bearer " KEY "\n"
                                  "content-type: application/json\n"
                                  "idempotency-key: camp/contact\n");
}

static void test_REL3_4xx_is_refused_and_not_a_breaker_failure(void **state)
{
    (void)state;
    bastion_ctx cx;
    for (int i = 0; i < 6; i++) {
        provider_answers(400, "{\"error\":{\"message\":\"invalid number\"}}");
        bastion_sms_result r = send(&cx);
        assert_int_equal(r.outcome, BASTION_SMS_REFUSED);
        assert_string_equal(r.error, "SMS provider refused the message (400)");
    }
    assert_false(breaker_open());
}

static void test_REL3_5xx_timeouts_and_no_id_fail_and_five_open_the_breaker(void **state)
{
    (void)state;
    bastion_ctx cx;
    provider_answers(500, "{}");
    assert_string_equal(send(&cx).error, "SMS provider answered 500");
    fake.error_tag = 0; /* timeout */
    assert_string_equal(send(&cx).error, "SMS provider timed out");
    fake.error_tag = 1; /* unavailable */
    assert_string_equal(send(&cx).error, "SMS provider unreachable");
    provider_answers(503, "");
    assert_int_equal(send(&cx).outcome, BASTION_SMS_FAILED);
    assert_false(breaker_open());
    provider_answers(502, "");
    assert_int_equal(send(&cx).outcome, BASTION_SMS_FAILED);
    assert_true(breaker_open());
    assert_int_equal(tkv_last(TKV_SET)->ttl_ms, 30000 + BASTION_BREAKER_LINGER_MS); /* 30 s open */
    size_t calls = fake_count(FAKE_HTTP_SEND);
    provider_answers(200, "{\"id\":\"SM1\"}");
    size_t kv_reads = tkv_count(TKV_GET);
    bastion_sms_result r = send(&cx);
    assert_int_equal(r.outcome, BASTION_SMS_CIRCUIT_OPEN);
    assert_int_equal(tkv_count(TKV_GET), kv_reads + 1);  /* one look at the breaker */
    assert_int_equal(fake_count(FAKE_HTTP_SEND), calls); /* no call */
    /* a 2xx without an id is not a sent message (and the provider is healthy) */
    tkv_reset();
    provider_answers(200, "{\"status\":\"queued\"}");
    r = send(&cx);
    assert_int_equal(r.outcome, BASTION_SMS_FAILED);
    assert_string_equal(r.error, "SMS provider's answer had no message id");
}

static void test_REL8_unset_variables_are_misconfigured_without_a_call(void **state)
{
    (void)state;
    for (int which = 0; which < 3; which++) {
        setup(NULL);
        fake.config_values[which] = "";
        bastion_ctx cx;
        assert_int_equal(send(&cx).outcome, BASTION_SMS_MISCONFIGURED);
        assert_int_equal(fake.n_calls + tkv.n_calls, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_REL2_a_sent_message_posts_json_with_key_and_idempotency, setup),
        cmocka_unit_test_setup(test_REL3_4xx_is_refused_and_not_a_breaker_failure, setup),
        cmocka_unit_test_setup(test_REL3_5xx_timeouts_and_no_id_fail_and_five_open_the_breaker,
                               setup),
        cmocka_unit_test_setup(test_REL8_unset_variables_are_misconfigured_without_a_call, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
