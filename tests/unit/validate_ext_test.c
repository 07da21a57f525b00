/*
 * Unit tests for the format rules of shared/src/validate.c added after
 * validate_test.c: E.164 phones, UUIDs, RFC 3339 timestamps and dates, enums,
 * cents, the LOWERCASE / NO_TRIM flags, and the UTC calendar (VAL1, VAL3,
 * DATA2). Links validate.o like any other module.
 *
 * Vectors: RFC 3339 §5.8 examples; ITU-T E.164 §6.2.1 (15-digit maximum);
 * RFC 9562 §4 (string form) and its Appendix A example UUID; leap-year rules
 * from RFC 3339 Appendix C. Expected epoch values were computed independently
 * with Python's datetime (proleptic Gregorian, UTC).
 */
#include <inttypes.h>

#include "unit.h"

#include "bastion/validate.h"

/* ---- helpers ---- */

static const char *const STATUSES[] = {"pending", "confirmed", "cancelled", NULL};

static const bastion_field FIELDS[] = {
    {"phone", BASTION_FIELD_PHONE, 0, 0, 0},
    {"id", BASTION_FIELD_UUID, 0, 0, 0},
    {"at", BASTION_FIELD_TIMESTAMP, 0, 0, 0},
    {"day", BASTION_FIELD_DATE, 0, 0, 0},
    {"status", BASTION_FIELD_ENUM, 0, .choices = STATUSES},
    {"amount", BASTION_FIELD_CENTS, 0, 0, 1000000},
    {"tag", BASTION_FIELD_STRING, BASTION_LOWERCASE, 1, 20},
    {"raw", BASTION_FIELD_STRING, BASTION_NO_TRIM, 1, 20},
};
enum { F_PHONE, F_ID, F_AT, F_DAY, F_STATUS, F_AMOUNT, F_TAG, F_RAW, N_FIELDS };

/* Validates {"<field>": <value_json>} and returns the detail for that field
 * (NULL when accepted). Nothing else may fail. */
static const char *field_error(const char *field, const char *value_json, bastion_field_value *out)
{
    static char detail[256];
    char json[1024];
    snprintf(json, sizeof json, "{\"%s\":%s}", field, value_json);
    cJSON *obj = cJSON_Parse(json);
    if (!obj)
        unit_fail("test JSON does not parse: %.200s", json);
    cJSON *errors = cJSON_CreateArray();
    size_t added = bastion_validate(obj, FIELDS, N_FIELDS, out, errors);
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

#define ASSERT_FIELD_OK(field, json, out)                                                    \
    do {                                                                                     \
        const char *why_ = field_error(field, json, out);                                    \
        if (why_)                                                                            \
            unit_fail("%s = %s was refused: %s", field, json, why_);                         \
    } while (0)

#define ASSERT_FIELD_ERR(field, json, want, out)                                             \
    do {                                                                                     \
        const char *why_ = field_error(field, json, out);                                    \
        if (!why_ || strcmp(why_, want) != 0)                                                \
            unit_fail("%s = %s: got \"%s\", want \"%s\"", field, json,                       \
                      why_ ? why_ : "(accepted)", want);                                     \
    } while (0)

/* ---- E.164 ---- */

static void test_VAL1_phone_e164_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"+14155552671", true},
        {"+442071838750", true},
        {"+12345678", true},          /* 8 digits: the minimum */
        {"+123456789012345", true},   /* 15 digits: E.164 §6.2.1 maximum */
        {"+1234567890123456", false}, /* 16 */
        {"+1234567", false},          /* 7: too short */
        {"+", false},
        {"", false},
        {"14155552671", false},       /* no '+' */
        {"++14155552671", false},
        {"+04155552671", false},      /* country codes never start with 0 */
        {"+1415555267a", false},      /* letters */
        {"+1415O552671", false},      /* letter O for zero */
        {"+1 415 555 2671", false},   /* separators are not E.164 */
        {"+1-415-555-2671", false},
        {"+1(415)5552671", false},
        {"+\xEF\xBC\x91" "4155552671", false}, /* fullwidth digit one */
        {"+14155552671 ", false},     /* the parser does not trim; the field does */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (bastion_phone_valid(bastion_cstr(cases[i].in)) != cases[i].ok)
            unit_fail("bastion_phone_valid(\"%s\") should be %s", cases[i].in,
                      cases[i].ok ? "true" : "false");
    assert_false(bastion_phone_valid(BASTION_STR_NULL));
}

