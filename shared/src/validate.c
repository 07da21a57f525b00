/*
 * Request-body validation (VAL1, VAL3) and the UTC calendar behind the
 * timestamp and date rules (DATA2).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bastion/http.h"
#include "bastion/json.h"
#include "bastion/validate.h"

/* RFC 3629 §4 well-formed UTF-8: no overlongs, no surrogates, ≤ U+10FFFF.
 * Returns the number of code points, or -1. */
static long utf8_count(const char *s, size_t len)
{
    long count = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) { n = 0; cp = b; }
        else if (b >= 0xC2 && b <= 0xDF) { n = 1; cp = b & 0x1Fu; }
        else if (b >= 0xE0 && b <= 0xEF) { n = 2; cp = b & 0x0Fu; }
        else if (b >= 0xF0 && b <= 0xF4) { n = 3; cp = b & 0x07u; }
        else return -1;
        if (len - i <= n)
            return -1;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += n + 1;
        count++;
    }
    return count;
}

/* see validate.h */
bool bastion_utf8_valid(bastion_str s)
{
    return utf8_count(s.ptr, s.len) >= 0;
}

static bool atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A deliberately strict, pattern-free subset of RFC 5321 §4.1.2 addresses:
 * dot-atom local part (no quoted strings), a domain of ≥ 2 LDH labels with
 * an alphabetic TLD, lengths per RFC 5321 §4.5.3.1. */
bool bastion_email_valid(bastion_str s)
{
    if (s.len < 3 || s.len > 254)
        return false;
    const char *at = memchr(s.ptr, '@', s.len);
    if (!at)
        return false;
    size_t local = (size_t)(at - s.ptr), dom = s.len - local - 1;
    if (local == 0 || local > 64 || dom == 0 || dom > 253)
        return false;
    for (size_t i = 0; i < local; i++) {
        char c = s.ptr[i];
        if (c == '.') {
            if (i == 0 || i == local - 1 || s.ptr[i - 1] == '.')
                return false;
        } else if (!atext(c)) {
            return false;
        }
    }
    const char *d = at + 1;
    size_t labels = 0, label_len = 0, last_start = 0;
    for (size_t i = 0; i <= dom; i++) {
        char c = i < dom ? d[i] : '.';
        if (c == '.') {
            if (label_len == 0 || label_len > 63 || d[i - 1] == '-' || d[last_start] == '-')
                return false;
            labels++;
            label_len = 0;
            last_start = i + 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            label_len++;
        } else {
            return false;
        }
    }
    if (labels < 2)
        return false;
    /* the TLD is alphabetic, at least two letters */
    const char *tld = s.ptr + s.len;
    size_t tl = 0;
    while (tld > d && tld[-1] != '.') { tld--; tl++; }
    if (tl < 2)
        return false;
    for (size_t i = 0; i < tl; i++)
        if (!((tld[i] >= 'a' && tld[i] <= 'z') || (tld[i] >= 'A' && tld[i] <= 'Z')))
            return false;
    return true;
}

