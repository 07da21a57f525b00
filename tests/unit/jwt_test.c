/*
 * Unit tests for shared/src/jwt.c: compact JWS verification under RFC 8725
 * (AUTH2), the bearer-token front door of admin endpoints (AUTH1), key
 * loading (JWK, PEM) and HS256 issuing.
 *
 * Published vectors: RFC 7515 Appendix A (https://www.rfc-editor.org/rfc/rfc7515#appendix-A):
 *   A.1 HS256 — the JWS of §A.1.1 and the "oct" key of §A.1.1;
 *   A.2 RS256 — the JWS of §A.2.1 and the public part (n, e) of its RSA key;
 *   A.3 ES256 — the JWS of §A.3.1 and the public part (x, y) of its P-256 key.
 * All three sign {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
 * (with CR LF and spaces: a verifier that re-serialised the JSON would fail them),
 * so they are verified at a `now` before 1300819380.
 * The PEM forms of the A.2 and A.3 public keys, and the self-signed certificate
 * around the A.3 key (used only to show certificates are refused), are the
 * same keys re-encoded (pyca/cryptography 48: public_bytes(PEM,
 * SubjectPublicKeyInfo / PKCS1), CertificateBuilder signed with the A.3
 * private key "d" of §A.3.1).
 */
#include "../../shared/src/jwt.c"

#include "fake_host.h"
#include "unit.h"

/* ---------------------------------------------------------------- vectors */

#define A_HEADER_HS256 "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
#define A_HEADER_RS256 "eyJhbGciOiJSUzI1NiJ9"
#define A_HEADER_ES256 "eyJhbGciOiJFUzI1NiJ9"
#define A_PAYLOAD                                                                                  \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl" \
    "fQ"
#define A1_SIG "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A2_SIG                                                                                     \
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5" \
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb" \
    "1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QO" \
    "YEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
#define A3_SIG                                                                                     \
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

#define A1_TEXT A_HEADER_HS256 "." A_PAYLOAD "." A1_SIG
static const char A1_TOKEN[] = A1_TEXT;
static const char A2_TOKEN[] = A_HEADER_RS256 "." A_PAYLOAD "." A2_SIG;
static const char A3_TOKEN[] = A_HEADER_ES256 "." A_PAYLOAD "." A3_SIG;

static const char A1_JWK[] =
    "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h"
    "cgUuTwjAzZr1Z9CAow\"}";
static const char A2_JWK[] =
    "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Va"
    "w-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg"
    "0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5Z"
    "wKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\""
    ",\"e\":\"AQAB\"}";
static const char A3_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static const char A2_SPKI_PEM[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAofgWCuLjybRlzo0tZWJj\n"
    "NiuSfb4p4fAkd/wWJcyQoTbji9k0l8W26mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEz\n"
    "P1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMsD1W/YpRPEwOWvG6b32690r2jZ47soMZo\n"
    "9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTB\n"
    "EMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxX\n"
    "FvUK+DWNmoudF8NAco9/h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp\n"
    "oQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char A2_PKCS1_PEM[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd/wWJcyQoTbji9k0l8W2\n"
    "6mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMs\n"
    "D1W/YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5\n"
    "z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxv\n"
    "b3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxXFvUK+DWNmoudF8NAco9/h9iaGNj8q2et\n"
    "hFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQIDAQAB\n"
    "-----END RSA PUBLIC KEY-----"; /* no final newline, as config often is */
/* the DER of A3_SPKI_PEM, in one line */
#define A3_SPKI_B64                                                                                \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7"                             \
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ=="
static const char A3_SPKI_PEM[] =
    "-----BEGIN PUBLIC KEY-----\r\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\r\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\r\n"
    "-----END PUBLIC KEY-----\r\n";
static const char A3_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBFzCBvqADAgECAgIdWzAKBggqhkjOPQQDAjAVMRMwEQYDVQQDDApyZmM3NTE1\n"
    "LWEzMB4XDTE1MDUwMTAwMDAwMFoXDTQ1MDUwMTAwMDAwMFowFTETMBEGA1UEAwwK\n"
    "cmZjNzUxNS1hMzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH/Nzidw9sRdQYPL\n"
    "7m/bS3tYBzM1e+nvE7rPbjx70VRFx/FEzRu9m36HLN/tue659LNpXW6pCyStikYj\n"
    "KIWI5a0wCgYIKoZIzj0EAwIDSAAwRQIhAMUSDi6COpVqO7w5WsuAm47Svvjz/0FT\n"
    "zRnMqdJRq9LpAiAUdgCXpavm+cw7vyVAbBikTfPg0P7x6e5lw8JMS+eTGw==\n"
    "-----END CERTIFICATE-----\n";
static const char A3_PRIVATE_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";

#define A_EXP 1300819380
#define A_NOW (A_EXP - 1)

/* The order n of P-256 (FIPS 186-4 §D.1.2.3), big-endian. */
static const uint8_t P256_N[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};

/* A test HS256 secret of exactly the minimum size. */
static const char SECRET[] = "0123456789abcdef0123456789abcdef";
#define NOW 1700000000

/* ---------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static void load(bastion_jwt_key *k, const char *text)
{
    assert_int_equal(bastion_jwt_key_parse(k, bastion_cstr(text)), BASTION_JWT_OK);
}

static void load_secret(bastion_jwt_key *k)
{
    assert_int_equal(bastion_jwt_key_hs256(k, SECRET, strlen(SECRET)), BASTION_JWT_OK);
}

static bastion_jwt_rc verify_at(const bastion_jwt_key *k, const bastion_jwt_expect *x,
                                const char *token, int64_t now)
{
    bastion_jwt_claims c;
    bastion_jwt_rc rc = bastion_jwt_verify(k, x, bastion_cstr(token), now, &c);
    if (rc != BASTION_JWT_OK) {
        /* failure leaves nothing behind that a careless caller could use */
        bastion_jwt_claims zero;
        memset(&zero, 0, sizeof zero);
        assert_memory_equal(&c, &zero, sizeof c);
    }
    return rc;
}

static const bastion_jwt_expect JOE = {BASTION_LIT("joe"), {NULL, 0}, 0, false};

/* Builds header.payload.signature by hand, HMAC-SHA256-keyed with `secret`,
 * so tests can sign any header (none, crit, a foreign alg) — independent of
 * bastion_jwt_sign_hs256. sign=false leaves the signature empty. */
static const char *craft_raw(const void *secret, size_t slen, const char *header,
                             const char *payload, bool sign)
{
    static char buf[4][BASTION_JWT_MAX_LEN + 64];
    static int turn;
    char *out = buf[turn++ % 4];
    size_t o = bastion_b64_encode(out, header, strlen(header), BASTION_B64_URL);
    out[o++] = '.';
    o += bastion_b64_encode(out + o, payload, strlen(payload), BASTION_B64_URL);
    uint8_t mac[32];
    bastion_hmac_sha256(mac, secret, slen, out, o);
    out[o++] = '.';
    if (sign)
        o += bastion_b64_encode(out + o, mac, 32, BASTION_B64_URL);
    out[o] = 0;
    return out;
}

static const char *craft(const char *header, const char *payload)
{
    return craft_raw(SECRET, strlen(SECRET), header, payload, true);
}

#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload with exp = NOW + 3600 and the extra members in `more` ("" or ",…"). */
static const char *claims_with(const char *more)
{
    static char buf[4][2048];
    static int turn;
    char *out = buf[turn++ % 4];
    snprintf(out, sizeof buf[0], "{\"exp\":%d%s}", NOW + 3600, more);
    return out;
}

