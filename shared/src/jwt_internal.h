/*
 * INTERNAL to the core's JWT code (jwt.c, jwt_key.c, auth.c) and their unit
 * tests; function modules never include this.
 */
#ifndef BASTION_JWT_INTERNAL_H
#define BASTION_JWT_INTERNAL_H

#include <cjson/cJSON.h>

#include "bastion/jwt.h"

/*
 * jwt.c. Exactly `n` bytes as one JSON object: no trailing bytes, no NUL
 * (raw or "\u0000"), no duplicate member names and at most 256 members
 * (RFC 7515 §5.2 step 4; RFC 7519 §4). Used for JOSE headers, claims sets and
 * JWKs alike. NULL on any failure. The tree is request-arena memory like
 * every cJSON tree (core.h): nothing to release.
 */
cJSON *bastion__jwt_parse_object(const char *p, size_t n);

/* jwt.c. The member `name` of `o` when it is a JSON string (NUL-terminated,
 * borrowed from the tree), else NULL. */
const char *bastion__jwt_string_member(const cJSON *o, const char *name);

/* jwt_key.c. True when `key` (may be NULL) was loaded by a bastion_jwt_key_*
 * function and its material fits its algorithm. */
bool bastion__jwt_key_usable(const bastion_jwt_key *key);

/* jwt_key.c. The JOSE "alg" name of `alg` ("HS256", …); "" when unset. */
const char *bastion__jwt_alg_name(bastion_jwt_alg alg);

#endif
