/*
 * Unit tests for shared/src/token.c: signed one-time link tokens (AUTH6).
 * Tampered → 401, expired → 410, already used → 409; the purpose is bound
 * through a per-purpose HKDF key.
 *
 * The known-answer values were computed independently of this code with
 * pyca/cryptography 48 (HKDF per RFC 5869 with SHA-256, salt
 * "bastion/token/v1", info "bastion/token/v1/" ‖ purpose; then
 * HMAC-SHA256 over the token layout documented in token.h).
 */
#include "../../shared/src/token.c"

#include "fake_host.h"
#include "unit.h"

static const char MASTER[] = "master-secret-for-tests-0123456789abcdef"; /* 40 bytes */
static const uint8_t NONCE[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#define EXPIRES 1700003600
#define NOW     1700000000

/* HKDF-SHA256(MASTER) for the two purposes below, and the token for
 * ("permit-42", EXPIRES, NONCE) under the first. */
static const char KAT_PERMIT_KEY[] =
    "1d0773efa40d0876f17eb9300eed7f1356010e5e8b04a52f5eedc795632b7258";
static const char KAT_INVITE_KEY[] =
    "7d86661712ecff279304786e38100e493cd8beda7d0a418d997bc252e18bed24";
static const char KAT_TOKEN[] =
    "AQAAAABlU_8QAAECAwQFBgcICQoLDA0OD3Blcm1pdC00MouIXznmij_8CM9G52xwBQ9jlnQ6MtCSKmUsS5vJ4bgK";

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static void key_for(bastion_token_key *k, const char *purpose)
{
    assert_int_equal(bastion_token_key_init(k, MASTER, strlen(MASTER), bastion_cstr(purpose)),
                     BASTION_TOKEN_OK);
}

/* A token for `resource` under `purpose`, with the fixed nonce. */
static const char *mint(const char *purpose, const char *resource, int64_t expires)
{
    static char out[4][BASTION_TOKEN_MAX_LEN + 1];
    static int turn;
    char *o = out[turn++ % 4];
    bastion_token_key k;
    size_t n;
    key_for(&k, purpose);
    assert_int_equal(bastion_token_sign(&k, bastion_cstr(resource), expires, NONCE, o,
                                        BASTION_TOKEN_MAX_LEN + 1, &n),
                     BASTION_TOKEN_OK);
    assert_int_equal(strlen(o), n);
    return o;
}

static bastion_token_rc check(const char *purpose, const char *token, int64_t now,
                              bastion_token_claims *out)
{
    bastion_token_key k;
    key_for(&k, purpose);
    return bastion_token_verify(&k, bastion_cstr(token), now, out);
}

/* ------------------------------------------------------------ format */

static void test_AUTH6_known_answer(void **state)
{
    (void)state;
    bastion_token_key k;
    char hex[65];
    key_for(&k, "permit-approve");
    bastion_hex_encode(hex, k.k, 32);
    hex[64] = 0;
    assert_string_equal(hex, KAT_PERMIT_KEY);
    key_for(&k, "invite-accept");
    bastion_hex_encode(hex, k.k, 32);
    assert_string_equal(hex, KAT_INVITE_KEY);
    assert_string_equal(mint("permit-approve", "permit-42", EXPIRES), KAT_TOKEN);
}

static void test_AUTH6_round_trip(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    bastion_token_claims c;
    assert_int_equal(check("permit-approve", t, NOW, &c), BASTION_TOKEN_OK);
    assert_int_equal(c.expires_s, EXPIRES);
    assert_memory_equal(c.nonce, NONCE, 16);
    assert_int_equal(c.resource_len, 9);
    assert_string_equal(c.resource, "permit-42");
    /* URL-safe as is: the base64url alphabet only, no padding */
    for (const char *p = t; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    /* the longest resource fits BASTION_TOKEN_MAX_LEN exactly */
    char rid[BASTION_TOKEN_RESOURCE_MAX + 1];
    memset(rid, '~', BASTION_TOKEN_RESOURCE_MAX);
    rid[BASTION_TOKEN_RESOURCE_MAX] = 0;
    t = mint("permit-approve", rid, EXPIRES);
    assert_int_equal(strlen(t), BASTION_TOKEN_MAX_LEN);
    assert_int_equal(check("permit-approve", t, NOW, &c), BASTION_TOKEN_OK);
    assert_string_equal(c.resource, rid);
}

/* AUTH6: no API key or secret in the link: the token is exactly
 * version, expiry, nonce, resource id and a MAC. */
static void test_AUTH6_token_carries_no_secret(void **state)
{
    (void)state;
    uint8_t raw[256];
    size_t n;
    bastion_token_key k;
    key_for(&k, "permit-approve");
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    assert_int_equal(bastion_b64_decode(raw, sizeof raw, &n, bastion_cstr(t), BASTION_B64_URL),
                     BASTION_DECODE_OK);
    assert_int_equal(n, 1 + 8 + 16 + 9 + 32);
    assert_null(memmem(raw, n, MASTER, 8));
    assert_null(memmem(raw, n, k.k, 8));
}

static void test_AUTH6_fresh_nonce_per_token(void **state)
{
    (void)state;
    bastion_token_key k;
    key_for(&k, "permit-approve");
    char a[BASTION_TOKEN_MAX_LEN + 1], b[BASTION_TOKEN_MAX_LEN + 1];
    size_t n;
    assert_int_equal(bastion_token_sign(&k, BASTION_LIT("p-1"), EXPIRES, NULL, a, sizeof a, &n),
                     BASTION_TOKEN_OK);
    assert_int_equal(bastion_token_sign(&k, BASTION_LIT("p-1"), EXPIRES, NULL, b, sizeof b, &n),
                     BASTION_TOKEN_OK);
    assert_string_not_equal(a, b);
    bastion_token_claims ca, cb;
    assert_int_equal(bastion_token_verify(&k, bastion_cstr(a), NOW, &ca), BASTION_TOKEN_OK);
    assert_int_equal(bastion_token_verify(&k, bastion_cstr(b), NOW, &cb), BASTION_TOKEN_OK);
    assert_memory_not_equal(ca.nonce, cb.nonce, 16);
}

/* ---------------------------------------------------------- tampered */

/* Every byte of every field — version, expiry, nonce, resource id, MAC —
 * altered in turn, re-encoded cleanly: each is TAMPERED, none EXPIRED. */
static void test_AUTH6_tampered_each_field(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    uint8_t raw[256];
    size_t n;
    assert_int_equal(bastion_b64_decode(raw, sizeof raw, &n, bastion_cstr(t), BASTION_B64_URL),
                     BASTION_DECODE_OK);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            uint8_t copy[256];
            char text[BASTION_TOKEN_MAX_LEN + 1];
            memcpy(copy, raw, n);
            copy[i] ^= (uint8_t)(1u << bit);
            text[bastion_b64_encode(text, copy, n, BASTION_B64_URL)] = 0;
            bastion_token_claims c;
            if (check("permit-approve", text, NOW, &c) != BASTION_TOKEN_E_TAMPERED)
                unit_fail("byte %zu bit %d: accepted", i, bit);
            assert_int_equal(c.resource_len, 0); /* nothing leaks out */
        }
    }
    /* and as text: one character changed */
    char text[BASTION_TOKEN_MAX_LEN + 1];
    bastion_token_claims c;
    snprintf(text, sizeof text, "%s", t);
    text[20] = text[20] == 'A' ? 'B' : 'A';
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
}

