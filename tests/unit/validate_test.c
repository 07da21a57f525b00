/*
 * Unit tests for shared/src/validate.c: the declarative field rules (VAL1,
 * VAL3, DATA2) — every field type and flag, unknown and duplicate members,
 * and one {pointer, detail} per failure. The formats themselves are
 * formats_test.c and calendar_test.c; the request front door, input_test.c.
 *
 * Vectors: JSON Pointer escaping from RFC 6901 §3 and §5; email lengths from
 * RFC 5321 §4.5.3.1; invalid UTF-8 from RFC 3629 §10.
 */
#include "../../shared/src/validate.c"

#include "unit.h"

static const bastion_field FIELDS[] = {
    {.name = "name", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 10},
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED},
    {.name = "slug", .type = BASTION_FIELD_SLUG, .min = 1, .max = 20},
    {.name = "score", .type = BASTION_FIELD_INTEGER, .max = 100},
    {.name = "subscribe", .type = BASTION_FIELD_BOOL},
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
    errors =
        validate("{\"score\":1,\"name\":\"Ann\",\"email\":\"ann@example.com\",\"score\":1}", out);
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
        {.name = "cents",
         .type = BASTION_FIELD_INTEGER,
         .flags = BASTION_REQUIRED,
         .min = 1,
         .max = INT64_MAX},
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

