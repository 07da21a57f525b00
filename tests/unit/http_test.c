/*
 * Unit tests for shared/src/http.c: response builders.
 */
#include "../../shared/src/http.c"

#include "../../shared/src/core_internal.h"
#include "unit.h"

static void test_http_set_header_copies(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    char name[] = "x-thing", value[] = "v1";
    bastion_set_header(&cx, bastion_cstr(name), bastion_cstr(value));
    name[0] = 'z';
    value[1] = '9';
    assert_int_equal(cx.n_resp_headers, 1);
    assert_true(unit_str_is(cx.resp_headers[0].name, "x-thing"));
    assert_true(unit_str_is(cx.resp_headers[0].value, "v1"));
    assert_false(cx.responded); /* a header alone is not a response */
}

static void test_http_set_header_grows_in_order(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    char n[16], v[16];
    for (int i = 0; i < 40; i++) {
        snprintf(n, sizeof n, "h%d", i);
        snprintf(v, sizeof v, "v%d", i);
        bastion_set_header(&cx, bastion_cstr(n), bastion_cstr(v));
    }
    assert_int_equal(cx.n_resp_headers, 40);
    assert_true(cx.cap_resp_headers >= 40);
    for (int i = 0; i < 40; i++) {
        snprintf(n, sizeof n, "h%d", i);
        snprintf(v, sizeof v, "v%d", i);
        assert_true(unit_str_is(cx.resp_headers[i].name, n));
        assert_true(unit_str_is(cx.resp_headers[i].value, v));
    }
}

static void test_http_set_header_binary_safe(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_set_header(&cx, BASTION_LIT("x-empty"), BASTION_STR_NULL);
    assert_non_null(cx.resp_headers[0].value.ptr);
    assert_int_equal(cx.resp_headers[0].value.len, 0);
}

static void test_http_respond(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    char body[] = "hello\0world";
    bastion_respond(&cx, 201, BASTION_LIT("text/plain"), (bastion_str){body, 11});
    body[0] = 'J'; /* the body is copied */
    assert_true(cx.responded);
    assert_int_equal(cx.status, 201);
    assert_int_equal(cx.resp_body.len, 11);
    assert_memory_equal(cx.resp_body.ptr, "hello\0world", 11);
    assert_true(unit_str_is(unit_resp_header(&cx, "content-type"), "text/plain"));
}

static void test_http_respond_keeps_earlier_headers(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_set_header(&cx, BASTION_LIT("ratelimit"), BASTION_LIT("\"ip\";r=1;t=5"));
    bastion_respond(&cx, 200, BASTION_LIT("text/plain"), BASTION_LIT("ok"));
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit"), "\"ip\";r=1;t=5"));
    assert_int_equal(unit_resp_header_count(&cx, "content-type"), 1);
}

static void test_http_respond_json(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", 3);
    cJSON_AddStringToObject(o, "name", "caf\xC3\xA9 \"x\"");
    bastion_respond_json(&cx, 200, o);
    assert_int_equal(cx.status, 200);
    assert_true(unit_str_is(unit_resp_header(&cx, "content-type"), "application/json"));
    cJSON *back = unit_body_json(&cx);
    assert_true(cJSON_Compare(o, back, true));
}

/* http.h: bastion_respond_json borrows `body` — not consumed, not freed —
 * and the response holds its own text, in the arena (core.h). */
static void test_http_respond_json_borrows(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", 3);
    bastion_respond_json(&cx, 200, o);
    /* still the caller's to read, change and attach elsewhere */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "count")->valueint, 3);
    cJSON_AddStringToObject(o, "more", "later");
    cJSON *outer = cJSON_CreateObject();
    cJSON_AddItemToObject(outer, "inner", o);
    /* ... which leaves the response as it was sent */
    assert_true(unit_str_is(cx.resp_body, "{\"count\":3}"));
    assert_true(bastion__arena_contains(cx.resp_body.ptr));
}

static void test_DATA2_json_time_is_utc_rfc3339_or_null(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    cJSON *o = cJSON_CreateObject();
    bastion_json_add_time(o, "at", INT64_C(1715342400123));
    bastion_json_add_time(o, "never", BASTION_TIME_MIN_MS - 1); /* before year 0000 */
    char *text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"at\":\"2024-05-10T12:00:00.123Z\",\"never\":null}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_set_header_copies),
        cmocka_unit_test(test_http_set_header_grows_in_order),
        cmocka_unit_test(test_http_set_header_binary_safe),
        cmocka_unit_test(test_http_respond),
        cmocka_unit_test(test_http_respond_keeps_earlier_headers),
        cmocka_unit_test(test_http_respond_json),
        cmocka_unit_test(test_http_respond_json_borrows),
        cmocka_unit_test(test_DATA2_json_time_is_utc_rfc3339_or_null),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
