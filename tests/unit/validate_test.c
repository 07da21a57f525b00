/*
 * Unit tests for shared/src/validate.c: declarative body validation (VAL1,
 * VAL3) and the JSON front door, bastion_parse_json_or_problem.
 *
 * UTF-8 vectors: RFC 3629 §4 (syntax) and §10 (overlong and surrogate
 * attacks), and Markus Kuhn's "UTF-8 decoder capability and stress test"
 * (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt), sections
 * 2.3, 3.3, 4.1 and 5.1. JSON Pointer vectors: RFC 6901 §3 and §5. Email
 * lengths: RFC 5321 §4.5.3.1.
 */
#include "../../shared/src/validate.c"

#include "unit.h"

static const bastion_field FIELDS[] = {
    {"name", BASTION_FIELD_STRING, BASTION_REQUIRED, 1, 10},
    {"email", BASTION_FIELD_EMAIL, BASTION_REQUIRED, 0, 0},
    {"slug", BASTION_FIELD_SLUG, 0, 1, 20},
    {"score", BASTION_FIELD_INTEGER, 0, 0, 100},
    {"subscribe", BASTION_FIELD_BOOL, 0, 0, 0},
};
enum { F_NAME, F_EMAIL, F_SLUG, F_SCORE, F_SUBSCRIBE, N_FIELDS };

/* Runs bastion_validate on `json` against `fields`; returns the errors array
 * (the caller deletes it) after checking that the count returned matches. */
static cJSON *validate_with(const char *json, const bastion_field *fields, size_t n,
                            bastion_field_value *out)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    cJSON *errors = cJSON_CreateArray();
    size_t added = bastion_validate(obj, fields, n, out, errors);
    assert_int_equal(added, (size_t)cJSON_GetArraySize(errors));
    cJSON_Delete(obj);
    return errors;
}

static cJSON *validate(const char *json, bastion_field_value *out)
{
    return validate_with(json, FIELDS, N_FIELDS, out);
}

/* The detail for `pointer` after validating one field's JSON value
 * (NULL when the value passed). `value_json` is spliced into a body that is
 * otherwise valid. */
static const char *field_error(const char *field, const char *value_json, bastion_field_value *out)
{
    static char detail[128];
    char json[4096];
    if (strcmp(field, "name") == 0)
        snprintf(json, sizeof json, "{\"name\":%s,\"email\":\"a@example.com\"}", value_json);
    else if (strcmp(field, "email") == 0)
        snprintf(json, sizeof json, "{\"name\":\"Ann\",\"email\":%s}", value_json);
    else
        snprintf(json, sizeof json, "{\"name\":\"Ann\",\"email\":\"a@example.com\",\"%s\":%s}",
                 field, value_json);
    cJSON *errors = validate(json, out);
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/%s", field);
    const char *d = unit_error_for(errors, ptr);
    /* nothing but this field may fail */
    assert_int_equal(cJSON_GetArraySize(errors), d ? 1 : 0);
    if (d)
        snprintf(detail, sizeof detail, "%s", d);
    cJSON_Delete(errors);
    return d ? detail : NULL;
}

/* --- VAL1: bastion_validate --- */

