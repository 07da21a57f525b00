/*
 * Declarative validation of a JSON request body (VAL1, VAL3), and the pure
 * format parsers behind it (E.164, UUID, RFC 3339, ISO dates) for reuse.
 *
 * Every failure is collected as {pointer, detail} (RFC 6901 JSON Pointer)
 * so one 422 lists them all. Nothing here reads local time: all time is UTC
 * epoch milliseconds computed from the civil calendar (DATA2).
 *
 * Memory: bastion_validate copies normalised values (bastion_field_value.str)
 * into the request arena; nothing to release. The pure functions below
 * (bastion_*_valid, bastion_parse_*, bastion_format_*, the calendar) never
 * allocate and write only to the caller's buffers.
 */
#ifndef BASTION_VALIDATE_H
#define BASTION_VALIDATE_H

#include <cjson/cJSON.h>

#include "core.h"
#include "problem.h"

/*
 * What each type accepts. All text types take a JSON string, trimmed of
 * leading and trailing ' ', '\t', '\r', '\n' (unless BASTION_NO_TRIM), that
 * is well-formed UTF-8 without control characters (C0, DEL, C1). `min`/`max`
 * apply where the comment says so; 0 means "no bound" for text lengths.
 */
typedef enum {
    BASTION_FIELD_STRING,    /* length in code points within [min, max] */
    BASTION_FIELD_EMAIL,     /* lower-cased, ≤ 254 octets (bastion_email_valid), [min, max] */
    BASTION_FIELD_SLUG,      /* [A-Za-z0-9_-], length in bytes within [min, max] */
    BASTION_FIELD_INTEGER,   /* JSON number without fraction, |v| ≤ 2^53 - 1, within [min, max] */
    BASTION_FIELD_BOOL,      /* JSON true / false */
    BASTION_FIELD_PHONE,     /* E.164 (bastion_phone_valid): "+14155552671"; no separators */
    BASTION_FIELD_UUID,      /* RFC 9562 §4 8-4-4-4-12 hex; str is lower-cased */
    BASTION_FIELD_TIMESTAMP, /* RFC 3339 §5.6 date-time with offset (bastion_parse_rfc3339);
                                integer = UTC epoch ms, str = bastion_format_rfc3339 form */
    BASTION_FIELD_DATE,      /* RFC 3339 full-date "YYYY-MM-DD"; integer = epoch ms of
                                00:00:00Z that day, str = the date */
    BASTION_FIELD_ENUM,      /* one of `choices`, compared byte for byte; integer = its index,
                                str = choices[index] itself; a 422 lists the choices */
    BASTION_FIELD_CENTS,     /* an amount: JSON integer ≥ max(1, min) and ≤ max
                                (max 0: ≤ 2^53 - 1); integer = cents */
} bastion_field_type;

enum {
    BASTION_REQUIRED = 1,  /* absent or null is an error */
    BASTION_LOWERCASE = 2, /* STRING, SLUG, ENUM: ASCII A-Z → a-z before the checks */
    BASTION_NO_TRIM = 4,   /* text types: keep surrounding whitespace; spaces then count
                              toward the length, '\t' '\r' '\n' are control characters */
};

/*
 * One rule. Existing positional initializers {name, type, flags, min, max}
 * stay valid: `choices` is zero (NULL) when omitted. C zero-initialises
 * omitted members, but -Wextra's -Wmissing-field-initializers would still
 * flag every such rule table, so that one warning is switched off for
 * files that include this header (it never flags designated initializers,
 * which ENUM rules use for `.choices`).
 */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif

typedef struct {
    const char *name;
    bastion_field_type type;
    unsigned flags;
    int64_t min, max; /* see bastion_field_type */
    /* ENUM only: the allowed values, NULL-terminated; borrowed, MUST outlive
     * every bastion_validate call (in practice a static table). */
    const char *const *choices;
} bastion_field;

typedef struct {
    bool present;
    bastion_str str;   /* normalised text, NUL-terminated (arena, or a static ENUM choice) */
    int64_t integer;   /* INTEGER, CENTS; TIMESTAMP/DATE epoch ms; ENUM index */
    bool boolean;
} bastion_field_value;