/* A copy of `token` with the character at `at` (negative: from the end) replaced. */
static const char *with_char(const char *token, long at, char c)
{
    static char buf[BASTION_JWT_MAX_LEN + 1];
    size_t n = strlen(token);
    snprintf(buf, sizeof buf, "%s", token);
    buf[at < 0 ? (long)n + at : at] = c;
    return buf;
}

/* --------------------------------------------------- AUTH2: the vectors */

static void test_AUTH2_rfc7515_a1_hs256_verifies(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    load(&k, A1_JWK);
    assert_int_equal(k.alg, BASTION_JWT_HS256);
    assert_int_equal(bastion_jwt_verify(&k, &JOE, bastion_cstr(A1_TOKEN), A_NOW, &c),
                     BASTION_JWT_OK);
    assert_true(unit_str_is(c.iss, "joe"));
    assert_true(c.has_exp);
    assert_int_equal(c.exp, A_EXP);
    assert_null(c.sub.ptr);
    assert_null(c.role.ptr);
    /* the payload is handed back byte for byte, CR LF included */
    assert_true(unit_contains(c.payload, "\"iss\":\"joe\",\r\n \"exp\""));
}

static void test_AUTH2_rfc7515_a2_rs256_verifies(void **state)
{
    (void)state;
    const char *forms[] = {A2_JWK, A2_SPKI_PEM, A2_PKCS1_PEM};
    for (size_t i = 0; i < 3; i++) {
        bastion_jwt_key k;
        load(&k, forms[i]);
        assert_int_equal(k.alg, BASTION_JWT_RS256);
        assert_int_equal(k.len, 256);
        assert_int_equal(verify_at(&k, &JOE, A2_TOKEN, A_NOW), BASTION_JWT_OK);
    }
}

static void test_AUTH2_rfc7515_a3_es256_verifies(void **state)
{
    (void)state;
    const char *forms[] = {A3_JWK, A3_SPKI_PEM};
    for (size_t i = 0; i < 2; i++) {
        bastion_jwt_key k;
        load(&k, forms[i]);
        assert_int_equal(k.alg, BASTION_JWT_ES256);
        assert_int_equal(verify_at(&k, &JOE, A3_TOKEN, A_NOW), BASTION_JWT_OK);
    }
}

/*
 * The decision documented in jwt.h: low-S is NOT enforced. The RFC's own A.3
 * signature is high-S (s > n/2); it verifies, and so does its low-S twin
 * (r, n − s). Both are valid ECDSA signatures of the same input, which is why
 * callers must never treat signature bytes as a unique token id.
 */
static void test_AUTH2_es256_high_s_accepted_low_s_not_enforced(void **state)
{
    (void)state;
    uint8_t sig[64], half[32], twin[64];
    size_t n;
    assert_int_equal(bastion_b64_decode(sig, sizeof sig, &n, BASTION_LIT(A3_SIG), BASTION_B64_URL),
                     BASTION_DECODE_OK);
    assert_int_equal(n, 64);
    /* half = floor(n / 2) */
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = carry << 8 | P256_N[i];
        half[i] = (uint8_t)(v >> 1);
        carry = v & 1;
    }
    assert_true(memcmp(sig + 32, half, 32) > 0); /* A.3's s is high */
    /* twin = r ‖ (n − s) */
    memcpy(twin, sig, 32);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int v = P256_N[i] - sig[32 + i] - borrow;
        borrow = v < 0;
        twin[32 + i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
    assert_true(memcmp(twin + 32, half, 32) <= 0); /* the twin's s is low */
    char token[256];
    int o = snprintf(token, sizeof token, "%s.%s.", A_HEADER_ES256, A_PAYLOAD);
    bastion_b64_encode(token + o, twin, 64, BASTION_B64_URL);
    token[o + 86] = 0;
    bastion_jwt_key k;
    load(&k, A3_JWK);
    assert_int_equal(verify_at(&k, &JOE, A3_TOKEN, A_NOW), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, &JOE, token, A_NOW), BASTION_JWT_OK);
}

/* The signing input is the received bytes: A.1's header has CR LF and a
 * space, so only a verifier that never re-serialises gets it right. The
 * same claims in the canonical spelling do not verify under A.1's signature. */
static void test_AUTH2_signature_over_received_segments(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    const char *canonical = craft_raw("x", 1, "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
                                      "{\"iss\":\"joe\",\"exp\":1300819380,"
                                      "\"http://example.com/is_root\":true}",
                                      false);
    char token[512];
    snprintf(token, sizeof token, "%s%s", canonical, A1_SIG);
    assert_int_equal(verify_at(&k, &JOE, token, A_NOW), BASTION_JWT_E_SIGNATURE);
    assert_int_equal(verify_at(&k, &JOE, A1_TOKEN, A_NOW), BASTION_JWT_OK);
}

/* ------------------------------------------ AUTH2: algorithm rejections */

static void test_AUTH2_alg_none_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *nones[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < 3; i++) {
        /* the RFC 7515 §A.5 shape: empty signature */
        assert_int_equal(
            verify_at(&k, NULL, craft_raw(SECRET, 32, nones[i], claims_with(""), false), NOW),
            BASTION_JWT_E_ALG_NONE);
        /* and with a signature that would verify as HS256 */
        assert_int_equal(verify_at(&k, NULL, craft(nones[i], claims_with("")), NOW),
                         BASTION_JWT_E_ALG_NONE);
    }
    /* RFC 7515 §A.5 itself, against every kind of key */
    static const char A5[] = "eyJhbGciOiJub25lIn0." A_PAYLOAD ".";
    const char *keys[] = {A1_JWK, A2_JWK, A3_JWK};
    for (size_t i = 0; i < 3; i++) {
        load(&k, keys[i]);
        assert_int_equal(verify_at(&k, &JOE, A5, A_NOW), BASTION_JWT_E_ALG_NONE);
    }
}

/* The classic confusion attack (RFC 8725 §2.1): sign HS256 with the RSA
 * public key's bytes as the HMAC secret and present it to the RS256 key. */
static void test_AUTH2_hs256_token_on_rs256_key_rejected(void **state)
{
    (void)state;
    bastion_jwt_key rsa;
    load(&rsa, A2_SPKI_PEM);
    const char *payload = "{\"iss\":\"joe\",\"exp\":1300819380,\"role\":\"admin\"}";
    const char *with_pem = craft_raw(A2_SPKI_PEM, strlen(A2_SPKI_PEM), HS256_HEADER, payload, true);
    const char *with_n = craft_raw(rsa.material, rsa.len, HS256_HEADER, payload, true);
    assert_int_equal(verify_at(&rsa, &JOE, with_pem, A_NOW), BASTION_JWT_E_ALG_MISMATCH);
    assert_int_equal(verify_at(&rsa, &JOE, with_n, A_NOW), BASTION_JWT_E_ALG_MISMATCH);
    /* same trick against an EC key */
    bastion_jwt_key ec;
    load(&ec, A3_JWK);
    const char *with_q = craft_raw(ec.material, ec.len, HS256_HEADER, payload, true);
    assert_int_equal(verify_at(&ec, &JOE, with_q, A_NOW), BASTION_JWT_E_ALG_MISMATCH);
}

