/*
 * The UTC calendar and RFC 3339 timestamps (DATA2): proleptic Gregorian, no
 * local time, no libc time. See calendar.h.
 */
#include "bastion/calendar.h"

/* see calendar.h
 * Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms",
 * days_from_civil: years are counted from March so that the leap day is the
 * last day of the year, and eras of 400 years repeat exactly (146097 days). */
int64_t bastion_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                                     /* [0, 399] */
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                         /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* see calendar.h (Hinnant's civil_from_days) */
void bastion_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* see calendar.h */
unsigned bastion_iso_weekday(int64_t days)
{
    int64_t r = days % 7; /* day 0, 1970-01-01, was a Thursday (4) */
    if (r < 0)
        r += 7;
    return (unsigned)((r + 3) % 7) + 1;
}

/* see calendar.h */
int64_t bastion_day_of_ms(int64_t epoch_ms)
{
    int64_t d = epoch_ms / BASTION_MS_PER_DAY;
    return (epoch_ms % BASTION_MS_PER_DAY < 0) ? d - 1 : d;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 Appendix C */
static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* n ASCII digits (never locale digits, signs or spaces), or -1 */
static int digits(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* RFC 3339 §5.6 full-date at p[0..10): the grammar, then the calendar */
static bastion_time_rc full_date(const char *p, int64_t *days)
{
    int y = digits(p, 4), m = digits(p + 5, 2), d = digits(p + 8, 2);
    if (p[4] != '-' || p[7] != '-' || y < 0 || m < 0 || d < 0)
        return BASTION_TIME_SYNTAX;
    if (m < 1 || m > 12 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)m))
        return BASTION_TIME_BAD_DATE;
    *days = bastion_days_from_civil(y, (unsigned)m, (unsigned)d);
    return BASTION_TIME_OK;
}

/* see calendar.h */
bastion_time_rc bastion_parse_rfc3339_ex(bastion_str s, int64_t *epoch_ms)
{
    const char *p = s.ptr;
    size_t n = s.len, i = 19;
    /* date-time = full-date "T" partial-time time-offset; the grammar is
     * checked in full before any range, so "garbage" is never BAD_DATE */
    if (!p || n < 19 || (p[10] != 'T' && p[10] != 't') || p[13] != ':' || p[16] != ':')
        return BASTION_TIME_SYNTAX;
    int hh = digits(p + 11, 2), mm = digits(p + 14, 2), ss = digits(p + 17, 2);
    if (p[4] != '-' || p[7] != '-' || digits(p, 4) < 0 || digits(p + 5, 2) < 0 ||
        digits(p + 8, 2) < 0 || hh < 0 || mm < 0 || ss < 0)
        return BASTION_TIME_SYNTAX;
    int64_t frac_ms = 0;
    if (i < n && p[i] == '.') { /* time-secfrac = "." 1*DIGIT, truncated to ms */
        size_t first = ++i;
        int64_t scale = 100;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, scale /= 10)
            frac_ms += (p[i] - '0') * scale;
        if (i == first)
            return BASTION_TIME_SYNTAX;
    }
    if (i == n)
        return BASTION_TIME_NO_OFFSET; /* §4.4: local time is not an instant */
    int64_t offset_min = 0;
    if (p[i] == 'Z' || p[i] == 'z') {
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        if (n - i < 6 || p[i + 3] != ':')
            return BASTION_TIME_SYNTAX;
        int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || om < 0)
            return BASTION_TIME_SYNTAX;
        if (oh > 23 || om > 59)
            return BASTION_TIME_BAD_DATE;
        /* §4.3: "-00:00" is UTC with the local offset unknown: the same instant */
        offset_min = (p[i] == '-' ? -1 : 1) * (int64_t)(oh * 60 + om);
        i += 6;
    } else {
        return BASTION_TIME_SYNTAX;
    }
    if (i != n)
        return BASTION_TIME_SYNTAX;
    int64_t days;
    bastion_time_rc rc = full_date(p, &days);
    if (rc != BASTION_TIME_OK)
        return rc;
    if (hh > 23 || mm > 59 || ss > 60)
        return BASTION_TIME_BAD_DATE;
    if (ss == 60)
        return BASTION_TIME_LEAP_SECOND;
    /* local time minus its offset is UTC (§4.2) */
    int64_t ms = ((days * 86400 + hh * 3600 + mm * 60 + ss) - offset_min * 60) * 1000 + frac_ms;
    if (ms < BASTION_TIME_MIN_MS || ms > BASTION_TIME_MAX_MS)
        return BASTION_TIME_OUT_OF_RANGE;
    *epoch_ms = ms;
    return BASTION_TIME_OK;
}

