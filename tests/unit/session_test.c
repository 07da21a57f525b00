/*
 * Unit tests for shared/src/session.c: logout's denylist, checked in every
 * bearer check (AUTH1: a revoked or unrevocable token is 401), and CSRF
 * tokens (AUTH4: random, in the shared kv store, bound to the session,
 * expiring, consumed atomically exactly once). A store failure fails closed
 * with 503/504 (REL1).
 *
 * session.c's kv calls go to the scripted fake host (fake_host.c), which
 * records the store, key, value and TTL of each call and answers what the
 * test scripts. The properties that span requests (issue then consume, a
 * second consume, expiry) need a store with real semantics: with `on_model`
 * set, the same calls go to fake_kv.h's model instead. The clock session.c
 * reads is fake_kv.h's (tkv.now) in both cases.
 */
#include "fake_host.h"
#include "unit.h"

#include "bastion/session.h"

#include "fake_kv.h"

static bool on_model;

#undef bastion_kv_get
#undef bastion_kv_set
#undef bastion_kv_delete

static bastion_host_rc session_kv_get(bastion_ctx *cx, const char *store, bastion_str key,
                                      bastion_str *value, bool *found)
{
    return on_model ? tkv_get(cx, store, key, value, found)
                    : bastion_kv_get(cx, store, key, value, found);
}

static bastion_host_rc session_kv_set(bastion_ctx *cx, const char *store, bastion_str key,
                                      bastion_str value, uint64_t ttl_ms)
{
    return on_model ? tkv_set(cx, store, key, value, ttl_ms)
                    : bastion_kv_set(cx, store, key, value, ttl_ms);
}

static bastion_host_rc session_kv_delete(bastion_ctx *cx, const char *store, bastion_str key,
                                         bool *deleted)
{
    return on_model ? tkv_delete(cx, store, key, deleted)
                    : bastion_kv_delete(cx, store, key, deleted);
}

#define bastion_kv_get    session_kv_get
#define bastion_kv_set    session_kv_set
#define bastion_kv_delete session_kv_delete
#include "../../shared/src/session.c"
#undef bastion_now_ms

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    on_model = false;
    return 0;
}

#define NOW_S ((int64_t)(1700000000000ull / 1000)) /* tkv_reset's clock */

/* Verified claims of a session named `jti` (NULL: none) expiring at `exp`. */
static bastion_jwt_claims claims_of(const char *jti, int64_t exp)
{
    bastion_jwt_claims c;
    memset(&c, 0, sizeof c);
    c.sub = BASTION_LIT("u-1");
    c.jti = jti ? bastion_cstr(jti) : BASTION_STR_NULL;
    c.exp = exp;
    c.has_exp = true;
    return c;
}

/* A request carrying `csrf` as X-CSRF-Token (NULL: no such header). */
static void request(bastion_ctx *cx, const char *csrf)
{
    unit_ctx(cx);
    if (csrf) {
        bastion_header *h = bastion_alloc(sizeof *h);
        h->name = BASTION_LIT("x-csrf-token");
        h->value = bastion_cstr(csrf);
        cx->headers = h;
        cx->n_headers = 1;
    }
}

/* 401 with exactly one RFC 6750 §3.1 invalid_token challenge. */
static void assert_invalid_token(const bastion_ctx *cx)
{
    cJSON_Delete(unit_assert_problem(cx, 401, "unauthorized"));
    assert_int_equal(unit_resp_header_count(cx, "www-authenticate"), 1);
    assert_true(
        unit_str_is(unit_resp_header(cx, "www-authenticate"), "Bearer error=\"invalid_token\""));
}

/* The key session.h promises for a CSRF token: "csrf:" + hex SHA-256 over the
 * framed (jti, token), computed here without session.c's helper. */
static void expected_csrf_key(const char *jti, const char *token, char out[5 + 64 + 1])
{
    char framed[256];
    int n = snprintf(framed, sizeof framed, "bastion.csrf.v1\n%s\n%s", jti, token);
    assert_true(n > 0 && (size_t)n < sizeof framed);
    uint8_t d[BASTION_SHA256_LEN];
    bastion_sha256(d, framed, (size_t)n);
    memcpy(out, "csrf:", 5);
    bastion_hex_encode(out + 5, d, sizeof d);
    out[5 + 64] = 0;
}