/* see validate.h */
bool bastion_phone_valid(bastion_str s)
{
    /* ITU-T E.164 §6.2.1: at most 15 digits; a country code never starts with 0 */
    if (!s.ptr || s.len < 1 + 8 || s.len > 1 + 15 || s.ptr[0] != '+')
        return false;
    if (s.ptr[1] < '1' || s.ptr[1] > '9')
        return false;
    for (size_t i = 2; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* see validate.h */
bool bastion_uuid_parse(bastion_str s, char out[37])
{
    /* RFC 9562 §4: 8-4-4-4-12 hex digits */
    if (!s.ptr || s.len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s.ptr[i] != '-' : hex_digit(s.ptr[i]) < 0)
            return false;
    }
    if (out) {
        for (size_t i = 0; i < 36; i++)
            out[i] = (s.ptr[i] >= 'A' && s.ptr[i] <= 'F') ? (char)(s.ptr[i] + 32) : s.ptr[i];
        out[36] = 0;
    }
    return true;
}

/* --- UTC calendar (DATA2) --- */

/* see validate.h
 * Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms",
 * days_from_civil: years are counted from March so that the leap day is the
 * last day of the year, and eras of 400 years repeat exactly (146097 days). */
int64_t bastion_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                               /* [0, 399] */
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                  /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* see validate.h (Hinnant's civil_from_days) */
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

/* see validate.h */
unsigned bastion_iso_weekday(int64_t days)
{
    int64_t r = days % 7; /* day 0, 1970-01-01, was a Thursday (4) */
    if (r < 0)
        r += 7;
    return (unsigned)((r + 3) % 7) + 1;
}

/* see validate.h */
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

/* see validate.h */
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

/* see validate.h */
bool bastion_parse_rfc3339(bastion_str s, int64_t *epoch_ms)
{
    return bastion_parse_rfc3339_ex(s, epoch_ms) == BASTION_TIME_OK;
}

/* see validate.h */
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

/* see validate.h */
bool bastion_parse_date(bastion_str s, int64_t *epoch_ms)
{
    return bastion_parse_date_ex(s, epoch_ms) == BASTION_TIME_OK;
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

/* see validate.h */
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

/* see validate.h */
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

/* --- rules --- */

/* RFC 6901 §3: '~' → "~0", '/' → "~1". An empty name is the pointer "/";
 * NULL is the whole document, "". */
static void add_error(cJSON *errors, const char *name, const char *detail)
{
    char ptr[160];
    size_t o = 0;
    if (name)
        ptr[o++] = '/';
    for (const char *p = name; p && *p && o + 3 < sizeof ptr; p++) {
        if (*p == '~') { ptr[o++] = '~'; ptr[o++] = '0'; }
        else if (*p == '/') { ptr[o++] = '~'; ptr[o++] = '1'; }
        else ptr[o++] = *p;
    }
    ptr[o] = 0;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", ptr);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bastion_str trim(bastion_str s)
{
    while (s.len && is_space(s.ptr[0])) { s.ptr++; s.len--; }
    while (s.len && is_space(s.ptr[s.len - 1])) s.len--;
    return s;
}

static bool has_control(bastion_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7F)
            return true;
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < s.len && (unsigned char)s.ptr[i + 1] < 0xA0)
            return true;
    }
    return false;
}

/* A NUL-terminated arena copy, ASCII upper case folded when `lower`. */
static bastion_str copy_text(bastion_str s, bool lower)
{
    char *d = bastion_str_dup(s);
    for (size_t i = 0; lower && i < s.len; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] = (char)(d[i] + 32);
    return (bastion_str){d, s.len};
}

static bool slug_ok(bastion_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "must be one of: a, b, c" — the choices are the module's own constants,
 * never request data, so they may appear in a response. */
static const char *enum_detail(const char *const *choices)
{
    static const char head[] = "must be one of: ";
    if (!choices || !choices[0])
        return "has no allowed values"; /* a rule without choices accepts nothing */
    size_t len = sizeof head;
    for (size_t i = 0; choices[i]; i++)
        len += strlen(choices[i]) + 2;
    char *d = bastion_alloc(len), *o = d;
    memcpy(o, head, sizeof head - 1);
    o += sizeof head - 1;
    for (size_t i = 0; choices[i]; i++) {
        if (i) { *o++ = ','; *o++ = ' '; }
        size_t l = strlen(choices[i]);
        memcpy(o, choices[i], l);
        o += l;
    }
    *o = 0;
    return d;
}

static const char *check_timestamp(bastion_str s, bastion_field_value *v)
{
    int64_t ms = 0;
    switch (bastion_parse_rfc3339_ex(s, &ms)) {
    case BASTION_TIME_OK: break;
    case BASTION_TIME_NO_OFFSET: return "must include a UTC offset (Z, +hh:mm or -hh:mm)";
    case BASTION_TIME_BAD_DATE: return "is not a valid date and time";
    case BASTION_TIME_LEAP_SECOND: return "must not be a leap second (:60)";
    case BASTION_TIME_OUT_OF_RANGE: return "is out of range";
    default: return "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z";
    }
    char buf[BASTION_RFC3339_BUF];
    size_t n = bastion_format_rfc3339(ms, buf);
    v->integer = ms;
    v->str = (bastion_str){bastion_str_dup((bastion_str){buf, n}), n};
    return NULL;
}

static const char *check_text(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    if (!cJSON_IsString(item))
        return "must be a string";
    bastion_str s = bastion_cstr(item->valuestring);
    if (!(f->flags & BASTION_NO_TRIM))
        s = trim(s);
    if (!bastion_utf8_valid(s))
        return "must be valid UTF-8";
    if (has_control(s))
        return "must not contain control characters";
    bool lower = f->type == BASTION_FIELD_EMAIL || f->type == BASTION_FIELD_UUID ||
                 (f->flags & BASTION_LOWERCASE);
    s = copy_text(s, lower);
    switch (f->type) {
    case BASTION_FIELD_EMAIL:
        if (!bastion_email_valid(s))
            return "must be an email address";
        break;
    case BASTION_FIELD_SLUG:
        if (!slug_ok(s))
            return "may contain only letters, digits, '_' and '-'";
        break;
    case BASTION_FIELD_PHONE:
        if (!bastion_phone_valid(s))
            return "must be an E.164 phone number such as +14155552671";
        v->str = s;
        return NULL;
    case BASTION_FIELD_UUID:
        if (!bastion_uuid_parse(s, NULL))
            return "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000";
        v->str = s;
        return NULL;
    case BASTION_FIELD_TIMESTAMP:
        return check_timestamp(s, v);
    case BASTION_FIELD_DATE:
        switch (bastion_parse_date_ex(s, &v->integer)) {
        case BASTION_TIME_OK: v->str = s; return NULL;
        case BASTION_TIME_BAD_DATE: return "is not a valid date";
        default: return "must be a date such as 2024-05-01";
        }
    case BASTION_FIELD_ENUM:
        for (size_t i = 0; f->choices && f->choices[i]; i++) {
            if (bastion_str_eq(s, bastion_cstr(f->choices[i]))) {
                v->integer = (int64_t)i;
                v->str = bastion_cstr(f->choices[i]);
                return NULL;
            }
        }
        return enum_detail(f->choices);
    default:
        break;
    }
    long cps = utf8_count(s.ptr, s.len);
    if (f->min && cps < f->min)
        return s.len == 0 ? "must not be empty" : "is too short";
    if (f->max && cps > f->max)
        return "is too long";
    v->str = s;
    return NULL;
}

#define MAX_SAFE_INTEGER 9007199254740991.0 /* 2^53 - 1: every integer below is a double */

static const char *check_cents(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    if (!cJSON_IsNumber(item))
        return "must be an integer amount in cents";
    double d = item->valuedouble;
    if (d != floor(d))
        return "must be a whole number of cents";
    if (d <= 0)
        return "must be a positive amount in cents";
    int64_t hi = f->max > 0 ? f->max : (int64_t)MAX_SAFE_INTEGER;
    if (d > MAX_SAFE_INTEGER || (int64_t)d > hi)
        return "is too large";
    if ((int64_t)d < (f->min > 1 ? f->min : 1))
        return "is too small";
    v->integer = (int64_t)d;
    return NULL;
}

static const char *check_one(const bastion_field *f, const cJSON *item, bastion_field_value *v)
{
    switch (f->type) {
    case BASTION_FIELD_STRING:
    case BASTION_FIELD_EMAIL:
    case BASTION_FIELD_SLUG:
    case BASTION_FIELD_PHONE:
    case BASTION_FIELD_UUID:
    case BASTION_FIELD_TIMESTAMP:
    case BASTION_FIELD_DATE:
    case BASTION_FIELD_ENUM:
        return check_text(f, item, v);
    case BASTION_FIELD_INTEGER: {
        if (!cJSON_IsNumber(item))
            return "must be an integer";
        double d = item->valuedouble;
        if (d != floor(d) || d < -MAX_SAFE_INTEGER || d > MAX_SAFE_INTEGER)
            return "must be an integer";
        if ((int64_t)d < f->min || (int64_t)d > f->max)
            return "is out of range";
        v->integer = (int64_t)d;
        return NULL;
    }
    case BASTION_FIELD_CENTS:
        return check_cents(f, item, v);
    case BASTION_FIELD_BOOL:
        if (!cJSON_IsBool(item))
            return "must be true or false";
        v->boolean = cJSON_IsTrue(item);
        return NULL;
    }
    return "has an unknown rule";
}

/* see validate.h */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors)
{
    size_t before = (size_t)cJSON_GetArraySize(errors);
    memset(out, 0, n * sizeof *out);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(fields[i].name, item->string) == 0;
        if (!known)
            add_error(errors, item->string, "is not a known field");
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, fields[i].name);
        /* a duplicate member is ambiguous: reject rather than pick one */
        int seen = 0;
        const cJSON *dup;
        cJSON_ArrayForEach(dup, obj) seen += strcmp(dup->string, fields[i].name) == 0;
        if (seen > 1) {
            add_error(errors, fields[i].name, "appears more than once");
            continue;
        }
        if (!it || cJSON_IsNull(it)) {
            if (fields[i].flags & BASTION_REQUIRED)
                add_error(errors, fields[i].name, "is required");
            continue;
        }
        bastion_field_value v = {0};
        const char *why = check_one(&fields[i], it, &v);
        if (why) {
            add_error(errors, fields[i].name, why);
        } else {
            v.present = true;
            out[i] = v; /* a failed field leaves no partial value behind */
        }
    }
    return (size_t)cJSON_GetArraySize(errors) - before;
}


