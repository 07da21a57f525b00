/*
 * Unit tests for shared/src/idempotency.c: Idempotency-Key handling (CONC4,
 * draft-ietf-httpapi-idempotency-key-header-07 §2.1–§2.7) and request
 * fingerprint claims (CONC3).
 *
 * These properties need a store that behaves like the real one across
 * several requests (add is set-if-absent, swap compares, values expire), which
 * the scripted fake_host.c does not model. So this file carries a small kv
 * with the host's semantics (wit/bastion.wit, tests/host/test_bindings.py)
 * and a clock the test controls, and points the code under test at it by
 * renaming the six bastion_kv_* calls before #including the .c. The request
 * wrappers in host.c are tested in host_test.c; logs still go through
 * fake_host.c, where `fake.logs` records them.
 */
#include "fake_host.h"
#include "unit.h"

#include "bastion/idempotency.h"

#include "fake_kv.h"
#include "../../shared/src/idempotency.c"
#undef bastion_now_ms

/* --- requests ------------------------------------------------------------- */

#define UUID_KEY "\"8e03978e-40d5-43e8-bc93-6894a57f9324\""

static int handler_runs;

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    handler_runs = 0;
    return 0;
}

/* A POST to `path` with `body` and, unless NULL, one Idempotency-Key field. */
static void make_ctx(bastion_ctx *cx, const char *path, const char *body, const char *key_field)
{
    unit_ctx(cx);
    cx->path = bastion_cstr(path);
    cx->route = BASTION_LIT("/api/campaigns/{id}/enqueue");
    cx->body = bastion_cstr(body);
    if (key_field) {
        bastion_header *h = bastion_alloc(sizeof *h);
        h->name = BASTION_LIT("idempotency-key");
        h->value = bastion_cstr(key_field);
        cx->headers = h;
        cx->n_headers = 1;
    }
}

/*
 * One whole request: begin, then (unless begin answered) a handler that
 * counts its runs, responds `status` with a body naming the run, and finish.
 */
static bastion_rc request(bastion_ctx *cx, const char *scope, const char *path, const char *body,
                          const char *key_field, uint16_t status)
{
    make_ctx(cx, path, body, key_field);
    bastion_idem st;
    bastion_rc rc =
        bastion_idempotency_begin_or_problem(cx, "idem", bastion_cstr(scope), true, &st);
    if (rc != BASTION_OK)
        return rc;
    handler_runs++;
    char out[48];
    snprintf(out, sizeof out, "{\"run\":%d}", handler_runs);
    bastion_respond(cx, status, BASTION_LIT("application/json"), bastion_cstr(out));
    if (status == 201)
        bastion_set_header(cx, BASTION_LIT("location"), BASTION_LIT("/api/campaigns/7"));
    bastion_idempotency_finish(cx, &st);
    return rc;
}

static bool logged(const char *needle)
{
    for (size_t i = 0; i < fake.n_logs; i++)
        if (strstr(fake.logs[i].msg, needle))
            return true;
    return false;
}

/* --- CONC4 ------------------------------------------------------------------ */

static void test_CONC4_missing_key_is_400(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "tenant-a", "/api/c/1", "{}", NULL, 201), BASTION_E_BAD_REQUEST);
    cJSON *j = unit_assert_problem(&cx, 400, "bad-request");
    cJSON_Delete(j);
    assert_true(unit_contains(cx.resp_body, "Idempotency-Key"));
    assert_int_equal(handler_runs, 0);
    assert_int_equal(tkv.n_calls, 0); /* nothing stored for a refused request */
}

/* A route that does not require the key still works without one. */
static void test_CONC4_optional_key_absent_proceeds_untracked(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_idem st;
    make_ctx(&cx, "/api/c/1", "{}", NULL);
    assert_int_equal(
        bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), false, &st),
        BASTION_OK);
    assert_false(st.active);
    assert_false(cx.responded);
    bastion_respond(&cx, 201, BASTION_LIT("application/json"), BASTION_LIT("{}"));
    bastion_idempotency_finish(&cx, &st);
    assert_int_equal(tkv.n_calls, 0);
}