static bool logged(const char *needle)
{
    for (size_t i = 0; i < fake.n_logs; i++)
        if (strstr(fake.logs[i].msg, needle) || strstr(fake.logs[i].fields, needle))
            return true;
    return false;
}

/* --- AUTH1: a usable jti ---------------------------------------------------- */

static void test_AUTH1_jti_ok_lengths(void **state)
{
    (void)state;
    char s[BASTION_SESSION_JTI_MAX + 2];
    memset(s, 'a', sizeof s);
    assert_false(bastion_session_jti_ok(BASTION_STR_NULL));
    assert_false(bastion_session_jti_ok((bastion_str){s, 0}));
    assert_true(bastion_session_jti_ok((bastion_str){s, 1}));
    assert_true(bastion_session_jti_ok((bastion_str){s, BASTION_SESSION_JTI_MAX}));
    assert_int_equal(BASTION_SESSION_JTI_MAX, 64);
    assert_false(bastion_session_jti_ok((bastion_str){s, BASTION_SESSION_JTI_MAX + 1}));
    /* what bastion_auth_issue_or_problem mints: 16 random bytes in base64url */
    uint8_t raw[16];
    assert_int_equal(bastion_random(raw, sizeof raw), 0);
    assert_true(bastion_session_jti_ok(bastion_b64_encode_str(raw, sizeof raw, BASTION_B64_URL)));
}

static void test_AUTH1_jti_ok_alphabet(void **state)
{
    (void)state;
    assert_true(bastion_session_jti_ok(
        BASTION_LIT("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")));
    /* ':' would let one jti name another's key; the rest are not base64url */
    const char bad[] = {':', '.', '=', '+', '/', ' ', '\t', '\n', '\0', '%', '*', '"', '\\', 0x7f};
    for (size_t i = 0; i < sizeof bad; i++) {
        /* the bad character first, in the middle and last */
        for (size_t at = 0; at < 3; at++) {
            char s[8] = "abcdef";
            s[at == 0 ? 0 : at == 1 ? 3 : 5] = bad[i];
            if (bastion_session_jti_ok((bastion_str){s, 6}))
                unit_fail("accepted jti with byte 0x%02x at %zu", (unsigned)(unsigned char)bad[i],
                          at);
        }
    }
    assert_false(bastion_session_jti_ok(BASTION_LIT("caf\xc3\xa9")));
    assert_false(bastion_session_jti_ok(BASTION_LIT("\xff")));
}

/* --- AUTH1: the denylist in every bearer check ------------------------------- */

static void test_AUTH1_check_without_usable_jti_is_401_invalid_token(void **state)
{
    (void)state;
    char long_jti[BASTION_SESSION_JTI_MAX + 2];
    memset(long_jti, 'j', BASTION_SESSION_JTI_MAX + 1);
    long_jti[BASTION_SESSION_JTI_MAX + 1] = 0;
    const char *bad[] = {NULL, "", long_jti, "a:b", "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        request(&cx, NULL);
        bastion_jwt_claims c = claims_of(bad[i], NOW_S + 300);
        if (bastion_session_check_or_problem(&cx, &c) != BASTION_E_UNAUTHORIZED)
            unit_fail("accepted jti #%zu", i);
        assert_invalid_token(&cx);
        assert_true(unit_contains(cx.resp_body, "jti"));
    }
    assert_int_equal(fake.n_calls, 0); /* refused before any store call */
}

