/*
 * Strict base64 (RFC 4648 §4), base64url (§5) and hex (§8) codecs.
 *
 * Decoders never allocate and never truncate silently: they reject any byte
 * outside the alphabet, misplaced or missing padding (standard alphabet),
 * any padding at all (URL alphabet, as JOSE requires: RFC 7515 §2), non-zero
 * unused trailing bits (RFC 4648 §3.5), an odd hex length, and output that
 * would not fit `cap`. The caller provides every buffer.
 */
#ifndef BASTION_ENCODING_H
#define BASTION_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

typedef enum {
    BASTION_B64_STD, /* "+/" with "=" padding */
    BASTION_B64_URL, /* "-_" without padding */
} bastion_b64_variant;

typedef enum {
    BASTION_DECODE_OK = 0,
    BASTION_DECODE_BAD_CHAR,   /* a byte outside the alphabet */
    BASTION_DECODE_BAD_LENGTH, /* impossible length or padding */
    BASTION_DECODE_BAD_BITS,   /* non-zero unused trailing bits */
    BASTION_DECODE_TOO_LONG,   /* output would exceed cap */
} bastion_decode_rc;

/* Bytes bastion_b64_encode writes for n input bytes (no NUL). */
size_t bastion_b64_encoded_len(size_t n, bastion_b64_variant v);
/* Upper bound on decoded bytes for an encoded length. */
size_t bastion_b64_decoded_max(size_t encoded_len);
/* Writes bastion_b64_encoded_len(n, v) bytes to out; returns that count. */
size_t bastion_b64_encode(char *out, const void *in, size_t n, bastion_b64_variant v);
bastion_decode_rc bastion_b64_decode(void *out, size_t cap, size_t *out_len, bastion_str in,
                                     bastion_b64_variant v);

/* Writes 2n lower-case hex digits; returns 2n. */
size_t bastion_hex_encode(char *out, const void *in, size_t n);
/* Accepts upper and lower case digits. */
bastion_decode_rc bastion_hex_decode(void *out, size_t cap, size_t *out_len, bastion_str in);

/* Arena conveniences: encoded text as a slice (NUL-terminated too). */
bastion_str bastion_b64_encode_str(const void *in, size_t n, bastion_b64_variant v);
bastion_str bastion_hex_encode_str(const void *in, size_t n);

#endif
