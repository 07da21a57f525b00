/*
 * Unit tests for shared/src/jwt.c: compact JWS verification under RFC 8725
 * (AUTH2) and HS256 issuing, on the RFC 7515 Appendix A vectors
 * (jwt_vectors.h). Key loading is jwt_key_test.c; the bearer front door,
 * auth_test.c.
 */
#include "../../shared/src/jwt.c"

#include "jwt_vectors.h"

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
        cmocka_unit_test_setup(test_AUTH2_issue_then_verify_round_trip, setup),
        cmocka_unit_test_setup(test_AUTH2_issue_refuses_what_verify_would, setup),
        cmocka_unit_test_setup(test_AUTH2_every_rc_has_text, setup),
        cmocka_unit_test_setup(test_AUTH1_role_claim_typed_access, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