static void test_AUTH1_check_not_denylisted_passes(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of("j-1_A", NOW_S + 300);
    fake.get_some = false;
    assert_int_equal(bastion_session_check_or_problem(&cx, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(cx.n_resp_headers, 0);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_GET);
    assert_string_equal(fake.calls[0].store, "sessions");
    assert_string_equal(fake.calls[0].key, "deny:j-1_A");
}

static void test_AUTH1_check_denylisted_is_401(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of("j-1", NOW_S + 300);
    fake.get_some = true;
    fake.get_value = "1";
    fake.get_value_len = 1;
    assert_int_equal(bastion_session_check_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    assert_invalid_token(&cx);
    assert_true(unit_contains(cx.resp_body, "revoked"));
    assert_int_equal(fake.n_calls, 1);
    assert_string_equal(fake.calls[0].key, "deny:j-1");
}

/* Fails closed: a denylist that cannot be read never lets a token through. */
static void test_REL1_check_store_failure_is_5xx_never_ok(void **state)
{
    (void)state;
    static const struct {
        bastion_host_rc rc;
        int status;
        const char *slug;
    } cases[] = {
        {BASTION_HOST_TIMEOUT, 504, "timeout"},
        {BASTION_HOST_UNAVAILABLE, 503, "unavailable"},
        {BASTION_HOST_DENIED, 500, "internal"}, /* "sessions" not granted */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setup(NULL);
        fake.error_tag = (int)cases[i].rc - 1;
        fake.get_some = false;
        bastion_ctx cx;
        request(&cx, NULL);
        bastion_jwt_claims c = claims_of("j-1", NOW_S + 300);
        assert_int_equal(bastion_session_check_or_problem(&cx, &c),
                         bastion_host_rc_problem(cases[i].rc));
        cJSON_Delete(unit_assert_problem(&cx, cases[i].status, cases[i].slug));
        assert_int_equal(unit_resp_header_count(&cx, "www-authenticate"), 0);
        assert_int_equal(fake_count(FAKE_KV_GET), 1);
        assert_true(logged("session denylist read"));
    }
}

/* --- AUTH1: logout ------------------------------------------------------------ */

static void test_AUTH1_logout_denylists_until_exp_plus_leeway(void **state)
{
    (void)state;
    assert_int_equal(BASTION_AUTH_LEEWAY_S, 30);
    tkv.now = (uint64_t)NOW_S * 1000u + 400; /* a second already under way */
    static const struct {
        int64_t exp_from_now;
        uint64_t ttl_ms;
    } cases[] = {
        {100, 130000},              /* exp + 30 s − now */
        {1, 31000},    {-29, 1000}, /* one second of validity left */
        {-30, 1000},                /* no validity left: the 1 s floor */
        {-1000, 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_reset();
        bastion_ctx cx;
        request(&cx, NULL);
        bastion_jwt_claims c = claims_of("j-9", NOW_S + cases[i].exp_from_now);
        assert_int_equal(bastion_session_revoke_or_problem(&cx, &c), BASTION_OK);
        assert_false(cx.responded);
        assert_int_equal(fake.n_calls, 1);
        const fake_call *set = &fake.calls[0];
        assert_int_equal(set->fn, FAKE_KV_SET);
        assert_string_equal(set->store, "sessions");
        assert_string_equal(set->key, "deny:j-9");
        assert_true(set->value_len > 0);
        if (set->ttl_ms != cases[i].ttl_ms)
            unit_fail("exp now%+lld: ttl %llu ms, want %llu", (long long)cases[i].exp_from_now,
                      (unsigned long long)set->ttl_ms, (unsigned long long)cases[i].ttl_ms);
    }
    /* no exp at all (verification refuses such tokens): still at least 1 s */
    fake_reset();
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of("j-9", 0);
    c.has_exp = false;
    assert_int_equal(bastion_session_revoke_or_problem(&cx, &c), BASTION_OK);
    assert_int_equal(fake.calls[0].ttl_ms, 1000);
}

/* jwt.c refuses a token once now ≥ exp + leeway (in whole seconds): the
 * denylist entry must live until that very moment, even when logout ran at
 * the start of a second. */
static void test_AUTH1_logout_covers_the_token_last_valid_ms(void **state)
{
    (void)state;
    on_model = true;
    tkv.now = (uint64_t)NOW_S * 1000u;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of("j-2", NOW_S + 60);
    assert_int_equal(bastion_session_check_or_problem(&cx, &c), BASTION_OK);
    assert_int_equal(bastion_session_revoke_or_problem(&cx, &c), BASTION_OK);
    assert_non_null(tkv_only("deny:j-2"));
    request(&cx, NULL);
    assert_int_equal(bastion_session_check_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    assert_invalid_token(&cx);
    /* the last millisecond at which the token still verifies */
    tkv.now = (uint64_t)(NOW_S + 60 + BASTION_AUTH_LEEWAY_S) * 1000u - 1;
    request(&cx, NULL);
    assert_int_equal(bastion_session_check_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    /* another session is not affected */
    bastion_jwt_claims other = claims_of("j-3", NOW_S + 60);
    request(&cx, NULL);
    assert_int_equal(bastion_session_check_or_problem(&cx, &other), BASTION_OK);
    /* once the token is dead the entry may go */
    tkv.now += 1;
    assert_null(tkv_only("deny:"));
    assert_int_equal(tkv_last(TKV_SET)->ttl_ms, (60 + BASTION_AUTH_LEEWAY_S) * 1000u);
}

static void test_AUTH1_logout_without_jti_is_401(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of(NULL, NOW_S + 60);
    assert_int_equal(bastion_session_revoke_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    assert_invalid_token(&cx);
    assert_int_equal(fake.n_calls, 0);
}

static void test_REL1_logout_store_failure_is_5xx(void **state)
{
    (void)state;
    bastion_host_rc rcs[] = {BASTION_HOST_UNAVAILABLE, BASTION_HOST_TIMEOUT};
    int status[] = {503, 504};
    const char *slug[] = {"unavailable", "timeout"};
    for (size_t i = 0; i < 2; i++) {
        setup(NULL);
        fake.error_tag = (int)rcs[i] - 1;
        bastion_ctx cx;
        request(&cx, NULL);
        bastion_jwt_claims c = claims_of("j-1", NOW_S + 60);
        assert_int_equal(bastion_session_revoke_or_problem(&cx, &c),
                         bastion_host_rc_problem(rcs[i]));
        cJSON_Delete(unit_assert_problem(&cx, status[i], slug[i]));
        assert_int_equal(fake_count(FAKE_KV_SET), 1);
        assert_true(logged("session denylist write"));
    }
}

/* --- AUTH4: CSRF tokens -------------------------------------------------------- */

static void test_AUTH4_csrf_issue_random_token_under_hashed_key(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of("sess-1", NOW_S + 600);
    bastion_str t;
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &c, &t), BASTION_OK);
    assert_false(cx.responded);
    /* 32 random bytes as unpadded base64url: 43 characters, NUL-terminated */
    assert_int_equal(t.len, 43);
    assert_int_equal(t.ptr[t.len], '\0');
    uint8_t raw[64];
    size_t n;
    assert_int_equal(bastion_b64_decode(raw, sizeof raw, &n, t, BASTION_B64_URL),
                     BASTION_DECODE_OK);
    assert_int_equal(n, 32);
    /* one write: kv "sessions", a hash of (jti, token) as the key, 1 h */
    assert_int_equal(fake.n_calls, 1);
    const fake_call *set = &fake.calls[0];
    assert_int_equal(set->fn, FAKE_KV_SET);
    assert_string_equal(set->store, "sessions");
    assert_int_equal(set->ttl_ms, BASTION_CSRF_TTL_S * 1000ull);
    assert_int_equal(BASTION_CSRF_TTL_S, 3600);
    char want[70];
    expected_csrf_key("sess-1", t.ptr, want);
    assert_string_equal(set->key, want);
    /* the token itself reaches the store nowhere, in whole or in part */
    char half[24];
    memcpy(half, t.ptr, 16);
    half[16] = 0;
    assert_null(strstr(set->key, half));
    assert_null(strstr(set->value, half));
    /* a second token is another random value under another key */
    char first_key[sizeof set->key];
    memcpy(first_key, set->key, sizeof first_key);
    bastion_str t2;
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &c, &t2), BASTION_OK);
    assert_false(bastion_str_eq(t, t2));
    assert_int_equal(fake.n_calls, 2);
    assert_string_not_equal(fake.calls[1].key, first_key);
}

static void test_AUTH4_csrf_issue_needs_a_session_and_a_store(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_jwt_claims c = claims_of(NULL, NOW_S + 600);
    bastion_str t = BASTION_LIT("stale");
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &c, &t), BASTION_E_UNAUTHORIZED);
    assert_invalid_token(&cx);
    assert_null(t.ptr);
    assert_int_equal(fake.n_calls, 0);
    /* an unwritten token is never handed out */
    fake.error_tag = (int)BASTION_HOST_UNAVAILABLE - 1;
    request(&cx, NULL);
    c = claims_of("sess-1", NOW_S + 600);
    t = BASTION_LIT("stale");
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &c, &t), BASTION_E_UNAVAILABLE);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    assert_null(t.ptr);
    assert_true(logged("csrf token write"));
}

