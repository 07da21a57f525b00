/*
 * Unit tests for shared/src/webhook.c: webhook signatures (HOOK1 Stripe,
 * HOOK2 Shopify; GitHub and Standard Webhooks use the same core and are
 * named test_webhook_*, as no requirement ID covers them).
 *
 * Vectors and their sources:
 * - GitHub, published: docs "Validating webhook deliveries" → "Testing the
 *   webhook payload validation" (github/docs, content/webhooks/using-webhooks/
 *   validating-webhook-deliveries.md): secret "It's a Secret to Everybody",
 *   payload "Hello, World!", X-Hub-Signature-256 sha256=757107ea….
 * - Standard Webhooks, published: the spec (spec/standard-webhooks.md) shows
 *   an example header but not its secret, so the vector is the reference
 *   library's test_sign_function (standard-webhooks/standard-webhooks,
 *   libraries/python/tests/test_webhooks.py): whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,
 *   msg_p5jXN8AQM9LWM0D4loKWxJek, 1614265330, {"test": 2432232314} →
 *   v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=. Its invalid and
 *   multi-signature cases come from the same file.
 * - Stripe, constructed: Stripe publishes no secret/body/signature triple.
 *   Expected values follow "Verify signatures manually" (HMAC-SHA256 keyed
 *   with the secret's raw bytes over "t.body", lower-case hex) and were
 *   computed independently with Python's hmac module, not with this core.
 *   The docs' example header (t=1492774577, v1=5257a8…, v0=6ffbb5…) is used
 *   only to show that it parses: its secret and body are not published.
 * - Shopify, constructed the same way (base64 of HMAC-SHA256 over the body,
 *   per "Deliver webhooks through HTTPS" → "Verify the webhook").
 * - Rotation secrets for every provider: constructed, computed with Python.
 */
#include "../../shared/src/webhook.c"

#include "fake_host.h"
#include "unit.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit)  BASTION_LIT(lit)

/* ---- Stripe (constructed) ---- */
#define ST_T          1700000000
#define ST_BODY       "{\"id\":\"evt_1\",\"type\":\"checkout.session.completed\"}"
#define ST_SECRET     "whsec_bastion_test_current_0123456789"
#define ST_SECRET_OLD "whsec_bastion_test_previous_9876543210"
#define ST_SIG        "3897ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa012e"
#define ST_SIG_OLD    "9f1ec2ba97f5a018f64ebdc1bc10e486a8ab9cea5dedfe94f6b98f91d1a36a99"
#define ST_BAD        "0000000000000000000000000000000000000000000000000000000000000000"
/* HMAC(ST_SECRET, "1700000000.not json \0 {") */
#define ST_SIG_NUL "598c7c8521d8daa749e4a7ed7f082565fa8f8ad350cf364342134389cd264c5a"

/* ---- Shopify (constructed) ---- */
#define SH_BODY       "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}"
#define SH_SECRET     "shpss_bastion_test_secret"
#define SH_SECRET_NEW "shpss_bastion_test_rotated"
#define SH_SIG        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNY="
#define SH_SIG_NEW    "ZTtN8pzw3VNzbVnhjkKifMPhhCtLFPf99QN6J7zrb2E="

/* ---- GitHub (published; rotation secret constructed) ---- */
#define GH_SECRET     "It's a Secret to Everybody"
#define GH_BODY       "Hello, World!"
#define GH_HEX        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
#define GH_SIG        "sha256=" GH_HEX
#define GH_SECRET_NEW "rotated secret"
#define GH_SIG_NEW    "sha256=8311f8b931866f7fe37a6faf941f4632182468412f9b36e6cf7dfda5f54fe65b"

/* ---- Standard Webhooks (published; rotation secrets constructed) ---- */
#define SW_SECRET      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID          "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS          "1614265330"
#define SW_T           1614265330
#define SW_BODY        "{\"test\": 2432232314}"
#define SW_SIG         "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_SIG_INVALID "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
#define SW_OTHER       "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
/* bytes 0..31 as a key; and bytes 100..124, whose base64 needs padding */
#define SW_SECRET_2        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SW_SIG_2           "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI="
#define SW_SECRET_UNPADDED "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fA"
#define SW_SIG_UNPADDED    "v1,6cAluZ7Rk1FfW26O85w/tgQ+QCKUOpcwUarJdRKntv4="

static const bastion_str ST_SECRETS[] = {S(ST_SECRET)};
static const bastion_str SH_SECRETS[] = {S(SH_SECRET)};
static const bastion_str GH_SECRETS[] = {S(GH_SECRET)};
static const bastion_str SW_SECRETS[] = {S(SW_SECRET)};

static bastion_webhook_rc stripe_at(const char *header, int64_t now)
{
    return bastion_webhook_stripe(bastion_cstr(header), S(ST_BODY), ST_SECRETS, 1, now,
                                  BASTION_WEBHOOK_TOLERANCE_S);
}

static bastion_webhook_rc stripe(const char *header)
{
    return stripe_at(header, ST_T);
}

static bastion_webhook_rc shopify(const char *header)
{
    return bastion_webhook_shopify(bastion_cstr(header), S(SH_BODY), SH_SECRETS, 1);
}

static bastion_webhook_rc github(const char *header)
{
    return bastion_webhook_github(bastion_cstr(header), S(GH_BODY), GH_SECRETS, 1);
}

static bastion_webhook_rc standard_full(const char *id, const char *ts, const char *sig,
                                        const bastion_str *secrets, size_t n, int64_t now)
{
    return bastion_webhook_standard(id ? bastion_cstr(id) : BASTION_STR_NULL,
                                    ts ? bastion_cstr(ts) : BASTION_STR_NULL,
                                    sig ? bastion_cstr(sig) : BASTION_STR_NULL, S(SW_BODY), secrets,
                                    n, now, BASTION_WEBHOOK_TOLERANCE_S);
}

static bastion_webhook_rc standard(const char *sig)
{
    return standard_full(SW_ID, SW_TS, sig, SW_SECRETS, 1, SW_T);
}