/* Every vector presented to every other kind of key: the key decides. */
static void test_AUTH2_alg_must_equal_the_keys(void **state)
{
    (void)state;
    const char *keys[] = {A1_JWK, A2_JWK, A3_JWK};
    const char *tokens[] = {A1_TOKEN, A2_TOKEN, A3_TOKEN};
    for (size_t i = 0; i < 3; i++) {
        bastion_jwt_key k;
        load(&k, keys[i]);
        for (size_t j = 0; j < 3; j++)
            assert_int_equal(verify_at(&k, &JOE, tokens[j], A_NOW),
                             i == j ? BASTION_JWT_OK : BASTION_JWT_E_ALG_MISMATCH);
    }
    /* algorithms outside the allow-list, and case variants of allowed ones */
    bastion_jwt_key k;
    load_secret(&k);
    const char *others[] = {"{\"alg\":\"HS512\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"PS256\"}",
                            "{\"alg\":\"HS256 \"}"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(verify_at(&k, NULL, craft(others[i], claims_with("")), NOW),
                         BASTION_JWT_E_ALG_MISMATCH);
}

static void test_AUTH2_crit_header_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    /* RFC 7515 §4.1.11's own example, and RFC 7797's b64 extension */
    assert_int_equal(verify_at(&k, NULL,
                               craft("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1363284000}",
                                     claims_with("")),
                               NOW),
                     BASTION_JWT_E_CRIT);
    assert_int_equal(
        verify_at(&k, NULL,
                  craft("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", claims_with("")),
                  NOW),
        BASTION_JWT_E_CRIT);
    assert_int_equal(
        verify_at(&k, NULL, craft("{\"alg\":\"HS256\",\"crit\":[]}", claims_with("")), NOW),
        BASTION_JWT_E_CRIT);
}

static void test_AUTH2_header_must_be_an_object_with_alg(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *bad[] = {"{\"typ\":\"JWT\"}",     "{\"alg\":256}",
                         "[\"HS256\"]",           "\"HS256\"",
                         "{\"alg\":\"HS256\"} x", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                         "{\"alg\":\"HS256\"",    "{\"alg\":\"HS256\",\"x\":[[[[[[[[[1]]]]]]]]]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify_at(&k, NULL, craft(bad[i], claims_with("")), NOW),
                         BASTION_JWT_E_MALFORMED);
    /* trailing whitespace is still one JSON text */
    assert_int_equal(verify_at(&k, NULL, craft("{\"alg\":\"HS256\"}\r\n ", claims_with("")), NOW),
                     BASTION_JWT_OK);
}

/* ------------------------------------------ AUTH2: signature rejections */

static void test_AUTH2_wrong_secret_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *t =
        craft_raw("0123456789abcdef0123456789abcdeF", 32, HS256_HEADER, claims_with(""), true);
    assert_int_equal(verify_at(&k, NULL, t, NOW), BASTION_JWT_E_SIGNATURE);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with("")), NOW),
                     BASTION_JWT_OK);
}

/* The RFC vectors with "iss":"joe" swapped for "iss":"eve" in the payload
 * segment (same length, still valid base64url): every algorithm refuses. */
static void test_AUTH2_tampered_payload_rejected(void **state)
{
    (void)state;
    const char *keys[] = {A1_JWK, A2_JWK, A3_JWK};
    const char *tokens[] = {A1_TOKEN, A2_TOKEN, A3_TOKEN};
    for (size_t i = 0; i < 3; i++) {
        char t[1024];
        snprintf(t, sizeof t, "%s", tokens[i]);
        char *joe = strstr(t, "eyJpc3MiOiJqb2Ui"); /* {"iss":"joe" */
        assert_non_null(joe);
        memcpy(joe, "eyJpc3MiOiJldmUi", 16); /* {"iss":"eve" */
        bastion_jwt_key k;
        load(&k, keys[i]);
        assert_int_equal(verify_at(&k, NULL, t, A_NOW), BASTION_JWT_E_SIGNATURE);
    }
}

static void test_AUTH2_tampered_signature_rejected(void **state)
{
    (void)state;
    const char *keys[] = {A1_JWK, A2_JWK, A3_JWK};
    const char *tokens[] = {A1_TOKEN, A2_TOKEN, A3_TOKEN};
    for (size_t i = 0; i < 3; i++) {
        bastion_jwt_key k;
        load(&k, keys[i]);
        const char *sig = strrchr(tokens[i], '.') + 1;
        long at = sig - tokens[i];
        /* the first and a middle character of the signature */
        assert_int_equal(
            verify_at(&k, &JOE, with_char(tokens[i], at, sig[0] == 'A' ? 'B' : 'A'), A_NOW),
            BASTION_JWT_E_SIGNATURE);
        long mid = at + (long)strlen(sig) / 2;
        assert_int_equal(verify_at(&k, &JOE,
                                   with_char(tokens[i], mid, tokens[i][mid] == 'A' ? 'B' : 'A'),
                                   A_NOW),
                         BASTION_JWT_E_SIGNATURE);
    }
}

static void test_AUTH2_truncated_signature_rejected(void **state)
{
    (void)state;
    const char *keys[] = {A1_JWK, A2_JWK, A3_JWK};
    const char *tokens[] = {A1_TOKEN, A2_TOKEN, A3_TOKEN};
    for (size_t i = 0; i < 3; i++) {
        bastion_jwt_key k;
        load(&k, keys[i]);
        char t[1024];
        size_t n = strlen(tokens[i]);
        size_t tail = strlen(strrchr(tokens[i], '.') + 1) % 4;
        /* one quad fewer before the final partial group: it still decodes,
         * but to a signature three bytes short */
        snprintf(t, sizeof t, "%.*s%s", (int)(n - tail - 4), tokens[i], tokens[i] + n - tail);
        assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_SIGNATURE);
        /* no signature at all */
        snprintf(t, sizeof t, "%.*s", (int)(strrchr(tokens[i], '.') - tokens[i] + 1), tokens[i]);
        assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_SIGNATURE);
    }
    /* a truncated HS256 MAC (RFC 7518 §3.2 forbids truncation): the first 16 bytes */
    bastion_jwt_key k;
    load(&k, A1_JWK);
    uint8_t mac[32];
    size_t mlen;
    assert_int_equal(
        bastion_b64_decode(mac, sizeof mac, &mlen, BASTION_LIT(A1_SIG), BASTION_B64_URL),
        BASTION_DECODE_OK);
    char t[512];
    int o = snprintf(t, sizeof t, "%s.%s.", A_HEADER_HS256, A_PAYLOAD);
    t[o + (int)bastion_b64_encode(t + o, mac, 16, BASTION_B64_URL)] = 0;
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_SIGNATURE);
    /* two characters fewer: 41, an impossible base64url length (RFC 4648 §5) */
    snprintf(t, sizeof t, "%.*s", (int)strlen(A1_TOKEN) - 2, A1_TOKEN);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_MALFORMED);
}

/* --------------------------------------------- AUTH2: encoding rejections */

/* `input` (header.payload, any bytes) with a valid HS256 signature under k
 * appended: a careless signer's output, to reach the payload decoder. */
static const char *signed_input(const bastion_jwt_key *k, const char *input)
{
    static char out[1024];
    uint8_t mac[32];
    bastion_hmac_sha256(mac, k->material, k->len, input, strlen(input));
    int o = snprintf(out, sizeof out, "%s.", input);
    out[o + (int)bastion_b64_encode(out + o, mac, 32, BASTION_B64_URL)] = 0;
    return out;
}

