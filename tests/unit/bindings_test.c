/*
 * Unit tests for shared/src/bindings.c: the handle export and its router, and
 * cabi_realloc. Requests are built as the host writes them (cabi_request).
 */
#include "../../shared/src/bindings.c"

#include "fake_host.h"
#include "unit.h"

/* --- a module's route table --- */

static int calls_get, calls_post, calls_silent, calls_job;
static bastion_ctx *seen;

static void nightly(bastion_ctx *cx)
{
    calls_job++;
    seen = cx;
    bastion_respond(cx, 200, BASTION_LIT("application/json"), BASTION_LIT("{\"done\":1}"));
}

static void item_get(bastion_ctx *cx)
{
    calls_get++;
    seen = cx;
    bastion_respond(cx, 200, BASTION_LIT("text/plain"), BASTION_LIT("got"));
}

static void item_post(bastion_ctx *cx)
{
    calls_post++;
    bastion_set_header(cx, BASTION_LIT("location"), BASTION_LIT("/api/items/2"));
    bastion_respond(cx, 201, BASTION_LIT("application/json"), BASTION_LIT("{\"id\":2}"));
}

static void silent(bastion_ctx *cx)
{
    (void)cx;
    calls_silent++; /* forgets to respond */
}

static void fails(bastion_ctx *cx)
{
    bastion_problem(cx, BASTION_E_CONFLICT, "Already there.");
}

static bool json_in_arena;

/* A handler as functions write them: a tree, a JSON response, no Delete. */
static void lists(bastion_ctx *cx)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    cJSON_AddItemToArray(items, cJSON_CreateString("a"));
    json_in_arena = bastion__arena_contains(o) && bastion__arena_contains(items->child) &&
                    bastion__arena_contains(items->child->valuestring);
    bastion_respond_json(cx, 200, o);
}

static const bastion_route ROUTES[] = {
    {"GET", "/api/items/{id}", item_get},
    {"POST", "/api/items/{id}", item_post},
    {"DELETE", "/api/items/{id}", item_get},
    {"GET", "/api/silent", silent},
    {"POST", "/api/fails", fails},
    {"GET", "/api/lists", lists},
    {BASTION_CRON_METHOD, "nightly", nightly},
};
BASTION_ROUTES(ROUTES);

static int setup(void **state)
{
    (void)state;
    calls_get = calls_post = calls_silent = calls_job = 0;
    seen = NULL;
    fake_reset();
    return 0;
}

static bastion_header req_params[] = {{BASTION_LIT("id"), BASTION_LIT("42")}};
static bastion_header req_headers[] = {
    {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    {BASTION_LIT("x-request-id"), BASTION_LIT("abc")},
};
static uint8_t req_body[] = "{\"a\":1}";

static cabi_request request(const char *method, const char *route)
{
    cabi_request r;
    memset(&r, 0, sizeof r);
    r.trigger = 0;
    r.method = bastion_cstr(method);
    r.path = BASTION_LIT("/api/items/42");
    r.query = BASTION_LIT("x=1&y=two+words");
    r.route = bastion_cstr(route);
    r.params.ptr = req_params;
    r.params.len = 1;
    r.headers.ptr = req_headers;
    r.headers.len = 2;
    r.body.ptr = req_body;
    r.body.len = sizeof req_body - 1;
    r.client_ip = BASTION_LIT("192.0.2.9");
    r.request_id = BASTION_LIT("req-7");
    r.deadline_ms = bastion_now_ms() + 15000;
    return r;
}

static bastion_str resp_header(const cabi_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->headers.len; i++)
        if (bastion_str_eq_ci(resp->headers.ptr[i].name, bastion_cstr(name)))
            return resp->headers.ptr[i].value;
    return BASTION_STR_NULL;
}

static cJSON *resp_problem(const cabi_response *resp, int status, const char *slug)
{
    assert_int_equal(resp->status, status);
    assert_true(unit_str_is(resp_header(resp, "content-type"), "application/problem+json"));
    cJSON *j = cJSON_ParseWithLength((const char *)resp->body.ptr, resp->body.len);
    assert_non_null(j);
    char want[128];
    snprintf(want, sizeof want, UNIT_TYPE_BASE "%s", slug);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring, want);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "status")->valueint, status);
    return j;
}

/* --- routing --- */

static void test_bindings_known_route_and_method_calls_handler(void **state)
{
    (void)state;
    cabi_request req = request("GET", "/api/items/{id}");
    cabi_response *resp = bastion__handle(&req);
    assert_int_equal(calls_get, 1);
    assert_int_equal(calls_post, 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->body.len, 3);
    assert_memory_equal(resp->body.ptr, "got", 3);
    assert_true(unit_str_is(resp_header(resp, "content-type"), "text/plain"));

    req = request("POST", "/api/items/{id}");
    resp = bastion__handle(&req);
    assert_int_equal(calls_post, 1);
    assert_int_equal(resp->status, 201);
    assert_true(unit_str_is(resp_header(resp, "location"), "/api/items/2"));
}