/* Validates `obj` against fields[0..n); unknown and duplicate members are
 * errors. Fills out[0..n) (absent fields: present = false, all zero) and
 * appends to `errors` (a cJSON array). Returns the count of errors added.
 *
 * cJSON ends strings at U+0000, so a tree built from text with "\u0000"
 * cannot be checked here; bastion_parse_json_or_problem rejects such bodies
 * before they become a tree. */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors);

/* Appends {pointer, detail} to an errors array; `pointer` is a complete
 * RFC 6901 pointer ("" names the whole document). */
void bastion_error_add(cJSON *errors, const char *pointer, const char *detail);

/* Moves every entry of `from` (from bastion_validate on a nested object)
 * into `to`, each pointer prefixed with the object's own pointer (e.g.
 * "/customer"); deletes `from`. */
void bastion_errors_move_under(cJSON *to, cJSON *from, const char *prefix);

/* A 422 problem carrying exactly one {pointer, detail}; returns its code. */
bastion_rc bastion_field_problem(bastion_ctx *cx, const char *pointer, const char *detail);

/*
 * The body checks of bastion_parse_json_or_problem without the field rules:
 * 415 / 400 (UTF-8, RFC 8259, depth 32, not an object) / 422 (a \u0000,
 * blamed on the member that holds it: "/customer/email"). On
 * BASTION_OK *root is the parsed object, owned by the caller (cJSON_Delete),
 * for bodies with nested objects the caller validates part by part.
 */
bastion_rc bastion_json_body_or_problem(bastion_ctx *cx, cJSON **root);

/* Validates query parameters with the field rules (pointers name the
 * parameter; parameters not in `fields` are ignored); 422 on failure. A
 * decoded NUL (%00) is refused before any C string is made of it. */
bastion_rc bastion_query_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                    bastion_field_value *out);

/*
 * Validates the route parameter named rule->name with the same rule a body
 * field would get; on failure writes 422 (pointer "/<name>") and returns it.
 * A decoded NUL is refused before any C string is made of it.
 */
bastion_rc bastion_param_or_problem(bastion_ctx *cx, const bastion_field *rule,
                                    bastion_field_value *out);

/*
 * The whole front door for a JSON body: 415 unless Content-Type is
 * application/json; 400 for invalid UTF-8, a raw control character inside a
 * string (RFC 8259 §7), malformed JSON, nesting deeper than 32 or a
 * non-object; 422 with errors[] for failed rules, and 422 (pointer "") for
 * an escaped U+0000 anywhere. On failure the problem is already written; the
 * caller just returns.
 */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out);

/* RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF. */
bool bastion_utf8_valid(bastion_str s);
/* A strict dot-atom subset of RFC 5321 §4.1.2 (see validate.c). Case is not
 * folded here; the EMAIL field lower-cases first. */
bool bastion_email_valid(bastion_str s);

/*
 * E.164 (ITU-T E.164 §6.2.1: at most 15 digits, country code first, never
 * starting with 0): '+', then 8 to 15 ASCII digits, the first 1-9. No
 * spaces, dashes or parentheses. E.164 sets no minimum; 8 keeps typos out at
 * the cost of a few 7-digit numbers (Niue, Tokelau).
 */
bool bastion_phone_valid(bastion_str s);

/*
 * RFC 9562 §4 string form: 36 characters, hex digits of either case in
 * groups 8-4-4-4-12 separated by '-'. Any version and variant (nil and max
 * included); no braces, no "urn:uuid:". When out is not NULL, writes the
 * lower-case form (§4: "output as lower case") and a NUL: 37 bytes.
 */
bool bastion_uuid_parse(bastion_str s, char out[37]);

/* --- UTC time (DATA2): proleptic Gregorian, no local time, no libc time --- */

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
/* The UTC date holding epoch_ms as "YYYY-MM-DD" and a NUL. Returns 10, or 0
 * with out = "" outside the four-digit-year range. */
size_t bastion_format_date(int64_t epoch_ms, char out[BASTION_DATE_BUF]);

#endif