/* see validate.h */
bastion_rc bastion_param_or_problem(bastion_ctx *cx, const bastion_field *rule,
                                    bastion_field_value *out)
{
    bastion_str raw = bastion_param(cx, rule->name);
    cJSON *errors = cJSON_CreateArray();
    memset(out, 0, sizeof *out);
    if (!raw.ptr || memchr(raw.ptr, 0, raw.len)) {
        add_error(errors, rule->name, raw.ptr ? "must not contain the NUL character" : "is required");
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The path is invalid.", errors, 0);
    }
    cJSON *probe = cJSON_CreateObject();
    cJSON_AddStringToObject(probe, rule->name, bastion_str_dup(raw));
    size_t bad = bastion_validate(probe, rule, 1, out, errors);
    cJSON_Delete(probe);
    if (bad)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The path is invalid.", errors, 0);
    cJSON_Delete(errors);
    return BASTION_OK;
}

/* see validate.h */
void bastion_error_add(cJSON *errors, const char *pointer, const char *detail)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", pointer);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
}

/* see validate.h */
void bastion_errors_move_under(cJSON *to, cJSON *from, const char *prefix)
{
    cJSON *e;
    while ((e = cJSON_DetachItemFromArray(from, 0)) != NULL) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "pointer"));
        size_t n = strlen(prefix) + (p ? strlen(p) : 0) + 1;
        char *full = bastion_alloc(n);
        snprintf(full, n, "%s%s", prefix, p ? p : "");
        cJSON_ReplaceItemInObjectCaseSensitive(e, "pointer", cJSON_CreateString(full));
        cJSON_AddItemToArray(to, e);
    }
    cJSON_Delete(from);
}

