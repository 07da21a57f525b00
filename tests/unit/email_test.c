/*
 * Unit tests for shared/src/email.c: the REL4 answer shapes. (Sending,
 * the outbox and the breaker are proven over HTTP against a fake provider:
 * tests/functions/test_{bookings,appointments,permits}.py test_REL4_*.)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_REL4_requested_answer),
        cmocka_unit_test(test_REL4_admin_action_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