/* §2.1: one sf-string; bare tokens accepted for compatibility. */
static void test_CONC4_key_syntax_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *field, *key;
    } ok[] = {
        {UUID_KEY, "8e03978e-40d5-43e8-bc93-6894a57f9324"},
        {"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"},
        {"  \"abc\"\t", "abc"},
        {"\"a\\\"b\\\\c\"", "a\"b\\c"},
        {"\"with space\"", "with space"},
        {"base64+/=:", "base64+/=:"},
        {"\"x\"", "x"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[BASTION_IDEM_KEY_MAX];
        size_t n = 99;
        if (!bastion_idempotency_key_parse(bastion_cstr(ok[i].field), out, &n))
            unit_fail("rejected %s", ok[i].field);
        assert_int_equal(n, strlen(ok[i].key));
        assert_memory_equal(out, ok[i].key, n);
    }
    /* exactly 255 characters is fine, quoted or bare */
    char big[BASTION_IDEM_KEY_MAX + 3], out[BASTION_IDEM_KEY_MAX];
    size_t n;
    memset(big, 'k', sizeof big);
    big[0] = '"';
    big[BASTION_IDEM_KEY_MAX + 1] = '"';
    big[BASTION_IDEM_KEY_MAX + 2] = 0;
    assert_true(bastion_idempotency_key_parse(bastion_cstr(big), out, &n));
    assert_int_equal(n, BASTION_IDEM_KEY_MAX);
    assert_true(
        bastion_idempotency_key_parse((bastion_str){big + 1, BASTION_IDEM_KEY_MAX}, out, &n));
}

static void test_CONC4_malformed_key_is_400(void **state)
{
    (void)state;
    char k256[300];
    memset(k256, 'k', 256);
    k256[256] = 0;
    char q256[300];
    q256[0] = '"';
    memset(q256 + 1, 'k', 256);
    q256[257] = '"';
    q256[258] = 0;
    const char *bad[] = {
        "",         "   ",          "\"\"",          "\"abc",           "abc\"",
        "\"a\\x\"", "\"a\\\"",      "\"tab\there\"", "\"caf\xc3\xa9\"", "caf\xc3\xa9",
        "a b",      "\"a\", \"b\"", "a,b",           "\"a\";p=1",       "a;p=1",
        "\"a\"x",   "\"a\x7f\"",    "\"nl\nx\"",     "back\\slash",     k256,
        q256,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setup(NULL);
        bastion_ctx cx;
        if (request(&cx, "t", "/api/c/1", "{}", bad[i], 201) != BASTION_E_BAD_REQUEST)
            unit_fail("accepted bad key #%zu: %s", i, bad[i]);
        cJSON_Delete(unit_assert_problem(&cx, 400, "bad-request"));
        assert_int_equal(handler_runs, 0);
        assert_int_equal(tkv.n_calls, 0);
    }
    /* an embedded NUL is not a character of any key */
    char out[BASTION_IDEM_KEY_MAX];
    size_t n;
    assert_false(bastion_idempotency_key_parse((bastion_str){"\"a\0b\"", 5}, out, &n));
    assert_false(bastion_idempotency_key_parse((bastion_str){"a\0b", 3}, out, &n));
    assert_false(bastion_idempotency_key_parse(BASTION_STR_NULL, out, &n));
}

/* §2.1: "Clients MUST NOT include more than one Idempotency-Key header field". */
static void test_CONC4_two_key_fields_is_400(void **state)
{
    (void)state;
    bastion_ctx cx;
    make_ctx(&cx, "/api/c/1", "{}", NULL);
    static const bastion_header two[] = {
        {BASTION_LIT("idempotency-key"), BASTION_LIT("\"a\"")},
        {BASTION_LIT("Idempotency-Key"), BASTION_LIT("\"a\"")},
    };
    cx.headers = two;
    cx.n_headers = 2;
    bastion_idem st;
    assert_int_equal(bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), true, &st),
                     BASTION_E_BAD_REQUEST);
    cJSON_Delete(unit_assert_problem(&cx, 400, "bad-request"));
    assert_int_equal(tkv.n_calls, 0);
}