/* Asserts rc for every header in a table, naming the one that failed. */
#define EXPECT_ALL(fn, headers, want)                                                              \
    for (size_t i_ = 0; i_ < N_OF(headers); i_++) {                                                \
        bastion_webhook_rc got_ = fn(headers[i_]);                                                 \
        if (got_ != (want))                                                                        \
            unit_fail("%s(\"%s\") = %s, want %s", #fn, headers[i_], bastion_webhook_rc_text(got_), \
                      bastion_webhook_rc_text(want));                                              \
    }

/* ======================= Stripe (HOOK1) ======================= */

static void test_HOOK1_stripe_constructed_vector(void **state)
{
    (void)state;
    assert_int_equal(stripe("t=1700000000,v1=" ST_SIG), BASTION_WEBHOOK_OK);
    /* the secret is used as its raw bytes, "whsec_" included: the same
     * secret without its prefix (or base64-decoded) is a different key */
    const bastion_str stripped[] = {S("bastion_test_current_0123456789")};
    assert_int_equal(
        bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), stripped, 1, ST_T, 300),
        BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_raw_body_bytes(void **state)
{
    (void)state;
    /* not JSON, with a NUL inside: verification sees bytes, not text */
    static const char body[] = "not json \0 {";
    assert_int_equal(bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG_NUL),
                                            (bastion_str){body, sizeof body - 1}, ST_SECRETS, 1,
                                            ST_T, 300),
                     BASTION_WEBHOOK_OK);
    /* stopping at the NUL would give a different MAC */
    assert_int_equal(bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG_NUL),
                                            (bastion_str){body, 9}, ST_SECRETS, 1, ST_T, 300),
                     BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_no_header(void **state)
{
    (void)state;
    assert_int_equal(bastion_webhook_stripe(BASTION_STR_NULL, S(ST_BODY), ST_SECRETS, 1, ST_T, 300),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(stripe(""), BASTION_WEBHOOK_NO_HEADER);
}

static void test_HOOK1_stripe_malformed_header(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "garbage",
        "t",
        "t=",
        "=1700000000,v1=" ST_SIG,
        "v1=" ST_SIG,               /* no t */
        "t=1700000000,",            /* trailing empty item */
        ",t=1700000000,v1=" ST_SIG, /* leading empty item */
        "t=1700000000,,v1=" ST_SIG,
        "t=1700000000;v1=" ST_SIG,  /* wrong separator */
        "t=1700000000, v1=" ST_SIG, /* whitespace is never sent */
        "t=1700000000,v1 =" ST_SIG,
        " t=1700000000,v1=" ST_SIG,
        "t= 1700000000,v1=" ST_SIG,
        "t=abc,v1=" ST_SIG,
        "t=-1700000000,v1=" ST_SIG,
        "t=+1700000000,v1=" ST_SIG,
        "t=1700000000.5,v1=" ST_SIG,
        "t=1234567890123456789,v1=" ST_SIG, /* 19 digits: could overflow */
        "t=1700000000,v1",
        "t=1700000000,v1=",
        "t=1700000000,v1=zz" ST_SIG,
        "t=1700000000,v1=" ST_SIG "00",  /* 66 hex digits */
        "t=1700000000,v1=" ST_SIG ",v0", /* an item without '=' */
        "t=1700000000,v1=g7ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa012e",
    };
    EXPECT_ALL(stripe, bad, BASTION_WEBHOOK_MALFORMED);
}

static void test_HOOK1_stripe_duplicate_t_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(stripe("t=1700000000,t=1700000000,v1=" ST_SIG), BASTION_WEBHOOK_MALFORMED);
    assert_int_equal(stripe("t=1700000000,v1=" ST_SIG ",t=1"), BASTION_WEBHOOK_MALFORMED);
}

static void test_HOOK1_stripe_no_v1(void **state)
{
    (void)state;
    static const char *const none[] = {
        "t=1700000000", "t=1700000000,v0=" ST_SIG, /* Stripe's test-mode scheme is not verified */
        "t=1700000000,v2=" ST_SIG, "t=1700000000,V1=" ST_SIG, /* keys are case-sensitive */
    };
    EXPECT_ALL(stripe, none, BASTION_WEBHOOK_NO_SIGNATURE);
}

static void test_HOOK1_stripe_docs_example_header_parses(void **state)
{
    (void)state;
    /* Stripe's documented example header: v0 is skipped, t and v1 parse, and
     * with our secret it is (correctly) no match */
    assert_int_equal(
        stripe_at("t=1492774577,"
                  "v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,"
                  "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
                  1492774577),
        BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_stale_timestamp(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" ST_SIG;
    assert_int_equal(stripe_at(h, ST_T + 300), BASTION_WEBHOOK_OK); /* inclusive bound */
    assert_int_equal(stripe_at(h, ST_T + 301), BASTION_WEBHOOK_STALE);
    assert_int_equal(stripe_at(h, ST_T + 86400), BASTION_WEBHOOK_STALE);
    assert_int_equal(stripe_at(h, INT64_MAX), BASTION_WEBHOOK_STALE); /* no overflow */
    /* stale wins over a bad MAC: no HMAC is computed for a refused request */
    assert_int_equal(stripe_at("t=1700000000,v1=" ST_BAD, ST_T + 301), BASTION_WEBHOOK_STALE);
    /* tolerance 0 is "the same second", never "unchecked" */
    assert_int_equal(bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), ST_SECRETS, 1,
                                            ST_T + 1, 0),
                     BASTION_WEBHOOK_STALE);
    assert_int_equal(
        bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), ST_SECRETS, 1, ST_T, 0),
        BASTION_WEBHOOK_OK);
}

static void test_HOOK1_stripe_future_timestamp(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" ST_SIG;
    assert_int_equal(stripe_at(h, ST_T - 300), BASTION_WEBHOOK_OK);
    assert_int_equal(stripe_at(h, ST_T - 301), BASTION_WEBHOOK_STALE);
    assert_int_equal(stripe_at(h, 0), BASTION_WEBHOOK_STALE);
    assert_int_equal(stripe_at(h, INT64_MIN), BASTION_WEBHOOK_STALE); /* no overflow */
}