/* see validate.h */
bastion_rc bastion_field_problem(bastion_ctx *cx, const char *pointer, const char *detail)
{
    cJSON *errors = cJSON_CreateArray();
    bastion_error_add(errors, pointer, detail);
    return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The request has invalid fields.",
                              errors, 0);
}

/* see validate.h */
bastion_rc bastion_json_body_or_problem(bastion_ctx *cx, cJSON **root)
{
    *root = NULL;
    bastion_str ct = bastion_header_get(cx, "content-type");
    size_t base = 0;
    while (ct.ptr && base < ct.len && ct.ptr[base] != ';')
        base++;
    bastion_str media = trim((bastion_str){ct.ptr, base});
    if (!ct.ptr || !bastion_str_eq_ci(media, BASTION_LIT("application/json")))
        return bastion_problem(cx, BASTION_E_UNSUPPORTED_MEDIA,
                               "The body must be sent as application/json.");
    if (!bastion_utf8_valid(cx->body))
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid UTF-8.");
    /* cJSON is lenient; the strict RFC 8259 check runs first (json.h) */
    bastion_json_nul nul;
    switch (bastion_json_check_at(cx->body, 32, &nul)) {
    case BASTION_JSON_TOO_DEEP:
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is nested too deeply.");
    case BASTION_JSON_SYNTAX:
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid JSON.");
    case BASTION_JSON_NUL:
        /* valid JSON, but no field may hold it (VAL3); the checker names the
         * member, which cJSON's C strings would lose */
        return bastion_field_problem(
            cx, nul.pointer,
            nul.in_name ? "must not have a member name with the NUL character (\\u0000)"
                        : "must not contain the NUL character (\\u0000)");
    case BASTION_JSON_OK:
        break;
    }
    cJSON *tree = cJSON_ParseWithLength(cx->body.ptr, cx->body.len);
    if (!tree)
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body is not valid JSON.");
    if (!cJSON_IsObject(tree)) {
        cJSON_Delete(tree);
        return bastion_problem(cx, BASTION_E_MALFORMED_JSON, "The body must be a JSON object.");
    }
    *root = tree;
    return BASTION_OK;
}