/* RFC 7515 §2: base64url "with all trailing '=' characters omitted". */
static void test_AUTH2_padding_in_segments_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    char t[512];
    /* the header as a padding encoder would write it */
    snprintf(t, sizeof t, "%s====.%s.%s", A_HEADER_HS256, A_PAYLOAD, A1_SIG);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_MALFORMED);
    /* the signature (43 chars → "=") */
    snprintf(t, sizeof t, "%s=", A1_TOKEN);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_MALFORMED);
    /* the payload (94 chars → "=="): under the original signature the
     * signing input differs, so the signature fails first ... */
    snprintf(t, sizeof t, "%s.%s==.%s", A_HEADER_HS256, A_PAYLOAD, A1_SIG);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_SIGNATURE);
    /* ... and when a signer signed the padded text, decoding refuses it */
    snprintf(t, sizeof t, "%s.%s==", A_HEADER_HS256, A_PAYLOAD);
    assert_int_equal(verify_at(&k, &JOE, signed_input(&k, t), A_NOW), BASTION_JWT_E_MALFORMED);
    snprintf(t, sizeof t, "%s.%s", A_HEADER_HS256, A_PAYLOAD);
    assert_int_equal(verify_at(&k, &JOE, signed_input(&k, t), A_NOW), BASTION_JWT_OK);
}

static void test_AUTH2_bad_base64url_characters_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    /* '+' and '/' belong to the other alphabet; then space, junk, newline */
    const char bad[] = {'+', '/', ' ', '*', '\n'};
    char input[256];
    for (size_t i = 0; i < sizeof bad; i++) {
        /* header (checked before the signature) and signature */
        assert_int_equal(verify_at(&k, &JOE, with_char(A1_TOKEN, 3, bad[i]), A_NOW),
                         BASTION_JWT_E_MALFORMED);
        assert_int_equal(verify_at(&k, &JOE, with_char(A1_TOKEN, -5, bad[i]), A_NOW),
                         BASTION_JWT_E_MALFORMED);
        /* payload, signed as it stands so that decoding is reached */
        snprintf(input, sizeof input, "%s.%s", A_HEADER_HS256, A_PAYLOAD);
        input[50] = bad[i];
        assert_int_equal(verify_at(&k, &JOE, signed_input(&k, input), A_NOW),
                         BASTION_JWT_E_MALFORMED);
    }
    /* RFC 4648 §3.5: non-zero unused bits in the last character */
    assert_int_equal(verify_at(&k, &JOE, with_char(A1_TOKEN, -1, 'l'), A_NOW),
                     BASTION_JWT_E_MALFORMED);
}

static void test_AUTH2_wrong_number_of_segments_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    char t[512];
    const char *bad[] = {"",
                         ".",
                         "..",
                         "...",
                         A_HEADER_HS256,
                         A_HEADER_HS256 "." A_PAYLOAD,
                         "." A_PAYLOAD "." A1_SIG,
                         A_HEADER_HS256 ".." A1_SIG};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify_at(&k, &JOE, bad[i], A_NOW), BASTION_JWT_E_MALFORMED);
    /* four and five segments (a JWE has five) */
    snprintf(t, sizeof t, "%s.%s", A1_TOKEN, A1_SIG);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_MALFORMED);
    snprintf(t, sizeof t, "%s.%s.%s", A1_TOKEN, A1_SIG, A1_SIG);
    assert_int_equal(verify_at(&k, &JOE, t, A_NOW), BASTION_JWT_E_MALFORMED);
    /* a NULL slice */
    bastion_jwt_claims c;
    assert_int_equal(bastion_jwt_verify(&k, &JOE, BASTION_STR_NULL, A_NOW, &c),
                     BASTION_JWT_E_MALFORMED);
}

static void test_AUTH2_too_long_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    static char big[BASTION_JWT_MAX_LEN + 2];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(verify_at(&k, NULL, big, NOW), BASTION_JWT_E_TOO_LONG);
}

/* Payload bytes that are not JSON are never parsed unless the signature
 * verified first: with a bad signature the answer is SIGNATURE. */
static void test_AUTH2_signature_verified_before_payload_parsed(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *good = craft(HS256_HEADER, "{not json");
    assert_int_equal(verify_at(&k, NULL, good, NOW), BASTION_JWT_E_MALFORMED);
    const char *forged =
        craft_raw("another secret, also 32 bytes!!!", 32, HS256_HEADER, "{not json", true);
    assert_int_equal(verify_at(&k, NULL, forged, NOW), BASTION_JWT_E_SIGNATURE);
}

/* --------------------------------------------------- AUTH2: claim checks */

static void test_AUTH2_expired_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    /* RFC 7519 §4.1.4: now must be before exp */
    assert_int_equal(verify_at(&k, &JOE, A1_TOKEN, A_EXP - 1), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, &JOE, A1_TOKEN, A_EXP), BASTION_JWT_E_EXPIRED);
    assert_int_equal(verify_at(&k, &JOE, A1_TOKEN, NOW), BASTION_JWT_E_EXPIRED);
    /* with leeway: the token lives leeway seconds longer, no more */
    bastion_jwt_expect x = JOE;
    x.leeway_s = 30;
    assert_int_equal(verify_at(&k, &x, A1_TOKEN, A_EXP + 29), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, &x, A1_TOKEN, A_EXP + 30), BASTION_JWT_E_EXPIRED);
    /* fractional exp rounds toward "expired" */
    load_secret(&k);
    char p[64];
    snprintf(p, sizeof p, "{\"exp\":%d.5}", NOW);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, p), NOW - 1), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, p), NOW), BASTION_JWT_E_EXPIRED);
}

static void test_AUTH2_nbf_in_future_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    char more[64];
    snprintf(more, sizeof more, ",\"nbf\":%d", NOW + 10);
    const char *t = craft(HS256_HEADER, claims_with(more));
    /* RFC 7519 §4.1.5: valid at and after nbf */
    assert_int_equal(verify_at(&k, NULL, t, NOW), BASTION_JWT_E_NOT_YET_VALID);
    assert_int_equal(verify_at(&k, NULL, t, NOW + 9), BASTION_JWT_E_NOT_YET_VALID);
    assert_int_equal(verify_at(&k, NULL, t, NOW + 10), BASTION_JWT_OK);
    bastion_jwt_expect x = {{NULL, 0}, {NULL, 0}, 10, false};
    assert_int_equal(verify_at(&k, &x, t, NOW), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, &x, t, NOW - 1), BASTION_JWT_E_NOT_YET_VALID);
}

static void test_AUTH2_iat_in_future_beyond_leeway_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    char more[64];
    snprintf(more, sizeof more, ",\"iat\":%d", NOW + 61);
    const char *t = craft(HS256_HEADER, claims_with(more));
    bastion_jwt_expect x = {{NULL, 0}, {NULL, 0}, 60, false};
    assert_int_equal(verify_at(&k, &x, t, NOW), BASTION_JWT_E_IAT_FUTURE);
    assert_int_equal(verify_at(&k, &x, t, NOW + 1), BASTION_JWT_OK);
    /* within the leeway, and in the past, are fine */
    snprintf(more, sizeof more, ",\"iat\":%d", NOW + 60);
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, claims_with(more)), NOW),
                     BASTION_JWT_OK);
    snprintf(more, sizeof more, ",\"iat\":%d", NOW - 100);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with(more)), NOW),
                     BASTION_JWT_OK);
}