/* see calendar.h */
bool bastion_parse_rfc3339(bastion_str s, int64_t *epoch_ms)
{
    return bastion_parse_rfc3339_ex(s, epoch_ms) == BASTION_TIME_OK;
}

/* see calendar.h */
bastion_time_rc bastion_parse_date_ex(bastion_str s, int64_t *epoch_ms)
{
    if (!s.ptr || s.len != 10)
        return BASTION_TIME_SYNTAX;
    int64_t days;
    bastion_time_rc rc = full_date(s.ptr, &days);
    if (rc == BASTION_TIME_OK)
        *epoch_ms = days * BASTION_MS_PER_DAY;
    return rc;
}

/* see calendar.h */
bool bastion_parse_date(bastion_str s, int64_t *epoch_ms)
{
    return bastion_parse_date_ex(s, epoch_ms) == BASTION_TIME_OK;
}

/* see calendar.h */
bastion_time_rc bastion_parse_instant(bastion_str s, bool day_end, int64_t *epoch_ms)
{
    if (!s.ptr || s.len != 10) /* a date-time is at least 20 characters */
        return bastion_parse_rfc3339_ex(s, epoch_ms);
    int64_t ms;
    bastion_time_rc rc = bastion_parse_date_ex(s, &ms);
    if (rc != BASTION_TIME_OK)
        return rc;
    if (day_end)
        ms += BASTION_MS_PER_DAY;
    if (ms > BASTION_TIME_MAX_MS)
        return BASTION_TIME_OUT_OF_RANGE; /* the end of 9999-12-31 */
    *epoch_ms = ms;
    return BASTION_TIME_OK;
}

static void put_digits(char *out, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

/* Writes "YYYY-MM-DD" for the day holding epoch_ms (the caller checked the
 * range) and returns the milliseconds into that day. */
static int64_t put_date(char *out, int64_t epoch_ms)
{
    int64_t days = bastion_day_of_ms(epoch_ms), y;
    unsigned m, d;
    bastion_civil_from_days(days, &y, &m, &d);
    put_digits(out, (unsigned)y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    return epoch_ms - days * BASTION_MS_PER_DAY;
}

/* see calendar.h */
size_t bastion_format_rfc3339(int64_t epoch_ms, char out[BASTION_RFC3339_BUF])
{
    if (epoch_ms < BASTION_TIME_MIN_MS || epoch_ms > BASTION_TIME_MAX_MS) {
        out[0] = 0;
        return 0;
    }
    unsigned ms = (unsigned)put_date(out, epoch_ms); /* [0, 86399999] */
    out[10] = 'T';
    put_digits(out + 11, ms / 3600000, 2);
    out[13] = ':';
    put_digits(out + 14, ms / 60000 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, ms / 1000 % 60, 2);
    out[19] = '.';
    put_digits(out + 20, ms % 1000, 3);
    out[23] = 'Z';
    out[24] = 0;
    return 24;
}

/* see calendar.h */
size_t bastion_format_date(int64_t epoch_ms, char out[BASTION_DATE_BUF])
{
    if (epoch_ms < BASTION_TIME_MIN_MS || epoch_ms > BASTION_TIME_MAX_MS) {
        out[0] = 0;
        return 0;
    }
    put_date(out, epoch_ms);
    out[10] = 0;
    return 10;
}