static void test_VAL1_phone_field(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
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

/* ---- UUID ---- */

static void test_VAL1_uuid_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf6", true}, /* RFC 9562 §4 */
        {"F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6", true},
        {"00000000-0000-0000-0000-000000000000", true}, /* nil, §5.9 */
        {"ffffffff-ffff-ffff-ffff-ffffffffffff", true}, /* max, §5.10 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf", false}, /* 35 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf66", false},
        {"f81d4fae7dec11d0a76500a0c91e6bf6", false},    /* no dashes */
        {"f81d4fae-7dec-11d0a765-00a0c91e6bf6-", false}, /* dash moved */
        {"f81d4fa-e7dec-11d0-a765-00a0c91e6bf6", false}, /* 7-5-4-4-12 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bg6", false}, /* non-hex 'g' */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6b f", false},
        {"{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}", false},
        {"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (bastion_uuid_parse(bastion_cstr(cases[i].in), NULL) != cases[i].ok)
            unit_fail("bastion_uuid_parse(\"%s\") should be %s", cases[i].in,
                      cases[i].ok ? "true" : "false");
    char lower[37];
    assert_true(bastion_uuid_parse(BASTION_LIT("F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"), lower));
    assert_string_equal(lower, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
}

static void test_VAL1_uuid_field_lowercased(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
    ASSERT_FIELD_OK("id", "\" F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6 \"", out);
    assert_true(unit_str_is(out[F_ID].str, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
    const char *why = "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000";
    ASSERT_FIELD_ERR("id", "\"f81d4fae-7dec-11d0-a765\"", why, out);
    ASSERT_FIELD_ERR("id", "\"f81d4fae_7dec_11d0_a765_00a0c91e6bf6\"", why, out);
    ASSERT_FIELD_ERR("id", "\"z81d4fae-7dec-11d0-a765-00a0c91e6bf6\"", why, out);
    ASSERT_FIELD_ERR("id", "42", "must be a string", out);
}

/* ---- RFC 3339 ---- */

typedef struct {
    const char *in;
    bastion_time_rc rc;
    int64_t ms;
} time_case;

static void run_time_cases(const time_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t ms = INT64_C(0x5A5A5A5A);
        bastion_time_rc rc = bastion_parse_rfc3339_ex(bastion_cstr(cases[i].in), &ms);
        if (rc != cases[i].rc)
            unit_fail("\"%s\": rc %d, want %d", cases[i].in, (int)rc, (int)cases[i].rc);
        if (rc == BASTION_TIME_OK && ms != cases[i].ms)
            unit_fail("\"%s\": %" PRId64 " ms, want %" PRId64, cases[i].in, ms, cases[i].ms);
        if (rc != BASTION_TIME_OK && ms != INT64_C(0x5A5A5A5A))
            unit_fail("\"%s\": failure wrote the output", cases[i].in);
        if (bastion_parse_rfc3339(bastion_cstr(cases[i].in), &ms) != (rc == BASTION_TIME_OK))
            unit_fail("\"%s\": the bool form disagrees", cases[i].in);
    }
}

/* RFC 3339 §5.8, and the offset forms of §4.2-§4.3 */
static void test_DATA2_rfc3339_rfc_examples(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"1985-04-12T23:20:50.52Z", BASTION_TIME_OK, INT64_C(482196050520)},
        {"1996-12-19T16:39:57-08:00", BASTION_TIME_OK, INT64_C(851042397000)},
        {"1996-12-20T00:39:57Z", BASTION_TIME_OK, INT64_C(851042397000)}, /* the same instant */
        {"1990-12-31T23:59:60Z", BASTION_TIME_LEAP_SECOND, 0},            /* §5.8: rejected */
        {"1990-12-31T15:59:60-08:00", BASTION_TIME_LEAP_SECOND, 0},
        {"1937-01-01T12:00:27.87+00:20", BASTION_TIME_OK, INT64_C(-1041337172130)},
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_DATA2_rfc3339_offsets_normalised_to_utc(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"2024-05-01T09:30:00+05:30", BASTION_TIME_OK, INT64_C(1714536000000)},
        {"2024-05-01T04:00:00Z", BASTION_TIME_OK, INT64_C(1714536000000)},
        {"2024-05-01T04:00:00+00:00", BASTION_TIME_OK, INT64_C(1714536000000)},
        {"2024-05-01T04:00:00-00:00", BASTION_TIME_OK, INT64_C(1714536000000)}, /* §4.3 */
        {"2024-12-31T23:30:00-01:00", BASTION_TIME_OK, INT64_C(1735691400000)}, /* next year */
        {"2024-05-01T00:00:00+23:59", BASTION_TIME_OK, INT64_C(1714435260000)},
        {"2024-05-01T00:00:00+24:00", BASTION_TIME_BAD_DATE, 0},
        {"2024-05-01T00:00:00+05:60", BASTION_TIME_BAD_DATE, 0},
        {"2024-05-01T00:00:00+0530", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00+05", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00+5:30", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00 +05:30", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00UTC", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00ZZ", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00Z ", BASTION_TIME_SYNTAX, 0},
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
    char out[BASTION_RFC3339_BUF];
    int64_t ms;
    assert_true(bastion_parse_rfc3339(BASTION_LIT("2024-05-01T09:30:00+05:30"), &ms));
    assert_int_equal(bastion_format_rfc3339(ms, out), 24);
    assert_string_equal(out, "2024-05-01T04:00:00.000Z");
}

/* §4.4: a time without an offset is local time, not an instant */
static void test_DATA2_rfc3339_missing_offset_rejected(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"2024-05-01T09:30:00", BASTION_TIME_NO_OFFSET, 0},
        {"2024-05-01T09:30:00.250", BASTION_TIME_NO_OFFSET, 0},
        {"2024-05-01", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T09:30Z", BASTION_TIME_SYNTAX, 0}, /* seconds are mandatory */
        {"2024-05-01 09:30:00Z", BASTION_TIME_SYNTAX, 0}, /* space: not the grammar */
        {"2024-05-01t09:30:00z", BASTION_TIME_OK, INT64_C(1714555800000)}, /* §5.6 NOTE */
        {"2024-05-01T09:30:00z", BASTION_TIME_OK, INT64_C(1714555800000)},
        {"20240501T093000Z", BASTION_TIME_SYNTAX, 0}, /* ISO 8601 basic format */
        {"2024-5-01T09:30:00Z", BASTION_TIME_SYNTAX, 0},
        {"+2024-05-01T09:30:00Z", BASTION_TIME_SYNTAX, 0},
        {"02024-05-01T09:30:00Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T9:30:00Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T09:30:00.Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T09:30:00,5Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T09:3a:00Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T-9:30:00Z", BASTION_TIME_SYNTAX, 0},
        {"", BASTION_TIME_SYNTAX, 0},
        {"garbage-that-is-long-enough", BASTION_TIME_SYNTAX, 0},
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
    int64_t ms = 7;
    assert_false(bastion_parse_rfc3339(BASTION_STR_NULL, &ms));
    assert_int_equal(ms, 7);
}

static void test_DATA2_rfc3339_fractions_truncated_to_ms(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"1970-01-01T00:00:00.5Z", BASTION_TIME_OK, 500},
        {"1970-01-01T00:00:00.05Z", BASTION_TIME_OK, 50},
        {"1970-01-01T00:00:00.123Z", BASTION_TIME_OK, 123},
        {"1970-01-01T00:00:00.1239Z", BASTION_TIME_OK, 123},
        {"1970-01-01T00:00:00.123456789Z", BASTION_TIME_OK, 123},
        {"1970-01-01T00:00:00.999999999999999999999Z", BASTION_TIME_OK, 999},
        {"1970-01-01T00:00:00.000Z", BASTION_TIME_OK, 0},
        {"1969-12-31T23:59:59.9999Z", BASTION_TIME_OK, -1}, /* toward the past */
        {"1970-01-01T00:00:00.5+01:00", BASTION_TIME_OK, -3599500},
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
}

/* RFC 3339 Appendix C: leap years; §5.7 ranges */
static void test_DATA2_rfc3339_calendar_checked(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"2024-02-29T00:00:00Z", BASTION_TIME_OK, INT64_C(1709164800000)}, /* ÷4 */
        {"2000-02-29T12:00:00Z", BASTION_TIME_OK, INT64_C(951825600000)},  /* ÷400 */
        {"2023-02-29T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"1900-02-29T00:00:00Z", BASTION_TIME_BAD_DATE, 0},                /* ÷100 */
        {"2100-02-29T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-02-30T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-13-01T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-00-01T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-01-32T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-01-00T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-04-31T00:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-12-31T00:00:00Z", BASTION_TIME_OK, INT64_C(1735603200000)},
        {"2024-05-01T24:00:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-05-01T23:60:00Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-05-01T23:59:61Z", BASTION_TIME_BAD_DATE, 0},
        {"2024-05-01T23:59:60Z", BASTION_TIME_LEAP_SECOND, 0},
        {"2024-05-01T23:59:59Z", BASTION_TIME_OK, INT64_C(1714607999000)},
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_DATA2_rfc3339_four_digit_year_range(void **state)
{
    (void)state;
    static const time_case cases[] = {
        {"0000-01-01T00:00:00Z", BASTION_TIME_OK, BASTION_TIME_MIN_MS},
        {"0001-01-01T00:00:00Z", BASTION_TIME_OK, INT64_C(-62135596800000)},
        {"9999-12-31T23:59:59.999Z", BASTION_TIME_OK, BASTION_TIME_MAX_MS},
        {"0000-01-01T00:00:00+00:01", BASTION_TIME_OUT_OF_RANGE, 0}, /* year -1 in UTC */
        {"9999-12-31T23:59:59-00:01", BASTION_TIME_OUT_OF_RANGE, 0}, /* year 10000 */
        {"0000-02-29T00:00:00Z", BASTION_TIME_OK, INT64_C(-62162121600000)}, /* 1 BC leaps */
    };
    run_time_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_DATA2_format_rfc3339(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {INT64_C(482196050520), "1985-04-12T23:20:50.520Z"},
        {INT64_C(951825600000), "2000-02-29T12:00:00.000Z"},
        {BASTION_TIME_MIN_MS, "0000-01-01T00:00:00.000Z"},
        {BASTION_TIME_MAX_MS, "9999-12-31T23:59:59.999Z"},
    };
    char out[BASTION_RFC3339_BUF];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(out, 'x', sizeof out);
        assert_int_equal(bastion_format_rfc3339(cases[i].ms, out), 24);
        assert_string_equal(out, cases[i].want);
    }
    static const int64_t outside[] = {BASTION_TIME_MIN_MS - 1, BASTION_TIME_MAX_MS + 1,
                                      INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        memset(out, 'x', sizeof out);
        assert_int_equal(bastion_format_rfc3339(outside[i], out), 0);
        assert_string_equal(out, "");
    }
}

/* parse(format(ms)) == ms over the whole range, including every offset */
static void test_DATA2_rfc3339_round_trip(void **state)
{
    (void)state;
    char out[BASTION_RFC3339_BUF];
    int64_t step = INT64_C(9876543211); /* about 114 days, not a multiple of anything */
    size_t n = 0;
    for (int64_t ms = BASTION_TIME_MIN_MS; ms <= BASTION_TIME_MAX_MS; ms += step, n++) {
        int64_t back = 0;
        assert_int_equal(bastion_format_rfc3339(ms, out), 24);
        if (!bastion_parse_rfc3339((bastion_str){out, 24}, &back) || back != ms)
            unit_fail("%" PRId64 " → %s → %" PRId64, ms, out, back);
    }
    assert_true(n > 30000);
    /* one instant, every whole-hour and half-hour offset: all the same ms */
    for (int h = -23; h <= 23; h++) {
        for (int m = 0; m < 60; m += 30) {
            int64_t off = (h < 0 ? -1 : 1) * ((int64_t)(h < 0 ? -h : h) * 60 + m);
            int64_t local = INT64_C(1714536000000) + off * 60000;
            char text[64];
            assert_int_equal(bastion_format_rfc3339(local, out), 24);
            snprintf(text, sizeof text, "%.19s%c%02d:%02d", out, off < 0 ? '-' : '+',
                     h < 0 ? -h : h, m);
            int64_t back;
            if (!bastion_parse_rfc3339(bastion_cstr(text), &back) || back != 1714536000000)
                unit_fail("%s did not name 2024-05-01T04:00:00Z", text);
        }
    }
}

/* ---- the calendar ---- */

static void test_DATA2_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(bastion_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(bastion_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(bastion_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(bastion_days_from_civil(1969, 12, 31), -1);
    /* the inverse, every day from 0000-01-01 to 9999-12-31 */
    int64_t first = bastion_days_from_civil(0, 1, 1), last = bastion_days_from_civil(9999, 12, 31);
    int64_t py = 0;
    unsigned pm = 1, pd = 0;
    for (int64_t d = first; d <= last; d++) {
        int64_t y;
        unsigned m, dd;
        bastion_civil_from_days(d, &y, &m, &dd);
        if (bastion_days_from_civil(y, m, dd) != d)
            unit_fail("day %" PRId64 " → %" PRId64 "-%u-%u does not map back", d, y, m, dd);
        /* and consecutive days are consecutive dates */
        bool next = (y == py && m == pm && dd == pd + 1) || (y == py && m == pm + 1 && dd == 1) ||
                    (y == py + 1 && m == 1 && dd == 1 && pm == 12) || d == first;
        if (!next)
            unit_fail("day %" PRId64 " is %" PRId64 "-%u-%u after %" PRId64 "-%u-%u", d, y, m, dd,
                      py, pm, pd);
        py = y, pm = m, pd = dd;
    }
    assert_true(py == 9999 && pm == 12 && pd == 31);
}

static void test_DATA2_weekday_and_day_of_ms(void **state)
{
    (void)state;
    assert_int_equal(bastion_iso_weekday(0), 4);                                    /* Thu */
    assert_int_equal(bastion_iso_weekday(-1), 3);                                   /* Wed */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 1)), 3);  /* Wed */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 5)), 7);  /* Sun */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 6)), 1);  /* Mon */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(1, 1, 1)), 1);     /* Mon */
    assert_int_equal(bastion_day_of_ms(0), 0);
    assert_int_equal(bastion_day_of_ms(BASTION_MS_PER_DAY - 1), 0);
    assert_int_equal(bastion_day_of_ms(-1), -1);
    assert_int_equal(bastion_day_of_ms(-BASTION_MS_PER_DAY), -1);
    assert_int_equal(bastion_day_of_ms(-BASTION_MS_PER_DAY - 1), -2);
}

