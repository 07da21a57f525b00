/*
 * Unit tests for shared/src/jwt_key.c: HS256 secrets, JWKs (RFC 7517,
 * RFC 7518 §6) and PEM public keys (RFC 7468) for AUTH2, and the key from a
 * config variable (REL8). Vectors: RFC 7515 Appendix A (jwt_vectors.h).
 */
#include "../../shared/src/jwt_key.c"

#include "jwt_vectors.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_AUTH2_jwk_keys_checked, setup),
        cmocka_unit_test_setup(test_AUTH2_pem_keys_checked, setup),
        cmocka_unit_test_setup(test_AUTH1_key_from_config, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
