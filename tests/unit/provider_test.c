/*
 * Unit tests for shared/src/provider.c: the answers of an external JSON
 * API's outcome (the billing contract), and which outcomes the breaker
 * counts. payments_test.c runs the same table through the payment client.
 */
#include "fake_host.h"
#include "unit.h"

#include "../../shared/src/provider.c"

static int reset(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static const bastion_provider P = {"matching provider", "matching API"};

static bastion_http_response answered(uint16_t status, const char *body)
{
    return (bastion_http_response){.status = status, .body = bastion_cstr(body)};
}

/* Asserts the problem, its retryable flag and that the detail names the provider. */
static void assert_answer(bastion_host_rc rc, bastion_http_response r, int status, const char *slug,
                          bool retryable)
{
    bastion_ctx cx;
    cJSON *out = (cJSON *)1;
    unit_ctx(&cx);
    assert_int_not_equal(bastion_provider_answer_or_problem(&cx, &P, "/v1/score", rc, &r, &out),
                         BASTION_OK);
    assert_null(out);
    cJSON *p = unit_assert_problem(&cx, status, slug);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(p, "retryable")), retryable);
    assert_non_null(
        strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")), "matching provider"));
}

static void test_REL2_each_outcome_has_its_answer(void **state)
{
    (void)state;
    assert_answer(BASTION_HOST_TIMEOUT, answered(0, ""), 504, "timeout", true);
    assert_answer(BASTION_HOST_UNAVAILABLE, answered(0, ""), 502, "bad-gateway", true);
    assert_answer(BASTION_HOST_OK, answered(503, "{}"), 502, "bad-gateway", true);
    assert_answer(BASTION_HOST_OK, answered(422, "{}"), 502, "upstream-refused", false);
    assert_answer(BASTION_HOST_OK, answered(302, ""), 502, "upstream-refused", false);
    assert_answer(BASTION_HOST_OK, answered(200, "[1]"), 502, "bad-gateway", true);
    assert_answer(BASTION_HOST_OK, answered(200, "{\"a\":"), 502, "bad-gateway", true);
    /* what cJSON alone would take */
    assert_answer(BASTION_HOST_OK, answered(200, "{\"a\":1} x"), 502, "bad-gateway", true);
    assert_answer(BASTION_HOST_OK, answered(200, "{\"a\":\"b\\u0000c\"}"), 502, "bad-gateway",
                  true);
}

static void test_REL2_a_2xx_object_is_the_answer(void **state)
{
    (void)state;
    bastion_ctx cx;
    cJSON *out = NULL;
    unit_ctx(&cx);
    bastion_http_response r = answered(201, "{\"scores\":[]}");
    assert_int_equal(
        bastion_provider_answer_or_problem(&cx, &P, "/v1/score", BASTION_HOST_OK, &r, &out),
        BASTION_OK);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(out, "scores")));
}

static void test_REL3_only_5xx_and_no_answer_count_against_the_breaker(void **state)
{
    (void)state;
    bastion_http_response ok = answered(200, "{}"), refused = answered(404, "{}"),
                          failed = answered(500, "{}");
    assert_true(bastion_provider_healthy(BASTION_HOST_OK, &ok));
    assert_true(bastion_provider_healthy(BASTION_HOST_OK, &refused));
    assert_false(bastion_provider_healthy(BASTION_HOST_OK, &failed));
    assert_false(bastion_provider_healthy(BASTION_HOST_TIMEOUT, &ok));
    assert_false(bastion_provider_healthy(BASTION_HOST_UNAVAILABLE, &ok));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_REL2_each_outcome_has_its_answer, reset),
        cmocka_unit_test_setup(test_REL2_a_2xx_object_is_the_answer, reset),
        cmocka_unit_test_setup(test_REL3_only_5xx_and_no_answer_count_against_the_breaker, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
