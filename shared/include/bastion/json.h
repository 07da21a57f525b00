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
    BASTION_JSON_SYNTAX,     /* not RFC 8259 JSON */
    BASTION_JSON_TOO_DEEP,   /* nesting beyond max_depth */
    BASTION_JSON_NUL,        /* valid JSON, but a string holds \u0000 (a raw NUL is SYNTAX) */
} bastion_json_rc;

/* Checks that `text` is exactly one JSON value (whitespace around allowed).
 * UTF-8 well-formedness is checked separately (bastion_utf8_valid). */
bastion_json_rc bastion_json_check(bastion_str text, int max_depth);

#endif
