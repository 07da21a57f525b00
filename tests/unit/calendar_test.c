/*
 * Unit tests for shared/src/calendar.c: the UTC calendar and RFC 3339
 * date-times and full-dates (DATA2).
 *
 * Vectors: RFC 3339 §5.8 examples and the offset forms of §4.2–§4.3;
 * leap-year rules from RFC 3339 Appendix C. Expected epoch values were
 * computed independently with Python's datetime (proleptic Gregorian, UTC).
 */
#include "../../shared/src/calendar.c"

#include <inttypes.h>

#include "unit.h"

/* --- RFC 3339 --- */

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
        {"2024-05-01T09:30Z", BASTION_TIME_SYNTAX, 0},    /* seconds are mandatory */
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
        {"1900-02-29T00:00:00Z", BASTION_TIME_BAD_DATE, 0}, /* ÷100 */
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
        {"0000-01-01T00:00:00+00:01", BASTION_TIME_OUT_OF_RANGE, 0},         /* year -1 in UTC */
        {"9999-12-31T23:59:59-00:01", BASTION_TIME_OUT_OF_RANGE, 0},         /* year 10000 */
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
    static const int64_t outside[] = {BASTION_TIME_MIN_MS - 1, BASTION_TIME_MAX_MS + 1, INT64_MIN,
                                      INT64_MAX};
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

/* --- the calendar --- */

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
    assert_int_equal(bastion_iso_weekday(0), 4);                                   /* Thu */
    assert_int_equal(bastion_iso_weekday(-1), 3);                                  /* Wed */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 1)), 3); /* Wed */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 5)), 7); /* Sun */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(2024, 5, 6)), 1); /* Mon */
    assert_int_equal(bastion_iso_weekday(bastion_days_from_civil(1, 1, 1)), 1);    /* Mon */
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

/* A range bound: a date-time as RFC 3339 has it, or a bare date for the
 * start of that day, or with day_end for its end (the next day's 00:00Z). */
static void test_DATA2_instant_date_or_date_time(void **state)
{
    (void)state;
    int64_t ms = -1;
    /* 2030-01-31T00:00:00Z = 1896048000000 (Python: datetime(2030,1,31,tzinfo=utc)) */
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-01-31"), false, &ms), BASTION_TIME_OK);
    assert_int_equal(ms, INT64_C(1896048000000));
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-01-31"), true, &ms), BASTION_TIME_OK);
    assert_int_equal(ms, INT64_C(1896048000000) + BASTION_MS_PER_DAY);
    /* a date-time is taken as it is, day_end or not */
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-01-31T10:00:00+01:00"), true, &ms),
                     BASTION_TIME_OK);
    assert_int_equal(ms, INT64_C(1896048000000) + 9 * 3600000);
    /* the date-time's own results come through */
    ms = 7;
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-01-31T10:00:00"), false, &ms),
                     BASTION_TIME_NO_OFFSET);
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-02-30"), false, &ms),
                     BASTION_TIME_BAD_DATE);
    assert_int_equal(bastion_parse_instant(BASTION_LIT("2030-1-31"), false, &ms),
                     BASTION_TIME_SYNTAX);
    assert_int_equal(bastion_parse_instant(BASTION_LIT("tomorrow"), false, &ms),
                     BASTION_TIME_SYNTAX);
    assert_int_equal(bastion_parse_instant(BASTION_STR_NULL, false, &ms), BASTION_TIME_SYNTAX);
    /* the end of the last representable day is past the range */
    assert_int_equal(bastion_parse_instant(BASTION_LIT("9999-12-31"), true, &ms),
                     BASTION_TIME_OUT_OF_RANGE);
    assert_int_equal(ms, 7); /* untouched on every failure */
    assert_int_equal(bastion_parse_instant(BASTION_LIT("9999-12-31"), false, &ms), BASTION_TIME_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        cmocka_unit_test(test_DATA2_instant_date_or_date_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
