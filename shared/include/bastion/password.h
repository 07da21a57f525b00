/*
 * Password hashes (AUTH3): PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) with a
 * 16-byte random salt per password, stored self-describing as
 *
 *     pbkdf2_sha256$<iterations>$<salt>$<hash>
 *
 * with salt and hash in standard padded base64 (RFC 4648 §4) and the
 * iteration count in decimal, so a hash made under another count still
 * verifies after the configured count changes. Comparison is constant-time.
 */
#ifndef BASTION_PASSWORD_H
#define BASTION_PASSWORD_H

#include <stdint.h>

#include "core.h"

#define BASTION_PASSWORD_PREFIX             "pbkdf2_sha256$"
#define BASTION_PASSWORD_SALT_LEN           16
#define BASTION_PASSWORD_HASH_LEN           32
#define BASTION_PASSWORD_DEFAULT_ITERATIONS 600000
#define BASTION_PASSWORD_MAX_ITERATIONS     10000000 /* bounds the CPU one stored hash can cost */

typedef enum {
    BASTION_PASSWORD_OK = 0,
    BASTION_PASSWORD_MISMATCH,  /* well formed, another password */
    BASTION_PASSWORD_MALFORMED, /* not a hash of this form: the stored data is broken */
} bastion_password_rc;

/* A new hash of `password` (any bytes) with `iterations` in
 * 1..BASTION_PASSWORD_MAX_ITERATIONS, NUL-terminated in the arena;
 * BASTION_STR_NULL when randomness fails or iterations are out of range. */
bastion_str bastion_password_hash(bastion_str password, uint32_t iterations);

/* Checks `password` against `stored`. Runs PBKDF2 once with the stored
 * count; a malformed hash runs none. */
bastion_password_rc bastion_password_verify(bastion_str password, bastion_str stored);

/* The unknown-account path: one PBKDF2 of the same cost, result discarded,
 * so the answer's timing does not tell which accounts exist. */
void bastion_password_burn(bastion_str password, uint32_t iterations);

#endif
