/*
 * The UTC calendar and the RFC 3339 / full-date parsers (DATA2).
 * Properties, for any input:
 * - an accepted date-time is inside the four-digit-year range, formats to
 *   24 characters, and parses back to the same millisecond (round trip);
 * - the canonical form is a fixed point: format(parse(canonical)) == it;
 * - an accepted full-date formats back to exactly the input;
 * - any int64 formats iff it is in range, and then round-trips;
 * - days_from_civil inverts civil_from_days, and weekdays cycle.
 */
#include <stdlib.h>
#include <string.h>

#include <bastion/calendar.h>

#include "../../shared/src/core_internal.h"

static void round_trip(int64_t ms)
{
    char out[BASTION_RFC3339_BUF];
    size_t n = bastion_format_rfc3339(ms, out);
    bool in_range = ms >= BASTION_TIME_MIN_MS && ms <= BASTION_TIME_MAX_MS;
    if (!in_range) {
        if (n != 0 || out[0] != 0)
            abort();
        return;
    }
    int64_t back;
    if (n != 24 || strlen(out) != 24 || !bastion_parse_rfc3339((bastion_str){out, n}, &back) ||
        back != ms)
        abort();
    char again[BASTION_RFC3339_BUF];
    if (bastion_format_rfc3339(back, again) != 24 || memcmp(out, again, 25) != 0)
        abort();
    char date[BASTION_DATE_BUF];
    int64_t midnight;
    if (bastion_format_date(ms, date) != 10 || memcmp(date, out, 10) != 0 ||
        !bastion_parse_date((bastion_str){date, 10}, &midnight) ||
        midnight != bastion_day_of_ms(ms) * BASTION_MS_PER_DAY || midnight > ms ||
        ms - midnight >= BASTION_MS_PER_DAY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bastion_str s = {(const char *)data, size};
    int64_t ms = 0;
    if (bastion_parse_rfc3339(s, &ms)) {
        if (ms < BASTION_TIME_MIN_MS || ms > BASTION_TIME_MAX_MS)
            abort();
        round_trip(ms);
    }
    if (bastion_parse_date(s, &ms)) {
        char out[BASTION_DATE_BUF];
        if (ms % BASTION_MS_PER_DAY != 0 || bastion_format_date(ms, out) != 10 ||
            memcmp(out, data, 10) != 0)
            abort();
    }
    if (size >= 8) {
        int64_t x;
        memcpy(&x, data, 8);
        round_trip(x);
        /* folded into range, so most inputs exercise the formatter */
        uint64_t span = (uint64_t)(BASTION_TIME_MAX_MS - BASTION_TIME_MIN_MS) + 1;
        round_trip(BASTION_TIME_MIN_MS + (int64_t)((uint64_t)x % span));
        /* the calendar itself, over ±2^40 days */
        int64_t days = (int64_t)((uint64_t)x % (UINT64_C(1) << 41)) - (INT64_C(1) << 40);
        int64_t y;
        unsigned m, d;
        bastion_civil_from_days(days, &y, &m, &d);
        if (m < 1 || m > 12 || d < 1 || d > 31 || bastion_days_from_civil(y, m, d) != days)
            abort();
        unsigned wd = bastion_iso_weekday(days); /* Monday follows Sunday */
        if (wd < 1 || wd > 7 || (wd == 7 ? 1u : wd + 1) != bastion_iso_weekday(days + 1))
            abort();
    }
    bastion__arena_reset();
    return 0;
}