/* AUTH2: "≤ 60 s leeway" holds whatever the configuration asks for. */
static void test_AUTH2_leeway_over_60_clamped(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    char p[64];
    snprintf(p, sizeof p, "{\"exp\":%d}", NOW);
    const char *t = craft(HS256_HEADER, p);
    bastion_jwt_expect x = {{NULL, 0}, {NULL, 0}, 3600, false};
    assert_int_equal(verify_at(&k, &x, t, NOW + 59), BASTION_JWT_OK);
    assert_int_equal(verify_at(&k, &x, t, NOW + 60), BASTION_JWT_E_EXPIRED);
    assert_int_equal(verify_at(&k, &x, t, NOW + 61), BASTION_JWT_E_EXPIRED);
    x.leeway_s = UINT32_MAX;
    assert_int_equal(verify_at(&k, &x, t, NOW + 61), BASTION_JWT_E_EXPIRED);
    /* the same clamp on nbf */
    snprintf(p, sizeof p, "{\"exp\":%d,\"nbf\":%d}", NOW + 3600, NOW + 61);
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, p), NOW), BASTION_JWT_E_NOT_YET_VALID);
}

static void test_AUTH2_wrong_audience_string_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    bastion_jwt_expect x = {{NULL, 0}, BASTION_LIT("bastion-api"), 0, false};
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":\"other-api\"")), NOW),
        BASTION_JWT_E_AUDIENCE);
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":\"bastion-ap\"")), NOW),
        BASTION_JWT_E_AUDIENCE);
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":\"Bastion-api\"")), NOW),
        BASTION_JWT_E_AUDIENCE);
    /* missing aud when one is configured */
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, claims_with("")), NOW),
                     BASTION_JWT_E_AUDIENCE);
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":\"bastion-api\"")), NOW),
        BASTION_JWT_OK);
}

static void test_AUTH2_wrong_audience_array_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    bastion_jwt_expect x = {{NULL, 0}, BASTION_LIT("bastion-api"), 0, false};
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":[\"a\",\"b\"]")), NOW),
        BASTION_JWT_E_AUDIENCE);
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":[]")), NOW),
                     BASTION_JWT_E_AUDIENCE);
    assert_int_equal(verify_at(&k, &x,
                               craft(HS256_HEADER, claims_with(",\"aud\":[\"a\",\"bastion-api\"]")),
                               NOW),
                     BASTION_JWT_OK);
    /* RFC 7519 §4.1.3: an array of strings, nothing else */
    assert_int_equal(
        verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":[\"bastion-api\",7]")), NOW),
        BASTION_JWT_E_CLAIM_TYPE);
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, claims_with(",\"aud\":{}")), NOW),
                     BASTION_JWT_E_CLAIM_TYPE);
}

/* RFC 7519 §4.1.3: a recipient that is not named in a present "aud" MUST
 * reject — including one that configured no audience at all. */
static void test_AUTH2_audience_present_but_not_configured_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with(",\"aud\":\"x\"")), NOW),
                     BASTION_JWT_E_AUDIENCE);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with("")), NOW),
                     BASTION_JWT_OK);
}

static void test_AUTH2_wrong_issuer_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load(&k, A1_JWK);
    bastion_jwt_expect x = {BASTION_LIT("jo"), {NULL, 0}, 0, false};
    assert_int_equal(verify_at(&k, &x, A1_TOKEN, A_NOW), BASTION_JWT_E_ISSUER);
    x.issuer = BASTION_LIT("Joe");
    assert_int_equal(verify_at(&k, &x, A1_TOKEN, A_NOW), BASTION_JWT_E_ISSUER);
    x.issuer = BASTION_LIT("joe");
    assert_int_equal(verify_at(&k, &x, A1_TOKEN, A_NOW), BASTION_JWT_OK);
    /* a configured issuer makes "iss" required */
    load_secret(&k);
    assert_int_equal(verify_at(&k, &x, craft(HS256_HEADER, claims_with("")), NOW),
                     BASTION_JWT_E_ISSUER);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with("")), NOW),
                     BASTION_JWT_OK);
}

static void test_AUTH2_missing_exp_rejected_when_required(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *t = craft(HS256_HEADER, "{\"sub\":\"u1\"}");
    assert_int_equal(verify_at(&k, NULL, t, NOW), BASTION_JWT_E_MISSING_EXP);
    bastion_jwt_expect x = {{NULL, 0}, {NULL, 0}, 0, false};
    assert_int_equal(verify_at(&k, &x, t, NOW), BASTION_JWT_E_MISSING_EXP);
    x.allow_missing_exp = true;
    assert_int_equal(verify_at(&k, &x, t, NOW), BASTION_JWT_OK);
}

static void test_AUTH2_claim_types_enforced(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    const char *bad[] = {"{\"exp\":\"1700003600\"}", "{\"exp\":-1}", "{\"exp\":1e300}",
                         "{\"exp\":null}", "{\"exp\":true}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, bad[i]), NOW),
                         BASTION_JWT_E_CLAIM_TYPE);
    const char *more[] = {",\"nbf\":\"0\"", ",\"iat\":[]",           ",\"iss\":1",    ",\"sub\":{}",
                          ",\"jti\":false", ",\"role\":[\"admin\"]", ",\"tenant\":42"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, claims_with(more[i])), NOW),
                         BASTION_JWT_E_CLAIM_TYPE);
}

/* RFC 7519 §4: duplicate claim names are refused, not resolved; so is a
 * "\u0000" that would silently cut a claim short ("admin\u0000x" → "admin"). */
static void test_AUTH2_duplicate_and_nul_claims_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    assert_int_equal(
        verify_at(&k, NULL,
                  craft(HS256_HEADER, claims_with(",\"role\":\"user\",\"role\":\"admin\"")), NOW),
        BASTION_JWT_E_MALFORMED);
    assert_int_equal(
        verify_at(&k, NULL, craft(HS256_HEADER, claims_with(",\"role\":\"admin\\u0000x\"")), NOW),
        BASTION_JWT_E_MALFORMED);
    assert_int_equal(verify_at(&k, NULL, craft(HS256_HEADER, "[1]"), NOW), BASTION_JWT_E_MALFORMED);
    /* an escaped backslash followed by the text u0000 is fine */
    bastion_jwt_claims c;
    assert_int_equal(bastion_jwt_verify(
                         &k, NULL,
                         bastion_cstr(craft(HS256_HEADER, claims_with(",\"sub\":\"a\\\\u0000\""))),
                         NOW, &c),
                     BASTION_JWT_OK);
    assert_true(unit_str_is(c.sub, "a\\u0000"));
}

