/*
 * PBKDF2-HMAC-SHA256 password hashes in the self-describing form (see
 * password.h).
 */
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/password.h"

#define SALT_MAX 64 /* a stored salt longer than this is not one of ours */

/* see password.h */
bastion_str bastion_password_hash(bastion_str password, uint32_t iterations)
{
    if (iterations < 1 || iterations > BASTION_PASSWORD_MAX_ITERATIONS)
        return BASTION_STR_NULL;
    uint8_t salt[BASTION_PASSWORD_SALT_LEN], dk[BASTION_PASSWORD_HASH_LEN];
    if (bastion_random(salt, sizeof salt) != 0)
        return BASTION_STR_NULL;
    bastion_pbkdf2_sha256(dk, sizeof dk, password.ptr, password.len, salt, sizeof salt, iterations);
    bastion_str s = bastion_b64_encode_str(salt, sizeof salt, BASTION_B64_STD);
    bastion_str h = bastion_b64_encode_str(dk, sizeof dk, BASTION_B64_STD);
    return bastion_sprintf(BASTION_PASSWORD_PREFIX "%u$" BASTION_STR_FMT "$" BASTION_STR_FMT,
                           (unsigned)iterations, BASTION_STR_ARG(s), BASTION_STR_ARG(h));
}

/* The decimal count between the prefix and the next '$': digits only, no
 * leading zero, 1..BASTION_PASSWORD_MAX_ITERATIONS. Returns 0 when bad. */
static uint32_t parse_iterations(bastion_str t)
{
    if (t.len == 0 || t.len > 8 || t.ptr[0] == '0')
        return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (t.ptr[i] < '0' || t.ptr[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(t.ptr[i] - '0');
    }
    return v <= BASTION_PASSWORD_MAX_ITERATIONS ? v : 0;
}

/* Splits `s` at the first '$': *head before it, the rest after. */
static bool split(bastion_str *s, bastion_str *head)
{
    const char *d = s->ptr ? memchr(s->ptr, '$', s->len) : NULL;
    if (!d)
        return false;
    *head = (bastion_str){s->ptr, (size_t)(d - s->ptr)};
    *s = (bastion_str){d + 1, s->len - head->len - 1};
    return true;
}

/* see password.h */
bastion_password_rc bastion_password_verify(bastion_str password, bastion_str stored)
{
    static const bastion_str PREFIX = BASTION_LIT(BASTION_PASSWORD_PREFIX);
    if (!stored.ptr || stored.len < PREFIX.len || memcmp(stored.ptr, PREFIX.ptr, PREFIX.len) != 0)
        return BASTION_PASSWORD_MALFORMED;
    bastion_str rest = {stored.ptr + PREFIX.len, stored.len - PREFIX.len}, count, salt_b64;
    if (!split(&rest, &count) || !split(&rest, &salt_b64) || memchr(rest.ptr, '$', rest.len))
        return BASTION_PASSWORD_MALFORMED;
    uint32_t iterations = parse_iterations(count);
    uint8_t salt[SALT_MAX], want[BASTION_PASSWORD_HASH_LEN + 1], got[BASTION_PASSWORD_HASH_LEN];
    size_t salt_len, want_len;
    if (!iterations ||
        bastion_b64_decode(salt, sizeof salt, &salt_len, salt_b64, BASTION_B64_STD) !=
            BASTION_DECODE_OK ||
        salt_len == 0 ||
        bastion_b64_decode(want, sizeof want, &want_len, rest, BASTION_B64_STD) !=
            BASTION_DECODE_OK ||
        want_len != BASTION_PASSWORD_HASH_LEN)
        return BASTION_PASSWORD_MALFORMED;
    bastion_pbkdf2_sha256(got, sizeof got, password.ptr, password.len, salt, salt_len, iterations);
    return bastion_ct_equal(got, want, sizeof got) ? BASTION_PASSWORD_OK
                                                   : BASTION_PASSWORD_MISMATCH;
}

/* see password.h */
void bastion_password_burn(bastion_str password, uint32_t iterations)
{
    static const uint8_t SALT[BASTION_PASSWORD_SALT_LEN] = "bastion.no-user";
    uint8_t dk[BASTION_PASSWORD_HASH_LEN];
    if (iterations < 1 || iterations > BASTION_PASSWORD_MAX_ITERATIONS)
        iterations = BASTION_PASSWORD_DEFAULT_ITERATIONS;
    bastion_pbkdf2_sha256(dk, sizeof dk, password.ptr, password.len, SALT, sizeof SALT, iterations);
}
