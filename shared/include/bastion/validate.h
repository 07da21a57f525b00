/*
 * Declarative validation of a JSON request body (VAL1, VAL3).
 * Every failure is collected as {pointer, detail} (RFC 6901 JSON Pointer)
 * so one 422 lists them all.
 */
#ifndef BASTION_VALIDATE_H
#define BASTION_VALIDATE_H

#include <cjson/cJSON.h>

#include "core.h"
#include "problem.h"

typedef enum {
    BASTION_FIELD_STRING,   /* trimmed, control characters rejected, length in code points */
    BASTION_FIELD_EMAIL,    /* trimmed, lower-cased, ≤ 254 */
    BASTION_FIELD_SLUG,     /* [A-Za-z0-9_-], length in bytes */
    BASTION_FIELD_INTEGER,  /* JSON number without fraction, within [min, max] */
    BASTION_FIELD_BOOL,
} bastion_field_type;

enum { BASTION_REQUIRED = 1 };

typedef struct {
    const char *name;
    bastion_field_type type;
    unsigned flags;
    int64_t min, max; /* length bounds for text, value bounds for integers */
} bastion_field;

typedef struct {
    bool present;
    bastion_str str;   /* normalised text */
    int64_t integer;
    bool boolean;
} bastion_field_value;

/* Validates `obj` against fields[0..n); unknown members are errors. Fills
 * out[0..n) and appends to `errors` (a cJSON array). Returns the count of
 * errors added. */
size_t bastion_validate(const cJSON *obj, const bastion_field *fields, size_t n,
                        bastion_field_value *out, cJSON *errors);

/*
 * The whole front door for a JSON body: 415 unless Content-Type is
 * application/json, 400 for invalid UTF-8, malformed JSON, nesting deeper
 * than 32 or a non-object, 422 with errors[] for failed rules. On failure the
 * problem is already written; the caller just returns.
 */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out);

bool bastion_utf8_valid(bastion_str s);
bool bastion_email_valid(bastion_str s);

#endif
