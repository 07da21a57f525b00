/*
 * Crypto helpers on BearSSL (see crypto.h).
 */
#include <bearssl_hash.h>
#include <bearssl_hmac.h>
#include <string.h>
#include <unistd.h>

#include "bastion/crypto.h"

/* see crypto.h */
void bastion_sha256(uint8_t out[BASTION_SHA256_LEN], const void *data, size_t n)
{
    br_sha256_context h;
    br_sha256_init(&h);
    br_sha256_update(&h, data, n);
    br_sha256_out(&h, out);
}

/* see crypto.h */
void bastion_hmac_sha256_parts(uint8_t out[BASTION_SHA256_LEN], const void *key, size_t klen,
                               const bastion_str *parts, size_t n)
{
    br_hmac_key_context kc;
    br_hmac_context hc;
    br_hmac_key_init(&kc, &br_sha256_vtable, key, klen);
    br_hmac_init(&hc, &kc, 0);
    for (size_t i = 0; i < n; i++)
        br_hmac_update(&hc, parts[i].ptr, parts[i].len);
    br_hmac_out(&hc, out);
}

/* see crypto.h */
void bastion_hmac_sha256(uint8_t out[BASTION_SHA256_LEN], const void *key, size_t klen,
                         const void *msg, size_t n)
{
    bastion_str part = {msg, n};
    bastion_hmac_sha256_parts(out, key, klen, &part, 1);
}

/* see crypto.h */
bool bastion_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}

/* see crypto.h */
int bastion_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        size_t chunk = n > 256 ? 256 : n; /* getentropy's limit */
        if (getentropy(p, chunk) != 0)
            return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

/* see crypto.h */
int bastion_uuid_v4(char out[37])
{
    uint8_t b[16];
    if (bastion_random(b, sizeof b) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* RFC 9562 §5.4: version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = 0;
    return 0;
}

/* see crypto.h */
void bastion_pbkdf2_sha256(uint8_t *out, size_t out_len, const void *password, size_t plen,
                           const void *salt, size_t slen, uint32_t iterations)
{
    br_hmac_key_context kc;
    br_hmac_key_init(&kc, &br_sha256_vtable, password, plen);
    for (uint32_t block = 1; out_len; block++) {
        uint8_t be[4] = {(uint8_t)(block >> 24), (uint8_t)(block >> 16), (uint8_t)(block >> 8),
                         (uint8_t)block};
        uint8_t u[32], t[32];
        br_hmac_context hc;
        br_hmac_init(&hc, &kc, 0);
        br_hmac_update(&hc, salt, slen);
        br_hmac_update(&hc, be, 4);
        br_hmac_out(&hc, u);
        memcpy(t, u, 32);
        for (uint32_t i = 1; i < iterations; i++) {
            br_hmac_init(&hc, &kc, 0);
            br_hmac_update(&hc, u, 32);
            br_hmac_out(&hc, u);
            for (int k = 0; k < 32; k++)
                t[k] ^= u[k];
        }
        size_t take = out_len < 32 ? out_len : 32;
        memcpy(out, t, take);
        out += take;
        out_len -= take;
    }
}