/* §2.6 Retry: the stored response comes back and the handler does not run. */
static void test_CONC4_same_key_same_payload_replays(void **state)
{
    (void)state;
    bastion_ctx first, again;
    assert_int_equal(request(&first, "tenant-a", "/api/c/7", "{\"n\":1}", UUID_KEY, 201),
                     BASTION_OK);
    assert_int_equal(handler_runs, 1);
    assert_int_equal(request(&again, "tenant-a", "/api/c/7", "{\"n\":1}", UUID_KEY, 201),
                     BASTION_IDEM_REPLAYED);
    assert_int_equal(handler_runs, 1);
    assert_true(again.responded);
    assert_int_equal(again.status, 201);
    assert_true(bastion_str_eq(again.resp_body, first.resp_body));
    assert_true(unit_str_is(again.resp_body, "{\"run\":1}"));
    assert_int_equal(unit_resp_header_count(&again, "content-type"), 1);
    assert_true(unit_str_is(unit_resp_header(&again, "content-type"), "application/json"));
    assert_true(unit_str_is(unit_resp_header(&again, "location"), "/api/campaigns/7"));
    assert_true(unit_str_is(unit_resp_header(&again, "idempotent-replayed"), "true"));
    assert_null(unit_resp_header(&first, "idempotent-replayed").ptr);
    /* and again, and again: the record is not consumed */
    assert_int_equal(request(&again, "tenant-a", "/api/c/7", "{\"n\":1}",
                             "8e03978e-40d5-43e8-bc93-6894a57f9324", 201),
                     BASTION_IDEM_REPLAYED); /* the bare form names the same key */
    assert_int_equal(handler_runs, 1);
}

/* §2.6 "success or an error": a final 4xx is the outcome and replays too. */
static void test_CONC4_final_4xx_is_replayed(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 422), BASTION_OK);
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 422), BASTION_IDEM_REPLAYED);
    assert_int_equal(cx.status, 422);
    assert_int_equal(handler_runs, 1);
}

/* §2.2, §2.7: reuse with another payload (or target) is 422, never a replay. */
static void test_CONC4_same_key_different_payload_is_422(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "t", "/api/c/7", "{\"n\":1}", UUID_KEY, 201), BASTION_OK);
    assert_int_equal(request(&cx, "t", "/api/c/7", "{\"n\":2}", UUID_KEY, 201),
                     BASTION_E_UNPROCESSABLE);
    cJSON_Delete(unit_assert_problem(&cx, 422, "validation-failed"));
    assert_false(unit_contains(cx.resp_body, "run"));
    /* another resource behind the same route pattern is another request */
    assert_int_equal(request(&cx, "t", "/api/c/8", "{\"n\":1}", UUID_KEY, 201),
                     BASTION_E_UNPROCESSABLE);
    /* so is another method */
    make_ctx(&cx, "/api/c/7", "{\"n\":1}", UUID_KEY);
    cx.method = BASTION_LIT("PUT");
    bastion_idem st;
    assert_int_equal(bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), true, &st),
                     BASTION_E_UNPROCESSABLE);
    assert_int_equal(handler_runs, 1);
    /* the original is still replayable */
    assert_int_equal(request(&cx, "t", "/api/c/7", "{\"n\":1}", UUID_KEY, 201),
                     BASTION_IDEM_REPLAYED);
}

/* §2.6 Concurrent Request, §2.7: 409 while the first is in flight, then the
 * replay once it finishes. */