static void test_HOOK1_stripe_wrong_secret(void **state)
{
    (void)state;
    const bastion_str wrong[] = {S("whsec_someone_elses_secret")};
    assert_int_equal(
        bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), wrong, 1, ST_T, 300),
        BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_truncated_signature(void **state)
{
    (void)state;
    /* a prefix of the right MAC is never compared as if it were the MAC */
    static const char *const cut[] = {
        "t=1700000000,v1=3897ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa012",
        "t=1700000000,v1=3897ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa01",
        "t=1700000000,v1=3897ab9355f5f8d9cbdf55f40dd6efab",
        "t=1700000000,v1=38",
    };
    EXPECT_ALL(stripe, cut, BASTION_WEBHOOK_MALFORMED);
}

static void test_HOOK1_stripe_valid_among_invalid_passes(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "t=1700000000,v1=" ST_BAD ",v1=" ST_SIG,
        "t=1700000000,v1=" ST_SIG ",v1=" ST_BAD,
        "v1=" ST_BAD ",v0=" ST_BAD ",v1=" ST_SIG ",t=1700000000",
        "t=1700000000,v1=" ST_SIG_OLD ",v1=" ST_SIG, /* Stripe's own rotation form */
        ("t=1700000000,x-extension=anything=at,v1=" ST_SIG),
    };
    EXPECT_ALL(stripe, ok, BASTION_WEBHOOK_OK);
}

