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
        "{}",
        "[]",
        " {\"a\" : [1, -0, 0.5, -1.25e+10, 3E-2, true, false, null]} ",
        "\"str\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"",
        "0",
        "-12",
        "[[[]]]",
        "{\"a\":{\"b\":{}}}",
        "\t\n\r [1]\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (check(ok[i]) != BASTION_JSON_OK)
            fail_msg("rejected valid JSON: %s", ok[i]);
}

static void test_VAL1_json_rejects_non_rfc8259_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {"01", "-01", "1.",   "1.e5", ".5",       "-",    "+1",
                                      "1e", "1e+", "0x10", "NaN",  "Infinity", "[1,]", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i]) != BASTION_JSON_SYNTAX)
            fail_msg("accepted invalid number or value: %s", bad[i]);
}

static void test_VAL1_json_rejects_bad_structure(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      " ",
                                      "{",
                                      "}",
                                      "[1",
                                      "{\"a\"}",
                                      "{\"a\":}",
                                      "{a:1}",
                                      "{\"a\":1,}",
                                      "{\"a\" 1}",
                                      "[1 2]",
                                      "tru",
                                      "nul",
                                      "falsey",
                                      "{} {}",
                                      "\"open",
                                      "\"bad \\x escape\"",
                                      "\"\\u12\"",
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
    assert_int_equal(bastion_json_check((bastion_str){raw, sizeof raw - 1}, 32),
                     BASTION_JSON_SYNTAX);
    static const char outside[] = "{\"x\":1}\0";
    assert_int_equal(bastion_json_check((bastion_str){outside, sizeof outside - 1}, 32),
                     BASTION_JSON_SYNTAX);
    assert_int_equal(check("\"\\u0001\""), BASTION_JSON_OK);
}

/*
 * VAL3 + ERR1: a \u0000 is blamed on the member that holds it, with the
 * RFC 6901 pointer other 422s use (§3 escaping; §5's "" and "/" cases), not
 * on the whole document: cJSON's C strings would have lost which one it was.
 */