static void test_CONC4_in_flight_duplicate_is_409(void **state)
{
    (void)state;
    bastion_ctx a, b;
    bastion_idem sa;
    make_ctx(&a, "/api/c/7", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&a, "idem", BASTION_LIT("t"), true, &sa),
                     BASTION_OK);
    assert_true(sa.active);
    assert_false(a.responded);

    assert_int_equal(request(&b, "t", "/api/c/7", "{}", UUID_KEY, 201), BASTION_E_IN_PROGRESS);
    cJSON *p = unit_assert_problem(&b, 409, "in-progress");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "retryable"))); /* §2.7: retry unchanged */
    cJSON_Delete(p);
    assert_true(unit_str_is(unit_resp_header(&b, "retry-after"), "1"));
    assert_int_equal(handler_runs, 0);
    /* a different payload while in flight is still a misuse of the key */
    assert_int_equal(request(&b, "t", "/api/c/7", "{\"other\":1}", UUID_KEY, 201),
                     BASTION_E_UNPROCESSABLE);

    bastion_respond(&a, 201, BASTION_LIT("application/json"), BASTION_LIT("{\"first\":true}"));
    bastion_idempotency_finish(&a, &sa);
    assert_int_equal(request(&b, "t", "/api/c/7", "{}", UUID_KEY, 201), BASTION_IDEM_REPLAYED);
    assert_true(unit_str_is(b.resp_body, "{\"first\":true}"));
    assert_int_equal(handler_runs, 0);
}

/* Transient answers are not the outcome: the key is released, a retry runs. */
static void test_CONC4_5xx_releases_key_and_retry_runs(void **state)
{
    (void)state;
    static const uint16_t transient[] = {500, 502, 503, 504, 408, 429, 401, 403};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        setup(NULL);
        bastion_ctx cx;
        assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, transient[i]), BASTION_OK);
        assert_int_equal(cx.status, transient[i]); /* the answer itself is untouched */
        assert_int_equal(tkv_count(TKV_DELETE), 1);
        assert_int_equal(tkv_count(TKV_SWAP), 0);
        assert_null(tkv_only("idem:"));
        assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
        assert_int_equal(handler_runs, 2);
        assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_IDEM_REPLAYED);
        assert_int_equal(handler_runs, 2);
    }
}

/* A handler that returns without responding gets the host's 500: release. */
static void test_CONC4_no_response_releases_key(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_idem st;
    make_ctx(&cx, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), true, &st),
                     BASTION_OK);
    bastion_idempotency_finish(&cx, &st);
    assert_null(tkv_only("idem:"));
    bastion_idempotency_finish(&cx, &st); /* twice is harmless */
    assert_int_equal(tkv_count(TKV_DELETE), 1);
}

/* §2.3: retention 24 h from completion; the in-flight marker outlives the
 * deadline by the margin only. */
static void test_CONC4_retention_ttl_24h(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    const tkv_call *add = tkv_last(TKV_ADD), *swap = tkv_last(TKV_SWAP);
    assert_non_null(add);
    assert_non_null(swap);
    assert_int_equal(swap->ttl_ms, 86400000u);
    assert_true(add->ttl_ms > BASTION_IDEM_INFLIGHT_MARGIN_MS);
    assert_true(add->ttl_ms <= 15000u + BASTION_IDEM_INFLIGHT_MARGIN_MS);

    tkv.now += 86400000u - 1;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_IDEM_REPLAYED);
    tkv.now += 1;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    assert_int_equal(handler_runs, 2);
}

