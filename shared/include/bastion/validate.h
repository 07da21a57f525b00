/*
 * Declarative field rules (VAL1, VAL3): a table of bastion_field, checked
 * against one JSON object by bastion_validate. Every failure is collected as
 * {pointer, detail} (RFC 6901 JSON Pointer) so one 422 lists them all.
 *
 * The formats behind the types are formats.h (email, E.164, UUID, UTF-8) and
 * calendar.h (RFC 3339, dates: UTC only, DATA2). The request front door that
 * runs these rules on a body, the query or a route parameter is input.h.
 *
 * Memory: bastion_validate copies normalised values (bastion_field_value.str)
 * into the request arena; nothing to release.
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
    BASTION_FIELD_INSTANT,   /* a TIMESTAMP, or a DATE standing for 00:00:00Z that day (with
                                BASTION_DAY_END: the day's end, 00:00:00Z of the next), for
                                range bounds such as ?from=2030-01-01&to=2030-01-31
                                (bastion_parse_instant); integer = UTC epoch ms,
                                str = bastion_format_rfc3339 form */
    BASTION_FIELD_OBJECT,    /* a JSON object checked against the rules `fields` (unknown and
                                duplicate members refused there too); its errors point inside
                                it ("/customer/email"); object = its values */
    BASTION_FIELD_ARRAY,     /* a JSON array of min..max elements (max 0: no bound), each
                                checked against the one rule `items` (its name unused; an
                                OBJECT or ARRAY rule nests); errors point at the element
                                ("/questions/3/answer"); items[0..n_items) = their values */
} bastion_field_type;

enum {
    BASTION_REQUIRED = 1,  /* absent or null is an error */
    BASTION_LOWERCASE = 2, /* STRING, SLUG, ENUM: ASCII A-Z → a-z before the checks */
    BASTION_NO_TRIM = 4,   /* text types: keep surrounding whitespace; spaces then count
                              toward the length, '\t' '\r' '\n' are control characters */
    BASTION_MULTILINE = 8, /* STRING: '\t', '\n' and '\r' are allowed inside (paragraphs);
                              every other control character is still refused (VAL3) */
    BASTION_DAY_END = 16,  /* INSTANT: a bare date means the end of that day */
};

/*
 * One rule. Write rules with designated initializers, so a table says what
 * each number means and omitted members are zero without a warning:
 *
 *     {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED,
 *      .min = 3, .max = 254},
 */
typedef struct bastion_field {
    const char *name;
    bastion_field_type type;
    unsigned flags;
    int64_t min, max; /* see bastion_field_type */
    /* ENUM only: the allowed values, NULL-terminated; borrowed, MUST outlive
     * every bastion_validate call (in practice a static table). */
    const char *const *choices;
    /* OBJECT only: the rules for its members, borrowed like `choices`. */
    const struct bastion_field *fields;
    size_t n_fields;
    /* ARRAY only: the rule every element meets, borrowed like `choices`. */
    const struct bastion_field *items;
} bastion_field;

typedef struct bastion_field_value {
    bool present;
    bastion_str str; /* normalised text, NUL-terminated (arena, or a static ENUM choice) */
    int64_t integer; /* INTEGER, CENTS; TIMESTAMP/DATE/INSTANT epoch ms; ENUM index */
    bool boolean;
    /* OBJECT: the values of its n_fields rules, in the arena */
    const struct bastion_field_value *object;
    /* ARRAY: one value per element, in order, in the arena */
    const struct bastion_field_value *items;
    size_t n_items;
} bastion_field_value;

/* Validates `obj` against fields[0..n); unknown and duplicate members are
 * errors. Fills out[0..n) (absent fields: present = false, all zero) and
 * appends to `errors` (a cJSON array). Returns the count of errors added.
 * `obj` is only read; out[] strings are arena copies, so they outlive it.
 *
 * cJSON ends strings at U+0000, so a tree built from text with "\u0000"
 * cannot be checked here; bastion_parse_json_or_problem (input.h) rejects such bodies
 * before they become a tree. */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors);

/* Appends {pointer, detail} to an errors array; `pointer` is a complete
 * RFC 6901 pointer ("" names the whole document). */
void bastion_error_add(cJSON *errors, const char *pointer, const char *detail);

/* Moves every entry of `from` (from bastion_validate on a nested object)
 * into `to`, each pointer prefixed with the object's own pointer (e.g.
 * "/customer"); `from` is left empty. */
void bastion_errors_move_under(cJSON *to, cJSON *from, const char *prefix);

/* A 422 problem carrying exactly one {pointer, detail}; returns its code. */
bastion_rc bastion_field_problem(bastion_ctx *cx, const char *pointer, const char *detail);

#endif
