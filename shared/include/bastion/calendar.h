/*
 * UTC time (DATA2): the proleptic Gregorian calendar, RFC 3339 date-times
 * and full-dates. Nothing here reads local time or calls libc's time
 * functions: all time is UTC epoch milliseconds computed from the civil
 * calendar, so the result never depends on the instance's TZ.
 *
 * Slices are read as exactly (ptr, len), never NUL-dependent. Nothing here
 * allocates; the functions write only to the caller's buffers (and leave
 * them untouched on failure, as each one says).
 */
#ifndef BASTION_CALENDAR_H
#define BASTION_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define BASTION_MS_PER_DAY INT64_C(86400000)
/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants with a
 * four-digit year, the only ones the formats below can write. */
#define BASTION_TIME_MIN_MS INT64_C(-62167219200000)
#define BASTION_TIME_MAX_MS INT64_C(253402300799999)
/* "YYYY-MM-DDTHH:MM:SS.sssZ" plus NUL */
#define BASTION_RFC3339_BUF 25
/* "YYYY-MM-DD" plus NUL */
#define BASTION_DATE_BUF 11

/* Days since 1970-01-01 of a civil date (Hinnant's days_from_civil).
 * month 1..12, day 1..31 (not checked against the month). |year| ≤ 2^31. */
int64_t bastion_days_from_civil(int64_t year, unsigned month, unsigned day);
/* The inverse; |days| ≤ 2^40. */
void bastion_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);
/* ISO 8601 weekday of a day number: 1 = Monday … 7 = Sunday. */
unsigned bastion_iso_weekday(int64_t days);
/* Floor division: the day number holding `epoch_ms` (also before 1970). */
int64_t bastion_day_of_ms(int64_t epoch_ms);

typedef enum {
    BASTION_TIME_OK = 0,
    BASTION_TIME_SYNTAX,       /* not the grammar */
    BASTION_TIME_NO_OFFSET,    /* a date-time without "Z" or ±hh:mm */
    BASTION_TIME_BAD_DATE,     /* grammar fine, but no such day or time (2023-02-29, 24:00) */
    BASTION_TIME_LEAP_SECOND,  /* second 60: not representable in epoch ms */
    BASTION_TIME_OUT_OF_RANGE, /* the UTC instant is outside BASTION_TIME_MIN/MAX_MS */
} bastion_time_rc;

/*
 * RFC 3339 §5.6 date-time, exactly:
 *   YYYY-MM-DD "T" hh:mm:ss ["." 1*DIGIT] ("Z" / ("+" / "-") hh:mm)
 * - The offset is mandatory (§4.4: no local time). "-00:00" (§4.3, offset
 *   unknown) names the same instant as "Z".
 * - "t" and "z" are accepted in lower case (§5.6 NOTE); a space instead of
 *   "T" is not (an application choice §5.6 allows, not the grammar).
 * - The calendar is checked, leap years included (Appendix C).
 * - Second 60 is rejected: POSIX/epoch time has no leap seconds, and
 *   mapping it to :59 or to the next minute would both be a guess.
 * - Fractions of any length are truncated to milliseconds (toward the past).
 * - The result, after subtracting the offset, must have a four-digit year.
 * On success *epoch_ms is the UTC instant; on failure it is untouched.
 */
bastion_time_rc bastion_parse_rfc3339_ex(bastion_str s, int64_t *epoch_ms);
/* The same, true when BASTION_TIME_OK. */
bool bastion_parse_rfc3339(bastion_str s, int64_t *epoch_ms);
/*
 * Writes the canonical UTC form "YYYY-MM-DDTHH:MM:SS.sssZ" (always 24
 * characters, always milliseconds, so strings sort as instants do, like
 * JavaScript's toISOString) and a NUL. Returns 24, or 0 with out = "" when
 * epoch_ms is outside BASTION_TIME_MIN_MS..BASTION_TIME_MAX_MS.
 * bastion_parse_rfc3339 of the output gives epoch_ms back.
 */
size_t bastion_format_rfc3339(int64_t epoch_ms, char out[BASTION_RFC3339_BUF]);

/* RFC 3339 §5.6 full-date "YYYY-MM-DD" exactly, calendar checked; *epoch_ms
 * is 00:00:00Z of that day. Returns BASTION_TIME_OK, _SYNTAX or _BAD_DATE;
 * on failure *epoch_ms is untouched. */
bastion_time_rc bastion_parse_date_ex(bastion_str s, int64_t *epoch_ms);
bool bastion_parse_date(bastion_str s, int64_t *epoch_ms);

/*
 * A point in time for a range bound: an RFC 3339 date-time with offset
 * (bastion_parse_rfc3339_ex, with its results), or a full-date of exactly 10
 * characters standing for 00:00:00Z that day — and with `day_end` for the
 * end of that day, 00:00:00Z of the next (so "to=2030-01-31" includes the
 * 31st); BASTION_TIME_OUT_OF_RANGE when that passes BASTION_TIME_MAX_MS.
 * On failure *epoch_ms is untouched.
 */
bastion_time_rc bastion_parse_instant(bastion_str s, bool day_end, int64_t *epoch_ms);
/* The UTC date holding epoch_ms as "YYYY-MM-DD" and a NUL. Returns 10, or 0
 * with out = "" outside the four-digit-year range. */
size_t bastion_format_date(int64_t epoch_ms, char out[BASTION_DATE_BUF]);

#endif