/* A request that dies without finish frees its key when the marker lapses. */
static void test_CONC4_crashed_request_frees_key(void **state)
{
    (void)state;
    bastion_ctx a, b;
    bastion_idem sa;
    make_ctx(&a, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&a, "idem", BASTION_LIT("t"), true, &sa),
                     BASTION_OK);
    uint64_t ttl = tkv_last(TKV_ADD)->ttl_ms;
    tkv.now += ttl - 1;
    assert_int_equal(request(&b, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_E_IN_PROGRESS);
    tkv.now += 1;
    assert_int_equal(request(&b, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    assert_int_equal(handler_runs, 1);
}

/* finish swaps only its own marker: a request whose marker lapsed and was
 * re-taken must not overwrite the new holder's marker. */
static void test_CONC4_stale_finish_does_not_overwrite(void **state)
{
    (void)state;
    bastion_ctx a, b, c;
    bastion_idem sa, sb;
    make_ctx(&a, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&a, "idem", BASTION_LIT("t"), true, &sa),
                     BASTION_OK);
    tkv.now += tkv_last(TKV_ADD)->ttl_ms;
    make_ctx(&b, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&b, "idem", BASTION_LIT("t"), true, &sb),
                     BASTION_OK);
    assert_false(bastion_str_eq(sa.marker, sb.marker)); /* per-attempt token */

    bastion_respond(&a, 201, BASTION_LIT("application/json"), BASTION_LIT("{\"who\":\"a\"}"));
    bastion_idempotency_finish(&a, &sa);
    assert_true(logged("marker lost"));
    tkv_entry *e = tkv_only("idem:");
    assert_non_null(e);
    assert_true(e->len == sb.marker.len && memcmp(e->val, sb.marker.ptr, e->len) == 0);

    bastion_respond(&b, 201, BASTION_LIT("application/json"), BASTION_LIT("{\"who\":\"b\"}"));
    bastion_idempotency_finish(&b, &sb);
    assert_int_equal(request(&c, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_IDEM_REPLAYED);
    assert_true(unit_str_is(c.resp_body, "{\"who\":\"b\"}"));
}

/* Keys are per scope (draft Security Considerations): the same key from two
 * tenants is two operations, and the store never sees the key or scope. */
static void test_CONC4_scope_isolation(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "tenant-a", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    char first[128];
    snprintf(first, sizeof first, "%s", tkv_last(TKV_ADD)->key);
    assert_int_equal(request(&cx, "tenant-b", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    assert_int_equal(handler_runs, 2);
    assert_true(unit_str_is(cx.resp_body, "{\"run\":2}"));
    assert_string_not_equal(tkv_last(TKV_ADD)->key, first);
    /* scope and key are framed: "ab"+"c" is not "a"+"bc" */
    assert_int_equal(request(&cx, "tenant-", "/api/c/1", "{}", "\"b8e\"", 201), BASTION_OK);
    assert_int_equal(request(&cx, "tenant-b", "/api/c/1", "{}", "\"8e\"", 201), BASTION_OK);
    assert_int_equal(handler_runs, 4);
    for (size_t i = 0; i < tkv.n_calls; i++) {
        assert_null(strstr(tkv.calls[i].key, "tenant"));
        assert_null(strstr(tkv.calls[i].key, "8e03978e"));
        assert_int_equal(strlen(tkv.calls[i].key), 5 + 64);
        assert_memory_equal(tkv.calls[i].key, "idem:", 5);
    }
}

/* Over 64 KiB the body is not kept: a retry gets 409, never a rerun and never
 * a truncated replay. */
static void test_CONC4_large_response_not_replayed(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_idem st;
    make_ctx(&cx, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), true, &st),
                     BASTION_OK);
    char *big = bastion_alloc(BASTION_IDEM_BODY_MAX + 1);
    memset(big, 'x', BASTION_IDEM_BODY_MAX + 1);
    bastion_respond(&cx, 200, BASTION_LIT("text/plain"),
                    (bastion_str){big, BASTION_IDEM_BODY_MAX + 1});
    bastion_idempotency_finish(&cx, &st);
    assert_true(tkv_last(TKV_SWAP)->value_len < 100);
    assert_int_equal(tkv_last(TKV_SWAP)->ttl_ms, 86400000u);
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 200), BASTION_E_CONFLICT);
    cJSON_Delete(unit_assert_problem(&cx, 409, "conflict"));
    assert_true(unit_contains(cx.resp_body, "too large"));
    assert_int_equal(handler_runs, 0);

    /* exactly the cap is still replayed */
    setup(NULL);
    make_ctx(&cx, "/api/c/1", "{}", UUID_KEY);
    assert_int_equal(bastion_idempotency_begin_or_problem(&cx, "idem", BASTION_LIT("t"), true, &st),
                     BASTION_OK);
    bastion_respond(&cx, 200, BASTION_LIT("text/plain"), (bastion_str){big, BASTION_IDEM_BODY_MAX});
    bastion_idempotency_finish(&cx, &st);
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 200), BASTION_IDEM_REPLAYED);
    assert_int_equal(cx.resp_body.len, BASTION_IDEM_BODY_MAX);
    assert_true(unit_str_is(unit_resp_header(&cx, "content-type"), "text/plain"));
}