static void test_AUTH4_csrf_consume_malformed_is_403_without_store_call(void **state)
{
    (void)state;
    char t42[43], t44[45];
    memset(t42, 'A', 42);
    t42[42] = 0;
    memset(t44, 'A', 44);
    t44[44] = 0;
    const char *bad[] = {NULL, "", t42, t44};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        request(&cx, bad[i]);
        bastion_jwt_claims c = claims_of("sess-1", NOW_S + 600);
        if (bastion_csrf_consume_or_problem(&cx, &c) != BASTION_E_FORBIDDEN)
            unit_fail("accepted CSRF header #%zu", i);
        cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
        assert_true(unit_contains(cx.resp_body, "X-CSRF-Token"));
    }
    assert_int_equal(fake.n_calls, 0);
}

static void test_AUTH4_csrf_consume_is_one_delete(void **state)
{
    (void)state;
    const char *tok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(strlen(tok), 43);
    char want[70];
    expected_csrf_key("sess-1", tok, want);
    bastion_jwt_claims c = claims_of("sess-1", NOW_S + 600);
    /* the delete removed it: this request is the one use */
    bastion_ctx cx;
    request(&cx, tok);
    fake.ok_bool = true;
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(fake.n_calls, 1); /* no read before the delete: nothing to race */
    assert_int_equal(fake.calls[0].fn, FAKE_KV_DELETE);
    assert_string_equal(fake.calls[0].store, "sessions");
    assert_string_equal(fake.calls[0].key, want);
    /* nothing to delete: unknown, expired, already used or another session's */
    fake_reset();
    request(&cx, tok);
    fake.ok_bool = false;
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &c), BASTION_E_FORBIDDEN);
    cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_DELETE);
}

