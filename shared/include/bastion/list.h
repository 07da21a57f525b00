/*
 * Comma-separated lists, as configuration variables and HTTP fields write
 * them (RFC 9110 §5.6.1 "#rule"): members separated by ',', each with
 * optional whitespace (OWS = SP / HTAB, §5.6.3) around it, and empty
 * members ignored, so "a, b,,c " is the list a, b, c.
 *
 * Quoted strings are not understood: a ',' always separates. Lists whose
 * members may hold a quoted ',' (entity-tags, §8.8.3) need their own
 * parser.
 *
 * Nothing allocates: every slice returned is a sub-slice of the caller's
 * list (not NUL-terminated, core.h) and lives as long as it does.
 */
#ifndef BASTION_LIST_H
#define BASTION_LIST_H

#include <stdbool.h>

#include "core.h"

/* `s` without leading and trailing SP and HTAB (RFC 9110 §5.6.3 OWS). */
bastion_str bastion_trim_ows(bastion_str s);

/*
 * The next non-empty member of *rest, trimmed of OWS, into *member; *rest
 * moves past it. False (and *member = BASTION_STR_NULL) when no member is
 * left. Walk a list with:
 *
 *     bastion_str rest = list, m;
 *     while (bastion_list_next(&rest, &m)) { … }
 */
bool bastion_list_next(bastion_str *rest, bastion_str *member);

/* True when a member of `list` equals `want` ignoring ASCII case; *member
 * (may be NULL) is then that member as the list spells it. */
bool bastion_list_find_ci(bastion_str list, bastion_str want, bastion_str *member);

#endif