static void test_VAL1_valid_body_accepted(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    cJSON *errors = validate("{\"name\":\"Ann\",\"email\":\"ann@example.com\",\"slug\":\"a-b_c\","
                             "\"score\":42,\"subscribe\":true}",
                             out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    cJSON_Delete(errors);
    for (int i = 0; i < N_FIELDS; i++)
        assert_true(out[i].present);
    assert_true(unit_str_is(out[F_NAME].str, "Ann"));
    assert_true(unit_str_is(out[F_EMAIL].str, "ann@example.com"));
    assert_true(unit_str_is(out[F_SLUG].str, "a-b_c"));
    assert_int_equal(out[F_SCORE].integer, 42);
    assert_true(out[F_SUBSCRIBE].boolean);
    /* values are NUL-terminated arena copies */
    assert_int_equal(out[F_NAME].str.ptr[out[F_NAME].str.len], 0);
}

static void test_VAL1_optional_fields_may_be_absent(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    memset(out, 0x5A, sizeof out); /* everything is reset, not left over */
    cJSON *errors = validate("{\"name\":\"Ann\",\"email\":\"ann@example.com\",\"slug\":null}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    cJSON_Delete(errors);
    assert_true(out[F_NAME].present && out[F_EMAIL].present);
    assert_false(out[F_SLUG].present); /* null is absent */
    assert_false(out[F_SCORE].present);
    assert_false(out[F_SUBSCRIBE].present);
    assert_null(out[F_SCORE].str.ptr);
}

static void test_VAL1_missing_required_field(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    cJSON *errors = validate("{\"email\":\"ann@example.com\"}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_string_equal(unit_error_for(errors, "/name"), "is required");
    assert_false(out[F_NAME].present);
    cJSON_Delete(errors);
    /* null does not satisfy a required field */
    errors = validate("{\"name\":null,\"email\":\"ann@example.com\"}", out);
    assert_string_equal(unit_error_for(errors, "/name"), "is required");
    cJSON_Delete(errors);
    /* both missing: both reported */
    errors = validate("{}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 2);
    assert_non_null(unit_error_for(errors, "/name"));
    assert_non_null(unit_error_for(errors, "/email"));
    cJSON_Delete(errors);
}

static void test_VAL1_unknown_field_rejected(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    cJSON *errors = validate(
        "{\"name\":\"Ann\",\"email\":\"ann@example.com\",\"admin\":true,\"price\":0}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 2);
    assert_string_equal(unit_error_for(errors, "/admin"), "is not a known field");
    assert_non_null(unit_error_for(errors, "/price"));
    cJSON_Delete(errors);
    /* names are case-sensitive: "Name" is not "name" */
    errors = validate("{\"Name\":\"Ann\",\"name\":\"Ann\",\"email\":\"ann@example.com\"}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_non_null(unit_error_for(errors, "/Name"));
    cJSON_Delete(errors);
}

static void test_VAL1_wrong_type_rejected(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_string_equal(field_error("name", "5", out), "must be a string");
    assert_string_equal(field_error("name", "[\"Ann\"]", out), "must be a string");
    assert_string_equal(field_error("name", "{}", out), "must be a string");
    assert_string_equal(field_error("email", "true", out), "must be a string");
    assert_string_equal(field_error("slug", "12", out), "must be a string");
    assert_string_equal(field_error("score", "\"5\"", out), "must be an integer");
    assert_string_equal(field_error("score", "true", out), "must be an integer");
    assert_string_equal(field_error("subscribe", "\"true\"", out), "must be true or false");
    assert_string_equal(field_error("subscribe", "1", out), "must be true or false");
    assert_false(out[F_SUBSCRIBE].present);
}

static void test_VAL1_duplicate_member_rejected(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    cJSON *errors =
        validate("{\"name\":\"Ann\",\"email\":\"ann@example.com\",\"name\":\"Eve\"}", out);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_string_equal(unit_error_for(errors, "/name"), "appears more than once");
    assert_false(out[F_NAME].present); /* neither value is picked */
    cJSON_Delete(errors);
    /* even when both copies are identical */
    errors = validate("{\"score\":1,\"name\":\"Ann\",\"email\":\"ann@example.com\",\"score\":1}", out);
    assert_string_equal(unit_error_for(errors, "/score"), "appears more than once");
    cJSON_Delete(errors);
}

static void test_VAL1_integer_range(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_null(field_error("score", "0", out));
    assert_int_equal(out[F_SCORE].integer, 0);
    assert_null(field_error("score", "100", out));
    assert_int_equal(out[F_SCORE].integer, 100);
    assert_null(field_error("score", "1e2", out)); /* an integral JSON number */
    assert_int_equal(out[F_SCORE].integer, 100);
    assert_null(field_error("score", "-0", out));
    assert_int_equal(out[F_SCORE].integer, 0);
    assert_string_equal(field_error("score", "-1", out), "is out of range");
    assert_string_equal(field_error("score", "101", out), "is out of range");
    assert_string_equal(field_error("score", "50.5", out), "must be an integer");
    assert_string_equal(field_error("score", "0.000001", out), "must be an integer");
    assert_string_equal(field_error("score", "1e300", out), "must be an integer");
    assert_string_equal(field_error("score", "-1e300", out), "must be an integer");
    assert_false(out[F_SCORE].present);
}

/* Amounts in cents: beyond 2^53 - 1 a double no longer holds every integer. */
static void test_VAL1_integer_precision_limit(void **state)
{
    (void)state;
    static const bastion_field f[] = {
        {"cents", BASTION_FIELD_INTEGER, BASTION_REQUIRED, 1, INT64_MAX},
    };
    bastion_field_value out[1];
    cJSON *errors = validate_with("{\"cents\":9007199254740991}", f, 1, out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_int_equal(out[0].integer, INT64_C(9007199254740991));
    cJSON_Delete(errors);
    errors = validate_with("{\"cents\":9007199254740993}", f, 1, out);
    assert_string_equal(unit_error_for(errors, "/cents"), "must be an integer");
    cJSON_Delete(errors);
    errors = validate_with("{\"cents\":0}", f, 1, out); /* positive amounts only */
    assert_string_equal(unit_error_for(errors, "/cents"), "is out of range");
    cJSON_Delete(errors);
}

static void test_VAL1_bool(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_null(field_error("subscribe", "true", out));
    assert_true(out[F_SUBSCRIBE].present && out[F_SUBSCRIBE].boolean);
    assert_null(field_error("subscribe", "false", out));
    assert_true(out[F_SUBSCRIBE].present);
    assert_false(out[F_SUBSCRIBE].boolean);
    assert_string_equal(field_error("subscribe", "0", out), "must be true or false");
    assert_string_equal(field_error("subscribe", "[]", out), "must be true or false");
}

static void test_VAL1_slug(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_null(field_error("slug", "\"abc-DEF_123\"", out));
    assert_true(unit_str_is(out[F_SLUG].str, "abc-DEF_123"));
    assert_null(field_error("slug", "\"  spaced-slug  \"", out)); /* trimmed first */
    assert_true(unit_str_is(out[F_SLUG].str, "spaced-slug"));
    const char *only = "may contain only letters, digits, '_' and '-'";
    assert_string_equal(field_error("slug", "\"a b\"", out), only);
    assert_string_equal(field_error("slug", "\"a/b\"", out), only);
    assert_string_equal(field_error("slug", "\"a.b\"", out), only);
    assert_string_equal(field_error("slug", "\"../etc\"", out), only);
    assert_string_equal(field_error("slug", "\"caf\xC3\xA9\"", out), only);
    assert_string_equal(field_error("slug", "\"\"", out), "must not be empty");
    assert_null(field_error("slug", "\"aaaaaaaaaaaaaaaaaaaa\"", out)); /* 20 */
    assert_string_equal(field_error("slug", "\"aaaaaaaaaaaaaaaaaaaaa\"", out), "is too long");
}

/* --- VAL1 / VAL3: email --- */

static void test_VAL1_email_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"a@example.com", true},
        {"first.last+tag@sub.example.co", true},
        {"x_y-z!#$%&'*/=?^`{|}~@example.org", true},
        {"a@b.io", true},
        {"a@xn--bcher-kva.example", true},
        {"a@1example.com", true},             /* digits are fine in non-TLD labels */
        {"userexample.com", false},           /* no @ */
        {"@example.com", false},              /* empty local part */
        {"a@", false},                        /* empty domain */
        {"a@@example.com", false},
        {".a@example.com", false},            /* leading dot */
        {"a.@example.com", false},            /* trailing dot */
        {"a..b@example.com", false},          /* double dot */
        {"a@example", false},                 /* no TLD */
        {"a@example.", false},
        {"a@.example.com", false},
        {"a@example..com", false},
        {"a@example.123", false},             /* numeric TLD */
        {"a@example.c", false},               /* one-letter TLD */
        {"a@example.c0m", false},
        {"a@-example.com", false},            /* label starts with '-' */
        {"a@example-.com", false},            /* label ends with '-' */
        {"a b@example.com", false},
        {"\"a b\"@example.com", false},       /* no quoted strings */
        {"a@exa_mple.com", false},
        {"a@[192.0.2.1]", false},             /* no address literals */
        {"caf\xC3\xA9@example.com", false},   /* ASCII only */
        {"a@example.com.", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (bastion_email_valid(bastion_cstr(cases[i].in)) != cases[i].ok)
            unit_fail("bastion_email_valid(\"%s\") should be %s", cases[i].in,
                     cases[i].ok ? "true" : "false");
    }
}

/* RFC 5321 §4.5.3.1: local part ≤ 64 octets, a path ≤ 256 octets with its
 * angle brackets, so an address ≤ 254. Labels ≤ 63 (RFC 1035 §2.3.4). */
static void test_VAL1_email_length_limits(void **state)
{
    (void)state;
    char buf[400];
    /* 64 + 1 + (63 + 1 + 63 + 1 + 57 + 4) = 254 */
    snprintf(buf, sizeof buf, "%.64s@%.63s.%.63s.%.57s.com", /* each %.Ns from a long run */
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(strlen(buf), 254);
    assert_true(bastion_email_valid(bastion_cstr(buf)));
    /* 255: one more letter in the third label */
    snprintf(buf, sizeof buf, "%.64s@%.63s.%.63s.%.58s.com",
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(strlen(buf), 255);
    assert_false(bastion_email_valid(bastion_cstr(buf)));
    /* local part of 65 */
    snprintf(buf, sizeof buf, "%.65s@example.com",
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll");
    assert_false(bastion_email_valid(bastion_cstr(buf)));
    /* a label of 64 */
    snprintf(buf, sizeof buf, "a@%.64s.com",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_false(bastion_email_valid(bastion_cstr(buf)));
    /* and through the field: > 254 after trimming is rejected */
    bastion_field_value out[N_FIELDS];
    char json[400];
    snprintf(json, sizeof json, "\"%.64s@%.63s.%.63s.%.58s.com\"",
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_string_equal(field_error("email", json, out), "must be an email address");
}

static void test_VAL3_email_lowercased_and_trimmed(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_null(field_error("email", "\"  Alice.Smith@Example.COM \\t\\n\"", out));
    assert_true(unit_str_is(out[F_EMAIL].str, "alice.smith@example.com"));
    assert_string_equal(field_error("email", "\"Alice@Example\"", out), "must be an email address");
    assert_string_equal(field_error("email", "\"   \"", out), "must be an email address");
}

/* --- VAL3: text --- */

static void test_VAL3_text_trimmed(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    assert_null(field_error("name", "\" \\t Bob Smith \\r\\n \"", out));
    assert_true(unit_str_is(out[F_NAME].str, "Bob Smith"));
    /* the cap applies after trimming: 10 code points plus padding fits */
    assert_null(field_error("name", "\"   abcdefghij   \"", out));
    assert_true(unit_str_is(out[F_NAME].str, "abcdefghij"));
    assert_string_equal(field_error("name", "\"    \"", out), "must not be empty");
}

static void test_VAL3_control_characters_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"a\\u0001b\"", "\"a\\u0007b\"", "\"a\\u001fb\"", "\"a\\u007fb\"", /* C0, DEL */
        "\"a\\nb\"", "\"a\\tb\"", "\"a\\rb\"",                             /* inside, not trimmed */
        "\"a\\u0080b\"", "\"a\\u0085b\"", "\"a\\u009fb\"",                 /* C1 */
    };
    bastion_field_value out[N_FIELDS];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = field_error("name", bad[i], out);
        if (!why || strcmp(why, "must not contain control characters") != 0)
            unit_fail("name %s: got %s", bad[i], why ? why : "(accepted)");
    }
    /* the neighbours of the C1 block are text: U+00A0, U+00FF, U+0100 */
    assert_null(field_error("name", "\"a\\u00a0b\"", out));
    assert_null(field_error("name", "\"a\\u00ffb\"", out));
    assert_null(field_error("name", "\"a\\u0100b\"", out));
    assert_null(field_error("name", "\"~ !\"", out));
}

static void test_VAL3_length_in_code_points(void **state)
{
    (void)state;
    static const bastion_field f[] = {
        {"t", BASTION_FIELD_STRING, BASTION_REQUIRED, 2, 3},
    };
    bastion_field_value out[1];
    static const struct {
        const char *json;
        const char *why;
    } cases[] = {
        {"{\"t\":\"\xC3\xA9\"}", "is too short"},                          /* 1 cp, 2 bytes */
        {"{\"t\":\"\xC3\xA9\xC3\xA9\"}", NULL},                            /* 2 cp, 4 bytes */
        {"{\"t\":\"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\"}", NULL},        /* 日本語: 3 cp, 9 bytes */
        {"{\"t\":\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\"}", NULL}, /* 3 emoji, 12 bytes */
        {"{\"t\":\"\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\"}", NULL},  /* the same, escaped */
        {"{\"t\":\"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9Ex\"}", "is too long"}, /* 4 cp */
        {"{\"t\":\"abcd\"}", "is too long"},
        {"{\"t\":\"a\"}", "is too short"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *errors = validate_with(cases[i].json, f, 1, out);
        const char *why = unit_error_for(errors, "/t");
        if ((why == NULL) != (cases[i].why == NULL) || (why && strcmp(why, cases[i].why) != 0))
            unit_fail("case %zu: got %s, want %s", i, why ? why : "(accepted)",
                     cases[i].why ? cases[i].why : "(accepted)");
        cJSON_Delete(errors);
    }
}

/* RFC 3629 §4, §10 and Kuhn's stress test: the byte-level validator */
static void test_VAL3_utf8_validator(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        bool ok;
    } cases[] = {
#define V(s, ok) {s, sizeof(s) - 1, ok}
        V("", true),
        V("plain ASCII", true),
        V("\xC3\xA9", true),                 /* U+00E9 */
        V("\xE2\x82\xAC", true),             /* U+20AC */
        V("\xF0\x9F\x98\x80", true),         /* U+1F600 */
        V("\xED\x9F\xBF", true),             /* U+D7FF, Kuhn 2.3.1 */
        V("\xEE\x80\x80", true),             /* U+E000, Kuhn 2.3.2 */
        V("\xEF\xBF\xBD", true),             /* U+FFFD, Kuhn 2.3.4 */
        V("\xF4\x8F\xBF\xBF", true),         /* U+10FFFF, Kuhn 2.3.5 */
        V("\x00", true),                     /* NUL is valid UTF-8 (a control, not an encoding error) */
        V("\xC0\xAF", false),                /* overlong '/', RFC 3629 §10, Kuhn 4.1.1 */
        V("\xC1\xBF", false),                /* overlong, Kuhn 4.2.1 */
        V("\xE0\x80\xAF", false),            /* overlong '/', Kuhn 4.1.2 */
        V("\xE0\x9F\xBF", false),            /* overlong U+07FF, Kuhn 4.2.2 */
        V("\xF0\x80\x80\xAF", false),        /* overlong '/', Kuhn 4.1.3 */
        V("\xF0\x8F\xBF\xBF", false),        /* overlong U+FFFF, Kuhn 4.2.3 */
        V("\xED\xA0\x80", false),            /* U+D800 surrogate, Kuhn 5.1.1 */
        V("\xED\xBF\xBF", false),            /* U+DFFF, Kuhn 5.1.7 */
        V("\xED\xA0\x80\xED\xB0\x80", false), /* CESU-8 pair, Kuhn 5.2.1 */
        V("\xF4\x90\x80\x80", false),        /* U+110000 */
        V("\xF5\x80\x80\x80", false),
        V("\xF8\x88\x80\x80\x80", false),    /* 5-byte form, Kuhn 3.3 */
        V("\xFE", false),
        V("\xFF", false),
        V("\x80", false),                    /* lone continuation, Kuhn 3.1.1 */
        V("a\xBF", false),
        V("\xC3", false),                    /* truncated, Kuhn 3.3.1 */
        V("\xE2\x82", false),                /* truncated, Kuhn 3.3.2 */
        V("\xF0\x9F\x98", false),            /* truncated, Kuhn 3.3.3 */
        V("\xC3" "a", false),                /* lead byte then ASCII */
        V("\xE2\x28\xA1", false),
        V("ok \xC3\xA9 then \xE2\x82", false), /* truncated at the very end */
#undef V
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (bastion_utf8_valid((bastion_str){cases[i].bytes, cases[i].len}) != cases[i].ok)
            unit_fail("case %zu should be %s", i, cases[i].ok ? "valid" : "invalid");
    }
}

/* Invalid UTF-8 that reaches a field (a cJSON tree not built from a checked
 * body) is rejected by the field rule too. */
static void test_VAL3_invalid_utf8_field_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {"\xC0\xAF", "\xED\xA0\x80", "ab\xE2\x82", "\xF4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "name", bad[i]);
        cJSON_AddStringToObject(obj, "email", "a@example.com");
        cJSON *errors = cJSON_CreateArray();
        bastion_field_value out[N_FIELDS];
        assert_int_equal(bastion_validate(obj, FIELDS, N_FIELDS, out, errors), 1);
        assert_string_equal(unit_error_for(errors, "/name"), "must be valid UTF-8");
        cJSON_Delete(errors);
        cJSON_Delete(obj);
    }
}

/* RFC 6901 §3: '~' is written "~0" and '/' "~1", '~' first, so that "~1"
 * becomes "~01" (§4's decoding order, reversed). §5: "" is "/". */
static void test_VAL1_json_pointer_escaping(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    cJSON *errors = validate("{\"name\":\"Ann\",\"email\":\"a@example.com\","
                             "\"a/b\":1,\"m~n\":2,\"~1\":3,\"\":4,\"c%d\":5,\" \":6}",
                             out);
    assert_int_equal(cJSON_GetArraySize(errors), 6);
    assert_non_null(unit_error_for(errors, "/a~1b"));
    assert_non_null(unit_error_for(errors, "/m~0n"));
    assert_non_null(unit_error_for(errors, "/~01"));
    assert_non_null(unit_error_for(errors, "/"));
    assert_non_null(unit_error_for(errors, "/c%d"));
    assert_non_null(unit_error_for(errors, "/ "));
    cJSON_Delete(errors);
}

/* --- bastion_parse_json_or_problem --- */

static bastion_header parse_headers[1];

/* Runs the front door with `content_type` (NULL: no header) and `body`. */
static bastion_rc parse(bastion_ctx *cx, const char *content_type, const char *body, size_t len,
                        const bastion_field *fields, size_t n, bastion_field_value *out)
{
    unit_ctx(cx);
    if (content_type) {
        parse_headers[0] = (bastion_header){BASTION_LIT("content-type"), bastion_cstr(content_type)};
        cx->headers = parse_headers;
        cx->n_headers = 1;
    }
    cx->body = (bastion_str){body, len};
    return bastion_parse_json_or_problem(cx, fields, n, out);
}

static bastion_rc parse_s(bastion_ctx *cx, const char *content_type, const char *body,
                          bastion_field_value *out)
{
    return parse(cx, content_type, body, strlen(body), FIELDS, N_FIELDS, out);
}

static const char *GOOD = "{\"name\":\"Ann\",\"email\":\"ann@example.com\"}";

/*
 * VAL3: U+0000 is a control character like any other. JSON can carry it as
 * "\u0000", and cJSON's C strings would silently end the value there (found
 * by this test: "ab\u0000cd" once came through as "ab"). The front door
 * now refuses any body holding it, before a field value exists.
 */
static void test_VAL3_nul_character_rejected(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    static const char *const bodies[] = {
        "{\"name\":\"ab\\u0000cd\",\"email\":\"ann@example.com\"}",
        "{\"name\":\"Ann\",\"email\":\"a@example.com\\u0000<script>\"}",
    };
    for (size_t i = 0; i < 2; i++) {
        if (parse_s(&cx, "application/json", bodies[i], out) != BASTION_E_UNPROCESSABLE)
            unit_fail("a body with \\u0000 was accepted: %s", bodies[i]);
        cJSON_Delete(unit_assert_problem(&cx, 422, "validation-failed"));
    }
}

/*
 * VAL3 + ERR1: the 422 for a \u0000 names the field that holds it, as every
 * other field error does ("/email", not the document ""), and nothing else.
 */
static void test_VAL3_nul_character_pointer_names_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *pointer, *detail;
    } cases[] = {
        {"{\"name\":\"Ann\",\"email\":\"a\\u0000b@x.io\"}", "/email",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"ab\\u0000cd\",\"email\":\"ann@example.com\"}", "/name",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"Ann\",\"email\":\"a@x.io\",\"slug\":[\"\\u0000\"]}", "/slug/0",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"Ann\",\"na\\u0000me\":\"Bob\"}", "",
         "must not have a member name with the NUL character (\\u0000)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        assert_int_equal(parse_s(&cx, "application/json", cases[i].body, out),
                         BASTION_E_UNPROCESSABLE);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        const char *d = unit_error_for(errors, cases[i].pointer);
        if (!d || strcmp(d, cases[i].detail) != 0)
            unit_fail("%s: errors %s, want \"%s\" at \"%s\"", cases[i].body,
                      cJSON_PrintUnformatted(errors), cases[i].detail, cases[i].pointer);
        for (int k = 0; k < N_FIELDS; k++)
            assert_false(out[k].present);
        cJSON_Delete(j);
    }
}

/*
 * VAL3 on the query: "%00" decodes to a NUL that would end the C string the
 * rules see, so "standard%00zz" once passed as "standard" (found over HTTP on
 * /api/availability). It is refused, naming the parameter.
 */
static void test_VAL3_query_nul_refused_naming_the_parameter(void **state)
{
    (void)state;
    static const bastion_field q[] = {
        {"tier", BASTION_FIELD_SLUG, BASTION_REQUIRED, 1, 20},
        {"n", BASTION_FIELD_STRING, 0, 1, 20},
    };
    static const struct {
        const char *query, *pointer;
    } cases[] = {
        {"tier=standard%00zz", "/tier"},
        {"tier=standard&n=a%00", "/n"},
        {"tier=%00", "/tier"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[2];
        unit_ctx(&cx);
        cx.query = bastion_cstr(cases[i].query);
        if (bastion_query_or_problem(&cx, q, 2, out) != BASTION_E_UNPROCESSABLE)
            unit_fail("?%s was accepted", cases[i].query);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        const char *d = unit_error_for(errors, cases[i].pointer);
        if (!d || strcmp(d, "must not contain the NUL character") != 0)
            unit_fail("?%s: errors %s", cases[i].query, cJSON_PrintUnformatted(errors));
        assert_false(out[0].present || out[1].present);
        cJSON_Delete(j);
    }
    /* and without one the same rules pass */
    bastion_ctx cx;
    bastion_field_value out[2];
    unit_ctx(&cx);
    cx.query = BASTION_LIT("tier=standard&n=a%20b");
    assert_int_equal(bastion_query_or_problem(&cx, q, 2, out), BASTION_OK);
    assert_true(unit_str_is(out[0].str, "standard") && unit_str_is(out[1].str, "a b"));
}

static void test_VAL1_parse_valid_body(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    assert_int_equal(parse_s(&cx, "application/json", GOOD, out), BASTION_OK);
    assert_false(cx.responded);
    assert_true(unit_str_is(out[F_EMAIL].str, "ann@example.com"));
    /* whitespace around the value is JSON (RFC 8259 §2) */
    assert_int_equal(parse_s(&cx, "application/json", " \r\n\t{\"name\":\"Ann\",\"email\":"
                                                      "\"ann@example.com\"} \n",
                             out),
                     BASTION_OK);
}

static void test_VAL1_415_content_type(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL, "", "text/plain", "application/x-www-form-urlencoded", "application/jsonp",
        "application/json-seq", "multipart/form-data; boundary=x", "json", "application/",
        "text/json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        if (parse_s(&cx, bad[i], GOOD, out) != BASTION_E_UNSUPPORTED_MEDIA)
            unit_fail("content-type %s was not refused", bad[i] ? bad[i] : "(none)");
        cJSON_Delete(unit_assert_problem(&cx, 415, "unsupported-media-type"));
    }
}

static void test_VAL1_content_type_parameters_accepted(void **state)
{
    (void)state;
    static const char *const good[] = {
        "application/json", "application/json; charset=utf-8", "Application/JSON",
        "APPLICATION/JSON;charset=UTF-8", " application/json ; charset=utf-8",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        if (parse_s(&cx, good[i], GOOD, out) != BASTION_OK)
            unit_fail("content-type \"%s\" was refused", good[i]);
    }
}

static void assert_400(const char *body, size_t len)
{
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    bastion_rc rc = parse(&cx, "application/json", body, len, FIELDS, N_FIELDS, out);
    if (rc != BASTION_E_MALFORMED_JSON)
        unit_fail("body \"%.*s\" gave rc %d, want 400", (int)(len > 60 ? 60 : len), body, rc);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
}
#define ASSERT_400(lit) assert_400(lit, sizeof(lit) - 1)

static void test_VAL1_malformed_json_400(void **state)
{
    (void)state;
    ASSERT_400("");
    ASSERT_400(" ");
    ASSERT_400("{");
    ASSERT_400("{\"name\":}");
    ASSERT_400("{\"name\":\"Ann\",}");
    ASSERT_400("{name:\"Ann\"}");
    ASSERT_400("{'name':'Ann'}");
    ASSERT_400("{\"name\":\"Ann\"");
    ASSERT_400("{\"name\":\"unterminated}");
    ASSERT_400("{\"a\":\"\\ud800\"}");   /* lone surrogate escape */
    ASSERT_400("{\"a\":\"\\x41\"}");
    /* a NULL body (the host sent none) */
    assert_400(NULL, 0);
}

static void test_VAL1_trailing_garbage_400(void **state)
{
    (void)state;
    ASSERT_400("{\"name\":\"Ann\",\"email\":\"ann@example.com\"} x");
    ASSERT_400("{}{}");
    ASSERT_400("{} []");
    ASSERT_400("{}\0");
    ASSERT_400("{}\0{\"admin\":true}");
}

static void test_VAL1_non_object_400(void **state)
{
    (void)state;
    ASSERT_400("[]");
    ASSERT_400("[{\"name\":\"Ann\",\"email\":\"ann@example.com\"}]");
    ASSERT_400("\"name\"");
    ASSERT_400("42");
    ASSERT_400("true");
    ASSERT_400("null");
}

static const bastion_field ANY[] = {
    {"x", BASTION_FIELD_STRING, 0, 0, 1000},
};

static bastion_rc parse_any(bastion_ctx *cx, const char *body, size_t len)
{
    bastion_field_value out[1];
    return parse(cx, "application/json", body, len, ANY, 1, out);
}

/* nested(d) builds {"y": [[…]]} with d levels in all (the object counts). */
static char *nested(int depth, size_t *len)
{
    char *s = bastion_alloc((size_t)depth * 2 + 16);
    size_t o = 0;
    o += (size_t)sprintf(s, "{\"y\":");
    for (int i = 1; i < depth; i++)
        s[o++] = '[';
    for (int i = 1; i < depth; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = 0;
    *len = o;
    return s;
}

static void test_VAL1_nesting_limit_32(void **state)
{
    (void)state;
    bastion_ctx cx;
    size_t len;
    char *ok = nested(32, &len);
    /* 32 levels parse; "y" is then an unknown field, so 422, not 400 */
    assert_int_equal(parse_any(&cx, ok, len), BASTION_E_UNPROCESSABLE);
    char *deep = nested(33, &len);
    assert_int_equal(parse_any(&cx, deep, len), BASTION_E_MALFORMED_JSON);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
    /* far deeper than cJSON's own limit: refused before it recurses */
    char *abyss = nested(200000, &len);
    assert_int_equal(parse_any(&cx, abyss, len), BASTION_E_MALFORMED_JSON);
    /* brackets inside strings are text, including after an escaped quote */
    const char *in_string = "{\"x\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    assert_int_equal(parse_any(&cx, in_string, strlen(in_string)), BASTION_OK);
    /* "\\" is one escaped backslash: the quote after it closes the string,
     * so the 34 brackets that follow are structure (35 levels with the object) */
    char backslash[128];
    size_t o = (size_t)sprintf(backslash, "{\"x\":\"\\\\\",\"y\":");
    for (int i = 0; i < 34; i++)
        backslash[o++] = '[';
    for (int i = 0; i < 34; i++)
        backslash[o++] = ']';
    backslash[o++] = '}';
    backslash[o] = 0;
    assert_int_equal(parse_any(&cx, backslash, strlen(backslash)), BASTION_E_MALFORMED_JSON);
    /* the same shape 4 levels shallower parses, so the 400 above is the depth */
    o = (size_t)sprintf(backslash, "{\"x\":\"\\\\\",\"y\":");
    for (int i = 0; i < 30; i++)
        backslash[o++] = '[';
    for (int i = 0; i < 30; i++)
        backslash[o++] = ']';
    backslash[o++] = '}';
    backslash[o] = 0;
    assert_int_equal(parse_any(&cx, backslash, strlen(backslash)), BASTION_E_UNPROCESSABLE);
}

static void test_VAL3_invalid_utf8_body_400(void **state)
{
    (void)state;
    ASSERT_400("{\"name\":\"\xC0\xAF\",\"email\":\"ann@example.com\"}");     /* overlong */
    ASSERT_400("{\"name\":\"\xED\xA0\x80\",\"email\":\"ann@example.com\"}"); /* surrogate */
    ASSERT_400("{\"name\":\"Ann\",\"email\":\"ann@example.com\"}\xE2\x82");  /* truncated */
    ASSERT_400("{\"n\xFFme\":\"Ann\"}");                                     /* in a name */
}

/*
 * VAL3 at the front door: a raw (unescaped) NUL inside a JSON string is not
 * JSON (RFC 8259 §7: U+0000..U+001F must be escaped) and is a control
 * character. cJSON copies it into valuestring and validate.c's strlen then
 * truncates the value, so the request is accepted. KNOWN BUG (same root cause
 * as test_VAL3_nul_character_rejected).
 */
static void test_VAL3_raw_nul_in_body_rejected(void **state)
{
    (void)state;
    static const char body[] = "{\"name\":\"Ann\0DROP\",\"email\":\"ann@example.com\"}";
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    bastion_rc rc = parse(&cx, "application/json", body, sizeof body - 1, FIELDS, N_FIELDS, out);
    if (rc == BASTION_OK)
        unit_fail("a raw NUL in \"name\" was accepted as \"%s\"", out[F_NAME].str.ptr);
    assert_true(rc == BASTION_E_MALFORMED_JSON || rc == BASTION_E_UNPROCESSABLE);
}

/* The bodies of `cases` that the front door did not refuse with 400, listed
 * in `out` ("" when all were refused). */
static void not_400(const char *const *cases, size_t n, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        bastion_ctx cx;
        bastion_field_value v[1];
        if (parse(&cx, "application/json", cases[i], strlen(cases[i]), ANY, 1, v) !=
            BASTION_E_MALFORMED_JSON) {
            size_t o = strlen(out);
            if (o && o + 3 < cap)
                o += (size_t)snprintf(out + o, cap - o, " | ");
            for (const char *c = cases[i]; *c && o + 5 < cap; c++) /* one line: escape controls */
                o += (size_t)((unsigned char)*c < 0x20 ? snprintf(out + o, cap - o, "\\x%02x", *c)
                                                       : snprintf(out + o, cap - o, "%c", *c));
        }
    }
}

/*
 * RFC 8259 §7: U+0000..U+001F must be escaped inside strings, so a raw
 * control byte is malformed JSON (400). cJSON accepts it; validate.c then
 * trims a raw CR/LF/TAB at either end of the value silently (so
 * "{\"x\":\"Ann<LF>\"}" is accepted as "Ann") and rejects one in the middle
 * with 422. KNOWN BUG (VAL1 "malformed JSON gets 400").
 */
static void test_VAL1_raw_control_in_string_400(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"x\":\"Ann\n\"}", "{\"x\":\"\tAnn\"}", "{\"x\":\"A\x01nn\"}", "{\"x\n\":\"Ann\"}",
    };
    char got[256];
    not_400(cases, sizeof cases / sizeof cases[0], got, sizeof got);
    if (got[0])
        unit_fail("raw control characters in strings were not refused with 400: %s", got);
}

/*
 * RFC 8259 §6: number = [ "-" ] int [ frac ] [ exp ], int has no leading
 * zero and frac needs a digit. cJSON hands anything made of [0-9+-.eE] to
 * strtod, so "01", "1." and "-01" parse. KNOWN BUG (VAL1 "malformed JSON gets
 * 400").
 */
static void test_VAL1_non_rfc8259_numbers_400(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"x\":01}", "{\"x\":-01}", "{\"x\":1.}", "{\"x\":1.e5}", "{\"x\":[.5]}",
        "{\"x\":[1e]}", "{\"x\":[+1]}",
    };
    char got[256];
    not_400(cases, sizeof cases / sizeof cases[0], got, sizeof got);
    if (got[0])
        unit_fail("non-RFC 8259 numbers were not refused with 400: %s", got);
}

static void test_VAL1_422_collects_all_errors(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    const char *body = "{\"name\":\"\",\"email\":\"not-an-email\",\"score\":101,"
                       "\"subscribe\":\"yes\",\"slug\":\"a b\",\"role\":\"admin\"}";
    assert_int_equal(parse_s(&cx, "application/json", body, out), BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "class")->valuestring, "validation");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_true(cJSON_IsArray(errors));
    assert_int_equal(cJSON_GetArraySize(errors), 6);
    assert_string_equal(unit_error_for(errors, "/name"), "must not be empty");
    assert_string_equal(unit_error_for(errors, "/email"), "must be an email address");
    assert_string_equal(unit_error_for(errors, "/score"), "is out of range");
    assert_string_equal(unit_error_for(errors, "/subscribe"), "must be true or false");
    assert_non_null(unit_error_for(errors, "/slug"));
    assert_string_equal(unit_error_for(errors, "/role"), "is not a known field");
    /* each entry is exactly {pointer, detail} */
    const cJSON *e;
    cJSON_ArrayForEach(e, errors) assert_int_equal(cJSON_GetArraySize(e), 2);
    cJSON_Delete(j);
}

static void test_VAL1_422_missing_required_and_unknown(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    assert_int_equal(parse_s(&cx, "application/json; charset=utf-8",
                             "{\"email\":\"ann@example.com\",\"nmae\":\"Ann\"}", out),
                     BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_int_equal(cJSON_GetArraySize(errors), 2);
    assert_string_equal(unit_error_for(errors, "/name"), "is required");
    assert_string_equal(unit_error_for(errors, "/nmae"), "is not a known field");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_VAL1_valid_body_accepted),
        cmocka_unit_test(test_VAL1_optional_fields_may_be_absent),
        cmocka_unit_test(test_VAL1_missing_required_field),
        cmocka_unit_test(test_VAL1_unknown_field_rejected),
        cmocka_unit_test(test_VAL1_wrong_type_rejected),
        cmocka_unit_test(test_VAL1_duplicate_member_rejected),
        cmocka_unit_test(test_VAL1_integer_range),
        cmocka_unit_test(test_VAL1_integer_precision_limit),
        cmocka_unit_test(test_VAL1_bool),
        cmocka_unit_test(test_VAL1_slug),
        cmocka_unit_test(test_VAL1_email_valid_and_invalid),
        cmocka_unit_test(test_VAL1_email_length_limits),
        cmocka_unit_test(test_VAL3_email_lowercased_and_trimmed),
        cmocka_unit_test(test_VAL3_text_trimmed),
        cmocka_unit_test(test_VAL3_control_characters_rejected),
        cmocka_unit_test(test_VAL3_length_in_code_points),
        cmocka_unit_test(test_VAL3_utf8_validator),
        cmocka_unit_test(test_VAL3_invalid_utf8_field_rejected),
        cmocka_unit_test(test_VAL1_json_pointer_escaping),
        cmocka_unit_test(test_VAL1_parse_valid_body),
        cmocka_unit_test(test_VAL3_nul_character_rejected),
        cmocka_unit_test(test_VAL3_nul_character_pointer_names_the_field),
        cmocka_unit_test(test_VAL3_query_nul_refused_naming_the_parameter),
        cmocka_unit_test(test_VAL1_415_content_type),
        cmocka_unit_test(test_VAL1_content_type_parameters_accepted),
        cmocka_unit_test(test_VAL1_malformed_json_400),
        cmocka_unit_test(test_VAL1_trailing_garbage_400),
        cmocka_unit_test(test_VAL1_non_object_400),
        cmocka_unit_test(test_VAL1_nesting_limit_32),
        cmocka_unit_test(test_VAL3_invalid_utf8_body_400),
        cmocka_unit_test(test_VAL3_raw_nul_in_body_rejected),
        cmocka_unit_test(test_VAL1_raw_control_in_string_400),
        cmocka_unit_test(test_VAL1_non_rfc8259_numbers_400),
        cmocka_unit_test(test_VAL1_422_collects_all_errors),
        cmocka_unit_test(test_VAL1_422_missing_required_and_unknown),
    };
    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