static void test_AUTH2_unset_key_rejected(void **state)
{
    (void)state;
    bastion_jwt_key k;
    memset(&k, 0, sizeof k);
    assert_int_equal(verify_at(&k, NULL, A1_TOKEN, A_NOW), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(verify_at(NULL, NULL, A1_TOKEN, A_NOW), BASTION_JWT_E_BAD_KEY);
}

/* ---------------------------------------------------------- AUTH2: keys */

static bastion_jwt_rc parse(const char *text)
{
    bastion_jwt_key k;
    bastion_jwt_rc rc = bastion_jwt_key_parse(&k, bastion_cstr(text));
    if (rc != BASTION_JWT_OK)
        assert_int_equal(k.alg, BASTION_JWT_ALG_UNSET);
    return rc;
}

/* A JWK of kty RSA whose n is `bytes` bytes of 0xC3 ending in 0x01 (odd). */
static const char *rsa_jwk_of_size(size_t bytes, const char *extra)
{
    static char out[2048];
    uint8_t n[600];
    memset(n, 0xC3, bytes);
    n[bytes - 1] = 0x01;
    char n64[900];
    n64[bastion_b64_encode(n64, n, bytes, BASTION_B64_URL)] = 0;
    snprintf(out, sizeof out, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"%s}", n64, extra);
    return out;
}

static void test_AUTH2_jwk_keys_checked(void **state)
{
    (void)state;
    assert_int_equal(parse(rsa_jwk_of_size(256, "")), BASTION_JWT_OK);
    assert_int_equal(parse(rsa_jwk_of_size(512, "")), BASTION_JWT_OK);
    /* RFC 7518 §3.3: under 2048 bits; over BearSSL's 4096 */
    assert_int_equal(parse(rsa_jwk_of_size(128, "")), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(rsa_jwk_of_size(255, "")), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(rsa_jwk_of_size(513, "")), BASTION_JWT_E_BAD_KEY);
    /* "alg" and "use" must agree with the key */
    assert_int_equal(parse(rsa_jwk_of_size(256, ",\"alg\":\"RS256\",\"use\":\"sig\"")),
                     BASTION_JWT_OK);
    assert_int_equal(parse(rsa_jwk_of_size(256, ",\"alg\":\"HS256\"")), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(rsa_jwk_of_size(256, ",\"alg\":\"none\"")), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(rsa_jwk_of_size(256, ",\"use\":\"enc\"")), BASTION_JWT_E_BAD_KEY);
    /* private keys are refused (RFC 7517 §A.2 shape) */
    assert_int_equal(parse(rsa_jwk_of_size(256, ",\"d\":\"AQAB\"")), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"EC\",\"crv\":\"P-256\","
                           "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                           "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                           "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}"),
                     BASTION_JWT_E_BAD_KEY);
    /* EC: only P-256, full-length coordinates, a point on the curve */
    assert_int_equal(parse("{\"kty\":\"EC\",\"crv\":\"P-384\","
                           "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                           "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"EC\",\"crv\":\"P-256\","
                           "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                           "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}"),
                     BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"EC\",\"crv\":\"P-256\","
                           "\"x\":\"83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                           "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     BASTION_JWT_E_BAD_KEY);
    /* oct: at least 32 bytes (RFC 7518 §3.2) */
    assert_int_equal(parse("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}"), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"oct\",\"k\":\"" /* 31 bytes */
                           "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZQ\"}"),
                     BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"oct\",\"k\":\"" /* 32 bytes */
                           "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}"),
                     BASTION_JWT_OK);
    /* padded base64url, unknown kty, not JSON, duplicate members */
    assert_int_equal(
        parse("{\"kty\":\"oct\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}"),
        BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}"),
                     BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"oct\""), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("{\"kty\":\"oct\",\"kty\":\"RSA\",\"k\":\"AA\"}"),
                     BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("not a key"), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(""), BASTION_JWT_E_BAD_KEY);
    /* raw HS256 secrets: 32..256 bytes */
    bastion_jwt_key k;
    assert_int_equal(bastion_jwt_key_hs256(&k, SECRET, 31), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(bastion_jwt_key_hs256(&k, NULL, 32), BASTION_JWT_E_BAD_KEY);
    static const uint8_t big[257];
    assert_int_equal(bastion_jwt_key_hs256(&k, big, 257), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(bastion_jwt_key_hs256(&k, big, 256), BASTION_JWT_OK);
}

/* A3's SPKI DER, changed at byte `at` (or with `extra` appended), as PEM. */
static const char *spki_pem_variant(long at, uint8_t value, bool append)
{
    static char pem[512];
    uint8_t der[128];
    size_t n;
    assert_int_equal(
        bastion_b64_decode(der, sizeof der, &n, BASTION_LIT(A3_SPKI_B64), BASTION_B64_STD),
        BASTION_DECODE_OK);
    if (append)
        der[n++] = value;
    else
        der[at] = value;
    int o = snprintf(pem, sizeof pem, "-----BEGIN PUBLIC KEY-----\n");
    o += (int)bastion_b64_encode(pem + o, der, n, BASTION_B64_STD);
    snprintf(pem + o, sizeof pem - (size_t)o, "\n-----END PUBLIC KEY-----\n");
    return pem;
}

static void test_AUTH2_pem_keys_checked(void **state)
{
    (void)state;
    /* the unmodified re-encoding loads: the variants below fail for their change alone */
    assert_int_equal(parse(spki_pem_variant(0, 0x30, false)), BASTION_JWT_OK);
    /* private keys are refused, and so are certificates: configure the key itself */
    assert_int_equal(parse(A3_PRIVATE_PEM), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(A3_CERT_PEM), BASTION_JWT_E_BAD_KEY);
    /* DER: trailing bytes, a wrong outer tag, a long length, a wrong curve OID byte,
     * a compressed point, unused bits in the BIT STRING */
    assert_int_equal(parse(spki_pem_variant(0, 0x00, true)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(0, 0x31, false)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(1, 0x5a, false)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(1, 0x81, false)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(22, 0x08, false)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(26, 0x02, false)), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse(spki_pem_variant(25, 0x01, false)), BASTION_JWT_E_BAD_KEY);
    /* two objects: which key was meant is never guessed */
    char two[1024];
    snprintf(two, sizeof two, "%s%s", A3_SPKI_PEM, A2_SPKI_PEM);
    assert_int_equal(parse(two), BASTION_JWT_E_BAD_KEY);
    /* truncated, corrupted, and no object at all */
    char cut[512];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(A3_SPKI_PEM) - 30, A3_SPKI_PEM);
    assert_int_equal(parse(cut), BASTION_JWT_E_BAD_KEY);
    snprintf(cut, sizeof cut, "%s", A3_SPKI_PEM);
    cut[40] = '*';
    assert_int_equal(parse(cut), BASTION_JWT_E_BAD_KEY);
    assert_int_equal(parse("-----BEGIN NOTHING-----\n"), BASTION_JWT_E_BAD_KEY);
    /* leading whitespace before either form is fine */
    char padded[1024];
    snprintf(padded, sizeof padded, "\n  %s", A2_SPKI_PEM);
    assert_int_equal(parse(padded), BASTION_JWT_OK);
    snprintf(padded, sizeof padded, " \r\n%s", A3_JWK);
    assert_int_equal(parse(padded), BASTION_JWT_OK);
}

/* ------------------------------------------------------ AUTH2: issuing */