/* REL1: a store failure at begin is a 5xx and the handler never runs. */
static void test_CONC4_store_error_on_begin_is_5xx(void **state)
{
    (void)state;
    bastion_ctx cx;
    tkv.fail_mask = 1u << TKV_ADD;
    tkv.fail_rc = BASTION_HOST_UNAVAILABLE;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_E_UNAVAILABLE);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    assert_non_null(unit_resp_header(&cx, "retry-after").ptr);
    tkv.fail_rc = BASTION_HOST_TIMEOUT;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
    /* add works but the follow-up read fails: still not "go ahead" */
    tkv.fail_mask = 0;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    tkv.fail_mask = 1u << TKV_GET;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_E_TIMEOUT);
    assert_int_equal(handler_runs, 1);
}

/* A store failure at finish leaves the response alone and is logged. */
static void test_CONC4_store_error_on_finish_is_logged(void **state)
{
    (void)state;
    bastion_ctx cx;
    tkv.fail_mask = 1u << TKV_SWAP;
    tkv.fail_rc = BASTION_HOST_UNAVAILABLE;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    assert_int_equal(cx.status, 201);
    assert_true(unit_str_is(cx.resp_body, "{\"run\":1}"));
    assert_true(logged("not stored"));
    fake_reset();
    tkv.fail_mask = 1u << TKV_DELETE;
    assert_int_equal(request(&cx, "t", "/api/c/2", "{}", "\"k2\"", 503), BASTION_OK);
    assert_int_equal(cx.status, 503);
    assert_true(logged("not released"));
}

/* A record nobody could have written is a 500, not a replay or a rerun. */
static void test_CONC4_unreadable_record_is_500(void **state)
{
    (void)state;
    bastion_ctx cx;
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_OK);
    tkv_entry *e = tkv_only("idem:");
    assert_non_null(e);
    e->len = 70; /* cut inside the header line */
    assert_int_equal(request(&cx, "t", "/api/c/1", "{}", UUID_KEY, 201), BASTION_E_INTERNAL);
    cJSON_Delete(unit_assert_problem(&cx, 500, "internal"));
    assert_true(logged("unreadable"));
    assert_int_equal(handler_runs, 1);
}

