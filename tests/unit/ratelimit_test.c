/*
 * Unit tests for shared/src/ratelimit.c: fixed-window limits counted
 * increment-first (CONC2), with the RateLimit / RateLimit-Policy fields of
 * draft-ietf-httpapi-ratelimit-headers-08 §3 and §4.
 */
#include "../../shared/src/ratelimit.c"

#include <bearssl_hash.h> /* an independent SHA-256 for the expected key */

#include "fake_host.h"
#include "unit.h"

static const bastion_rate_policy IP = {"ip", "ratelimit", 3, 3600};

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

/* The window numbers a call made now may use (the clock can tick during it). */
static void window_bounds(const bastion_rate_policy *p, uint64_t *lo, uint64_t *hi)
{
    *lo = bastion_now_ms() / 1000 / p->window_s;
    *hi = *lo + 1;
}

static void hex_sha256_prefix(const char *s, char out[33])
{
    br_sha256_context h;
    unsigned char d[32];
    br_sha256_init(&h);
    br_sha256_update(&h, s, strlen(s));
    br_sha256_out(&h, d);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Counts one hit with the fake store answering `count`. */
static bastion_rc hit(bastion_ctx *cx, const bastion_rate_policy *p, const char *subject,
                      int64_t count, bastion_rate_result *r)
{
    unit_ctx(cx);
    fake.ok_s64 = count;
    return bastion_rate_limit_or_problem(cx, p, bastion_cstr(subject), r);
}

static void test_CONC2_increment_first(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    /* allowed: exactly one store call, an increment by one */
    assert_int_equal(hit(&cx, &IP, "203.0.113.7", 1, &r), BASTION_OK);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_INCREMENT);
    assert_int_equal(fake.calls[0].delta, 1);
    assert_string_equal(fake.calls[0].store, "ratelimit");
    /* refused: the hit is still counted first; no read-then-decide */
    fake_reset();
    assert_int_equal(hit(&cx, &IP, "203.0.113.7", 4, &r), BASTION_E_RATE_LIMITED);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_INCREMENT);
    assert_int_equal(fake_count(FAKE_KV_INCREMENT), 1);
    assert_int_equal(fake_count(FAKE_KV_GET), 0);
    assert_int_equal(fake_count(FAKE_KV_SET), 0);
    assert_int_equal(fake_count(FAKE_KV_ADD), 0);
    assert_int_equal(fake_count(FAKE_KV_SWAP), 0);
}

/* The decision is the store's post-increment count, not anything local: a
 * burst of parallel requests each sees its own number. */
static void test_CONC2_decision_from_incremented_count(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    for (int64_t count = 1; count <= 3; count++) {
        assert_int_equal(hit(&cx, &IP, "198.51.100.1", count, &r), BASTION_OK);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 3 - count);
        assert_false(cx.responded); /* the handler goes on to respond */
    }
    for (int64_t count = 4; count <= 6; count++) {
        assert_int_equal(hit(&cx, &IP, "198.51.100.1", count, &r), BASTION_E_RATE_LIMITED);
        assert_false(r.allowed);
        assert_int_equal(r.remaining, 0);
    }
}

