/* JWT verification, key parsing and HS256 issuing over arbitrary bytes
 * (AUTH1, AUTH2). The first byte picks what the rest is fed to:
 *   0–2  a token, verified with the RFC 7515 A.1 / A.2 / A.3 key
 *   3    key text (JWK or PEM)
 *   4    a claims set, signed here with the A.1 key so that the payload
 *        parser and the claim checks are reached past the signature
 *   5    JSON claims given to bastion_jwt_sign_hs256: whatever it signs,
 *        bastion_jwt_verify must accept up to the time and audience checks
 */
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/jwt.h>

#include "../../shared/src/core_internal.h"

/* RFC 7515 Appendix A keys (public parts) */
static const char *const KEY_TEXT[3] = {
    "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h"
    "cgUuTwjAzZr1Z9CAow\"}",
    "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Va"
    "w-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg"
    "0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5Z"
    "wKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\""
    ",\"e\":\"AQAB\"}",
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
};
static bastion_jwt_key keys[3];
static bool loaded;

#define A_NOW 1300819379 /* before the vectors' exp */
#define NOW   1700000000

static void check_claims(const bastion_jwt_claims *c)
{
    /* strings handed out are NUL-terminated arena copies */
    const bastion_str *s[] = {&c->sub, &c->iss, &c->jti, &c->role, &c->tenant, &c->payload};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i]->ptr && s[i]->ptr[s[i]->len] != 0)
            __builtin_trap();
    if (!c->payload.ptr)
        __builtin_trap();
}

static void verify_token(const bastion_jwt_key *k, bastion_str token, int64_t now)
{
    static const bastion_jwt_expect joe = {BASTION_LIT("joe"), {NULL, 0}, 30, false};
    static const bastion_jwt_expect loose = {{NULL, 0}, BASTION_LIT("api"), 60, true};
    bastion_jwt_claims c;
    if (bastion_jwt_verify(k, &joe, token, now, &c) == BASTION_JWT_OK)
        check_claims(&c);
    if (bastion_jwt_verify(k, &loose, token, now, &c) == BASTION_JWT_OK)
        check_claims(&c);
}

/* Signs `payload` as the A.1 key would, with the A.1 header. */
static void signed_payload(bastion_str payload)
{
    static const char H[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
    static char buf[BASTION_JWT_MAX_LEN + 64];
    if (bastion_b64_encoded_len(payload.len, BASTION_B64_URL) > BASTION_JWT_MAX_LEN)
        return;
    size_t o = sizeof H - 1;
    memcpy(buf, H, o);
    buf[o++] = '.';
    o += bastion_b64_encode(buf + o, payload.ptr, payload.len, BASTION_B64_URL);
    uint8_t mac[32];
    bastion_hmac_sha256(mac, keys[0].material, keys[0].len, buf, o);
    buf[o++] = '.';
    o += bastion_b64_encode(buf + o, mac, 32, BASTION_B64_URL);
    verify_token(&keys[0], (bastion_str){buf, o}, A_NOW);
    verify_token(&keys[0], (bastion_str){buf, o}, NOW);
}

/* Issue, then verify: the two must agree on everything but time and audience. */
static void sign_then_verify(bastion_str json)
{
    cJSON *c = cJSON_ParseWithLength(json.ptr, json.len);
    static char out[BASTION_JWT_MAX_LEN + 1];
    size_t n;
    if (c && bastion_jwt_sign_hs256(&keys[0], c, out, sizeof out, &n) == BASTION_JWT_OK) {
        bastion_jwt_claims v;
        bastion_jwt_rc rc = bastion_jwt_verify(&keys[0], NULL, (bastion_str){out, n}, NOW, &v);
        if (rc != BASTION_JWT_OK && rc != BASTION_JWT_E_EXPIRED &&
            rc != BASTION_JWT_E_NOT_YET_VALID && rc != BASTION_JWT_E_IAT_FUTURE &&
            rc != BASTION_JWT_E_AUDIENCE)
            __builtin_trap();
        if (rc == BASTION_JWT_OK) {
            check_claims(&v);
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
            if (role && !bastion_str_eq(v.role, bastion_cstr(role->valuestring)))
                __builtin_trap();
        }
    }
    cJSON_Delete(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loaded) {
        for (int i = 0; i < 3; i++)
            if (bastion_jwt_key_parse(&keys[i], bastion_cstr(KEY_TEXT[i])) != BASTION_JWT_OK)
                __builtin_trap();
        loaded = true;
    }
    if (size < 1)
        return 0;
    bastion_str rest = {(const char *)data + 1, size - 1};
    bastion_jwt_key k;
    switch (data[0] % 6) {
    case 0:
    case 1:
    case 2: verify_token(&keys[data[0] % 6], rest, A_NOW); break;
    case 3:
        if (bastion_jwt_key_parse(&k, rest) == BASTION_JWT_OK) {
            if (k.alg == BASTION_JWT_ALG_UNSET)
                __builtin_trap();
            verify_token(&k, BASTION_LIT("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"), NOW);
        } else if (k.alg != BASTION_JWT_ALG_UNSET) {
            __builtin_trap(); /* a failed load leaves the key unset */
        }
        break;
    case 4: signed_payload(rest); break;
    case 5: sign_then_verify(rest); break;
    }
    bastion__arena_reset();
    return 0;
}