static void test_VAL3_json_nul_pointer_names_the_member(void **state)
{
    (void)state;
    static const struct {
        const char *json, *pointer;
        bool in_name;
    } cases[] = {
        {"{\"x\":\"ab\\u0000cd\"}", "/x", false},
        {"{\"email\":\"a\\u0000b@x.io\",\"product_id\":\"p\"}", "/email", false},
        {"{\"a\":{\"b\":[1,\"\\u0000\"]}}", "/a/b/1", false},
        {"[0,[1,2,\"\\u0000\"]]", "/1/2", false},
        {"{\"a\":[1,[2,3]],\"b\":{\"c\":1},\"d\":\"\\u0000\"}", "/d", false}, /* levels pop */
        {"{\"b\":[{\"c\":\"ok\"},{\"d\":\"x\\u0000\"}]}", "/b/1/d", false},
        {"\"\\u0000\"", "", false},                               /* the whole document */
        {"{\"\":\"\\u0000\"}", "/", false},                       /* RFC 6901 §5 */
        {"{\"a/b\":{\"m~n\":\"\\u0000\"}}", "/a~1b/m~0n", false}, /* RFC 6901 §3 */
        {"{\"\\u0065\\u00e9\\ud83d\\ude00\":\"\\u0000\"}", "/e\xC3\xA9\xF0\x9F\x98\x80", false},
        {"{\"\\\"\\\\\\/\\n\":\"\\u0000\"}", "/\"\\~1\n", false}, /* escapes decoded */
        {"{\"a\":\"\\u0000\",\"b\":\"\\u0000\"}", "/a", false},   /* the first one */
        {"{\"x\\u0000y\":1}", "", true},                          /* a member name: its object */
        {"{\"a\":[{\"x\\u0000\":1}]}", "/a/0", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bastion_json_nul nul;
        memset(&nul, 'z', sizeof nul);
        bastion_json_rc rc = bastion_json_check_at(bastion_cstr(cases[i].json), 32, &nul);
        if (rc != BASTION_JSON_NUL)
            unit_fail("%s: rc %d, not BASTION_JSON_NUL", cases[i].json, (int)rc);
        if (strcmp(nul.pointer, cases[i].pointer) != 0 || nul.in_name != cases[i].in_name)
            unit_fail("%s: pointer \"%s\" (in_name %d), want \"%s\" (%d)", cases[i].json,
                      nul.pointer, nul.in_name, cases[i].pointer, cases[i].in_name);
    }
    /* bastion_json_check needs no place to write it */
    assert_int_equal(bastion_json_check_at(bastion_cstr("[\"\\u0000\"]"), 32, NULL),
                     BASTION_JSON_NUL);
}

/* A \u0000 is only "valid JSON, but": malformed or too deep text is still
 * SYNTAX or TOO_DEEP when a NUL comes first. */
static void test_VAL1_json_nul_does_not_hide_a_later_error(void **state)
{
    (void)state;
    static const char *const bad[] = {"{\"x\":\"\\u0000\",", "[\"\\u0000\"",
                                      "[\"\\u0000\",01]",    "{\"x\\u0000\":}",
                                      "\"\\u0000\" 1",       "[\"\\u0000\",\"\\ud800\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i]) != BASTION_JSON_SYNTAX)
            fail_msg("not SYNTAX: %s", bad[i]);
    char deep[80] = "[\"\\u0000\",";
    size_t n = strlen(deep);
    for (int i = 0; i < 33; i++)
        deep[n++] = '[';
    for (int i = 0; i < 34; i++)
        deep[n++] = ']';
    deep[n] = 0;
    assert_int_equal(check(deep), BASTION_JSON_TOO_DEEP);
}

/* A pointer longer than BASTION_JSON_POINTER_MAX - 1 bytes is cut back to
 * the deepest whole ancestor: still a true pointer, never half a name. */
static void test_VAL3_json_nul_pointer_is_cut_at_a_token(void **state)
{
    (void)state;
    char json[300], name[200];
    for (size_t len = 150; len <= 160; len++) {
        memset(name, 'n', len);
        name[len] = 0;
        snprintf(json, sizeof json, "{\"ab\":{\"%s\":[\"\\u0000\"]}}", name);
        bastion_json_nul nul;
        assert_int_equal(bastion_json_check_at(bastion_cstr(json), 32, &nul), BASTION_JSON_NUL);
        char want[256];
        size_t full = 3 + 1 + len + 2; /* "/ab" "/" name "/0" */
        if (full < BASTION_JSON_POINTER_MAX)
            snprintf(want, sizeof want, "/ab/%s/0", name);
        else if (full - 2 < BASTION_JSON_POINTER_MAX)
            snprintf(want, sizeof want, "/ab/%s", name);
        else
            snprintf(want, sizeof want, "/ab");
        if (strcmp(nul.pointer, want) != 0)
            unit_fail("name of %zu bytes: pointer \"%s\", want \"%s\"", len, nul.pointer, want);
    }
    /* escaping counts against the room: 80 '/' become 160 bytes */
    memset(name, '/', 80);
    name[80] = 0;
    snprintf(json, sizeof json, "{\"%s\":\"\\u0000\"}", name);
    bastion_json_nul nul;
    assert_int_equal(bastion_json_check_at(bastion_cstr(json), 32, &nul), BASTION_JSON_NUL);
    assert_string_equal(nul.pointer, "");
}

static void test_VAL1_json_lone_surrogates_are_malformed(void **state)
{
    (void)state;
    assert_int_equal(check("\"\\ud83d\\ude00\""), BASTION_JSON_OK); /* a valid pair */
    assert_int_equal(check("\"\\udddd\""), BASTION_JSON_SYNTAX);    /* lone low */
    assert_int_equal(check("\"\\ud83d\""), BASTION_JSON_SYNTAX);    /* lone high */
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
        cmocka_unit_test(test_VAL3_json_nul_pointer_names_the_member),
        cmocka_unit_test(test_VAL1_json_nul_does_not_hide_a_later_error),
        cmocka_unit_test(test_VAL3_json_nul_pointer_is_cut_at_a_token),
        cmocka_unit_test(test_VAL1_json_lone_surrogates_are_malformed),
        cmocka_unit_test(test_VAL1_json_depth_limit),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