static void test_DATA2_full_date(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bastion_time_rc rc;
        int64_t ms;
    } cases[] = {
        {"2024-05-01", BASTION_TIME_OK, INT64_C(1714521600000)},
        {"2024-02-29", BASTION_TIME_OK, INT64_C(1709164800000)},
        {"1970-01-01", BASTION_TIME_OK, 0},
        {"1969-12-31", BASTION_TIME_OK, -BASTION_MS_PER_DAY},
        {"2023-02-29", BASTION_TIME_BAD_DATE, 0},
        {"2024-13-01", BASTION_TIME_BAD_DATE, 0},
        {"2024-06-31", BASTION_TIME_BAD_DATE, 0},
        {"2024-5-01", BASTION_TIME_SYNTAX, 0},
        {"2024/05/01", BASTION_TIME_SYNTAX, 0},
        {"20240501", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01T00:00:00Z", BASTION_TIME_SYNTAX, 0},
        {"2024-05-01 ", BASTION_TIME_SYNTAX, 0},
        {"", BASTION_TIME_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 77;
        bastion_time_rc rc = bastion_parse_date_ex(bastion_cstr(cases[i].in), &ms);
        if (rc != cases[i].rc || (rc == BASTION_TIME_OK && ms != cases[i].ms) ||
            (rc != BASTION_TIME_OK && ms != 77))
            unit_fail("\"%s\": rc %d ms %" PRId64, cases[i].in, (int)rc, ms);
        assert_int_equal(bastion_parse_date(bastion_cstr(cases[i].in), &ms), rc == BASTION_TIME_OK);
    }
    char out[BASTION_DATE_BUF];
    assert_int_equal(bastion_format_date(INT64_C(1714536000000), out), 10);
    assert_string_equal(out, "2024-05-01");
    assert_int_equal(bastion_format_date(-1, out), 10);
    assert_string_equal(out, "1969-12-31");
    assert_int_equal(bastion_format_date(BASTION_TIME_MAX_MS + 1, out), 0);
    assert_string_equal(out, "");
}

/* ---- the fields ---- */

static void test_DATA2_timestamp_field_normalised(void **state)
{
    (void)state;
    bastion_field_value out[N_FIELDS];
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
    bastion_field_value out[N_FIELDS];
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
    bastion_field_value out[N_FIELDS];
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
        {"s", BASTION_FIELD_ENUM, BASTION_LOWERCASE, .choices = STATUSES},
        {"none", BASTION_FIELD_ENUM, 0, 0, 0},
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
    bastion_field_value out[N_FIELDS];
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
        {"c", BASTION_FIELD_CENTS, BASTION_REQUIRED, 0, 0},
        {"d", BASTION_FIELD_CENTS, 0, 50, 0},
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
    bastion_field_value out[N_FIELDS];
    ASSERT_FIELD_OK("tag", "\"  Summer-SALE \"", out);
    assert_true(unit_str_is(out[F_TAG].str, "summer-sale"));
    ASSERT_FIELD_OK("tag", "\"\xC3\x89t\xC3\xA9\"", out); /* ASCII folding only: "Été" */
    assert_true(unit_str_is(out[F_TAG].str, "\xC3\x89t\xC3\xA9"));
    ASSERT_FIELD_OK("raw", "\"  two  \"", out);
    assert_true(unit_str_is(out[F_RAW].str, "  two  "));
    ASSERT_FIELD_ERR("raw", "\"two\\n\"", "must not contain control characters", out);
    ASSERT_FIELD_ERR("raw", "\"                     \"", "is too long", out); /* 21 spaces */
}

/* Each failing format field adds exactly one {pointer, detail}. */
static void test_VAL1_format_errors_collected_in_one_422(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    cx.headers = ct;
    cx.n_headers = 1;
    cx.body = BASTION_LIT("{\"phone\":\"555-1234\",\"id\":\"nope\",\"at\":\"2024-05-01T09:30:00\","
                          "\"day\":\"2024-02-30\",\"status\":\"shipped\",\"amount\":0,"
                          "\"tag\":\"\",\"raw\":5,\"extra\":1}");
    bastion_field_value out[N_FIELDS];
    assert_int_equal(bastion_parse_json_or_problem(&cx, FIELDS, N_FIELDS, out),
                     BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_int_equal(cJSON_GetArraySize(errors), 9);
    static const char *const ptrs[] = {"/phone", "/id", "/at", "/day", "/status",
                                       "/amount", "/tag", "/raw", "/extra"};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (!unit_error_for(errors, ptrs[i]))
            unit_fail("no error for %s", ptrs[i]);
    cJSON_Delete(j);
    for (size_t i = 0; i < N_FIELDS; i++)
        assert_false(out[i].present);
}

/* ---- the front door ---- */

static bastion_rc front_door(bastion_ctx *cx, const char *body, size_t len)
{
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    static const bastion_field any[] = {{"x", BASTION_FIELD_STRING, 0, 0, 1000}};
    bastion_field_value out[1];
    unit_ctx(cx);
    cx->headers = ct;
    cx->n_headers = 1;
    cx->body = (bastion_str){body, len};
    return bastion_parse_json_or_problem(cx, any, 1, out);
}

/* VAL3: "\u0000" is valid JSON but would cut cJSON's C string short (the
 * rest of the value, or of a member name, would never be checked). */
static void test_VAL3_nul_escape_rejected_at_front_door(void **state)
{
    (void)state;
    static const struct {
        const char *body, *pointer; /* the member holding it; a name: its object */
    } bodies[] = {
        {"{\"x\":\"ab\\u0000cd\"}", "/x"},
        {"{\"x\\u0000y\":\"ab\"}", ""},
        {"{\"x\":\"a\",\"y\":[\"\\u0000\"]}", "/y/0"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        bastion_ctx cx;
        if (front_door(&cx, bodies[i].body, strlen(bodies[i].body)) != BASTION_E_UNPROCESSABLE)
            unit_fail("%s was not refused with 422", bodies[i].body);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        if (!unit_error_for(errors, bodies[i].pointer))
            unit_fail("%s: no error at \"%s\"", bodies[i].body, bodies[i].pointer);
        cJSON_Delete(j);
    }
    /* an escaped backslash followed by "u0000" is text, not a NUL */
    bastion_ctx cx;
    const char *text = "{\"x\":\"a\\\\u0000\"}";
    assert_int_equal(front_door(&cx, text, strlen(text)), BASTION_OK);
    /* other \u escapes are untouched */
    text = "{\"x\":\"\\u0041\\u00e9\\u0100\"}";
    assert_int_equal(front_door(&cx, text, strlen(text)), BASTION_OK);
}

/* The RFC 8259 §6 number check must not refuse valid numbers. */
static void test_VAL1_rfc8259_numbers_accepted(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{\"y\":0}", "{\"y\":-0}", "{\"y\":10}", "{\"y\":-10}", "{\"y\":1.5}", "{\"y\":0.5}",
        "{\"y\":1e5}", "{\"y\":1E+5}", "{\"y\":1e-5}", "{\"y\":-0.0e0}", "{\"y\":[1,2,-3]}",
        "{\"y\":{\"a\":1}}", "{ \"y\" : 1 }", "{\"y\":[true,false,null,1]}", "{\"y\":\"01 +1 .5\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bastion_ctx cx;
        /* "y" is not a known field: 422 proves the body parsed */
        if (front_door(&cx, good[i], strlen(good[i])) != BASTION_E_UNPROCESSABLE)
            unit_fail("%s was not parsed", good[i]);
    }
    static const char *const bad[] = {
        "{\"y\":01}", "{\"y\":-}", "{\"y\":1.}", "{\"y\":.5}", "{\"y\":+1}", "{\"y\":1e}",
        "{\"y\":1e+}", "{\"y\":1.5.5}", "{\"y\":--1}", "{\"y\":0x10}", "{\"y\":1-2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        if (front_door(&cx, bad[i], strlen(bad[i])) != BASTION_E_MALFORMED_JSON)
            unit_fail("%s was not refused with 400", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_VAL1_phone_e164_valid_and_invalid),
        cmocka_unit_test(test_VAL1_phone_field),
        cmocka_unit_test(test_VAL1_uuid_valid_and_invalid),
        cmocka_unit_test(test_VAL1_uuid_field_lowercased),
        cmocka_unit_test(test_DATA2_rfc3339_rfc_examples),
        cmocka_unit_test(test_DATA2_rfc3339_offsets_normalised_to_utc),
        cmocka_unit_test(test_DATA2_rfc3339_missing_offset_rejected),
        cmocka_unit_test(test_DATA2_rfc3339_fractions_truncated_to_ms),
        cmocka_unit_test(test_DATA2_rfc3339_calendar_checked),
        cmocka_unit_test(test_DATA2_rfc3339_four_digit_year_range),
        cmocka_unit_test(test_DATA2_format_rfc3339),
        cmocka_unit_test(test_DATA2_rfc3339_round_trip),
        cmocka_unit_test(test_DATA2_days_from_civil),
        cmocka_unit_test(test_DATA2_weekday_and_day_of_ms),
        cmocka_unit_test(test_DATA2_full_date),
        cmocka_unit_test(test_DATA2_timestamp_field_normalised),
        cmocka_unit_test(test_DATA2_date_field),
        cmocka_unit_test(test_VAL1_enum_field),
        cmocka_unit_test(test_VAL1_cents_field),
        cmocka_unit_test(test_VAL3_lowercase_and_no_trim_flags),
        cmocka_unit_test(test_VAL1_format_errors_collected_in_one_422),
        cmocka_unit_test(test_VAL3_nul_escape_rejected_at_front_door),
        cmocka_unit_test(test_VAL1_rfc8259_numbers_accepted),
    };
    return cmocka_run_group_tests_name("validate_ext", tests, NULL, NULL);
}