static void test_AUTH2_issue_then_verify_round_trip(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", "bastion-auth");
    cJSON_AddStringToObject(c, "aud", "bastion-api");
    cJSON_AddStringToObject(c, "sub", "user-42");
    cJSON_AddStringToObject(c, "role", "admin");
    cJSON_AddStringToObject(c, "tenant", "t-7");
    cJSON_AddStringToObject(c, "jti", "b1d4");
    cJSON_AddNumberToObject(c, "iat", NOW);
    cJSON_AddNumberToObject(c, "exp", NOW + 900);
    char out[BASTION_JWT_MAX_LEN + 1];
    size_t n;
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_OK);
    assert_int_equal(strlen(out), n);
    /* {"alg":"HS256","typ":"JWT"} and base64url only */
    assert_memory_equal(out, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37);
    for (size_t i = 0; i < n; i++)
        assert_true(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
                           out[i]) != NULL);
    bastion_jwt_expect x = {BASTION_LIT("bastion-auth"), BASTION_LIT("bastion-api"), 5, false};
    bastion_jwt_claims v;
    assert_int_equal(bastion_jwt_verify(&k, &x, (bastion_str){out, n}, NOW + 10, &v),
                     BASTION_JWT_OK);
    assert_true(unit_str_is(v.sub, "user-42"));
    assert_true(unit_str_is(v.tenant, "t-7"));
    assert_true(unit_str_is(v.jti, "b1d4"));
    assert_int_equal(v.iat, NOW);
    assert_int_equal(v.exp, NOW + 900);
    assert_true(bastion_jwt_has_role(&v, "admin"));
    assert_int_equal(bastion_jwt_verify(&k, &x, (bastion_str){out, n}, NOW + 904, &v),
                     BASTION_JWT_OK);
    assert_int_equal(bastion_jwt_verify(&k, &x, (bastion_str){out, n}, NOW + 905, &v),
                     BASTION_JWT_E_EXPIRED);
    /* a different secret does not accept it */
    bastion_jwt_key other;
    assert_int_equal(bastion_jwt_key_hs256(&other, "0123456789abcdef0123456789abcdeX", 32),
                     BASTION_JWT_OK);
    assert_int_equal(bastion_jwt_verify(&other, &x, (bastion_str){out, n}, NOW + 10, &v),
                     BASTION_JWT_E_SIGNATURE);
    cJSON_Delete(c);
}

static void test_AUTH2_issue_refuses_what_verify_would(void **state)
{
    (void)state;
    bastion_jwt_key k, rsa;
    load_secret(&k);
    load(&rsa, A2_JWK);
    char out[BASTION_JWT_MAX_LEN + 1];
    size_t n = 99;
    cJSON *c = cJSON_CreateObject();
    /* no exp: Bastion never issues a token that does not expire */
    cJSON_AddStringToObject(c, "sub", "u");
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_E_INVALID);
    assert_int_equal(n, 0);
    cJSON_AddNumberToObject(c, "exp", NOW);
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_OK);
    /* only HS256 keys sign */
    assert_int_equal(bastion_jwt_sign_hs256(&rsa, c, out, sizeof out, &n),
                     BASTION_JWT_E_ALG_MISMATCH);
    /* the output must fit, NUL included */
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, 20, &n), BASTION_JWT_E_TOO_LONG);
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_OK);
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, n, &n), BASTION_JWT_E_TOO_LONG);
    /* duplicate names and wrong claim types */
    cJSON_AddStringToObject(c, "sub", "v");
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_E_INVALID);
    cJSON_Delete(c);
    c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "exp", NOW);
    cJSON_AddNumberToObject(c, "role", 1);
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_E_INVALID);
    cJSON_Delete(c);
    c = cJSON_CreateArray();
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_E_INVALID);
    assert_int_equal(bastion_jwt_sign_hs256(&k, NULL, out, sizeof out, &n), BASTION_JWT_E_INVALID);
    cJSON_Delete(c);
    /* too large for BASTION_JWT_MAX_LEN */
    c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "exp", NOW);
    static char filler[7000];
    memset(filler, 'x', sizeof filler - 1);
    cJSON_AddStringToObject(c, "pad", filler);
    assert_int_equal(bastion_jwt_sign_hs256(&k, c, out, sizeof out, &n), BASTION_JWT_E_TOO_LONG);
    cJSON_Delete(c);
}

/* ---------------------------------------------------- AUTH1: the claims */

static void test_AUTH1_role_claim_typed_access(void **state)
{
    (void)state;
    bastion_jwt_key k;
    load_secret(&k);
    bastion_jwt_claims c;
    const char *t = craft(HS256_HEADER, claims_with(",\"sub\":\"u-1\",\"role\":\"admin\","
                                                    "\"tenant\":\"acme\",\"email\":\"a@b.c\""));
    assert_int_equal(bastion_jwt_verify(&k, NULL, bastion_cstr(t), NOW, &c), BASTION_JWT_OK);
    assert_true(unit_str_is(c.role, "admin"));
    assert_int_equal(c.role.ptr[c.role.len], '\0');
    assert_true(unit_str_is(c.tenant, "acme"));
    assert_true(unit_str_is(c.sub, "u-1"));
    assert_true(bastion_jwt_has_role(&c, "admin"));
    assert_false(bastion_jwt_has_role(&c, "Admin"));
    assert_false(bastion_jwt_has_role(&c, "admi"));
    assert_false(bastion_jwt_has_role(&c, "admins"));
    assert_false(bastion_jwt_has_role(NULL, "admin"));
    /* other claims stay reachable through the verified payload */
    assert_true(unit_contains(c.payload, "\"email\":\"a@b.c\""));
    /* no role claim: no role */
    t = craft(HS256_HEADER, claims_with(",\"sub\":\"u-1\""));
    assert_int_equal(bastion_jwt_verify(&k, NULL, bastion_cstr(t), NOW, &c), BASTION_JWT_OK);
    assert_null(c.role.ptr);
    assert_false(bastion_jwt_has_role(&c, "admin"));
    assert_false(bastion_jwt_has_role(&c, ""));
}

/* ------------------------------------------------ AUTH1: _or_problem */

static char bearer_buf[BASTION_JWT_MAX_LEN + 16];

/* A request carrying `authorization` (NULL: no such header). */
static void request(bastion_ctx *cx, const char *authorization)
{
    static bastion_header h[2];
    unit_ctx(cx);
    cx->method = BASTION_LIT("GET");
    if (authorization) {
        h[0] = (bastion_header){BASTION_LIT("authorization"), bastion_cstr(authorization)};
        cx->headers = h;
        cx->n_headers = 1;
    }
}

/* A fresh HS256 token for now, with `more` claims, as "Bearer <token>". */
static const char *bearer_now(const bastion_jwt_key *k, const char *more)
{
    char p[512];
    snprintf(p, sizeof p, "{\"exp\":%lld%s}", (long long)(bastion_now_ms() / 1000 + 300), more);
    cJSON *c = cJSON_Parse(p);
    assert_non_null(c);
    size_t n;
    memcpy(bearer_buf, "Bearer ", 7);
    assert_int_equal(bastion_jwt_sign_hs256(k, c, bearer_buf + 7, sizeof bearer_buf - 7, &n),
                     BASTION_JWT_OK);
    cJSON_Delete(c);
    return bearer_buf;
}

static void assert_401(const bastion_ctx *cx, const char *challenge, const char *token)
{
    cJSON *j = unit_assert_problem(cx, 401, "unauthorized");
    assert_true(unit_str_is(unit_resp_header(cx, "www-authenticate"), challenge));
    assert_string_equal(cJSON_GetObjectItem(j, "class")->valuestring, "auth");
    /* the detail names a class; the token never comes back */
    if (token)
        assert_false(unit_contains(cx->resp_body, token));
    cJSON_Delete(j);
}

static void test_AUTH1_missing_token_401_with_bearer_challenge(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, NULL);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    /* RFC 6750 §3.1: no error code when no credentials were sent */
    assert_401(&cx, "Bearer", NULL);
    /* another scheme counts as no bearer credentials */
    request(&cx, "Basic dXNlcjpwYXNz");
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer", NULL);
    request(&cx, "BearerX abc");
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer", NULL);
}

