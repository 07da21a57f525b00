/*
 * Unit tests for shared/src/config.c: typed variables and the module-level
 * misconfiguration check (REL8). Variables come from the fake host's
 * config_names / config_values script.
 */
#include "../../shared/src/config.c"

#include "fake_host.h"
#include "unit.h"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

/* Sets one variable in the fake host's script (value NULL: unset). */
static void set_var(const char *name, const char *value)
{
    for (size_t i = 0; i < 8; i++) {
        if (!fake.config_names[i] || strcmp(fake.config_names[i], name) == 0) {
            fake.config_names[i] = value ? name : NULL;
            fake.config_values[i] = value;
            return;
        }
    }
    fail_msg("too many variables");
}

static void test_REL8_int_well_formed(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"42", 42},
        {"0", 0},
        {"-7", -7},
        {"007", 7},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_var("n", cases[i].text);
        int64_t v = 0;
        assert_int_equal(bastion_config_int("n", 5, INT64_MIN, INT64_MAX, &v), BASTION_CONFIG_OK);
        assert_true(v == cases[i].want);
    }
}

/* Malformed is an error, never a silent default. */
static void test_REL8_int_malformed_is_not_defaulted(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc",
        " 42",
        "42 ",
        "+42",
        "4.2",
        "0x10",
        "1e3",
        "-",
        "--1",
        "4 2",
        "42\n",
        "\xD9\xA4\xD9\xA2", /* Arabic-Indic digits */
        "99999999999999999999x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_var("n", bad[i]);
        int64_t v = 0;
        bastion_config_rc rc = bastion_config_int("n", 5, 0, 100, &v);
        if (rc != BASTION_CONFIG_MALFORMED)
            unit_fail("\"%s\": rc %d, want MALFORMED", bad[i], (int)rc);
        assert_int_equal(v, 5);
    }
}

static void test_REL8_int_range(void **state)
{
    (void)state;
    static const char *const outside[] = {
        "0", "101", "-1", "9223372036854775808", "-9223372036854775809", "100000000000000000000000",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        set_var("n", outside[i]);
        int64_t v = 0;
        bastion_config_rc rc = bastion_config_int("n", 5, 1, 100, &v);
        if (rc != BASTION_CONFIG_OUT_OF_RANGE)
            unit_fail("\"%s\": rc %d, want OUT_OF_RANGE", outside[i], (int)rc);
        assert_int_equal(v, 5);
    }
    set_var("n", "1");
    int64_t v;
    assert_int_equal(bastion_config_int("n", 5, 1, 100, &v), BASTION_CONFIG_OK);
    assert_int_equal(v, 1);
    set_var("n", "100");
    assert_int_equal(bastion_config_int("n", 5, 1, 100, &v), BASTION_CONFIG_OK);
    assert_int_equal(v, 100);
}

static void test_REL8_unset_and_empty_give_default(void **state)
{
    (void)state;
    int64_t v = 0;
    bool b = false;
    bastion_str s;
    assert_int_equal(bastion_config_int("n", 5, 0, 10, &v), BASTION_CONFIG_UNSET);
    assert_int_equal(v, 5);
    assert_int_equal(bastion_config_bool("b", true, &b), BASTION_CONFIG_UNSET);
    assert_true(b);
    assert_int_equal(bastion_config_str("s", BASTION_LIT("dflt"), &s), BASTION_CONFIG_UNSET);
    assert_true(unit_str_is(s, "dflt"));
    assert_int_equal(bastion_config_str("s", BASTION_STR_NULL, &s), BASTION_CONFIG_UNSET);
    assert_null(s.ptr);
    set_var("n", "");
    set_var("b", "");
    set_var("s", "");
    assert_int_equal(bastion_config_int("n", 5, 0, 10, &v), BASTION_CONFIG_UNSET);
    assert_int_equal(bastion_config_bool("b", true, &b), BASTION_CONFIG_UNSET);
    assert_int_equal(bastion_config_str("s", BASTION_LIT("dflt"), &s), BASTION_CONFIG_UNSET);
    set_var("s", "https://shop.example");
    assert_int_equal(bastion_config_str("s", BASTION_LIT("dflt"), &s), BASTION_CONFIG_OK);
    assert_true(unit_str_is(s, "https://shop.example"));
}

static void test_REL8_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "TRUE", "True", "1", "yes", "on", "ON"};
    static const char *const no[] = {"false", "False", "0", "no", "off", "OFF"};
    static const char *const bad[] = {"2", "y", "n", "t", "enabled", " true", "true ", "-1"};
    bool b;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        set_var("b", yes[i]);
        assert_int_equal(bastion_config_bool("b", false, &b), BASTION_CONFIG_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        set_var("b", no[i]);
        assert_int_equal(bastion_config_bool("b", true, &b), BASTION_CONFIG_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_var("b", bad[i]);
        if (bastion_config_bool("b", true, &b) != BASTION_CONFIG_MALFORMED)
            unit_fail("\"%s\" should be MALFORMED", bad[i]);
        assert_true(b);
    }
}