/* see validate.h */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out)
{
    memset(out, 0, n * sizeof *out);
    cJSON *root;
    bastion_rc rc = bastion_json_body_or_problem(cx, &root);
    if (rc)
        return rc;
    cJSON *errors = cJSON_CreateArray();
    size_t bad = bastion_validate(root, fields, n, out, errors); /* out[] lives in the arena */
    cJSON_Delete(root);
    if (bad > 0)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The request has invalid fields.",
                                  errors, 0);
    cJSON_Delete(errors);
    return BASTION_OK;
}

/* see validate.h */
bastion_rc bastion_query_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                    bastion_field_value *out)
{
    cJSON *errors = cJSON_CreateArray();
    /* VAL3: a decoded %00 would cut the C string the rules see ("standard%00x"
     * passing as "standard"); refuse it before any rule runs, as the JSON
     * front door refuses \u0000 */
    for (size_t i = 0; i < n; i++) {
        bastion_str v = bastion_query_get(cx, fields[i].name);
        if (v.ptr && memchr(v.ptr, 0, v.len))
            add_error(errors, fields[i].name, "must not contain the NUL character");
    }
    if (cJSON_GetArraySize(errors) > 0) {
        memset(out, 0, n * sizeof *out);
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The query has invalid parameters.",
                                  errors, 0);
    }
    cJSON *probe = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        bastion_str v = bastion_query_get(cx, fields[i].name);
        if (v.ptr)
            cJSON_AddStringToObject(probe, fields[i].name, bastion_str_dup(v));
    }
    size_t bad = bastion_validate(probe, fields, n, out, errors);
    cJSON_Delete(probe);
    if (bad)
        return bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, "The query has invalid parameters.",
                                  errors, 0);
    cJSON_Delete(errors);
    return BASTION_OK;
}