static void test_AUTH1_invalid_token_401_invalid_token_challenge(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    const char *cases[] = {"Bearer ", "Bearer not.a.jwt", "Bearer " A1_TEXT};
    for (size_t i = 0; i < 3; i++) {
        request(&cx, cases[i]);
        assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
        assert_401(&cx, "Bearer error=\"invalid_token\"", i ? cases[i] + 7 : NULL);
        assert_null(c.role.ptr);
    }
    /* expired: the detail says so, and no more */
    char expired[BASTION_JWT_MAX_LEN + 80];
    snprintf(expired, sizeof expired, "Bearer %s",
             craft(HS256_HEADER, "{\"exp\":1000,\"role\":\"admin\"}"));
    request(&cx, expired);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer error=\"invalid_token\"", expired + 7);
    cJSON *j = unit_body_json(&cx);
    assert_string_equal(cJSON_GetObjectItem(j, "detail")->valuestring, "token expired");
    cJSON_Delete(j);
}

static void test_AUTH1_valid_token_passes_without_responding(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, bearer_now(&k, ",\"role\":\"editor\",\"sub\":\"u9\""));
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(cx.n_resp_headers, 0);
    assert_true(unit_str_is(c.sub, "u9"));
    /* scheme name is case-insensitive (RFC 9110 §11.1), extra spaces allowed */
    char loose[sizeof bearer_buf + 16];
    snprintf(loose, sizeof loose, "bEARER   %s", bearer_buf + 7);
    request(&cx, loose);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
}

static void test_AUTH1_wrong_role_403(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, bearer_now(&k, ",\"role\":\"editor\""));
    assert_int_equal(bastion_require_admin_or_problem(&cx, &k, NULL, &c), BASTION_E_FORBIDDEN);
    cJSON *j = unit_assert_problem(&cx, 403, "forbidden");
    assert_true(unit_str_is(unit_resp_header(&cx, "www-authenticate"),
                            "Bearer error=\"insufficient_scope\""));
    cJSON_Delete(j);
    /* no role at all */
    request(&cx, bearer_now(&k, ""));
    assert_int_equal(bastion_require_admin_or_problem(&cx, &k, NULL, &c), BASTION_E_FORBIDDEN);
    /* the plain role check */
    request(&cx, bearer_now(&k, ",\"role\":\"editor\""));
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_int_equal(bastion_require_role_or_problem(&cx, &c, "editor"), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(bastion_require_role_or_problem(&cx, &c, "admin"), BASTION_E_FORBIDDEN);
    assert_int_equal(cx.status, 403);
}

static void test_AUTH1_admin_token_allowed(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, bearer_now(&k, ",\"role\":\"admin\""));
    assert_int_equal(bastion_require_admin_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_true(bastion_jwt_has_role(&c, "admin"));
    /* no token: 401 first, never 403 */
    request(&cx, NULL);
    assert_int_equal(bastion_require_admin_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_int_equal(cx.status, 401);
}

static void test_AUTH1_unset_key_is_500_not_401(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    memset(&k, 0, sizeof k);
    request(&cx, "Bearer " A1_TEXT);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_MISCONFIGURED);
    cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
}

static void test_AUTH1_key_from_config(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_ctx cx;
    fake.config_names[0] = "jwt_key";
    fake.config_values[0] = A3_SPKI_PEM;
    fake.config_names[1] = "bad_key";
    fake.config_values[1] = "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}";
    unit_ctx(&cx);
    assert_int_equal(bastion_jwt_key_from_config_or_problem(&cx, "jwt_key", &k), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(k.alg, BASTION_JWT_ES256);
    /* REL8: unset or unusable → 500 naming the variable, never its value */
    unit_ctx(&cx);
    assert_int_equal(bastion_jwt_key_from_config_or_problem(&cx, "missing_key", &k),
                     BASTION_E_MISCONFIGURED);
    cJSON *j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_true(unit_contains(cx.resp_body, "missing_key"));
    cJSON_Delete(j);
    unit_ctx(&cx);
    assert_int_equal(bastion_jwt_key_from_config_or_problem(&cx, "bad_key", &k),
                     BASTION_E_MISCONFIGURED);
    j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_true(unit_contains(cx.resp_body, "bad_key"));
    assert_false(unit_contains(cx.resp_body, "c2VjcmV0"));
    assert_int_equal(k.alg, BASTION_JWT_ALG_UNSET);
    cJSON_Delete(j);
}

/* Every code has its own text, and none of them is empty. */
static void test_AUTH2_every_rc_has_text(void **state)
{
    (void)state;
    for (int i = 0; i < BASTION_JWT_E__COUNT; i++) {
        const char *t = bastion_jwt_rc_text((bastion_jwt_rc)i);
        assert_non_null(t);
        assert_true(t[0] != '\0');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(t, bastion_jwt_rc_text((bastion_jwt_rc)j));
    }
    assert_non_null(bastion_jwt_rc_text(BASTION_JWT_E__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_AUTH2_rfc7515_a1_hs256_verifies, setup),
        cmocka_unit_test_setup(test_AUTH2_rfc7515_a2_rs256_verifies, setup),
        cmocka_unit_test_setup(test_AUTH2_rfc7515_a3_es256_verifies, setup),
        cmocka_unit_test_setup(test_AUTH2_es256_high_s_accepted_low_s_not_enforced, setup),
        cmocka_unit_test_setup(test_AUTH2_signature_over_received_segments, setup),
        cmocka_unit_test_setup(test_AUTH2_alg_none_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_hs256_token_on_rs256_key_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_alg_must_equal_the_keys, setup),
        cmocka_unit_test_setup(test_AUTH2_crit_header_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_header_must_be_an_object_with_alg, setup),
        cmocka_unit_test_setup(test_AUTH2_wrong_secret_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_tampered_payload_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_tampered_signature_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_truncated_signature_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_padding_in_segments_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_bad_base64url_characters_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_wrong_number_of_segments_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_too_long_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_signature_verified_before_payload_parsed, setup),
        cmocka_unit_test_setup(test_AUTH2_expired_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_nbf_in_future_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_iat_in_future_beyond_leeway_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_leeway_over_60_clamped, setup),
        cmocka_unit_test_setup(test_AUTH2_wrong_audience_string_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_wrong_audience_array_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_audience_present_but_not_configured_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_wrong_issuer_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_missing_exp_rejected_when_required, setup),
        cmocka_unit_test_setup(test_AUTH2_claim_types_enforced, setup),
        cmocka_unit_test_setup(test_AUTH2_duplicate_and_nul_claims_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_unset_key_rejected, setup),
        cmocka_unit_test_setup(test_AUTH2_jwk_keys_checked, setup),
        cmocka_unit_test_setup(test_AUTH2_pem_keys_checked, setup),
        cmocka_unit_test_setup(test_AUTH2_issue_then_verify_round_trip, setup),
        cmocka_unit_test_setup(test_AUTH2_issue_refuses_what_verify_would, setup),
        cmocka_unit_test_setup(test_AUTH2_every_rc_has_text, setup),
        cmocka_unit_test_setup(test_AUTH1_role_claim_typed_access, setup),
        cmocka_unit_test_setup(test_AUTH1_missing_token_401_with_bearer_challenge, setup),
        cmocka_unit_test_setup(test_AUTH1_invalid_token_401_invalid_token_challenge, setup),
        cmocka_unit_test_setup(test_AUTH1_valid_token_passes_without_responding, setup),
        cmocka_unit_test_setup(test_AUTH1_wrong_role_403, setup),
        cmocka_unit_test_setup(test_AUTH1_admin_token_allowed, setup),
        cmocka_unit_test_setup(test_AUTH1_unset_key_is_500_not_401, setup),
        cmocka_unit_test_setup(test_AUTH1_key_from_config, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