static void test_AUTH4_csrf_key_is_bound_to_the_session(void **state)
{
    (void)state;
    const char *tok = "0123456789abcdefghijABCDEFGHIJ-_0123456789z";
    assert_int_equal(strlen(tok), 43);
    bastion_jwt_claims a = claims_of("sess-a", NOW_S + 600);
    bastion_jwt_claims b = claims_of("sess-b", NOW_S + 600);
    bastion_ctx cx;
    request(&cx, tok);
    fake.ok_bool = true;
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &a), BASTION_OK);
    request(&cx, tok);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &b), BASTION_OK);
    assert_int_equal(fake.n_calls, 2);
    assert_string_not_equal(fake.calls[0].key, fake.calls[1].key);
    char want_a[70], want_b[70];
    expected_csrf_key("sess-a", tok, want_a);
    expected_csrf_key("sess-b", tok, want_b);
    assert_string_equal(fake.calls[0].key, want_a);
    assert_string_equal(fake.calls[1].key, want_b);
    /* the same pair always names the same key */
    assert_true(bastion_str_eq(csrf_key(&a, bastion_cstr(tok)), csrf_key(&a, bastion_cstr(tok))));
}

/* Across requests, on a store with the host's semantics. */
static void test_AUTH4_csrf_consumed_exactly_once_by_its_session(void **state)
{
    (void)state;
    on_model = true;
    bastion_jwt_claims a = claims_of("sess-a", NOW_S + 7200);
    bastion_jwt_claims b = claims_of("sess-b", NOW_S + 7200);
    bastion_ctx cx;
    request(&cx, NULL);
    bastion_str t;
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &a, &t), BASTION_OK);
    tkv_entry *e = tkv_only("csrf:");
    assert_non_null(e);
    assert_string_equal(e->store, "sessions");
    /* another session presenting the token is refused, and does not burn it */
    request(&cx, t.ptr);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &b), BASTION_E_FORBIDDEN);
    cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
    assert_non_null(tkv_only("csrf:"));
    /* its own session uses it once */
    request(&cx, t.ptr);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &a), BASTION_OK);
    assert_false(cx.responded);
    assert_null(tkv_only("csrf:"));
    request(&cx, t.ptr);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &a), BASTION_E_FORBIDDEN);
    cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
    assert_int_equal(tkv_count(TKV_DELETE), 3);
    assert_int_equal(tkv_count(TKV_GET), 0);
}