/* The body and the log name the variables; the values never appear. */
static void assert_no_value(const bastion_ctx *cx, const char *value)
{
    assert_false(unit_contains(cx->resp_body, value));
    for (size_t i = 0; i < fake.n_logs; i++) {
        assert_null(strstr(fake.logs[i].msg, value));
        assert_null(strstr(fake.logs[i].fields, value));
    }
}

static void test_REL8_require_names_every_missing_variable(void **state)
{
    (void)state;
    static const char *const needed[] = {"jwt_secret", "base_url", "smtp_host", "api_key"};
    set_var("jwt_secret", "s3cr3t-value");
    set_var("smtp_host", ""); /* set but empty counts as missing */
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_config_require_or_problem(&cx, needed, 4), BASTION_E_MISCONFIGURED);
    cJSON *j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        "Missing configuration: base_url, smtp_host, api_key");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "class")->valuestring, "internal");
    cJSON_Delete(j);
    assert_int_equal(fake.n_logs, 1);
    assert_int_equal(fake.logs[0].level, BASTION_LOG_ERROR);
    assert_string_equal(fake.logs[0].fields, "missing=base_url, smtp_host, api_key;");
    assert_no_value(&cx, "s3cr3t-value");
}

static void test_REL8_require_passes_when_all_set(void **state)
{
    (void)state;
    static const char *const needed[] = {"a", "b"};
    set_var("a", "1");
    set_var("b", "x");
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_config_require_or_problem(&cx, needed, 2), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(fake.n_logs, 0);
    assert_int_equal(bastion_config_require_or_problem(&cx, NULL, 0), BASTION_OK);
}

static void test_REL8_int_or_problem(void **state)
{
    (void)state;
    bastion_ctx cx;
    int64_t v = 0;
    /* unset: the default, no problem */
    unit_ctx(&cx);
    assert_int_equal(
        bastion_config_int_or_problem(&cx, "waitlist_joins_per_minute", 10, 1, 1000000, &v),
        BASTION_OK);
    assert_int_equal(v, 10);
    assert_false(cx.responded);
    /* malformed: 500 naming the variable, not its value */
    set_var("waitlist_joins_per_minute", "ten-thousand");
    unit_ctx(&cx);
    assert_int_equal(
        bastion_config_int_or_problem(&cx, "waitlist_joins_per_minute", 10, 1, 1000000, &v),
        BASTION_E_MISCONFIGURED);
    cJSON *j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        "Variable waitlist_joins_per_minute must be an integer in 1..1000000.");
    cJSON_Delete(j);
    assert_no_value(&cx, "ten-thousand");
    assert_int_equal(fake.n_logs, 1);
    assert_non_null(strstr(fake.logs[0].fields, "variable=waitlist_joins_per_minute;"));
    assert_non_null(strstr(fake.logs[0].fields, "error=malformed;"));
    /* out of range: the same answer */
    set_var("waitlist_joins_per_minute", "0");
    unit_ctx(&cx);
    assert_int_equal(
        bastion_config_int_or_problem(&cx, "waitlist_joins_per_minute", 10, 1, 1000000, &v),
        BASTION_E_MISCONFIGURED);
    cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
    assert_non_null(strstr(fake.logs[1].fields, "error=out of range;"));
    /* well-formed */
    set_var("waitlist_joins_per_minute", "25");
    unit_ctx(&cx);
    assert_int_equal(
        bastion_config_int_or_problem(&cx, "waitlist_joins_per_minute", 10, 1, 1000000, &v),
        BASTION_OK);
    assert_int_equal(v, 25);
}

static void test_REL8_bool_or_problem(void **state)
{
    (void)state;
    bastion_ctx cx;
    bool b = false;
    set_var("dev_mode", "maybe");
    unit_ctx(&cx);
    assert_int_equal(bastion_config_bool_or_problem(&cx, "dev_mode", false, &b),
                     BASTION_E_MISCONFIGURED);
    cJSON *j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        "Variable dev_mode must be true or false.");
    cJSON_Delete(j);
    assert_no_value(&cx, "maybe");
    set_var("dev_mode", "on");
    unit_ctx(&cx);
    assert_int_equal(bastion_config_bool_or_problem(&cx, "dev_mode", false, &b), BASTION_OK);
    assert_true(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_REL8_int_well_formed, setup),
        cmocka_unit_test_setup(test_REL8_int_malformed_is_not_defaulted, setup),
        cmocka_unit_test_setup(test_REL8_int_range, setup),
        cmocka_unit_test_setup(test_REL8_unset_and_empty_give_default, setup),
        cmocka_unit_test_setup(test_REL8_bool, setup),
        cmocka_unit_test_setup(test_REL8_require_names_every_missing_variable, setup),
        cmocka_unit_test_setup(test_REL8_require_passes_when_all_set, setup),
        cmocka_unit_test_setup(test_REL8_int_or_problem, setup),
        cmocka_unit_test_setup(test_REL8_bool_or_problem, setup),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