static void test_HOOK1_stripe_all_invalid_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "t=1700000000,v1=" ST_BAD,
        "t=1700000000,v1=" ST_BAD ",v1=" ST_SIG_OLD,
        "t=1700000000,v1=" ST_BAD ",v0=" ST_SIG, /* the right MAC under v0 does not count */
        /* the right MAC but for its last bit: all 32 bytes are compared */
        "t=1700000000,v1=3897ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa012f",
        "t=1700000000,v1=3897ab9355f5f8d9cbdf55f40dd6efab12a4ad47b6e44b86483370992afa012c",
    };
    EXPECT_ALL(stripe, bad, BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_uppercase_hex_is_the_same_mac(void **state)
{
    (void)state;
    /* decoded bytes are compared, so hex case does not matter */
    assert_int_equal(
        stripe("t=1700000000,v1=3897AB9355F5F8D9CBDF55F40DD6EFAB12A4AD47B6E44B86483370992AFA012E"),
        BASTION_WEBHOOK_OK);
}

static void test_HOOK1_stripe_secret_rotation(void **state)
{
    (void)state;
    const bastion_str both[] = {S(ST_SECRET), S(ST_SECRET_OLD)};
    const bastion_str wrong_then_old[] = {S("whsec_wrong"), S(ST_SECRET_OLD)};
    /* the second secret matches */
    assert_int_equal(
        bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG_OLD), S(ST_BODY), both, 2, ST_T, 300),
        BASTION_WEBHOOK_OK);
    assert_int_equal(bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG_OLD), S(ST_BODY),
                                            wrong_then_old, 2, ST_T, 300),
                     BASTION_WEBHOOK_OK);
    assert_int_equal(
        bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), both, 2, ST_T, 300),
        BASTION_WEBHOOK_OK);
    /* retired: once the old secret is removed its signatures stop matching */
    assert_int_equal(stripe("t=1700000000,v1=" ST_SIG_OLD), BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_tampered_body(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" ST_SIG;
    const bastion_str other = S("{\"id\":\"evt_2\",\"type\":\"checkout.session.completed\"}");
    assert_int_equal(bastion_webhook_stripe(bastion_cstr(h), other, ST_SECRETS, 1, ST_T, 300),
                     BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(
        bastion_webhook_stripe(bastion_cstr(h), S(ST_BODY " "), ST_SECRETS, 1, ST_T, 300),
        BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(
        bastion_webhook_stripe(bastion_cstr(h), BASTION_STR_NULL, ST_SECRETS, 1, ST_T, 300),
        BASTION_WEBHOOK_MISMATCH);
    /* the timestamp is signed too: moving it (within tolerance) breaks the MAC */
    assert_int_equal(stripe_at("t=1700000001,v1=" ST_SIG, ST_T), BASTION_WEBHOOK_MISMATCH);
    /* …and so is its exact text: a leading zero is a different payload */
    assert_int_equal(stripe_at("t=01700000000,v1=" ST_SIG, ST_T), BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK1_stripe_signature_cap(void **state)
{
    (void)state;
    char h[1024];
    int n = snprintf(h, sizeof h, "t=1700000000");
    for (int i = 0; i < BASTION_WEBHOOK_MAX_SIGNATURES - 1; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, ",v1=" ST_BAD);
    n += snprintf(h + n, sizeof h - (size_t)n, ",v1=" ST_SIG);
    assert_int_equal(stripe(h), BASTION_WEBHOOK_OK); /* exactly the cap */
    snprintf(h + n, sizeof h - (size_t)n, ",v1=" ST_BAD);
    assert_int_equal(stripe(h), BASTION_WEBHOOK_MALFORMED); /* one over */
}

static void test_HOOK1_stripe_bad_secrets(void **state)
{
    (void)state;
    const bastion_str h = S("t=1700000000,v1=" ST_SIG);
    const bastion_str empty[] = {S(ST_SECRET), S("")};
    const bastion_str null_ptr[] = {BASTION_STR_NULL};
    bastion_str nine[BASTION_WEBHOOK_MAX_SECRETS + 1];
    for (size_t i = 0; i < N_OF(nine); i++)
        nine[i] = S(ST_SECRET);
    assert_int_equal(bastion_webhook_stripe(h, S(ST_BODY), NULL, 0, ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(bastion_webhook_stripe(h, S(ST_BODY), ST_SECRETS, 0, ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(bastion_webhook_stripe(h, S(ST_BODY), empty, 2, ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(bastion_webhook_stripe(h, S(ST_BODY), null_ptr, 1, ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(bastion_webhook_stripe(h, S(ST_BODY), nine, N_OF(nine), ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(
        bastion_webhook_stripe(h, S(ST_BODY), nine, BASTION_WEBHOOK_MAX_SECRETS, ST_T, 300),
        BASTION_WEBHOOK_OK);
    /* misconfiguration is reported whatever the request sent */
    assert_int_equal(bastion_webhook_stripe(BASTION_STR_NULL, S(ST_BODY), NULL, 0, ST_T, 300),
                     BASTION_WEBHOOK_BAD_SECRET);
}

/* ======================= Shopify (HOOK2) ======================= */

static void test_HOOK2_shopify_constructed_vector(void **state)
{
    (void)state;
    assert_int_equal(shopify(SH_SIG), BASTION_WEBHOOK_OK);
}

static void test_HOOK2_shopify_no_header(void **state)
{
    (void)state;
    assert_int_equal(bastion_webhook_shopify(BASTION_STR_NULL, S(SH_BODY), SH_SECRETS, 1),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(shopify(""), BASTION_WEBHOOK_NO_HEADER);
}

static void test_HOOK2_shopify_bad_base64(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNY",   /* padding missing */
        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNY==", /* padding extra */
        "-7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNY=",  /* URL alphabet */
        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aN!=",  /* outside the alphabet */
        "+7L6yi0z6jxIgxOXZbIvROtk ntbP4PXiepW9etu0aNY=",
        " +7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNY=",
        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNZ=", /* non-zero trailing bits */
        "+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aNYA", /* 33 bytes */
        "fbb2fa",                                       /* hex is not base64 of 32 bytes */
        "fbb2faca2d33ea3c48831397b6f2f44eb649ed6cfe0f5e27a95bd7adbb468d6",
        "=",
    };
    EXPECT_ALL(shopify, bad, BASTION_WEBHOOK_MALFORMED);
}

static void test_HOOK2_shopify_truncated_signature(void **state)
{
    (void)state;
    /* the first 31 bytes of the right MAC, validly encoded */
    assert_int_equal(shopify("+7L6yi0z6jxIgxOXZbIvROtkntbP4PXiepW9etu0aA=="),
                     BASTION_WEBHOOK_MALFORMED);
}

static void test_HOOK2_shopify_wrong_secret(void **state)
{
    (void)state;
    const bastion_str wrong[] = {S("shpss_wrong")};
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), S(SH_BODY), wrong, 1),
                     BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(shopify("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                     BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK2_shopify_tampered_body(void **state)
{
    (void)state;
    const bastion_str other = S("{\"id\":820982911946154509,\"email\":\"jon@example.com\"}");
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), other, SH_SECRETS, 1),
                     BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), BASTION_STR_NULL, SH_SECRETS, 1),
                     BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK2_shopify_secret_rotation(void **state)
{
    (void)state;
    const bastion_str both[] = {S(SH_SECRET_NEW), S(SH_SECRET)};
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), S(SH_BODY), both, 2), BASTION_WEBHOOK_OK);
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG_NEW), S(SH_BODY), both, 2),
                     BASTION_WEBHOOK_OK);
    assert_int_equal(shopify(SH_SIG_NEW), BASTION_WEBHOOK_MISMATCH);
}

static void test_HOOK2_shopify_bad_secrets(void **state)
{
    (void)state;
    const bastion_str empty[] = {S("")};
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), S(SH_BODY), empty, 1),
                     BASTION_WEBHOOK_BAD_SECRET);
    assert_int_equal(bastion_webhook_shopify(S(SH_SIG), S(SH_BODY), NULL, 0),
                     BASTION_WEBHOOK_BAD_SECRET);
}

/* ======================= GitHub ======================= */

static void test_webhook_github_published_vector(void **state)
{
    (void)state;
    assert_int_equal(github(GH_SIG), BASTION_WEBHOOK_OK);
}

static void test_webhook_github_no_header(void **state)
{
    (void)state;
    assert_int_equal(bastion_webhook_github(BASTION_STR_NULL, S(GH_BODY), GH_SECRETS, 1),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(github(""), BASTION_WEBHOOK_NO_HEADER);
}

static void test_webhook_github_missing_prefix(void **state)
{
    (void)state;
    static const char *const bad[] = {
        GH_HEX,           /* bare hex */
        "SHA256=" GH_HEX, /* the prefix is lower case */
        "sha256:" GH_HEX,
        "sha256 =" GH_HEX,
        "sha256= " GH_HEX,
        "sha1=" GH_HEX,
        "sha1=0123456789abcdef0123456789abcdef01234567", /* the legacy X-Hub-Signature */
        "sha256=",
        "sha256",
        "sha512=" GH_HEX GH_HEX,
    };
    EXPECT_ALL(github, bad, BASTION_WEBHOOK_MALFORMED);
}

static void test_webhook_github_uppercase_hex_accepted(void **state)
{
    (void)state;
    /* Decided: the 32 decoded bytes are compared, so hex case is encoding,
     * not signature; GitHub itself sends lower case. */
    assert_int_equal(
        github("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"),
        BASTION_WEBHOOK_OK);
    assert_int_equal(
        github("sha256=757107Ea0eB2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        BASTION_WEBHOOK_OK);
}

static void test_webhook_github_truncated_signature(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e",
        "sha256=757107ea0eb2509fc211221cce984b8a",
        "sha256=" GH_HEX "0",
        "sha256=" GH_HEX "00",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
    };
    EXPECT_ALL(github, bad, BASTION_WEBHOOK_MALFORMED);
}

static void test_webhook_github_wrong_secret_and_tampered_body(void **state)
{
    (void)state;
    const bastion_str wrong[] = {S("It's a Secret to Everybody!")};
    assert_int_equal(bastion_webhook_github(S(GH_SIG), S(GH_BODY), wrong, 1),
                     BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(bastion_webhook_github(S(GH_SIG), S("Hello, World?"), GH_SECRETS, 1),
                     BASTION_WEBHOOK_MISMATCH);
    /* the published MAC with its last byte changed */
    assert_int_equal(
        github("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"),
        BASTION_WEBHOOK_MISMATCH);
}

static void test_webhook_github_secret_rotation(void **state)
{
    (void)state;
    const bastion_str both[] = {S(GH_SECRET_NEW), S(GH_SECRET)};
    assert_int_equal(bastion_webhook_github(S(GH_SIG), S(GH_BODY), both, 2), BASTION_WEBHOOK_OK);
    assert_int_equal(bastion_webhook_github(S(GH_SIG_NEW), S(GH_BODY), both, 2),
                     BASTION_WEBHOOK_OK);
    assert_int_equal(github(GH_SIG_NEW), BASTION_WEBHOOK_MISMATCH);
}

/* ======================= Standard Webhooks ======================= */

static void test_webhook_standard_published_vector(void **state)
{
    (void)state;
    assert_int_equal(standard(SW_SIG), BASTION_WEBHOOK_OK);
    /* the reference library's invalid signature (one changed character) */
    assert_int_equal(standard(SW_SIG_INVALID), BASTION_WEBHOOK_MISMATCH);
}

static void test_webhook_standard_no_header(void **state)
{
    (void)state;
    assert_int_equal(standard_full(NULL, SW_TS, SW_SIG, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(standard_full(SW_ID, NULL, SW_SIG, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(standard_full(SW_ID, SW_TS, NULL, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(standard_full("", SW_TS, SW_SIG, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_NO_HEADER);
    assert_int_equal(standard(""), BASTION_WEBHOOK_NO_HEADER);
}

static void test_webhook_standard_malformed(void **state)
{
    (void)state;
    static const char *const bad_sig[] = {
        "v1",                                            /* no ',' */
        ",g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* no version */
        SW_SIG " ",                                      /* empty item */
        " " SW_SIG,
        "v1,a " SW_SIG, /* a v1 that is not base64 of 32 bytes */
        SW_SIG "  v1," SW_OTHER,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",   /* padding missing */
        "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",  /* URL alphabet */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,", /* trailing garbage */
        "v1," SW_OTHER "\t" SW_SIG,                         /* only single spaces separate */
    };
    EXPECT_ALL(standard, bad_sig, BASTION_WEBHOOK_MALFORMED);
    /* the reference library's bad timestamp, and other non-integers */
    static const char *const bad_ts[] = {
        "hello",       "1614265330.5", "-1614265330",         " 1614265330",
        "1614265330 ", "1e9",          "12345678901234567890"};
    for (size_t i = 0; i < N_OF(bad_ts); i++)
        if (standard_full(SW_ID, bad_ts[i], SW_SIG, SW_SECRETS, 1, SW_T) !=
            BASTION_WEBHOOK_MALFORMED)
            unit_fail("timestamp \"%s\" accepted", bad_ts[i]);
    /* the spec forbids '.' in the id: "{id}.{ts}." must split one way only */
    assert_int_equal(standard_full("msg.1614265330", SW_TS, SW_SIG, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_MALFORMED);
}

static void test_webhook_standard_truncated_signature(void **state)
{
    (void)state;
    /* the first 31 bytes of the right MAC, validly encoded */
    assert_int_equal(standard("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1A=="),
                     BASTION_WEBHOOK_MALFORMED);
    assert_int_equal(standard("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJE"), BASTION_WEBHOOK_MALFORMED);
    assert_int_equal(standard("v1,"), BASTION_WEBHOOK_MALFORMED);
}

static void test_webhook_standard_no_v1(void **state)
{
    (void)state;
    assert_int_equal(standard("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZ"
                              "dpXwVLPo3mNl8EM+m7TBAg=="),
                     BASTION_WEBHOOK_NO_SIGNATURE);
    assert_int_equal(standard("v2," SW_OTHER), BASTION_WEBHOOK_NO_SIGNATURE);
}

static void test_webhook_standard_other_versions_ignored(void **state)
{
    (void)state;
    /* the right MAC labelled v1a or v2 is not a v1 signature */
    assert_int_equal(standard("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
                     BASTION_WEBHOOK_NO_SIGNATURE);
    assert_int_equal(standard("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= V1," SW_OTHER),
                     BASTION_WEBHOOK_NO_SIGNATURE);
    /* other versions' payloads are skipped unexamined, whatever they hold */
    assert_int_equal(standard("v1a,not-base64!! " SW_SIG), BASTION_WEBHOOK_OK);
    /* the spec's example header shape: one v1 and one v1a */
    assert_int_equal(standard(SW_SIG " v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFy"
                                     "mVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="),
                     BASTION_WEBHOOK_OK);
}

static void test_webhook_standard_multiple_signatures(void **state)
{
    (void)state;
    /* the reference library's test_multi_sig_payload_is_valid */
    assert_int_equal(standard("v1," SW_OTHER " v2," SW_OTHER " " SW_SIG " v1," SW_OTHER),
                     BASTION_WEBHOOK_OK);
    /* all invalid */
    assert_int_equal(standard("v1," SW_OTHER " v2," SW_OTHER " " SW_SIG_INVALID),
                     BASTION_WEBHOOK_MISMATCH);
    /* the cap */
    char h[1024];
    int n = 0;
    for (int i = 0; i < BASTION_WEBHOOK_MAX_SIGNATURES - 1; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, "v1," SW_OTHER " ");
    n += snprintf(h + n, sizeof h - (size_t)n, SW_SIG);
    assert_int_equal(standard(h), BASTION_WEBHOOK_OK);
    snprintf(h + n, sizeof h - (size_t)n, " v1," SW_OTHER);
    assert_int_equal(standard(h), BASTION_WEBHOOK_MALFORMED);
}

static void test_webhook_standard_stale_and_future(void **state)
{
    (void)state;
    const bastion_str *s = SW_SECRETS;
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, SW_T + 300), BASTION_WEBHOOK_OK);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, SW_T - 300), BASTION_WEBHOOK_OK);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, SW_T + 301), BASTION_WEBHOOK_STALE);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, SW_T - 301), BASTION_WEBHOOK_STALE);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, INT64_MIN), BASTION_WEBHOOK_STALE);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, s, 1, INT64_MAX), BASTION_WEBHOOK_STALE);
}

static void test_webhook_standard_bad_whsec_secret(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* prefix missing */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  /* outside the alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", /* impossible length */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w",  /* URL alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwx", /* 4n+1 characters */
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* 23 bytes: below the minimum */
        ("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4"
         "OTo7PD0+P0A="), /* 65 bytes: above the maximum */
        "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    for (size_t i = 0; i < N_OF(bad); i++) {
        const bastion_str secrets[] = {bastion_cstr(bad[i])};
        if (standard_full(SW_ID, SW_TS, SW_SIG, secrets, 1, SW_T) != BASTION_WEBHOOK_BAD_SECRET)
            unit_fail("secret \"%s\" accepted", bad[i]);
    }
    /* one bad secret spoils the list, even next to a good one */
    const bastion_str mixed[] = {S(SW_SECRET), S("whsec_!!")};
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, mixed, 2, SW_T),
                     BASTION_WEBHOOK_BAD_SECRET);
    /* and it is reported before anything about the request */
    assert_int_equal(standard_full(NULL, NULL, NULL, mixed, 2, SW_T), BASTION_WEBHOOK_BAD_SECRET);
}

static void test_webhook_standard_secret_forms_accepted(void **state)
{
    (void)state;
    /* unpadded base64, as the reference libraries accept */
    const bastion_str unpadded[] = {S(SW_SECRET_UNPADDED)};
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG_UNPADDED, unpadded, 1, SW_T),
                     BASTION_WEBHOOK_OK);
    /* 64 bytes, the maximum: usable (no match, but not BAD_SECRET) */
    const bastion_str max[] = {
        S("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
          "PD0+Pw==")};
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, max, 1, SW_T), BASTION_WEBHOOK_MISMATCH);
}