/* RFC 5321 §4.5.3.1: an address over 254 octets is refused by the field too. */
static void test_VAL1_email_field_over_254_rejected(void **state)
{
    (void)state;
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
        "\"a\\nb\"",     "\"a\\tb\"",     "\"a\\rb\"",     /* inside, not trimmed */
        "\"a\\u0080b\"", "\"a\\u0085b\"", "\"a\\u009fb\"", /* C1 */
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
        {.name = "t", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 2, .max = 3},
    };
    bastion_field_value out[1];
    static const struct {
        const char *json;
        const char *why;
    } cases[] = {
        {"{\"t\":\"\xC3\xA9\"}", "is too short"},                   /* 1 cp, 2 bytes */
        {"{\"t\":\"\xC3\xA9\xC3\xA9\"}", NULL},                     /* 2 cp, 4 bytes */
        {"{\"t\":\"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\"}", NULL}, /* 日本語: 3 cp, 9 bytes */
        {"{\"t\":\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\"}",
         NULL},                                                           /* 3 emoji, 12 bytes */
        {"{\"t\":\"\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\"}", NULL}, /* the same, escaped */
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

/* --- VAL1, DATA2: the typed fields --- */

static const char *const STATUSES[] = {"pending", "confirmed", "cancelled", NULL};

static const bastion_field TYPED[] = {
    {.name = "phone", .type = BASTION_FIELD_PHONE},
    {.name = "id", .type = BASTION_FIELD_UUID},
    {.name = "at", .type = BASTION_FIELD_TIMESTAMP},
    {.name = "day", .type = BASTION_FIELD_DATE},
    {.name = "status", .type = BASTION_FIELD_ENUM, .choices = STATUSES},
    {.name = "amount", .type = BASTION_FIELD_CENTS, .max = 1000000},
    {.name = "tag", .type = BASTION_FIELD_STRING, .flags = BASTION_LOWERCASE, .min = 1, .max = 20},
    {.name = "raw", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM, .min = 1, .max = 20},
};
enum { F_PHONE, F_ID, F_AT, F_DAY, F_STATUS, F_AMOUNT, F_TAG, F_RAW, N_TYPED };

/* Validates {"<field>": <value_json>} and returns the detail for that field
 * (NULL when accepted). Nothing else may fail. */
static const char *typed_error(const char *field, const char *value_json, bastion_field_value *out)
{
    static char detail[256];
    char json[1024];
    snprintf(json, sizeof json, "{\"%s\":%s}", field, value_json);
    cJSON *obj = cJSON_Parse(json);
    if (!obj)
        unit_fail("test JSON does not parse: %.200s", json);
    cJSON *errors = cJSON_CreateArray();
    size_t added = bastion_validate(obj, TYPED, N_TYPED, out, errors);
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/%s", field);
    const char *d = unit_error_for(errors, ptr);
    assert_int_equal(added, d ? 1 : 0);
    if (d)
        snprintf(detail, sizeof detail, "%s", d);
    cJSON_Delete(errors);
    cJSON_Delete(obj);
    return d ? detail : NULL;
}

#define ASSERT_FIELD_OK(field, json, out)                                                          \
    do {                                                                                           \
        const char *why_ = typed_error(field, json, out);                                          \
        if (why_)                                                                                  \
            unit_fail("%s = %s was refused: %s", field, json, why_);                               \
    } while (0)

#define ASSERT_FIELD_ERR(field, json, want, out)                                                   \
    do {                                                                                           \
        const char *why_ = typed_error(field, json, out);                                          \
        if (!why_ || strcmp(why_, want) != 0)                                                      \
            unit_fail("%s = %s: got \"%s\", want \"%s\"", field, json, why_ ? why_ : "(accepted)", \
                      want);                                                                       \
    } while (0)

static void test_VAL1_phone_field(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("phone", "\"  +14155552671 \"", out);
    assert_true(out[F_PHONE].present);
    assert_true(unit_str_is(out[F_PHONE].str, "+14155552671"));
    const char *why = "must be an E.164 phone number such as +14155552671";
    ASSERT_FIELD_ERR("phone", "\"+1234567\"", why, out);
    ASSERT_FIELD_ERR("phone", "\"+1234567890123456\"", why, out);
    ASSERT_FIELD_ERR("phone", "\"+1415555CALL\"", why, out);
    ASSERT_FIELD_ERR("phone", "\"+0123456789\"", why, out);
    ASSERT_FIELD_ERR("phone", "14155552671", "must be a string", out);
    assert_false(out[F_PHONE].present);
}

static void test_VAL1_uuid_field_lowercased(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("id", "\" F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6 \"", out);
    assert_true(unit_str_is(out[F_ID].str, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
    const char *why = "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000";
    ASSERT_FIELD_ERR("id", "\"f81d4fae-7dec-11d0-a765\"", why, out);
    ASSERT_FIELD_ERR("id", "\"f81d4fae_7dec_11d0_a765_00a0c91e6bf6\"", why, out);
    ASSERT_FIELD_ERR("id", "\"z81d4fae-7dec-11d0-a765-00a0c91e6bf6\"", why, out);
    ASSERT_FIELD_ERR("id", "42", "must be a string", out);
}

static void test_DATA2_timestamp_field_normalised(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("at", "\"2024-05-01T09:30:00+05:30\"", out);
    assert_true(out[F_AT].present);
    assert_int_equal(out[F_AT].integer, INT64_C(1714536000000));
    assert_true(unit_str_is(out[F_AT].str, "2024-05-01T04:00:00.000Z"));
    assert_int_equal(out[F_AT].str.ptr[24], 0);
    ASSERT_FIELD_OK("at", "\" 1985-04-12t23:20:50.52z \"", out);
    assert_true(unit_str_is(out[F_AT].str, "1985-04-12T23:20:50.520Z"));
    ASSERT_FIELD_ERR("at", "\"2024-05-01T09:30:00\"",
                     "must include a UTC offset (Z, +hh:mm or -hh:mm)", out);
    ASSERT_FIELD_ERR("at", "\"2023-02-29T09:30:00Z\"", "is not a valid date and time", out);
    ASSERT_FIELD_ERR("at", "\"2024-05-01T24:00:00Z\"", "is not a valid date and time", out);
    ASSERT_FIELD_ERR("at", "\"1990-12-31T23:59:60Z\"", "must not be a leap second (:60)", out);
    ASSERT_FIELD_ERR("at", "\"9999-12-31T23:59:59-01:00\"", "is out of range", out);
    ASSERT_FIELD_ERR("at", "\"yesterday\"",
                     "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z", out);
    ASSERT_FIELD_ERR("at", "1714536000000", "must be a string", out);
    assert_false(out[F_AT].present);
}

static void test_DATA2_date_field(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("day", "\"2024-02-29\"", out);
    assert_int_equal(out[F_DAY].integer, INT64_C(1709164800000));
    assert_true(unit_str_is(out[F_DAY].str, "2024-02-29"));
    ASSERT_FIELD_ERR("day", "\"2023-02-29\"", "is not a valid date", out);
    ASSERT_FIELD_ERR("day", "\"29/02/2024\"", "must be a date such as 2024-05-01", out);
    ASSERT_FIELD_ERR("day", "\"2024-02-29T00:00:00Z\"", "must be a date such as 2024-05-01", out);
}

static void test_VAL1_enum_field(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("status", "\"confirmed\"", out);
    assert_int_equal(out[F_STATUS].integer, 1);
    assert_true(unit_str_is(out[F_STATUS].str, "confirmed"));
    assert_ptr_equal(out[F_STATUS].str.ptr, STATUSES[1]); /* the module's own constant */
    ASSERT_FIELD_OK("status", "\" pending \"", out);      /* trimmed */
    assert_int_equal(out[F_STATUS].integer, 0);
    const char *why = "must be one of: pending, confirmed, cancelled";
    ASSERT_FIELD_ERR("status", "\"Confirmed\"", why, out); /* byte for byte */
    ASSERT_FIELD_ERR("status", "\"confirm\"", why, out);
    ASSERT_FIELD_ERR("status", "\"confirmedx\"", why, out);
    ASSERT_FIELD_ERR("status", "\"\"", why, out);
    ASSERT_FIELD_ERR("status", "1", "must be a string", out);
    /* LOWERCASE makes the match case-insensitive; no choices accepts nothing */
    static const bastion_field folded[] = {
        {.name = "s", .type = BASTION_FIELD_ENUM, .flags = BASTION_LOWERCASE, .choices = STATUSES},
        {.name = "none", .type = BASTION_FIELD_ENUM},
    };
    cJSON *obj = cJSON_Parse("{\"s\":\"CANCELLED\",\"none\":\"x\"}");
    cJSON *errors = cJSON_CreateArray();
    bastion_field_value v[2];
    assert_int_equal(bastion_validate(obj, folded, 2, v, errors), 1);
    assert_true(v[0].present && v[0].integer == 2);
    assert_string_equal(unit_error_for(errors, "/none"), "has no allowed values");
    cJSON_Delete(errors);
    cJSON_Delete(obj);
}

static void test_VAL1_cents_field(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("amount", "1", out);
    assert_int_equal(out[F_AMOUNT].integer, 1);
    ASSERT_FIELD_OK("amount", "1999", out);
    assert_int_equal(out[F_AMOUNT].integer, 1999);
    ASSERT_FIELD_OK("amount", "1000000", out); /* max */
    ASSERT_FIELD_OK("amount", "1e3", out);     /* an integral JSON number */
    assert_int_equal(out[F_AMOUNT].integer, 1000);
    const char *positive = "must be a positive amount in cents";
    ASSERT_FIELD_ERR("amount", "0", positive, out);
    ASSERT_FIELD_ERR("amount", "-0", positive, out);
    ASSERT_FIELD_ERR("amount", "-5", positive, out);
    ASSERT_FIELD_ERR("amount", "-1e300", positive, out);
    ASSERT_FIELD_ERR("amount", "12.5", "must be a whole number of cents", out);
    ASSERT_FIELD_ERR("amount", "0.01", "must be a whole number of cents", out);
    ASSERT_FIELD_ERR("amount", "1000001", "is too large", out);
    ASSERT_FIELD_ERR("amount", "1e300", "is too large", out);
    ASSERT_FIELD_ERR("amount", "\"100\"", "must be an integer amount in cents", out);
    ASSERT_FIELD_ERR("amount", "true", "must be an integer amount in cents", out);
    assert_false(out[F_AMOUNT].present);
    /* max 0: up to 2^53 - 1; min raises the floor */
    static const bastion_field f[] = {
        {.name = "c", .type = BASTION_FIELD_CENTS, .flags = BASTION_REQUIRED},
        {.name = "d", .type = BASTION_FIELD_CENTS, .min = 50},
    };
    bastion_field_value v[2];
    cJSON *obj = cJSON_Parse("{\"c\":9007199254740991,\"d\":49}");
    cJSON *errors = cJSON_CreateArray();
    assert_int_equal(bastion_validate(obj, f, 2, v, errors), 1);
    assert_int_equal(v[0].integer, INT64_C(9007199254740991));
    assert_string_equal(unit_error_for(errors, "/d"), "is too small");
    cJSON_Delete(errors);
    cJSON_Delete(obj);
    obj = cJSON_Parse("{\"c\":9007199254740993}");
    errors = cJSON_CreateArray();
    assert_int_equal(bastion_validate(obj, f, 2, v, errors), 1);
    assert_string_equal(unit_error_for(errors, "/c"), "is too large");
    cJSON_Delete(errors);
    cJSON_Delete(obj);
}

static void test_VAL3_lowercase_and_no_trim_flags(void **state)
{
    (void)state;
    bastion_field_value out[N_TYPED];
    ASSERT_FIELD_OK("tag", "\"  Summer-SALE \"", out);
    assert_true(unit_str_is(out[F_TAG].str, "summer-sale"));
    ASSERT_FIELD_OK("tag", "\"\xC3\x89t\xC3\xA9\"", out); /* ASCII folding only: "Été" */
    assert_true(unit_str_is(out[F_TAG].str, "\xC3\x89t\xC3\xA9"));
    ASSERT_FIELD_OK("raw", "\"  two  \"", out);
    assert_true(unit_str_is(out[F_RAW].str, "  two  "));
    ASSERT_FIELD_ERR("raw", "\"two\\n\"", "must not contain control characters", out);
    ASSERT_FIELD_ERR("raw", "\"                     \"", "is too long", out); /* 21 spaces */
}

/* --- OBJECT: nested rules, errors pointing inside (VAL1) --- */

static const bastion_field CUSTOMER[] = {
    {.name = "name", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 10},
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED},
    {.name = "phone", .type = BASTION_FIELD_PHONE},
};
static const bastion_field ORDER[] = {
    {.name = "n", .type = BASTION_FIELD_INTEGER, .max = 9},
    {.name = "customer",
     .type = BASTION_FIELD_OBJECT,
     .flags = BASTION_REQUIRED,
     .fields = CUSTOMER,
     .n_fields = BASTION_COUNTOF(CUSTOMER)},
    {.name = "a/b~c",
     .type = BASTION_FIELD_OBJECT,
     .fields = CUSTOMER,
     .n_fields = BASTION_COUNTOF(CUSTOMER)},
};

static void test_VAL1_object_field_values(void **state)
{
    (void)state;
    bastion_field_value out[BASTION_COUNTOF(ORDER)];
    cJSON *errors =
        validate_with("{\"n\":1,\"customer\":{\"name\":\" Ann \",\"email\":\"A@Example.com\"}}",
                      ORDER, BASTION_COUNTOF(ORDER), out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_true(out[1].present);
    const bastion_field_value *c = out[1].object;
    assert_non_null(c);
    assert_true(c[0].present && unit_str_is(c[0].str, "Ann"));
    assert_true(c[1].present && unit_str_is(c[1].str, "a@example.com"));
    assert_false(c[2].present);
    assert_false(out[2].present); /* optional and absent */
    assert_null(out[2].object);
    cJSON_Delete(errors);
}

static void test_VAL1_object_field_errors_point_inside(void **state)
{
    (void)state;
    bastion_field_value out[BASTION_COUNTOF(ORDER)];
    /* every nested failure, with the member's pointer in front (RFC 6901 §3
     * escaping of the member name too), next to the outer ones */
    cJSON *errors = validate_with("{\"n\":99,\"customer\":{\"email\":\"nope\",\"vip\":true},"
                                  "\"a/b~c\":{\"name\":\"\",\"email\":\"b@example.com\"}}",
                                  ORDER, BASTION_COUNTOF(ORDER), out);
    assert_int_equal(cJSON_GetArraySize(errors), 5);
    assert_non_null(unit_error_for(errors, "/n"));
    assert_string_equal(unit_error_for(errors, "/customer/vip"), "is not a known field");
    assert_string_equal(unit_error_for(errors, "/customer/name"), "is required");
    assert_non_null(unit_error_for(errors, "/customer/email"));
    assert_string_equal(unit_error_for(errors, "/a~1b~0c/name"), "must not be empty");
    assert_false(out[1].present); /* a failed object leaves no partial value */
    assert_null(out[1].object);
    cJSON_Delete(errors);
    static const char *const not_objects[] = {"\"Ann <a@example.com>\"", "[]", "1", "true"};
    for (size_t i = 0; i < BASTION_COUNTOF(not_objects); i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"customer\":%s}", not_objects[i]);
        errors = validate_with(json, ORDER, BASTION_COUNTOF(ORDER), out);
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        assert_string_equal(unit_error_for(errors, "/customer"), "must be an object");
        cJSON_Delete(errors);
    }
    errors = validate_with("{\"customer\":null}", ORDER, BASTION_COUNTOF(ORDER), out);
    assert_string_equal(unit_error_for(errors, "/customer"), "is required");
    cJSON_Delete(errors);
    errors = validate_with("{\"customer\":{\"name\":\"A\",\"email\":\"a@example.com\"},"
                           "\"customer\":{\"name\":\"B\",\"email\":\"b@example.com\"}}",
                           ORDER, BASTION_COUNTOF(ORDER), out);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_string_equal(unit_error_for(errors, "/customer"), "appears more than once");
    cJSON_Delete(errors);
}

/* --- ARRAY: counted elements, each under one rule, errors at the element (VAL1) --- */

static const bastion_field CHOICE = {.type = BASTION_FIELD_STRING, .min = 1, .max = 5};
static const bastion_field QUESTION[] = {
    {.name = "id", .type = BASTION_FIELD_SLUG, .flags = BASTION_REQUIRED, .min = 1, .max = 8},
    {.name = "choices",
     .type = BASTION_FIELD_ARRAY,
     .flags = BASTION_REQUIRED,
     .min = 2,
     .max = 3,
     .items = &CHOICE},
    {.name = "answer", .type = BASTION_FIELD_INTEGER, .flags = BASTION_REQUIRED, .max = 2},
};
static const bastion_field QUESTION_RULE = {
    .type = BASTION_FIELD_OBJECT, .fields = QUESTION, .n_fields = BASTION_COUNTOF(QUESTION)};
static const bastion_field QUIZ[] = {
    {.name = "questions",
     .type = BASTION_FIELD_ARRAY,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = 2,
     .items = &QUESTION_RULE},
    {.name = "tags", .type = BASTION_FIELD_ARRAY, .items = &CHOICE}, /* no bounds */
};

static void test_VAL1_array_field_values(void **state)
{
    (void)state;
    bastion_field_value out[BASTION_COUNTOF(QUIZ)];
    cJSON *errors = validate_with("{\"questions\":[{\"id\":\"q1\",\"choices\":[\" a \",\"b\"],"
                                  "\"answer\":1},{\"id\":\"q2\",\"choices\":[\"x\",\"y\",\"z\"],"
                                  "\"answer\":0}],\"tags\":[]}",
                                  QUIZ, BASTION_COUNTOF(QUIZ), out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    cJSON_Delete(errors);
    assert_true(out[0].present);
    assert_int_equal(out[0].n_items, 2);
    const bastion_field_value *q = out[0].items;
    assert_true(q[0].present && q[1].present);
    assert_true(unit_str_is(q[0].object[0].str, "q1"));
    assert_int_equal(q[0].object[1].n_items, 2);
    assert_true(unit_str_is(q[0].object[1].items[0].str, "a")); /* each element normalised */
    assert_int_equal(q[0].object[2].integer, 1);
    assert_int_equal(q[1].object[1].n_items, 3);
    assert_true(unit_str_is(q[1].object[1].items[2].str, "z"));
    assert_true(out[1].present); /* an empty array meets min 0 */
    assert_int_equal(out[1].n_items, 0);
}

static void test_VAL1_array_field_errors_point_at_the_element(void **state)
{
    (void)state;
    bastion_field_value out[BASTION_COUNTOF(QUIZ)];
    /* every element's failures, each under its index (RFC 6901 §4: an array
     * index is a decimal token), the rest of the array still checked */
    cJSON *errors = validate_with(
        "{\"questions\":[{\"id\":\"q 1\",\"choices\":[\"a\",\"\",7],\"answer\":3},"
        "{\"choices\":[\"a\"],\"answer\":0,\"score\":9}],\"tags\":[\"ok\",null,\"toolong\"]}",
        QUIZ, BASTION_COUNTOF(QUIZ), out);
    assert_string_equal(unit_error_for(errors, "/questions/0/id"),
                        "may contain only letters, digits, '_' and '-'");
    assert_string_equal(unit_error_for(errors, "/questions/0/choices/1"), "must not be empty");
    assert_string_equal(unit_error_for(errors, "/questions/0/choices/2"), "must be a string");
    assert_string_equal(unit_error_for(errors, "/questions/0/answer"), "is out of range");
    assert_string_equal(unit_error_for(errors, "/questions/1/id"), "is required");
    assert_string_equal(unit_error_for(errors, "/questions/1/choices"),
                        "must have at least 2 items");
    assert_string_equal(unit_error_for(errors, "/questions/1/score"), "is not a known field");
    assert_string_equal(unit_error_for(errors, "/tags/1"), "must be a string");
    assert_string_equal(unit_error_for(errors, "/tags/2"), "is too long");
    assert_int_equal(cJSON_GetArraySize(errors), 9);
    assert_false(out[0].present); /* a failed element leaves no partial array */
    assert_null(out[0].items);
    assert_false(out[1].present);
    cJSON_Delete(errors);

    static const struct {
        const char *json, *detail;
    } cases[] = {
        {"{\"questions\":[]}", "must have at least 1 item"},
        {"{\"questions\":[{},{},{}]}", "must have at most 2 items"}, /* counted first */
        {"{\"questions\":{\"0\":{}}}", "must be an array"},
        {"{\"questions\":\"q1\"}", "must be an array"},
        {"{\"questions\":null}", "is required"},
        {"{\"questions\":[],\"questions\":[]}", "appears more than once"},
    };
    for (size_t i = 0; i < BASTION_COUNTOF(cases); i++) {
        errors = validate_with(cases[i].json, QUIZ, BASTION_COUNTOF(QUIZ), out);
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        assert_string_equal(unit_error_for(errors, "/questions"), cases[i].detail);
        cJSON_Delete(errors);
    }
    errors = validate_with("{\"questions\":[1]}", QUIZ, BASTION_COUNTOF(QUIZ), out);
    assert_string_equal(unit_error_for(errors, "/questions/0"), "must be an object");
    cJSON_Delete(errors);
}

/* --- MULTILINE: paragraphs in a STRING, other controls still refused (VAL3) --- */

static void test_VAL3_multiline_flag(void **state)
{
    (void)state;
    static const bastion_field f[] = {
        {.name = "body",
         .type = BASTION_FIELD_STRING,
         .flags = BASTION_MULTILINE,
         .min = 1,
         .max = 20},
        {.name = "title", .type = BASTION_FIELD_STRING, .max = 20},
    };
    bastion_field_value out[BASTION_COUNTOF(f)];
    cJSON *errors = validate_with("{\"body\":\"  one\\n\\ntwo\\tthree\\r\\n \",\"title\":\"t\"}", f,
                                  BASTION_COUNTOF(f), out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_true(unit_str_is(out[0].str, "one\n\ntwo\tthree")); /* trimmed at the ends only */
    cJSON_Delete(errors);
    static const char *const bad[] = {"\"a\\u0007b\"", "\"a\\u007fb\"", "\"a\\u0085b\"",
                                      "\"a\\u000bb\""};
    for (size_t i = 0; i < BASTION_COUNTOF(bad); i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"body\":%s}", bad[i]);
        errors = validate_with(json, f, BASTION_COUNTOF(f), out);
        assert_string_equal(unit_error_for(errors, "/body"),
                            "must not contain control characters other than tab and line breaks");
        cJSON_Delete(errors);
    }
    /* without the flag a line break is a control character */
    errors = validate_with("{\"title\":\"a\\nb\"}", f, BASTION_COUNTOF(f), out);
    assert_string_equal(unit_error_for(errors, "/title"), "must not contain control characters");
    cJSON_Delete(errors);
    errors = validate_with("{\"body\":\" \\n \"}", f, BASTION_COUNTOF(f), out);
    assert_string_equal(unit_error_for(errors, "/body"), "must not be empty");
    cJSON_Delete(errors);
}

/* --- INSTANT: a range bound, date or date-time (DATA2) --- */

static void test_DATA2_instant_field(void **state)
{
    (void)state;
    static const bastion_field f[] = {
        {.name = "from", .type = BASTION_FIELD_INSTANT, .flags = BASTION_REQUIRED},
        {.name = "to", .type = BASTION_FIELD_INSTANT, .flags = BASTION_REQUIRED | BASTION_DAY_END},
    };
    bastion_field_value out[BASTION_COUNTOF(f)];
    cJSON *errors = validate_with("{\"from\":\"2030-01-01\",\"to\":\"2030-01-31\"}", f,
                                  BASTION_COUNTOF(f), out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_true(unit_str_is(out[0].str, "2030-01-01T00:00:00.000Z"));
    assert_true(unit_str_is(out[1].str, "2030-02-01T00:00:00.000Z")); /* the 31st included */
    assert_int_equal(out[1].integer - out[0].integer, 31 * BASTION_MS_PER_DAY);
    cJSON_Delete(errors);
    errors =
        validate_with("{\"from\":\"2030-01-01T09:30:00+02:00\",\"to\":\"2030-01-31T10:00:00Z\"}", f,
                      BASTION_COUNTOF(f), out);
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_true(unit_str_is(out[0].str, "2030-01-01T07:30:00.000Z"));
    assert_true(unit_str_is(out[1].str, "2030-01-31T10:00:00.000Z"));
    cJSON_Delete(errors);
    errors = validate_with("{\"from\":\"soon\",\"to\":\"2030-01-31T10:00:00\"}", f,
                           BASTION_COUNTOF(f), out);
    assert_string_equal(unit_error_for(errors, "/from"),
                        "must be a date (YYYY-MM-DD) or an RFC 3339 date-time with offset");
    assert_string_equal(unit_error_for(errors, "/to"),
                        "must include a UTC offset (Z, +hh:mm or -hh:mm)");
    cJSON_Delete(errors);
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
        cmocka_unit_test(test_VAL1_email_field_over_254_rejected),
        cmocka_unit_test(test_VAL3_email_lowercased_and_trimmed),
        cmocka_unit_test(test_VAL3_text_trimmed),
        cmocka_unit_test(test_VAL3_control_characters_rejected),
        cmocka_unit_test(test_VAL3_length_in_code_points),
        cmocka_unit_test(test_VAL3_invalid_utf8_field_rejected),
        cmocka_unit_test(test_VAL1_json_pointer_escaping),
        cmocka_unit_test(test_VAL1_phone_field),
        cmocka_unit_test(test_VAL1_uuid_field_lowercased),
        cmocka_unit_test(test_DATA2_timestamp_field_normalised),
        cmocka_unit_test(test_DATA2_date_field),
        cmocka_unit_test(test_VAL1_enum_field),
        cmocka_unit_test(test_VAL1_cents_field),
        cmocka_unit_test(test_VAL3_lowercase_and_no_trim_flags),
        cmocka_unit_test(test_VAL1_object_field_values),
        cmocka_unit_test(test_VAL1_object_field_errors_point_inside),
        cmocka_unit_test(test_VAL1_array_field_values),
        cmocka_unit_test(test_VAL1_array_field_errors_point_at_the_element),
        cmocka_unit_test(test_VAL3_multiline_flag),
        cmocka_unit_test(test_DATA2_instant_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