/* record_parse reads only inside the value, whatever the store returns. */
static void test_CONC4_record_parse_is_bounded(void **state)
{
    (void)state;
    const char fp[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char rec[256];
    int n = snprintf(rec, sizeof rec, "d1 %s 201 16 16\napplication/json/api/campaigns/7{\"ok\":1}",
                     fp);
    idem_record r;
    for (int len = 0; len <= n; len++) {
        char *copy = malloc((size_t)len + 1); /* exact size: ASan sees any overread */
        memcpy(copy, rec, (size_t)len);
        bool ok = record_parse((bastion_str){copy, (size_t)len}, &r);
        if (ok) {
            assert_true(len >= n - 8); /* only the body may be short */
            assert_true(r.body.ptr + r.body.len <= copy + len);
        }
        free(copy);
    }
    assert_true(record_parse((bastion_str){rec, (size_t)n}, &r));
    assert_int_equal(r.status, 201);
    assert_true(unit_str_is(r.content_type, "application/json"));
    assert_true(unit_str_is(r.location, "/api/campaigns/7"));
    assert_true(unit_str_is(r.body, "{\"ok\":1}"));
    static const char *const bad[] = {
        "d1 %s 201 999 0\nabc",  /* lengths past the end */
        "d1 %s 201 16 99999\nx", /* location over its cap */
        "d1 %s 2010 0 0\n",      /* four-digit status */
        "d1 %s 099 0 0\n",       /* status out of range */
        "d1 %s 201 -1 0\n",      /* sign */
        "d1 %s 201 0 0",         /* no newline */
        "x1 %s 201 0 0\n",       /* unknown state */
        "i1 %s 0123",            /* short token */
        "n1 %s 201 extra",       /* trailing bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int m = snprintf(rec, sizeof rec, bad[i], fp);
        if (record_parse((bastion_str){rec, (size_t)m}, &r))
            unit_fail("parsed bad record #%zu", i);
    }
    /* upper-case hex is not ours */
    n = snprintf(rec, sizeof rec, "n1 %.63sA 201", fp);
    assert_false(record_parse((bastion_str){rec, (size_t)n}, &r));
}

/* --- CONC3 ------------------------------------------------------------------ */

static bastion_rc dedup(bastion_ctx *cx, const char *input, uint32_t ttl_s, bastion_dedup *d)
{
    unit_ctx(cx);
    return bastion_dedup_or_problem(cx, "dedup", bastion_cstr(input), ttl_s, d);
}

/* Two identical requests: one success, one 409; the TTL goes with the add. */
static void test_CONC3_duplicate_is_409(void **state)
{
    (void)state;
    bastion_ctx a, b;
    bastion_dedup da, db;
    assert_int_equal(dedup(&a, "waitlist\nsku-1\nann@example.com", 600, &da), BASTION_OK);
    assert_true(da.claimed);
    assert_false(a.responded);
    assert_int_equal(dedup(&b, "waitlist\nsku-1\nann@example.com", 600, &db), BASTION_E_CONFLICT);
    assert_false(db.claimed);
    assert_true(db.duplicate);
    cJSON_Delete(unit_assert_problem(&b, 409, "conflict"));
    assert_int_equal(tkv_count(TKV_ADD), 2);
    assert_int_equal(tkv_count(TKV_GET), 0); /* set-if-absent, no read-then-write */
    assert_int_equal(tkv.calls[0].ttl_ms, 600000u);
    /* the input may be personal data: only its hash is a key */
    assert_null(strstr(tkv.calls[0].key, "ann"));
    assert_int_equal(strlen(tkv.calls[0].key), 6 + 64);
    /* a different input is not a duplicate */
    assert_int_equal(dedup(&b, "waitlist\nsku-2\nann@example.com", 600, &db), BASTION_OK);
}

/* The claim variant writes nothing for a duplicate: HOOK3 answers 200. */
static void test_CONC3_claim_leaves_duplicate_to_caller(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_dedup d;
    unit_ctx(&cx);
    assert_int_equal(
        bastion_dedup_claim_or_problem(&cx, "dedup", BASTION_LIT("stripe:evt_1"), 0, &d),
        BASTION_OK);
    assert_true(d.claimed);
    assert_int_equal(tkv.calls[0].ttl_ms, BASTION_DEDUP_DEFAULT_TTL_S * 1000ull);
    unit_ctx(&cx);
    assert_int_equal(
        bastion_dedup_claim_or_problem(&cx, "dedup", BASTION_LIT("stripe:evt_1"), 0, &d),
        BASTION_OK);
    assert_true(d.duplicate);
    assert_false(d.claimed);
    assert_false(cx.responded);
}

/* HOOK3 "claim released on failure": a retry after release succeeds. */
static void test_CONC3_release_lets_retry_succeed(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_dedup d, other;
    assert_int_equal(dedup(&cx, "x", 600, &d), BASTION_OK);
    assert_int_equal(dedup(&cx, "x", 600, &other), BASTION_E_CONFLICT);
    assert_int_equal(bastion_dedup_release(&cx, &other), BASTION_HOST_OK); /* not ours: no-op */
    assert_int_equal(tkv_count(TKV_DELETE), 0);
    assert_int_equal(bastion_dedup_release(&cx, &d), BASTION_HOST_OK);
    assert_int_equal(bastion_dedup_release(&cx, &d), BASTION_HOST_OK); /* once only */
    assert_int_equal(tkv_count(TKV_DELETE), 1);
    assert_int_equal(dedup(&cx, "x", 600, &d), BASTION_OK);
    assert_true(d.claimed);
}

static void test_CONC3_claim_expires_with_ttl(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_dedup d;
    assert_int_equal(dedup(&cx, "x", 60, &d), BASTION_OK);
    tkv.now += 59999;
    assert_int_equal(dedup(&cx, "x", 60, &d), BASTION_E_CONFLICT);
    tkv.now += 1;
    assert_int_equal(dedup(&cx, "x", 60, &d), BASTION_OK);
}

static void test_CONC3_store_error_is_5xx_not_claimed(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_dedup d;
    tkv.fail_mask = 1u << TKV_ADD;
    tkv.fail_rc = BASTION_HOST_UNAVAILABLE;
    assert_int_equal(dedup(&cx, "x", 60, &d), BASTION_E_UNAVAILABLE);
    assert_false(d.claimed);
    assert_false(d.duplicate);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    /* a failed release is reported, and logged */
    tkv.fail_mask = 0;
    assert_int_equal(dedup(&cx, "x", 60, &d), BASTION_OK);
    tkv.fail_mask = 1u << TKV_DELETE;
    assert_int_equal(bastion_dedup_release(&cx, &d), BASTION_HOST_UNAVAILABLE);
    assert_true(logged("not released"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_CONC4_missing_key_is_400, setup),
        cmocka_unit_test_setup(test_CONC4_optional_key_absent_proceeds_untracked, setup),
        cmocka_unit_test_setup(test_CONC4_key_syntax_accepted, setup),
        cmocka_unit_test_setup(test_CONC4_malformed_key_is_400, setup),
        cmocka_unit_test_setup(test_CONC4_two_key_fields_is_400, setup),
        cmocka_unit_test_setup(test_CONC4_same_key_same_payload_replays, setup),
        cmocka_unit_test_setup(test_CONC4_final_4xx_is_replayed, setup),
        cmocka_unit_test_setup(test_CONC4_same_key_different_payload_is_422, setup),
        cmocka_unit_test_setup(test_CONC4_in_flight_duplicate_is_409, setup),
        cmocka_unit_test_setup(test_CONC4_5xx_releases_key_and_retry_runs, setup),
        cmocka_unit_test_setup(test_CONC4_no_response_releases_key, setup),
        cmocka_unit_test_setup(test_CONC4_retention_ttl_24h, setup),
        cmocka_unit_test_setup(test_CONC4_crashed_request_frees_key, setup),
        cmocka_unit_test_setup(test_CONC4_stale_finish_does_not_overwrite, setup),
        cmocka_unit_test_setup(test_CONC4_scope_isolation, setup),
        cmocka_unit_test_setup(test_CONC4_large_response_not_replayed, setup),
        cmocka_unit_test_setup(test_CONC4_store_error_on_begin_is_5xx, setup),
        cmocka_unit_test_setup(test_CONC4_store_error_on_finish_is_logged, setup),
        cmocka_unit_test_setup(test_CONC4_unreadable_record_is_500, setup),
        cmocka_unit_test_setup(test_CONC4_record_parse_is_bounded, setup),
        cmocka_unit_test_setup(test_CONC3_duplicate_is_409, setup),
        cmocka_unit_test_setup(test_CONC3_claim_leaves_duplicate_to_caller, setup),
        cmocka_unit_test_setup(test_CONC3_release_lets_retry_succeed, setup),
        cmocka_unit_test_setup(test_CONC3_claim_expires_with_ttl, setup),
        cmocka_unit_test_setup(test_CONC3_store_error_is_5xx_not_claimed, setup),
    };
    return cmocka_run_group_tests_name("idempotency", tests, NULL, NULL);
}
