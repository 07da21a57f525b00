/*
 * Signed one-time link tokens (AUTH6). See token.h for the format and the
 * contract.
 */
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/token.h"
#include "core_internal.h"

#define VERSION         0x01
#define FIXED_LEN       (1 + 8 + BASTION_TOKEN_NONCE_LEN) /* version, expiry, nonce */
#define MAC_LEN         BASTION_SHA256_LEN
#define RAW_MAX         (FIXED_LEN + BASTION_TOKEN_RESOURCE_MAX + MAC_LEN)
#define EXPIRY_MAX      253402300799 /* 9999-12-31T23:59:59Z */
#define REPLAY_MARGIN_S 300          /* instances' clocks may disagree by this much */

/* RFC 5869 §3.1: a fixed, application-specific salt and info prefix */
#define KDF_SALT "bastion/token/v1"
#define KDF_INFO "bastion/token/v1/"

_Static_assert(BASTION_TOKEN_MAX_LEN == (RAW_MAX * 4 + 2) / 3, "BASTION_TOKEN_MAX_LEN");

static bool purpose_ok(bastion_str p)
{
    if (!p.ptr || p.len == 0 || p.len > BASTION_TOKEN_PURPOSE_MAX)
        return false;
    for (size_t i = 0; i < p.len; i++) {
        char c = p.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Visible ASCII only: no spaces, controls, NUL or bytes a log could misread. */
static bool resource_ok(const char *p, size_t n)
{
    if (!p || n == 0 || n > BASTION_TOKEN_RESOURCE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
            return false;
    return true;
}

/* see token.h */
bastion_token_rc bastion_token_key_init(bastion_token_key *key, const void *master,
                                        size_t master_len, bastion_str purpose)
{
    memset(key, 0, sizeof *key);
    if (!master || master_len < BASTION_TOKEN_MASTER_MIN || !purpose_ok(purpose))
        return BASTION_TOKEN_E_INVALID;
    /* HKDF-SHA256 with one output block (L = 32): RFC 5869 §2.2, §2.3 */
    uint8_t prk[BASTION_SHA256_LEN];
    bastion_hmac_sha256(prk, KDF_SALT, sizeof KDF_SALT - 1, master, master_len);
    const bastion_str info[] = {BASTION_LIT(KDF_INFO), purpose, {"\x01", 1}};
    bastion_hmac_sha256_parts(key->k, prk, sizeof prk, info, BASTION_COUNTOF(info));
    memset(prk, 0, sizeof prk);
    return BASTION_TOKEN_OK;
}

/* see token.h */
bastion_token_rc bastion_token_sign(const bastion_token_key *key, bastion_str resource,
                                    int64_t expires_s, const uint8_t *nonce, char *out, size_t cap,
                                    size_t *out_len)
{
    uint8_t raw[RAW_MAX];
    *out_len = 0;
    if (!key || !resource_ok(resource.ptr, resource.len) || expires_s < 1 || expires_s > EXPIRY_MAX)
        return BASTION_TOKEN_E_INVALID;
    size_t body = FIXED_LEN + resource.len, n = body + MAC_LEN;
    size_t text = bastion_b64_encoded_len(n, BASTION_B64_URL);
    if (!out || cap < text + 1)
        return BASTION_TOKEN_E_INVALID;
    raw[0] = VERSION;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (uint8_t)((uint64_t)expires_s >> (56 - 8 * i));
    if (nonce)
        memcpy(raw + 9, nonce, BASTION_TOKEN_NONCE_LEN);
    else if (bastion_random(raw + 9, BASTION_TOKEN_NONCE_LEN) != 0)
        return BASTION_TOKEN_E_RANDOM;
    memcpy(raw + FIXED_LEN, resource.ptr, resource.len);
    bastion_hmac_sha256(raw + body, key->k, sizeof key->k, raw, body);
    bastion_b64_encode(out, raw, n, BASTION_B64_URL);
    out[text] = 0;
    *out_len = text;
    return BASTION_TOKEN_OK;
}

/* see token.h */
bastion_token_rc bastion_token_verify(const bastion_token_key *key, bastion_str token,
                                      int64_t now_s, bastion_token_claims *out)
{
    uint8_t raw[RAW_MAX], mac[MAC_LEN];
    size_t n;
    memset(out, 0, sizeof *out);
    if (!key)
        return BASTION_TOKEN_E_INVALID;
    /* strict base64url: padding, '+', '/', whitespace and stray bits all fail */
    if (!token.ptr || token.len > BASTION_TOKEN_MAX_LEN ||
        bastion_b64_decode(raw, sizeof raw, &n, token, BASTION_B64_URL) != BASTION_DECODE_OK ||
        n < FIXED_LEN + 1 + MAC_LEN)
        return BASTION_TOKEN_E_TAMPERED;
    size_t body = n - MAC_LEN;
    bastion_hmac_sha256(mac, key->k, sizeof key->k, raw, body);
    if (!bastion_ct_equal(mac, raw + body, MAC_LEN))
        return BASTION_TOKEN_E_TAMPERED;
    /* Authentic from here on. These checks only fail for a token minted by
     * a future format or a broken signer; they are refused all the same. */
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++)
        exp = exp << 8 | raw[1 + i];
    size_t rlen = body - FIXED_LEN;
    if (raw[0] != VERSION || exp < 1 || exp > EXPIRY_MAX ||
        !resource_ok((const char *)raw + FIXED_LEN, rlen))
        return BASTION_TOKEN_E_TAMPERED;
    out->expires_s = (int64_t)exp;
    memcpy(out->nonce, raw + 9, BASTION_TOKEN_NONCE_LEN);
    memcpy(out->resource, raw + FIXED_LEN, rlen);
    out->resource[rlen] = 0;
    out->resource_len = rlen;
    return now_s >= out->expires_s ? BASTION_TOKEN_E_EXPIRED : BASTION_TOKEN_OK;
}

/* see token.h */
bastion_token_rc bastion_token_consume(bastion_ctx *cx, const bastion_token_key *key,
                                       const char *store, const bastion_token_claims *claims,
                                       int64_t now_s, bastion_host_rc *host_rc)
{
    *host_rc = BASTION_HOST_OK;
    if (!key || !claims || !store)
        return BASTION_TOKEN_E_INVALID;
    /* "tok1:" + 32 hex digits of HMAC(key, nonce): per purpose, fixed length */
    uint8_t id[BASTION_SHA256_LEN];
    char kv_key[5 + 32];
    bastion_hmac_sha256(id, key->k, sizeof key->k, claims->nonce, BASTION_TOKEN_NONCE_LEN);
    memcpy(kv_key, "tok1:", 5);
    bastion_hex_encode(kv_key + 5, id, 16);
    /* The claim must outlive the token: after expiry verify refuses it anyway. */
    int64_t left = claims->expires_s > now_s ? claims->expires_s - now_s : 0;
    uint64_t ttl_ms = ((uint64_t)left + REPLAY_MARGIN_S) * 1000u;
    bool added = false;
    *host_rc = bastion_kv_add(cx, store, (bastion_str){kv_key, sizeof kv_key}, BASTION_LIT("1"),
                              ttl_ms, &added);
    if (*host_rc != BASTION_HOST_OK)
        return BASTION_TOKEN_E_STORE;
    return added ? BASTION_TOKEN_OK : BASTION_TOKEN_E_REUSED;
}

/* see token.h */
bastion_rc bastion_token_key_or_problem(bastion_ctx *cx, const char *var, bastion_str purpose,
                                        bastion_token_key *key)
{
    bastion_str master = bastion_config(var);
    if (master.ptr &&
        bastion_token_key_init(key, master.ptr, master.len, purpose) == BASTION_TOKEN_OK)
        return BASTION_OK;
    bastion_str detail =
        bastion_sprintf("Variable %s must be at least %d bytes.", var, BASTION_TOKEN_MASTER_MIN);
    return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail.ptr);
}

/* see token.h */
bastion_rc bastion_token_check_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                          bastion_str token, bastion_token_claims *out)
{
    bastion_token_rc rc = bastion_token_verify(key, token, (int64_t)(bastion_now_ms() / 1000), out);
    if (rc == BASTION_TOKEN_E_INVALID)
        return bastion_problem(cx, BASTION_E_MISCONFIGURED, "link token key not configured");
    if (rc == BASTION_TOKEN_E_EXPIRED)
        return bastion_problem(cx, BASTION_E_GONE, "link expired");
    if (rc != BASTION_TOKEN_OK) {
        return bastion__invalid_token(cx, "link token invalid");
    }
    return BASTION_OK;
}

/* see token.h */
bastion_rc bastion_token_redeem_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                           const char *store, bastion_str token,
                                           bastion_token_claims *out)
{
    int64_t now_s = (int64_t)(bastion_now_ms() / 1000);
    bastion_rc prc = bastion_token_check_or_problem(cx, key, token, out);
    if (prc)
        return prc;
    bastion_host_rc hrc;
    bastion_token_rc rc = bastion_token_consume(cx, key, store, out, now_s, &hrc);
    if (rc == BASTION_TOKEN_E_REUSED)
        return bastion_problem(cx, BASTION_E_CONFLICT, "link already used");
    if (rc == BASTION_TOKEN_E_STORE)
        return bastion_host_fail_or_problem(cx, hrc, "token consume");
    if (rc != BASTION_TOKEN_OK)
        return bastion_problem(cx, BASTION_E_INTERNAL, "link token could not be redeemed");
    return BASTION_OK;
}