/* The MAC is checked before the expiry is believed: moving an expired
 * token's expiry into the future makes it tampered (401), not valid. */
static void test_AUTH6_extended_expiry_is_tampered(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", NOW - 10);
    uint8_t raw[256];
    size_t n;
    bastion_token_claims c;
    assert_int_equal(check("permit-approve", t, NOW, &c), BASTION_TOKEN_E_EXPIRED);
    assert_int_equal(bastion_b64_decode(raw, sizeof raw, &n, bastion_cstr(t), BASTION_B64_URL),
                     BASTION_DECODE_OK);
    raw[5] ^= 0x10; /* about a year later */
    char text[BASTION_TOKEN_MAX_LEN + 1];
    text[bastion_b64_encode(text, raw, n, BASTION_B64_URL)] = 0;
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
}

static void test_AUTH6_resource_swap_is_tampered(void **state)
{
    (void)state;
    /* same length, same purpose, same key: only the resource differs */
    const char *a = mint("permit-approve", "permit-42", EXPIRES);
    const char *b = mint("permit-approve", "permit-43", EXPIRES);
    uint8_t ra[256], rb[256];
    size_t na, nb;
    bastion_b64_decode(ra, sizeof ra, &na, bastion_cstr(a), BASTION_B64_URL);
    bastion_b64_decode(rb, sizeof rb, &nb, bastion_cstr(b), BASTION_B64_URL);
    assert_int_equal(na, nb);
    memcpy(ra + 25, rb + 25, 9); /* b's resource under a's MAC */
    char text[BASTION_TOKEN_MAX_LEN + 1];
    text[bastion_b64_encode(text, ra, na, BASTION_B64_URL)] = 0;
    bastion_token_claims c;
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
}

