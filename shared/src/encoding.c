/*
 * RFC 4648 codecs. Decoding is table-free arithmetic on each character so the
 * same code serves both alphabets.
 */
#include <string.h>

#include "bastion/encoding.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* see encoding.h */
size_t bastion_b64_encoded_len(size_t n, bastion_b64_variant v)
{
    if (v == BASTION_B64_STD)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* see encoding.h */
size_t bastion_b64_decoded_max(size_t encoded_len)
{
    return encoded_len / 4 * 3 + 3;
}

/* see encoding.h */
size_t bastion_b64_encode(char *out, const void *in, size_t n, bastion_b64_variant v)
{
    const char *abc = v == BASTION_B64_URL ? URL : STD;
    const uint8_t *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[w >> 18];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = abc[(w >> 6) & 63];
        out[o++] = abc[w & 63];
    }
    size_t rest = n - i;
    if (rest) {
        uint32_t w = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = abc[w >> 18];
        out[o++] = abc[(w >> 12) & 63];
        if (rest == 2)
            out[o++] = abc[(w >> 6) & 63];
        if (v == BASTION_B64_STD) {
            if (rest == 1)
                out[o++] = '=';
            out[o++] = '=';
        }
    }
    return o;
}

static int b64_value(char c, bastion_b64_variant v)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (v == BASTION_B64_STD) {
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
    } else {
        if (c == '-')
            return 62;
        if (c == '_')
            return 63;
    }
    return -1;
}

/* see encoding.h */
bastion_decode_rc bastion_b64_decode(void *out, size_t cap, size_t *out_len, bastion_str in,
                                     bastion_b64_variant v)
{
    size_t n = in.len;
    *out_len = 0;
    if (v == BASTION_B64_STD) {
        if (n % 4)
            return BASTION_DECODE_BAD_LENGTH;
        if (n && in.ptr[n - 1] == '=') {
            n--;
            if (in.ptr[n - 1] == '=')
                n--;
        }
    }
    if (n % 4 == 1)
        return BASTION_DECODE_BAD_LENGTH;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return BASTION_DECODE_TOO_LONG;
    uint8_t *o = out;
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_value(in.ptr[i], v);
        if (d < 0)
            return BASTION_DECODE_BAD_CHAR; /* includes a '=' in the middle */
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return BASTION_DECODE_BAD_BITS; /* RFC 4648 §3.5: canonical encodings only */
    *out_len = w;
    return BASTION_DECODE_OK;
}

/* see encoding.h */
size_t bastion_hex_encode(char *out, const void *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    return 2 * n;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* see encoding.h */
bastion_decode_rc bastion_hex_decode(void *out, size_t cap, size_t *out_len, bastion_str in)
{
    *out_len = 0;
    if (in.len % 2)
        return BASTION_DECODE_BAD_LENGTH;
    if (in.len / 2 > cap)
        return BASTION_DECODE_TOO_LONG;
    uint8_t *o = out;
    for (size_t i = 0; i < in.len; i += 2) {
        int hi = hex_value(in.ptr[i]), lo = hex_value(in.ptr[i + 1]);
        if (hi < 0 || lo < 0)
            return BASTION_DECODE_BAD_CHAR;
        o[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = in.len / 2;
    return BASTION_DECODE_OK;
}

/* see encoding.h */
bastion_str bastion_b64_encode_str(const void *in, size_t n, bastion_b64_variant v)
{
    size_t len = bastion_b64_encoded_len(n, v);
    char *out = bastion_alloc(len + 1);
    bastion_b64_encode(out, in, n, v);
    out[len] = 0;
    return (bastion_str){out, len};
}

/* see encoding.h */
bastion_str bastion_hex_encode_str(const void *in, size_t n)
{
    char *out = bastion_alloc(2 * n + 1);
    bastion_hex_encode(out, in, n);
    out[2 * n] = 0;
    return (bastion_str){out, 2 * n};
}