static void test_CONC2_key_is_hashed_not_raw_ip(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    uint64_t lo, hi;
    window_bounds(&IP, &lo, &hi);
    hit(&cx, &IP, "203.0.113.7", 1, &r);
    const fake_call *c = &fake.calls[0];
    assert_null(strstr(c->key, "203.0.113.7"));
    assert_null(strstr(c->key, "203.0"));
    assert_null(strstr(c->key, "113.7"));
    char hash[33], want_lo[128], want_hi[128];
    hex_sha256_prefix("203.0.113.7", hash);
    snprintf(want_lo, sizeof want_lo, "rl:ip:%llu:%s", (unsigned long long)lo, hash);
    snprintf(want_hi, sizeof want_hi, "rl:ip:%llu:%s", (unsigned long long)hi, hash);
    if (strcmp(c->key, want_lo) != 0 && strcmp(c->key, want_hi) != 0)
        unit_fail("key %s, want %s", c->key, want_lo);
    assert_int_equal(c->key_len, strlen(c->key));
    /* the same subject maps to the same key, another subject to another */
    char first[256];
    snprintf(first, sizeof first, "%s", c->key);
    fake_reset();
    hit(&cx, &IP, "203.0.113.7", 1, &r);
    assert_string_equal(fake.calls[0].key, first);
    fake_reset();
    hit(&cx, &IP, "203.0.113.8", 1, &r);
    assert_string_not_equal(fake.calls[0].key, first);
    /* an email subject never appears either, in any case */
    fake_reset();
    hit(&cx, &IP, "Alice@Example.com", 1, &r);
    assert_null(strstr(fake.calls[0].key, "Alice"));
    assert_null(strstr(fake.calls[0].key, "@"));
}

/* Separate policies never share a counter. */
static void test_CONC2_policies_are_separate(void **state)
{
    (void)state;
    static const bastion_rate_policy email = {"login-email", "ratelimit", 5, 900};
    bastion_ctx cx;
    bastion_rate_result r;
    hit(&cx, &IP, "x", 1, &r);
    hit(&cx, &email, "x", 1, &r);
    assert_int_equal(fake.n_calls, 2);
    assert_string_not_equal(fake.calls[0].key, fake.calls[1].key);
    assert_non_null(strstr(fake.calls[1].key, "login-email"));
}

static void test_CONC2_ttl_set_with_increment(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    hit(&cx, &IP, "203.0.113.7", 1, &r);
    const fake_call *c = &fake.calls[0];
    /* the key outlives the rest of its window, and not by much more */
    assert_true(c->ttl_ms >= (uint64_t)r.reset_s * 1000);
    assert_true(c->ttl_ms <= ((uint64_t)IP.window_s + 60) * 1000);
    assert_true(r.reset_s >= 1 && r.reset_s <= IP.window_s);
    /* REL2: a kv call with the cache budget */
    assert_int_equal(c->timeout_ms, BASTION_BUDGET_CACHE);
}

static void test_CONC2_headers_on_allow(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    assert_int_equal(hit(&cx, &IP, "203.0.113.7", 1, &r), BASTION_OK);
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit-policy"), "\"ip\";q=3;w=3600"));
    char want[64];
    snprintf(want, sizeof want, "\"ip\";r=2;t=%u", r.reset_s);
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit"), want));
    assert_int_equal(unit_resp_header_count(&cx, "retry-after"), 0);
    /* the last allowed hit */
    assert_int_equal(hit(&cx, &IP, "203.0.113.7", 3, &r), BASTION_OK);
    snprintf(want, sizeof want, "\"ip\";r=0;t=%u", r.reset_s);
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit"), want));
}

static void test_CONC2_429_past_the_limit(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    assert_int_equal(hit(&cx, &IP, "203.0.113.7", 4, &r), BASTION_E_RATE_LIMITED);
    cJSON *j = unit_assert_problem(&cx, 429, "rate-limited");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "class")->valuestring, "transient");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retryable")));
    cJSON_Delete(j);
    /* Retry-After is the time left in the window */
    char want[64];
    snprintf(want, sizeof want, "%u", r.reset_s);
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), want));
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit-policy"), "\"ip\";q=3;w=3600"));
    snprintf(want, sizeof want, "\"ip\";r=0;t=%u", r.reset_s);
    assert_true(unit_str_is(unit_resp_header(&cx, "ratelimit"), want));
    assert_int_equal(unit_resp_header_count(&cx, "ratelimit"), 1);
}

