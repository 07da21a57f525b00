/*
 * Unit tests for shared/src/json.c, the strict RFC 8259 pre-check (VAL1:
 * malformed JSON gets 400; VAL3: no NUL or raw control characters).
 * Cases follow RFC 8259 §2 (grammar), §6 (numbers) and §7 (strings).
 */
#include "../../shared/src/json.c"

#include "unit.h"

static bastion_json_rc check(const char *s)
{
    return bastion_json_check(bastion_cstr(s), 32);
}

static void test_VAL1_json_accepts_rfc8259_values(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}", "[]", " {\"a\" : [1, -0, 0.5, -1.25e+10, 3E-2, true, false, null]} ",
        "\"str\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"", "0", "-12", "[[[]]]", "{\"a\":{\"b\":{}}}",
        "\t\n\r [1]\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (check(ok[i]) != BASTION_JSON_OK)
            fail_msg("rejected valid JSON: %s", ok[i]);
}

static void test_VAL1_json_rejects_non_rfc8259_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {"01", "-01", "1.", "1.e5", ".5", "-", "+1", "1e", "1e+",
                                      "0x10", "NaN", "Infinity", "[1,]", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i]) != BASTION_JSON_SYNTAX)
            fail_msg("accepted invalid number or value: %s", bad[i]);
}

static void test_VAL1_json_rejects_bad_structure(void **state)
{
    (void)state;
    static const char *const bad[] = {"", " ", "{", "}", "[1", "{\"a\"}", "{\"a\":}", "{a:1}",
                                      "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "tru", "nul", "falsey",
                                      "{} {}", "\"open", "\"bad \\x escape\"", "\"\\u12\"",
                                      "'single'"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i]) != BASTION_JSON_SYNTAX)
            fail_msg("accepted malformed JSON: %s", bad[i]);
}

static void test_VAL3_json_rejects_raw_control_characters(void **state)
{
    (void)state;
    assert_int_equal(check("{\"x\":\"Ann\n\"}"), BASTION_JSON_SYNTAX);
    assert_int_equal(check("{\"x\":\"a\tb\"}"), BASTION_JSON_SYNTAX);
    assert_int_equal(check("{\"x\":\"a\x1f\"}"), BASTION_JSON_SYNTAX);
    assert_int_equal(check("{\"x\":\"a\\nb\"}"), BASTION_JSON_OK); /* escaped is fine */
}

static void test_VAL3_json_rejects_nul(void **state)
{
    (void)state;
    assert_int_equal(check("{\"x\":\"ab\\u0000cd\"}"), BASTION_JSON_NUL);
    static const char raw[] = "{\"x\":\"ab\0cd\"}";
    /* a raw NUL is an unescaped control character: not JSON at all */
    assert_int_equal(bastion_json_check((bastion_str){raw, sizeof raw - 1}, 32), BASTION_JSON_SYNTAX);
    static const char outside[] = "{\"x\":1}\0";
    assert_int_equal(bastion_json_check((bastion_str){outside, sizeof outside - 1}, 32),
                     BASTION_JSON_SYNTAX);
    assert_int_equal(check("\"\\u0001\""), BASTION_JSON_OK);
}

static void test_VAL1_json_lone_surrogates_are_malformed(void **state)
{
    (void)state;
    assert_int_equal(check("\"\\ud83d\\ude00\""), BASTION_JSON_OK); /* a valid pair */
    assert_int_equal(check("\"\\udddd\""), BASTION_JSON_SYNTAX);      /* lone low */
    assert_int_equal(check("\"\\ud83d\""), BASTION_JSON_SYNTAX);      /* lone high */
    assert_int_equal(check("\"\\ud83d\\u0041\""), BASTION_JSON_SYNTAX);
}

static void test_VAL1_json_depth_limit(void **state)
{
    (void)state;
    char deep[200];
    for (int i = 0; i < 33; i++) {
        deep[i] = '[';
        deep[66 - i - 1] = ']';
    }
    deep[66] = 0;
    assert_int_equal(check(deep), BASTION_JSON_TOO_DEEP);
    assert_int_equal(bastion_json_check(bastion_cstr(deep + 1), 32), BASTION_JSON_SYNTAX);
    deep[65] = 0; /* 32 levels, balanced */
    assert_int_equal(bastion_json_check((bastion_str){deep + 1, 64}, 32), BASTION_JSON_OK);
    /* strings may contain brackets without nesting */
    assert_int_equal(check("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]"), BASTION_JSON_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_VAL1_json_accepts_rfc8259_values),
        cmocka_unit_test(test_VAL1_json_rejects_non_rfc8259_numbers),
        cmocka_unit_test(test_VAL1_json_rejects_bad_structure),
        cmocka_unit_test(test_VAL3_json_rejects_raw_control_characters),
        cmocka_unit_test(test_VAL3_json_rejects_nul),
        cmocka_unit_test(test_VAL1_json_lone_surrogates_are_malformed),
        cmocka_unit_test(test_VAL1_json_depth_limit),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
