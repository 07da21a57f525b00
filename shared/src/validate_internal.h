/*
 * INTERNAL to the core's validation code (formats.c, validate.c, input.c)
 * and their unit tests; function modules never include this.
 */
#ifndef BASTION_VALIDATE_INTERNAL_H
#define BASTION_VALIDATE_INTERNAL_H

#include <cjson/cJSON.h>

#include "bastion/core.h"
#include "bastion/validate.h"

/* formats.c. The number of code points in `s` when it is well-formed UTF-8
 * (bastion_utf8_valid), else -1. */
long bastion__utf8_count(bastion_str s);

/* validate.c. Appends {pointer, detail} to `errors` for the member `name`
 * (NUL-terminated; NULL: the whole document), escaping it into an RFC 6901
 * pointer. `detail` is copied. */
void bastion__error_add_name(cJSON *errors, const char *name, const char *detail);

/* validate.c. `s` without leading and trailing ' ', '\t', '\r', '\n' (a
 * sub-slice of it: no copy). */
bastion_str bastion__trim(bastion_str s);

/* validate.c. bastion_validate for provider payloads (input.h's event door):
 * members that no rule names are ignored, at every level; duplicates and
 * the rules' own checks are as strict as ever. */
size_t bastion__validate_open(const cJSON *obj, const bastion_field *fields, size_t n,
                              bastion_field_value *out, cJSON *errors);

#endif
