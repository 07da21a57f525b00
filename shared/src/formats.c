/*
 * Pure format checks of untrusted text (VAL1, VAL3): UTF-8, email, E.164,
 * UUID. See formats.h.
 */
#include <string.h>

#include "bastion/formats.h"
#include "validate_internal.h"

/* see validate_internal.h. RFC 3629 §4 well-formed UTF-8: no overlongs, no
 * surrogates, nothing above U+10FFFF. */
long bastion__utf8_count(bastion_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t len = s.len;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            n = 0;
            cp = b;
        } else if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
            cp = b & 0x1Fu;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            cp = b & 0x0Fu;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            cp = b & 0x07u;
        } else
            return -1;
        if (len - i <= n)
            return -1;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += n + 1;
        count++;
    }
    return count;
}

/* see formats.h */
bool bastion_utf8_valid(bastion_str s)
{
    return bastion__utf8_count(s) >= 0;
}

static bool atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* see formats.h. A deliberately strict, pattern-free subset of RFC 5321
 * §4.1.2 addresses: dot-atom local part (no quoted strings), a domain of ≥ 2
 * LDH labels with an alphabetic TLD, lengths per RFC 5321 §4.5.3.1. */
bool bastion_email_valid(bastion_str s)
{
    if (s.len < 3 || s.len > 254)
        return false;
    const char *at = memchr(s.ptr, '@', s.len);
    if (!at)
        return false;
    size_t local = (size_t)(at - s.ptr), dom = s.len - local - 1;
    if (local == 0 || local > 64 || dom == 0 || dom > 253)
        return false;
    for (size_t i = 0; i < local; i++) {
        char c = s.ptr[i];
        if (c == '.') {
            if (i == 0 || i == local - 1 || s.ptr[i - 1] == '.')
                return false;
        } else if (!atext(c)) {
            return false;
        }
    }
    const char *d = at + 1;
    size_t labels = 0, label_len = 0, last_start = 0;
    for (size_t i = 0; i <= dom; i++) {
        char c = i < dom ? d[i] : '.';
        if (c == '.') {
            if (label_len == 0 || label_len > 63 || d[i - 1] == '-' || d[last_start] == '-')
                return false;
            labels++;
            label_len = 0;
            last_start = i + 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            label_len++;
        } else {
            return false;
        }
    }
    if (labels < 2)
        return false;
    /* the TLD is alphabetic, at least two letters */
    const char *tld = s.ptr + s.len;
    size_t tl = 0;
    while (tld > d && tld[-1] != '.') {
        tld--;
        tl++;
    }
    if (tl < 2)
        return false;
    for (size_t i = 0; i < tl; i++)
        if (!((tld[i] >= 'a' && tld[i] <= 'z') || (tld[i] >= 'A' && tld[i] <= 'Z')))
            return false;
    return true;
}

/* see formats.h */
bool bastion_phone_valid(bastion_str s)
{
    /* ITU-T E.164 §6.2.1: at most 15 digits; a country code never starts with 0 */
    if (!s.ptr || s.len < 1 + 8 || s.len > 1 + 15 || s.ptr[0] != '+')
        return false;
    if (s.ptr[1] < '1' || s.ptr[1] > '9')
        return false;
    for (size_t i = 2; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* see formats.h */
bool bastion_uuid_parse(bastion_str s, char out[37])
{
    /* RFC 9562 §4: 8-4-4-4-12 hex digits */
    if (!s.ptr || s.len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s.ptr[i] != '-' : hex_digit(s.ptr[i]) < 0)
            return false;
    }
    if (out) {
        for (size_t i = 0; i < 36; i++)
            out[i] = (s.ptr[i] >= 'A' && s.ptr[i] <= 'F') ? (char)(s.ptr[i] + 32) : s.ptr[i];
        out[36] = 0;
    }
    return true;
}