static void test_bindings_request_reaches_handler_intact(void **state)
{
    (void)state;
    cabi_request req = request("GET", "/api/items/{id}");
    bastion__handle(&req);
    assert_non_null(seen);
    assert_ptr_equal(seen, bastion__current);
    assert_int_equal(seen->trigger, BASTION_TRIGGER_HTTP);
    assert_true(unit_str_is(seen->method, "GET"));
    assert_true(unit_str_is(seen->path, "/api/items/42"));
    assert_true(unit_str_is(seen->route, "/api/items/{id}"));
    assert_true(unit_str_is(bastion_param(seen, "id"), "42"));
    assert_true(unit_str_is(bastion_header_get(seen, "X-Request-Id"), "abc"));
    assert_true(unit_str_is(bastion_query_get(seen, "y"), "two words"));
    assert_true(unit_str_is(seen->body, "{\"a\":1}"));
    assert_true(unit_str_is(seen->client_ip, "192.0.2.9"));
    assert_true(unit_str_is(seen->request_id, "req-7"));
    assert_int_equal(seen->deadline_ms, req.deadline_ms);
    uint32_t left = bastion_remaining_ms(seen);
    assert_true(left > 14000 && left <= 15000);
}

/* A [[cron]] run (trigger cron, path = the job's name, route "") reaches its
 * CRON entry and nothing else; no HTTP request reaches a CRON entry. */
static void test_bindings_cron_run_reaches_its_job_only(void **state)
{
    (void)state;
    cabi_request req = request("POST", "");
    req.trigger = 1;
    req.path = BASTION_LIT("nightly");
    cabi_response *resp = bastion__handle(&req);
    assert_int_equal(resp->status, 200);
    assert_int_equal(calls_job, 1);
    assert_int_equal(seen->trigger, BASTION_TRIGGER_CRON);
    /* a run naming no job, or an HTTP route, is 404 */
    req.path = BASTION_LIT("weekly");
    cJSON_Delete(resp_problem(bastion__handle(&req), 404, "not-found"));
    req = request("GET", "/api/items/{id}");
    req.trigger = 1;
    cJSON_Delete(resp_problem(bastion__handle(&req), 404, "not-found"));
    assert_int_equal(calls_get, 0);
    /* HTTP with the job's name as route, with or without its method */
    req = request(BASTION_CRON_METHOD, "nightly");
    cJSON_Delete(resp_problem(bastion__handle(&req), 404, "not-found"));
    req = request("POST", "nightly");
    cJSON_Delete(resp_problem(bastion__handle(&req), 404, "not-found"));
    assert_int_equal(calls_job, 1);
}

static void test_bindings_other_method_is_405_with_allow(void **state)
{
    (void)state;
    cabi_request req = request("PUT", "/api/items/{id}");
    cabi_response *resp = bastion__handle(&req);
    assert_int_equal(calls_get + calls_post, 0);
    cJSON_Delete(resp_problem(resp, 405, "method-not-allowed"));
    /* RFC 9110 §15.5.6: a 405 lists the allowed methods */
    assert_true(unit_str_is(resp_header(resp, "allow"), "GET, POST, DELETE"));
    /* methods are case-sensitive (RFC 9110 §9.1) */
    req = request("get", "/api/items/{id}");
    resp = bastion__handle(&req);
    assert_int_equal(calls_get, 0);
    cJSON_Delete(resp_problem(resp, 405, "method-not-allowed"));
    /* a route with one method */
    req = request("POST", "/api/silent");
    resp = bastion__handle(&req);
    cJSON_Delete(resp_problem(resp, 405, "method-not-allowed"));
    assert_true(unit_str_is(resp_header(resp, "allow"), "GET"));
}

static void test_bindings_unknown_route_is_404(void **state)
{
    (void)state;
    static const char *const routes[] = {"/api/nothing", "/api/items/42", "/api/items/{id}/", "",
                                         "/API/ITEMS/{id}"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        cabi_request req = request("GET", routes[i]);
        cabi_response *resp = bastion__handle(&req);
        cJSON_Delete(resp_problem(resp, 404, "not-found"));
        assert_null(resp_header(resp, "allow").ptr);
    }
    assert_int_equal(calls_get + calls_post + calls_silent, 0);
}

static void test_bindings_handler_without_response_is_500(void **state)
{
    (void)state;
    cabi_request req = request("GET", "/api/silent");
    cabi_response *resp = bastion__handle(&req);
    assert_int_equal(calls_silent, 1);
    cJSON_Delete(resp_problem(resp, 500, "internal"));
}

static void test_bindings_handler_problem_passes_through(void **state)
{
    (void)state;
    cabi_request req = request("POST", "/api/fails");
    cabi_response *resp = bastion__handle(&req);
    cJSON *j = resp_problem(resp, 409, "conflict");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        "Already there.");
    cJSON_Delete(j);
}

