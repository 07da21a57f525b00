/*
 * Vectors and helpers shared by the JWT unit tests: jwt_test.c (verify,
 * issue), jwt_key_test.c (key loading) and auth_test.c (the bearer front
 * door). Everything is static (inline), so a test that uses part of it
 * still builds under -Wall -Werror.
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
#ifndef BASTION_JWT_VECTORS_H
#define BASTION_JWT_VECTORS_H

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

static inline int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static inline void load(bastion_jwt_key *k, const char *text)
{
    assert_int_equal(bastion_jwt_key_parse(k, bastion_cstr(text)), BASTION_JWT_OK);
}

static inline void load_secret(bastion_jwt_key *k)
{
    assert_int_equal(bastion_jwt_key_hs256(k, SECRET, strlen(SECRET)), BASTION_JWT_OK);
}

/* Builds header.payload.signature by hand, HMAC-SHA256-keyed with `secret`,
 * so tests can sign any header (none, crit, a foreign alg) — independent of
 * bastion_jwt_sign_hs256. sign=false leaves the signature empty. */
static inline const char *craft_raw(const void *secret, size_t slen, const char *header,
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

static inline const char *craft(const char *header, const char *payload)
{
    return craft_raw(SECRET, strlen(SECRET), header, payload, true);
}

#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload with exp = NOW + 3600 and the extra members in `more` ("" or ",…"). */
static inline const char *claims_with(const char *more)
{
    static char buf[4][2048];
    static int turn;
    char *out = buf[turn++ % 4];
    snprintf(out, sizeof buf[0], "{\"exp\":%d%s}", NOW + 3600, more);
    return out;
}

#endif