static void test_AUTH6_wrong_purpose_is_tampered(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    bastion_token_claims c;
    assert_int_equal(check("invite-accept", t, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    assert_int_equal(check("permit-approve2", t, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    assert_int_equal(check("permit-approve", t, NOW, &c), BASTION_TOKEN_OK);
    /* another master secret, same purpose */
    bastion_token_key other;
    assert_int_equal(bastion_token_key_init(&other, "another-master-secret-0123456789abcdef", 38,
                                            BASTION_LIT("permit-approve")),
                     BASTION_TOKEN_OK);
    assert_int_equal(bastion_token_verify(&other, bastion_cstr(t), NOW, &c),
                     BASTION_TOKEN_E_TAMPERED);
}

static void test_AUTH6_key_derivation_differs_per_purpose(void **state)
{
    (void)state;
    bastion_token_key a, b, a2;
    key_for(&a, "permit-approve");
    key_for(&b, "invite-accept");
    key_for(&a2, "permit-approve");
    assert_memory_not_equal(a.k, b.k, 32);
    assert_memory_equal(a.k, a2.k, 32);
    /* the key is not the master, nor a plain hash of it */
    uint8_t h[32];
    bastion_sha256(h, MASTER, strlen(MASTER));
    assert_memory_not_equal(a.k, h, 32);
    assert_memory_not_equal(a.k, MASTER, 32);
    /* a purpose that is a prefix of another still gets its own key */
    bastion_token_key p, pp;
    key_for(&p, "permit");
    key_for(&pp, "permit-");
    assert_memory_not_equal(p.k, pp.k, 32);
}

static void test_AUTH6_malformed_is_tampered(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    bastion_token_claims c;
    char text[512];
    const char *bad[] = {"", "A", "AQ", "not a token", "AQAAAABlU_8Q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(check("permit-approve", bad[i], NOW, &c), BASTION_TOKEN_E_TAMPERED);
    /* padding, the other alphabet, and whitespace */
    snprintf(text, sizeof text, "%s=", t);
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    snprintf(text, sizeof text, "%s", t);
    char *u = strchr(text, '_');
    assert_non_null(u);
    *u = '/';
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    snprintf(text, sizeof text, " %s", t);
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    /* truncated, and extended */
    snprintf(text, sizeof text, "%.*s", (int)strlen(t) - 4, t);
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    snprintf(text, sizeof text, "%sAAAA", t);
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    /* longer than any token */
    memset(text, 'A', BASTION_TOKEN_MAX_LEN + 1);
    text[BASTION_TOKEN_MAX_LEN + 1] = 0;
    assert_int_equal(check("permit-approve", text, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    bastion_token_key k;
    key_for(&k, "permit-approve");
    assert_int_equal(bastion_token_verify(&k, BASTION_STR_NULL, NOW, &c), BASTION_TOKEN_E_TAMPERED);
    assert_int_equal(bastion_token_verify(NULL, bastion_cstr(t), NOW, &c), BASTION_TOKEN_E_INVALID);
}

/* ----------------------------------------------------------- expired */

static void test_AUTH6_expired_is_distinct(void **state)
{
    (void)state;
    const char *t = mint("permit-approve", "permit-42", EXPIRES);
    bastion_token_claims c;
    assert_int_equal(check("permit-approve", t, EXPIRES - 1, &c), BASTION_TOKEN_OK);
    assert_int_equal(check("permit-approve", t, EXPIRES, &c), BASTION_TOKEN_E_EXPIRED);
    assert_int_equal(check("permit-approve", t, EXPIRES + 86400, &c), BASTION_TOKEN_E_EXPIRED);
    /* still authentic: the claims are there for the log line */
    assert_string_equal(c.resource, "permit-42");
    assert_int_equal(c.expires_s, EXPIRES);
    /* a tampered and expired token is tampered */
    char text[BASTION_TOKEN_MAX_LEN + 1];
    snprintf(text, sizeof text, "%s", t);
    text[30] = text[30] == 'A' ? 'B' : 'A';
    assert_int_equal(check("permit-approve", text, EXPIRES + 1, &c), BASTION_TOKEN_E_TAMPERED);
}

/* ---------------------------------------------------------- signing */

static void test_AUTH6_sign_and_key_refuse_bad_input(void **state)
{
    (void)state;
    bastion_token_key k;
    char out[BASTION_TOKEN_MAX_LEN + 1];
    size_t n = 7;
    key_for(&k, "permit-approve");
    char long_rid[BASTION_TOKEN_RESOURCE_MAX + 2];
    memset(long_rid, 'r', sizeof long_rid - 1);
    long_rid[sizeof long_rid - 1] = 0;
    const char *bad_rid[] = {"", "has space", "tab\there", "nul", long_rid, "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_rid / sizeof bad_rid[0]; i++) {
        bastion_str r = bastion_cstr(bad_rid[i]);
        if (i == 3)
            r = (bastion_str){"a\0b", 3};
        assert_int_equal(bastion_token_sign(&k, r, EXPIRES, NONCE, out, sizeof out, &n),
                         BASTION_TOKEN_E_INVALID);
        assert_int_equal(n, 0);
    }
    assert_int_equal(bastion_token_sign(&k, BASTION_STR_NULL, EXPIRES, NONCE, out, sizeof out, &n),
                     BASTION_TOKEN_E_INVALID);
    /* expiry within 1 .. year 9999 */
    assert_int_equal(bastion_token_sign(&k, BASTION_LIT("p"), 0, NONCE, out, sizeof out, &n),
                     BASTION_TOKEN_E_INVALID);
    assert_int_equal(bastion_token_sign(&k, BASTION_LIT("p"), -5, NONCE, out, sizeof out, &n),
                     BASTION_TOKEN_E_INVALID);
    assert_int_equal(
        bastion_token_sign(&k, BASTION_LIT("p"), INT64_MAX, NONCE, out, sizeof out, &n),
        BASTION_TOKEN_E_INVALID);
    /* the buffer must hold the token and its NUL */
    assert_int_equal(bastion_token_sign(&k, BASTION_LIT("permit-42"), EXPIRES, NONCE, out, 10, &n),
                     BASTION_TOKEN_E_INVALID);
    size_t need = strlen(KAT_TOKEN);
    assert_int_equal(
        bastion_token_sign(&k, BASTION_LIT("permit-42"), EXPIRES, NONCE, out, need, &n),
        BASTION_TOKEN_E_INVALID);
    assert_int_equal(
        bastion_token_sign(&k, BASTION_LIT("permit-42"), EXPIRES, NONCE, out, need + 1, &n),
        BASTION_TOKEN_OK);
    assert_int_equal(
        bastion_token_sign(NULL, BASTION_LIT("p"), EXPIRES, NONCE, out, sizeof out, &n),
        BASTION_TOKEN_E_INVALID);
    /* keys: a master of at least 32 bytes, a purpose of [a-z0-9._-]{1,64} */
    assert_int_equal(bastion_token_key_init(&k, MASTER, 31, BASTION_LIT("permit")),
                     BASTION_TOKEN_E_INVALID);
    assert_int_equal(bastion_token_key_init(&k, NULL, 40, BASTION_LIT("permit")),
                     BASTION_TOKEN_E_INVALID);
    const char *bad_purpose[] = {
        "", "Permit", "permit approve", "permit/approve",
        "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < sizeof bad_purpose / sizeof bad_purpose[0]; i++) {
        assert_int_equal(
            bastion_token_key_init(&k, MASTER, strlen(MASTER), bastion_cstr(bad_purpose[i])),
            BASTION_TOKEN_E_INVALID);
        uint8_t zero[32] = {0};
        assert_memory_equal(k.k, zero, 32);
    }
}

/* ------------------------------------------------------- one-time use */

static void test_AUTH6_nonce_reuse_via_kv_add(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k;
    bastion_token_claims c;
    bastion_host_rc hrc;
    key_for(&k, "permit-approve");
    assert_int_equal(check("permit-approve", mint("permit-approve", "permit-42", EXPIRES), NOW, &c),
                     BASTION_TOKEN_OK);
    unit_ctx(&cx);
    /* first use: the store's add succeeds */
    fake.ok_bool = true;
    assert_int_equal(bastion_token_consume(&cx, &k, "tokens", &c, NOW, &hrc), BASTION_TOKEN_OK);
    assert_int_equal(hrc, BASTION_HOST_OK);
    assert_int_equal(fake.n_calls, 1);
    const fake_call *add = &fake.calls[0];
    assert_int_equal(add->fn, FAKE_KV_ADD);
    assert_string_equal(add->store, "tokens");
    assert_int_equal(add->key_len, 37);
    assert_memory_equal(add->key, "tok1:", 5);
    /* kept until the token expires, plus the skew margin */
    assert_int_equal(add->ttl_ms, (uint64_t)(EXPIRES - NOW + 300) * 1000);
    char first_key[sizeof fake.calls[0].key];
    snprintf(first_key, sizeof first_key, "%s", add->key);
    /* second use: the nonce is already there */
    fake.ok_bool = false;
    assert_int_equal(bastion_token_consume(&cx, &k, "tokens", &c, NOW + 5, &hrc),
                     BASTION_TOKEN_E_REUSED);
    assert_int_equal(fake_count(FAKE_KV_ADD), 2);
    assert_string_equal(fake.calls[1].key, first_key);
    /* the same nonce under another purpose is another record */
    bastion_token_key other;
    key_for(&other, "invite-accept");
    assert_int_equal(bastion_token_consume(&cx, &other, "tokens", &c, NOW, &hrc),
                     BASTION_TOKEN_E_REUSED);
    assert_string_not_equal(fake.calls[2].key, first_key);
    /* the nonce itself never becomes the key */
    char nonce_hex[33];
    bastion_hex_encode(nonce_hex, NONCE, 16);
    nonce_hex[32] = 0;
    assert_null(strstr(first_key, nonce_hex));
}

static void test_AUTH6_store_failure_is_not_reuse(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k;
    bastion_token_claims c;
    bastion_host_rc hrc;
    key_for(&k, "permit-approve");
    assert_int_equal(check("permit-approve", mint("permit-approve", "permit-42", EXPIRES), NOW, &c),
                     BASTION_TOKEN_OK);
    unit_ctx(&cx);
    fake.error_tag = 1; /* unavailable */
    fake.error_msg = "kv down";
    assert_int_equal(bastion_token_consume(&cx, &k, "tokens", &c, NOW, &hrc),
                     BASTION_TOKEN_E_STORE);
    assert_int_equal(hrc, BASTION_HOST_UNAVAILABLE);
}

/* -------------------------------------------------------- or_problem */

static const char *live_token(const char *resource)
{
    return mint("permit-approve", resource, (int64_t)(bastion_now_ms() / 1000) + 3600);
}

static void test_AUTH6_redeem_answers_401_410_409(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k;
    bastion_token_claims c;
    key_for(&k, "permit-approve");
    /* ok: consumed once, nothing written */
    unit_ctx(&cx);
    fake.ok_bool = true;
    const char *t = live_token("permit-7");
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens", bastion_cstr(t), &c),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_string_equal(c.resource, "permit-7");
    assert_int_equal(fake_count(FAKE_KV_ADD), 1);
    /* used again → 409 */
    unit_ctx(&cx);
    fake.ok_bool = false;
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens", bastion_cstr(t), &c),
                     BASTION_E_CONFLICT);
    cJSON_Delete(unit_assert_problem(&cx, 409, "conflict"));
    /* tampered → 401 with a challenge, and the store is never asked */
    fake_reset();
    unit_ctx(&cx);
    char bad[BASTION_TOKEN_MAX_LEN + 1];
    snprintf(bad, sizeof bad, "%s", t);
    bad[12] = bad[12] == 'A' ? 'B' : 'A';
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens", bastion_cstr(bad), &c),
                     BASTION_E_UNAUTHORIZED);
    cJSON_Delete(unit_assert_problem(&cx, 401, "unauthorized"));
    assert_true(
        unit_str_is(unit_resp_header(&cx, "www-authenticate"), "Bearer error=\"invalid_token\""));
    assert_false(unit_contains(cx.resp_body, bad));
    assert_int_equal(fake_count(FAKE_KV_ADD), 0);
    /* expired → 410, and the store is never asked */
    unit_ctx(&cx);
    t = mint("permit-approve", "permit-7", (int64_t)(bastion_now_ms() / 1000) - 1);
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens", bastion_cstr(t), &c),
                     BASTION_E_GONE);
    cJSON_Delete(unit_assert_problem(&cx, 410, "gone"));
    assert_int_equal(fake_count(FAKE_KV_ADD), 0);
    /* another purpose's token → 401 */
    unit_ctx(&cx);
    t = mint("invite-accept", "permit-7", (int64_t)(bastion_now_ms() / 1000) + 3600);
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens", bastion_cstr(t), &c),
                     BASTION_E_UNAUTHORIZED);
}

static void test_AUTH6_redeem_store_failure_is_5xx(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k;
    bastion_token_claims c;
    key_for(&k, "permit-approve");
    unit_ctx(&cx);
    fake.error_tag = 1; /* unavailable → 503 */
    fake.error_msg = "kv down";
    assert_int_equal(bastion_token_redeem_or_problem(&cx, &k, "tokens",
                                                     bastion_cstr(live_token("permit-7")), &c),
                     BASTION_E_UNAVAILABLE);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    assert_false(unit_contains(cx.resp_body, "kv down"));
    /* no key → 500, never a 401 blamed on the client */
    unit_ctx(&cx);
    assert_int_equal(bastion_token_redeem_or_problem(&cx, NULL, "tokens",
                                                     bastion_cstr(live_token("permit-7")), &c),
                     BASTION_E_MISCONFIGURED);
}

static void test_AUTH6_check_answers_401_410_and_never_consumes(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k;
    bastion_token_claims c;
    key_for(&k, "permit-approve");
    /* ok, twice: checking claims nothing */
    const char *t = live_token("permit-9");
    for (int i = 0; i < 2; i++) {
        unit_ctx(&cx);
        assert_int_equal(bastion_token_check_or_problem(&cx, &k, bastion_cstr(t), &c), BASTION_OK);
        assert_false(cx.responded);
        assert_string_equal(c.resource, "permit-9");
    }
    assert_int_equal(fake.n_calls, 0);
    /* tampered → 401 with the challenge */
    unit_ctx(&cx);
    char bad[BASTION_TOKEN_MAX_LEN + 1];
    snprintf(bad, sizeof bad, "%s", t);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    assert_int_equal(bastion_token_check_or_problem(&cx, &k, bastion_cstr(bad), &c),
                     BASTION_E_UNAUTHORIZED);
    cJSON_Delete(unit_assert_problem(&cx, 401, "unauthorized"));
    assert_true(
        unit_str_is(unit_resp_header(&cx, "www-authenticate"), "Bearer error=\"invalid_token\""));
    /* expired → 410 */
    unit_ctx(&cx);
    t = mint("permit-approve", "permit-9", (int64_t)(bastion_now_ms() / 1000) - 1);
    assert_int_equal(bastion_token_check_or_problem(&cx, &k, bastion_cstr(t), &c), BASTION_E_GONE);
    cJSON_Delete(unit_assert_problem(&cx, 410, "gone"));
    /* no key → 500 */
    unit_ctx(&cx);
    assert_int_equal(bastion_token_check_or_problem(&cx, NULL, bastion_cstr(live_token("p")), &c),
                     BASTION_E_MISCONFIGURED);
    assert_int_equal(fake.n_calls, 0);
}

static void test_REL8_key_from_a_variable(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_token_key k, want;
    key_for(&want, "permit-approve");
    /* the master secret from the variable: the same key as bastion_token_key_init */
    fake.config_names[0] = "link_secret";
    fake.config_values[0] = MASTER;
    unit_ctx(&cx);
    assert_int_equal(
        bastion_token_key_or_problem(&cx, "link_secret", BASTION_LIT("permit-approve"), &k),
        BASTION_OK);
    assert_false(cx.responded);
    assert_memory_equal(k.k, want.k, sizeof k.k);
    /* short or unset → 500 naming the variable, never the value */
    static const char *const values[] = {"0123456789abcdef0123456789abcde", NULL};
    for (size_t i = 0; i < BASTION_COUNTOF(values); i++) {
        fake.config_values[0] = values[i];
        unit_ctx(&cx);
        assert_int_equal(
            bastion_token_key_or_problem(&cx, "link_secret", BASTION_LIT("permit-approve"), &k),
            BASTION_E_MISCONFIGURED);
        cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
        assert_true(unit_contains(cx.resp_body, "link_secret"));
        assert_false(unit_contains(cx.resp_body, "0123456789abcdef"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_AUTH6_known_answer, setup),
        cmocka_unit_test_setup(test_AUTH6_round_trip, setup),
        cmocka_unit_test_setup(test_AUTH6_token_carries_no_secret, setup),
        cmocka_unit_test_setup(test_AUTH6_fresh_nonce_per_token, setup),
        cmocka_unit_test_setup(test_AUTH6_tampered_each_field, setup),
        cmocka_unit_test_setup(test_AUTH6_extended_expiry_is_tampered, setup),
        cmocka_unit_test_setup(test_AUTH6_resource_swap_is_tampered, setup),
        cmocka_unit_test_setup(test_AUTH6_wrong_purpose_is_tampered, setup),
        cmocka_unit_test_setup(test_AUTH6_key_derivation_differs_per_purpose, setup),
        cmocka_unit_test_setup(test_AUTH6_malformed_is_tampered, setup),
        cmocka_unit_test_setup(test_AUTH6_expired_is_distinct, setup),
        cmocka_unit_test_setup(test_AUTH6_sign_and_key_refuse_bad_input, setup),
        cmocka_unit_test_setup(test_AUTH6_nonce_reuse_via_kv_add, setup),
        cmocka_unit_test_setup(test_AUTH6_store_failure_is_not_reuse, setup),
        cmocka_unit_test_setup(test_AUTH6_redeem_answers_401_410_409, setup),
        cmocka_unit_test_setup(test_AUTH6_redeem_store_failure_is_5xx, setup),
        cmocka_unit_test_setup(test_AUTH6_check_answers_401_410_and_never_consumes, setup),
        cmocka_unit_test_setup(test_REL8_key_from_a_variable, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
