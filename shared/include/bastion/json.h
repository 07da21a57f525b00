/*
 * A strict RFC 8259 syntax check that runs before cJSON sees a body.
 *
 * cJSON is lenient where an API must not be: it accepts raw control
 * characters inside strings, numbers such as 01, 1. and -.5, and it keeps
 * "\u0000" as a NUL that silently truncates the value for every later strlen.
 * This checker walks the bytes once, without allocating, and rejects all of
 * those, plus nesting deeper than max_depth (cJSON recurses per level).
 */
#ifndef BASTION_JSON_H
#define BASTION_JSON_H

#include <stdbool.h>

#include "core.h"

typedef enum {
    BASTION_JSON_OK = 0,
    BASTION_JSON_SYNTAX,   /* not RFC 8259 JSON */
    BASTION_JSON_TOO_DEEP, /* nesting beyond max_depth */
    BASTION_JSON_NUL,      /* valid JSON, but a string holds \u0000 (a raw NUL is SYNTAX) */
} bastion_json_rc;

#define BASTION_JSON_POINTER_MAX 160

/*
 * Where the first \u0000 is, filled by bastion_json_check_at when it returns
 * BASTION_JSON_NUL: the RFC 6901 pointer of the string value that holds it
 * (member names decoded, then '~' and '/' escaped as in §3), e.g.
 * "/customer/email" or "/items/2"; "" is the whole document. When a member
 * *name* holds it, `in_name` is set and `pointer` names the object with that
 * member. A pointer that does not fit is cut back, token by token, to the
 * deepest ancestor that does. Caller-allocated; no release function.
 */
typedef struct {
    char pointer[BASTION_JSON_POINTER_MAX]; /* NUL-terminated */
    bool in_name;
} bastion_json_nul;

/* Checks that `text` is exactly one JSON value (whitespace around allowed).
 * UTF-8 well-formedness is checked separately (bastion_utf8_valid).
 * BASTION_JSON_NUL is returned only for text that is otherwise valid: a
 * syntax error or too deep a nesting anywhere wins over a \u0000. */
bastion_json_rc bastion_json_check(bastion_str text, int max_depth);

/* bastion_json_check that also says where the first \u0000 is. `nul` may be
 * NULL; its contents mean something only when BASTION_JSON_NUL is returned. */
bastion_json_rc bastion_json_check_at(bastion_str text, int max_depth, bastion_json_nul *nul);

#endif