static void test_AUTH4_csrf_expires_after_one_hour(void **state)
{
    (void)state;
    on_model = true;
    bastion_jwt_claims a = claims_of("sess-a", NOW_S + 7200);
    bastion_ctx cx;
    bastion_str t1, t2;
    request(&cx, NULL);
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &a, &t1), BASTION_OK);
    tkv.now += BASTION_CSRF_TTL_S * 1000ull - 1;
    request(&cx, NULL);
    assert_int_equal(bastion_csrf_issue_or_problem(&cx, &a, &t2), BASTION_OK);
    request(&cx, t1.ptr);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &a), BASTION_OK); /* just in time */
    tkv.now += BASTION_CSRF_TTL_S * 1000ull;
    request(&cx, t2.ptr);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &a), BASTION_E_FORBIDDEN);
}

static void test_AUTH4_csrf_consume_needs_a_session(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    bastion_jwt_claims c = claims_of("", NOW_S + 600);
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    assert_invalid_token(&cx);
    assert_int_equal(fake.n_calls, 0);
}

static void test_REL1_csrf_consume_store_failure_is_5xx(void **state)
{
    (void)state;
    bastion_ctx cx;
    request(&cx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    bastion_jwt_claims c = claims_of("sess-1", NOW_S + 600);
    fake.error_tag = (int)BASTION_HOST_TIMEOUT - 1;
    fake.ok_bool = true;
    assert_int_equal(bastion_csrf_consume_or_problem(&cx, &c), BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
    assert_int_equal(fake_count(FAKE_KV_DELETE), 1);
    assert_true(logged("csrf token consume"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_AUTH1_jti_ok_lengths, setup),
        cmocka_unit_test_setup(test_AUTH1_jti_ok_alphabet, setup),
        cmocka_unit_test_setup(test_AUTH1_check_without_usable_jti_is_401_invalid_token, setup),
        cmocka_unit_test_setup(test_AUTH1_check_not_denylisted_passes, setup),
        cmocka_unit_test_setup(test_AUTH1_check_denylisted_is_401, setup),
        cmocka_unit_test_setup(test_REL1_check_store_failure_is_5xx_never_ok, setup),
        cmocka_unit_test_setup(test_AUTH1_logout_denylists_until_exp_plus_leeway, setup),
        cmocka_unit_test_setup(test_AUTH1_logout_covers_the_token_last_valid_ms, setup),
        cmocka_unit_test_setup(test_AUTH1_logout_without_jti_is_401, setup),
        cmocka_unit_test_setup(test_REL1_logout_store_failure_is_5xx, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_issue_random_token_under_hashed_key, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_issue_needs_a_session_and_a_store, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_consume_malformed_is_403_without_store_call, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_consume_is_one_delete, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_key_is_bound_to_the_session, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_consumed_exactly_once_by_its_session, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_expires_after_one_hour, setup),
        cmocka_unit_test_setup(test_AUTH4_csrf_consume_needs_a_session, setup),
        cmocka_unit_test_setup(test_REL1_csrf_consume_store_failure_is_5xx, setup),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
