/*
 * Hashes, MACs, constant-time comparison, randomness and PBKDF2, on BearSSL.
 * No function allocates; every buffer is the caller's.
 */
#ifndef BASTION_CRYPTO_H
#define BASTION_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define BASTION_SHA256_LEN 32

void bastion_sha256(uint8_t out[BASTION_SHA256_LEN], const void *data, size_t n);

/* HMAC-SHA256 (RFC 2104) over the concatenation of parts[0..n). */
void bastion_hmac_sha256_parts(uint8_t out[BASTION_SHA256_LEN], const void *key, size_t klen,
                               const bastion_str *parts, size_t n);
void bastion_hmac_sha256(uint8_t out[BASTION_SHA256_LEN], const void *key, size_t klen,
                         const void *msg, size_t n);

/* Compares n bytes in time that depends only on n. */
bool bastion_ct_equal(const void *a, const void *b, size_t n);

/* Fills buf from the host's CSPRNG (WASI random_get). 0 on success. */
int bastion_random(void *buf, size_t n);

/* A random RFC 9562 version 4 UUID, lower-case, NUL-terminated: ids that
 * say nothing about volume or order. 0 on success. */
int bastion_uuid_v4(char out[37]);

/* PBKDF2-HMAC-SHA256 (RFC 8018 §5.2). iterations ≥ 1; out_len ≥ 1. */
void bastion_pbkdf2_sha256(uint8_t *out, size_t out_len, const void *password, size_t plen,
                           const void *salt, size_t slen, uint32_t iterations);

#endif