/* Each request gets its own context: nothing from one leaks into the next. */
static void test_CONC7_fresh_context_per_request(void **state)
{
    (void)state;
    cabi_request req = request("POST", "/api/items/{id}");
    cabi_response *resp = bastion__handle(&req);
    assert_true(unit_str_is(resp_header(resp, "location"), "/api/items/2"));
    req = request("GET", "/api/items/{id}");
    resp = bastion__handle(&req);
    assert_int_equal(resp->status, 200);
    assert_null(resp_header(resp, "location").ptr);
    assert_int_equal(resp->headers.len, 1);
}

/* --- the memory rule (core.h) --- */

/* The handle export points cJSON at the arena before the handler runs, even
 * when something had set cJSON's hooks back to libc's: a handler's trees and
 * the response body are arena memory, and its missing Delete leaks nothing. */
static void test_bindings_handle_puts_cjson_in_the_arena(void **state)
{
    (void)state;
    cJSON_InitHooks(NULL); /* no cJSON value exists across this line */
    json_in_arena = false;
    cabi_request req = request("GET", "/api/lists");
    cabi_response *resp = bastion__handle(&req);
    assert_int_equal(resp->status, 200);
    assert_true(json_in_arena);
    assert_true(bastion__arena_contains(resp->body.ptr));
    static const char want[] = "{\"items\":[\"a\"]}";
    assert_int_equal(resp->body.len, sizeof want - 1);
    assert_memory_equal(resp->body.ptr, want, sizeof want - 1);
}

/* --- cabi_realloc (canonical ABI) --- */

static void test_bindings_realloc_alignment_and_copy(void **state)
{
    (void)state;
    static const size_t aligns[] = {8, 16, 32};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        uint8_t *p = cabi_realloc(NULL, 0, aligns[i], 64);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % aligns[i], 0);
        for (int k = 0; k < 64; k++)
            p[k] = (uint8_t)k;
        uint8_t *q = cabi_realloc(p, 64, aligns[i], 128); /* grow keeps the prefix */
        assert_int_equal((uintptr_t)q % aligns[i], 0);
        for (int k = 0; k < 64; k++)
            assert_int_equal(q[k], k);
        memset(q + 64, 0xEE, 64);
        uint8_t *r = cabi_realloc(q, 128, aligns[i], 16); /* shrink keeps what fits */
        for (int k = 0; k < 16; k++)
            assert_int_equal(r[k], k);
    }
    /* every block is arena memory (core.h): nothing leaks, nothing to free */
    assert_true(bastion__arena_contains(cabi_realloc(NULL, 0, 16, 64)));
    /* an empty allocation is a valid, aligned, non-NULL pointer */
    void *e = cabi_realloc(NULL, 0, 4, 0);
    assert_non_null(e);
    assert_int_equal((uintptr_t)e % 4, 0);
}

static void small_realloc(void *arg)
{
    (void)arg;
    /* a 3-byte string (align 1) and a 12-byte list of u32 (align 4), as the
     * host asks for them */
    char *s = cabi_realloc(NULL, 0, 1, 3);
    memcpy(s, "abc", 3);
    uint32_t *l = cabi_realloc(NULL, 0, 4, 12);
    l[2] = 7;
}

/*
 * cabi_realloc raises the alignment to sizeof(void *) but rounds the size up
 * to the *requested* alignment, so aligned_alloc(8, 3) is called: a size that
 * is not a multiple of the alignment, which C11 7.22.3.1 does not allow and
 * AddressSanitizer reports (invalid-aligned-alloc-alignment). wasi-libc's
 * dlmalloc tolerates it, so this bites native builds only. KNOWN BUG.
 */
static void test_bindings_realloc_small_unaligned_sizes(void **state)
{
    (void)state;
    int status = unit_run_isolated(small_realloc, NULL);
    if (status != 0)
        unit_fail("cabi_realloc(NULL, 0, 1, 3) / (…, 4, 12): child exited with %d "
                  "(1 = sanitizer report)",
                  status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_bindings_known_route_and_method_calls_handler, setup),
        cmocka_unit_test_setup(test_bindings_request_reaches_handler_intact, setup),
        cmocka_unit_test_setup(test_bindings_cron_run_reaches_its_job_only, setup),
        cmocka_unit_test_setup(test_bindings_other_method_is_405_with_allow, setup),
        cmocka_unit_test_setup(test_bindings_unknown_route_is_404, setup),
        cmocka_unit_test_setup(test_bindings_handler_without_response_is_500, setup),
        cmocka_unit_test_setup(test_bindings_handler_problem_passes_through, setup),
        cmocka_unit_test_setup(test_CONC7_fresh_context_per_request, setup),
        cmocka_unit_test_setup(test_bindings_handle_puts_cjson_in_the_arena, setup),
        cmocka_unit_test_setup(test_bindings_realloc_alignment_and_copy, setup),
        cmocka_unit_test_setup(test_bindings_realloc_small_unaligned_sizes, setup),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
