/*
 * Pure format checks of untrusted text (VAL1, VAL3), behind the field rules
 * of validate.h and usable on their own.
 *
 * Every slice is read as exactly (ptr, len): none needs a NUL terminator, and
 * an embedded NUL is just a byte (which no format but UTF-8 accepts). Nothing
 * here allocates; the functions write only to the caller's buffers, and
 * s.ptr may be NULL only when s.len is 0.
 */
#ifndef BASTION_FORMATS_H
#define BASTION_FORMATS_H

#include <stdbool.h>

#include "core.h"

/* RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF. */
bool bastion_utf8_valid(bastion_str s);
/* A strict dot-atom subset of RFC 5321 §4.1.2 (see formats.c). Case is not
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

#endif