static void test_webhook_standard_secret_rotation(void **state)
{
    (void)state;
    const bastion_str both[] = {S(SW_SECRET_2), S(SW_SECRET)};
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG, both, 2, SW_T), BASTION_WEBHOOK_OK);
    assert_int_equal(standard_full(SW_ID, SW_TS, SW_SIG_2, both, 2, SW_T), BASTION_WEBHOOK_OK);
    /* the producer's rotation form: both signatures, new first */
    assert_int_equal(standard(SW_SIG_2 " " SW_SIG), BASTION_WEBHOOK_OK);
    assert_int_equal(standard(SW_SIG_2), BASTION_WEBHOOK_MISMATCH);
}

static void test_webhook_standard_tampered(void **state)
{
    (void)state;
    assert_int_equal(bastion_webhook_standard(S(SW_ID), S(SW_TS), S(SW_SIG),
                                              S("{\"test\": 2432232315}"), SW_SECRETS, 1, SW_T,
                                              300),
                     BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(
        standard_full("msg_p5jXN8AQM9LWM0D4loKWxJeK", SW_TS, SW_SIG, SW_SECRETS, 1, SW_T),
        BASTION_WEBHOOK_MISMATCH);
    assert_int_equal(standard_full(SW_ID, "1614265331", SW_SIG, SW_SECRETS, 1, SW_T),
                     BASTION_WEBHOOK_MISMATCH);
}

/* ======================= text and problems ======================= */

static void test_webhook_rc_text(void **state)
{
    (void)state;
    for (int a = 0; a < BASTION_WEBHOOK__COUNT; a++) {
        const char *ta = bastion_webhook_rc_text((bastion_webhook_rc)a);
        assert_non_null(ta);
        assert_true(ta[0] != '\0');
        for (int b = 0; b < a; b++)
            assert_string_not_equal(ta, bastion_webhook_rc_text((bastion_webhook_rc)b));
    }
    assert_string_equal(bastion_webhook_rc_text(BASTION_WEBHOOK__COUNT), "unknown failure");
    assert_string_equal(bastion_webhook_rc_text((bastion_webhook_rc)-1), "unknown failure");
}

/* A request whose headers and body the test controls. */
static void webhook_ctx(bastion_ctx *cx, bastion_header *h, size_t n, bastion_str body)
{
    unit_ctx(cx);
    cx->headers = h;
    cx->n_headers = n;
    cx->body = body;
}

/* The problem's `detail`, checked to hold `want` and none of `secret`,
 * `value` (the header as sent). */
static void assert_detail(const bastion_ctx *cx, int status, const char *slug, const char *want,
                          const char *secret, const char *value)
{
    cJSON *j = unit_assert_problem(cx, status, slug);
    const char *detail = cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring;
    if (!strstr(detail, want))
        unit_fail("detail \"%s\" lacks \"%s\"", detail, want);
    cJSON_Delete(j);
    if (secret && unit_contains(cx->resp_body, secret))
        unit_fail("the response carries the secret");
    if (value && value[0] && unit_contains(cx->resp_body, value))
        unit_fail("the response carries the header value");
}

/* Stripe-Signature for `body` at the current time, signed with this core
 * (the vectors above already pin the MAC; this only needs a fresh `t`). */
static void sign_stripe_now(char *out, size_t cap, const char *secret, bastion_str body,
                            int64_t skew_s)
{
    char t[24];
    long long now = (long long)(bastion_now_ms() / 1000);
    int tn = snprintf(t, sizeof t, "%lld", now + (long long)skew_s);
    const bastion_str parts[3] = {{t, (size_t)tn}, S("."), body};
    uint8_t mac[32];
    char hex[65];
    bastion_hmac_sha256_parts(mac, secret, strlen(secret), parts, 3);
    bastion_hex_encode(hex, mac, 32);
    hex[64] = 0;
    snprintf(out, cap, "t=%s,v1=%s", t, hex);
}

static void test_HOOK1_stripe_or_problem_passes_raw_body(void **state)
{
    (void)state;
    char sig[128];
    /* not JSON: verification precedes and does not depend on parsing */
    bastion_str body = S("{not json");
    sign_stripe_now(sig, sizeof sig, ST_SECRET, body, 0);
    bastion_header h[] = {{S("stripe-signature"), bastion_cstr(sig)}};
    bastion_ctx cx;
    webhook_ctx(&cx, h, 1, body);
    assert_int_equal(bastion_webhook_stripe_or_problem(&cx, ST_SECRETS, 1), BASTION_OK);
    assert_false(cx.responded);
}

static void test_HOOK1_stripe_or_problem_401s(void **state)
{
    (void)state;
    char fresh[128], stale[128];
    sign_stripe_now(fresh, sizeof fresh, ST_SECRET, S(ST_BODY), 0);
    sign_stripe_now(stale, sizeof stale, ST_SECRET, S(ST_BODY), -3600);
    const struct {
        const char *value; /* NULL: no header */
        const char *want;
    } cases[] = {
        {NULL, "missing"},          {"t=x", "malformed"},
        {"t=1", "no v1 signature"}, {"t=1,v0=" ST_SIG, "no v1 signature"},
        {stale, "tolerance"},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        bastion_header h[] = {
            {S("stripe-signature"), cases[i].value ? bastion_cstr(cases[i].value) : S("")}};
        bastion_ctx cx;
        webhook_ctx(&cx, h, cases[i].value ? 1 : 0, S(ST_BODY));
        assert_int_equal(bastion_webhook_stripe_or_problem(&cx, ST_SECRETS, 1),
                         BASTION_E_UNAUTHORIZED);
        assert_detail(&cx, 401, "unauthorized", cases[i].want, ST_SECRET, cases[i].value);
        assert_detail(&cx, 401, "unauthorized", "Stripe-Signature", NULL, NULL);
    }
    /* signed with another secret: the header is well formed and fresh */
    const bastion_str other[] = {S(ST_SECRET_OLD)};
    bastion_header h[] = {{S("stripe-signature"), bastion_cstr(fresh)}};
    bastion_ctx cx;
    webhook_ctx(&cx, h, 1, S(ST_BODY));
    assert_int_equal(bastion_webhook_stripe_or_problem(&cx, other, 1), BASTION_E_UNAUTHORIZED);
    assert_detail(&cx, 401, "unauthorized", "no signature matches", ST_SECRET_OLD, fresh);
}

static void test_HOOK1_stripe_or_problem_bad_secret_is_500(void **state)
{
    (void)state;
    const bastion_str none[] = {S("")};
    bastion_ctx cx;
    webhook_ctx(&cx, NULL, 0, S(ST_BODY));
    assert_int_equal(bastion_webhook_stripe_or_problem(&cx, none, 1), BASTION_E_MISCONFIGURED);
    assert_detail(&cx, 500, "misconfigured", "Stripe webhook signing secret", NULL, NULL);
}

static void test_HOOK2_shopify_or_problem(void **state)
{
    (void)state;
    bastion_header ok[] = {{S("x-shopify-hmac-sha256"), S(SH_SIG)},
                           {S("x-shopify-shop-domain"), S("shop.myshopify.com")}};
    bastion_ctx cx;
    webhook_ctx(&cx, ok, 2, S(SH_BODY));
    assert_int_equal(bastion_webhook_shopify_or_problem(&cx, SH_SECRETS, 1), BASTION_OK);
    assert_false(cx.responded);

    bastion_header bad[] = {{S("x-shopify-hmac-sha256"), S("not base64!")}};
    webhook_ctx(&cx, bad, 1, S(SH_BODY));
    assert_int_equal(bastion_webhook_shopify_or_problem(&cx, SH_SECRETS, 1),
                     BASTION_E_UNAUTHORIZED);
    assert_detail(&cx, 401, "unauthorized", "X-Shopify-Hmac-Sha256", SH_SECRET, "not base64!");

    webhook_ctx(&cx, ok, 2, S(SH_BODY "x"));
    assert_int_equal(bastion_webhook_shopify_or_problem(&cx, SH_SECRETS, 1),
                     BASTION_E_UNAUTHORIZED);
    assert_detail(&cx, 401, "unauthorized", "no signature matches", SH_SECRET, SH_SIG);
}

static void test_webhook_github_or_problem(void **state)
{
    (void)state;
    bastion_header ok[] = {{S("x-hub-signature-256"), S(GH_SIG)}};
    bastion_ctx cx;
    webhook_ctx(&cx, ok, 1, S(GH_BODY));
    assert_int_equal(bastion_webhook_github_or_problem(&cx, GH_SECRETS, 1), BASTION_OK);
    assert_false(cx.responded);

    webhook_ctx(&cx, NULL, 0, S(GH_BODY));
    assert_int_equal(bastion_webhook_github_or_problem(&cx, GH_SECRETS, 1), BASTION_E_UNAUTHORIZED);
    assert_detail(&cx, 401, "unauthorized", "X-Hub-Signature-256", GH_SECRET, NULL);
}

static void test_webhook_standard_or_problem(void **state)
{
    (void)state;
    /* the published vector is from 2021, so against the real clock it is stale */
    bastion_header h[] = {{S("webhook-id"), S(SW_ID)},
                          {S("webhook-timestamp"), S(SW_TS)},
                          {S("webhook-signature"), S(SW_SIG)}};
    bastion_ctx cx;
    webhook_ctx(&cx, h, 3, S(SW_BODY));
    assert_int_equal(bastion_webhook_standard_or_problem(&cx, SW_SECRETS, 1),
                     BASTION_E_UNAUTHORIZED);
    assert_detail(&cx, 401, "unauthorized", "tolerance", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                  SW_SIG);

    /* fresh: sign "{id}.{now}.{body}" with the vector's key */
    char ts[24], sig[64];
    int tn = snprintf(ts, sizeof ts, "%lld", (long long)(bastion_now_ms() / 1000));
    uint8_t key[24], mac[32];
    size_t key_len;
    const bastion_str key_b64 = S("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_int_equal(bastion_b64_decode(key, sizeof key, &key_len, key_b64, BASTION_B64_STD),
                     BASTION_DECODE_OK);
    const bastion_str parts[5] = {S(SW_ID), S("."), {ts, (size_t)tn}, S("."), S(SW_BODY)};
    bastion_hmac_sha256_parts(mac, key, key_len, parts, 5);
    memcpy(sig, "v1,", 3);
    sig[3 + bastion_b64_encode(sig + 3, mac, 32, BASTION_B64_STD)] = 0;
    h[1].value = (bastion_str){ts, (size_t)tn};
    h[2].value = bastion_cstr(sig);
    webhook_ctx(&cx, h, 3, S(SW_BODY));
    assert_int_equal(bastion_webhook_standard_or_problem(&cx, SW_SECRETS, 1), BASTION_OK);
    assert_false(cx.responded);

    const bastion_str bad[] = {S("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}; /* no whsec_ */
    webhook_ctx(&cx, h, 3, S(SW_BODY));
    assert_int_equal(bastion_webhook_standard_or_problem(&cx, bad, 1), BASTION_E_MISCONFIGURED);
    assert_detail(&cx, 500, "misconfigured", "secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL);
}

/* ---- the secrets variable (HOOK1 rotation, REL8) ---- */

static bastion_rc secrets_from(const char *value, bastion_str *secrets, size_t *n, bastion_ctx *cx)
{
    fake_reset();
    fake.config_names[0] = value ? "stripe_webhook_secrets" : NULL; /* NULL: unset */
    fake.config_values[0] = value;
    unit_ctx(cx);
    return bastion_webhook_secrets_or_problem(cx, "stripe_webhook_secrets", secrets, n);
}

static void test_HOOK1_secrets_variable_is_a_comma_list(void **state)
{
    (void)state;
    bastion_str sec[BASTION_WEBHOOK_MAX_SECRETS];
    size_t n;
    bastion_ctx cx;
    assert_int_equal(secrets_from(" " ST_SECRET_OLD " ,, " ST_SECRET "\t", sec, &n, &cx),
                     BASTION_OK);
    assert_int_equal(n, 2);
    assert_true(unit_str_is(sec[0], ST_SECRET_OLD));
    assert_true(unit_str_is(sec[1], ST_SECRET));
    assert_false(cx.responded);
    /* the parsed list verifies a delivery signed with either secret */
    assert_int_equal(bastion_webhook_stripe(S("t=1700000000,v1=" ST_SIG), S(ST_BODY), sec, n, ST_T,
                                            BASTION_WEBHOOK_TOLERANCE_S),
                     BASTION_WEBHOOK_OK);
    assert_int_equal(secrets_from("a,b,c,d,e,f,g,h", sec, &n, &cx), BASTION_OK);
    assert_int_equal(n, BASTION_WEBHOOK_MAX_SECRETS);
}

/* REL8: unset, empty and too many secrets are a 500 naming the variable. */
static void test_HOOK1_secrets_variable_misconfigured_is_500(void **state)
{
    (void)state;
    static const char *const BAD[] = {NULL, "", " , ,", "a,b,c,d,e,f,g,h,i"};
    for (size_t i = 0; i < BASTION_COUNTOF(BAD); i++) {
        bastion_str sec[BASTION_WEBHOOK_MAX_SECRETS];
        size_t n = 99;
        bastion_ctx cx;
        assert_int_equal(secrets_from(BAD[i], sec, &n, &cx), BASTION_E_MISCONFIGURED);
        assert_int_equal(n, 0);
        cJSON *p = unit_assert_problem(&cx, 500, "misconfigured");
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")),
                               "stripe_webhook_secrets"));
        assert_false(unit_contains(cx.resp_body, "a,b"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_HOOK1_secrets_variable_is_a_comma_list),
        cmocka_unit_test(test_HOOK1_secrets_variable_misconfigured_is_500),
        cmocka_unit_test(test_HOOK1_stripe_constructed_vector),
        cmocka_unit_test(test_HOOK1_stripe_raw_body_bytes),
        cmocka_unit_test(test_HOOK1_stripe_no_header),
        cmocka_unit_test(test_HOOK1_stripe_malformed_header),
        cmocka_unit_test(test_HOOK1_stripe_duplicate_t_is_malformed),
        cmocka_unit_test(test_HOOK1_stripe_no_v1),
        cmocka_unit_test(test_HOOK1_stripe_docs_example_header_parses),
        cmocka_unit_test(test_HOOK1_stripe_stale_timestamp),
        cmocka_unit_test(test_HOOK1_stripe_future_timestamp),
        cmocka_unit_test(test_HOOK1_stripe_wrong_secret),
        cmocka_unit_test(test_HOOK1_stripe_truncated_signature),
        cmocka_unit_test(test_HOOK1_stripe_valid_among_invalid_passes),
        cmocka_unit_test(test_HOOK1_stripe_all_invalid_fails),
        cmocka_unit_test(test_HOOK1_stripe_uppercase_hex_is_the_same_mac),
        cmocka_unit_test(test_HOOK1_stripe_secret_rotation),
        cmocka_unit_test(test_HOOK1_stripe_tampered_body),
        cmocka_unit_test(test_HOOK1_stripe_signature_cap),
        cmocka_unit_test(test_HOOK1_stripe_bad_secrets),
        cmocka_unit_test(test_HOOK1_stripe_or_problem_passes_raw_body),
        cmocka_unit_test(test_HOOK1_stripe_or_problem_401s),
        cmocka_unit_test(test_HOOK1_stripe_or_problem_bad_secret_is_500),
        cmocka_unit_test(test_HOOK2_shopify_constructed_vector),
        cmocka_unit_test(test_HOOK2_shopify_no_header),
        cmocka_unit_test(test_HOOK2_shopify_bad_base64),
        cmocka_unit_test(test_HOOK2_shopify_truncated_signature),
        cmocka_unit_test(test_HOOK2_shopify_wrong_secret),
        cmocka_unit_test(test_HOOK2_shopify_tampered_body),
        cmocka_unit_test(test_HOOK2_shopify_secret_rotation),
        cmocka_unit_test(test_HOOK2_shopify_bad_secrets),
        cmocka_unit_test(test_HOOK2_shopify_or_problem),
        cmocka_unit_test(test_webhook_github_published_vector),
        cmocka_unit_test(test_webhook_github_no_header),
        cmocka_unit_test(test_webhook_github_missing_prefix),
        cmocka_unit_test(test_webhook_github_uppercase_hex_accepted),
        cmocka_unit_test(test_webhook_github_truncated_signature),
        cmocka_unit_test(test_webhook_github_wrong_secret_and_tampered_body),
        cmocka_unit_test(test_webhook_github_secret_rotation),
        cmocka_unit_test(test_webhook_github_or_problem),
        cmocka_unit_test(test_webhook_standard_published_vector),
        cmocka_unit_test(test_webhook_standard_no_header),
        cmocka_unit_test(test_webhook_standard_malformed),
        cmocka_unit_test(test_webhook_standard_truncated_signature),
        cmocka_unit_test(test_webhook_standard_no_v1),
        cmocka_unit_test(test_webhook_standard_other_versions_ignored),
        cmocka_unit_test(test_webhook_standard_multiple_signatures),
        cmocka_unit_test(test_webhook_standard_stale_and_future),
        cmocka_unit_test(test_webhook_standard_bad_whsec_secret),
        cmocka_unit_test(test_webhook_standard_secret_forms_accepted),
        cmocka_unit_test(test_webhook_standard_secret_rotation),
        cmocka_unit_test(test_webhook_standard_tampered),
        cmocka_unit_test(test_webhook_standard_or_problem),
        cmocka_unit_test(test_webhook_rc_text),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