/* REL1: a broken store is an error, never an allow (and never a 2xx). */
static void test_CONC2_store_error_is_5xx_not_allow(void **state)
{
    (void)state;
    static const struct {
        int tag;
        int status;
        const char *slug;
    } cases[] = {
        {0, 504, "timeout"},  {1, 503, "unavailable"}, {3, 500, "internal"},
        {4, 500, "internal"}, {5, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_reset();
        fake.error_tag = cases[i].tag;
        fake.error_msg = "redis: READONLY You can't write against a read only replica";
        bastion_ctx cx;
        bastion_rate_result r;
        bastion_rc rc = hit(&cx, &IP, "203.0.113.7", 1, &r);
        assert_int_not_equal(rc, BASTION_OK);
        cJSON_Delete(unit_assert_problem(&cx, cases[i].status, cases[i].slug));
        assert_int_equal(unit_resp_header_count(&cx, "retry-after"), cases[i].status == 503);
        /* ERR1: the backend's text goes to the log only */
        assert_false(unit_contains(cx.resp_body, "READONLY"));
        assert_int_equal(fake.n_logs, 1);
        if (cases[i].tag != 0) /* the timeout case has no text */
            assert_non_null(strstr(fake.logs[0].fields, "READONLY"));
    }
}

static void test_CONC2_expired_deadline_is_504_without_store_call(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_rate_result r;
    unit_ctx(&cx);
    cx.deadline_ms = bastion_now_ms() - 1;
    fake.ok_s64 = 1;
    assert_int_equal(bastion_rate_limit_or_problem(&cx, &IP, BASTION_LIT("203.0.113.7"), &r),
                     BASTION_E_TIMEOUT);
    assert_int_equal(fake_count(FAKE_KV_INCREMENT), 0);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
}

static void long_policy_name(void *arg)
{
    (void)arg;
    static char name[101];
    memset(name, 'p', 100);
    bastion_rate_policy p = {name, "ratelimit", 10, 60};
    bastion_ctx cx;
    bastion_rate_result r;
    fake_reset();
    unit_ctx(&cx);
    fake.ok_s64 = 1;
    /* a name past BASTION_RATE_NAME_MAX is a configuration error: 500, and
     * the store is never called with a truncated or overrun key */
    if (bastion_rate_limit_or_problem(&cx, &p, BASTION_LIT("203.0.113.7"), &r) !=
            BASTION_E_MISCONFIGURED ||
        fake.n_calls != 0 || r.allowed || cx.status != 500)
        _exit(3);
}

/*
 * ratelimit.c formats the key, RateLimit-Policy and RateLimit values into
 * fixed stack buffers (128, 96, 96 bytes). A policy name of 100 characters
 * once made the slices overrun the stack (found by this test); now names are
 * capped at BASTION_RATE_NAME_MAX and a longer one is a 500 misconfiguration.
 * Run in a child so a sanitizer report does not end the suite.
 */
static void test_CONC2_long_policy_name_is_memory_safe(void **state)
{
    (void)state;
    int status = unit_run_isolated(long_policy_name, NULL);
    if (status != 0)
        unit_fail("a 100-character policy name: child exited with %d (1 = sanitizer report, "
                  "3 = not refused as misconfigured)",
                  status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_CONC2_increment_first, setup),
        cmocka_unit_test_setup(test_CONC2_decision_from_incremented_count, setup),
        cmocka_unit_test_setup(test_CONC2_key_is_hashed_not_raw_ip, setup),
        cmocka_unit_test_setup(test_CONC2_policies_are_separate, setup),
        cmocka_unit_test_setup(test_CONC2_ttl_set_with_increment, setup),
        cmocka_unit_test_setup(test_CONC2_headers_on_allow, setup),
        cmocka_unit_test_setup(test_CONC2_429_past_the_limit, setup),
        cmocka_unit_test_setup(test_CONC2_store_error_is_5xx_not_allow, setup),
        cmocka_unit_test_setup(test_CONC2_expired_deadline_is_504_without_store_call, setup),
        cmocka_unit_test_setup(test_CONC2_long_policy_name_is_memory_safe, setup),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
