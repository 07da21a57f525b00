/*
 * Unit tests for shared/src/problem.c: RFC 9457 problem responses (ERR1).
 */
#include "../../shared/src/problem.c"

#include "unit.h"

/*
 * The contract, copied from the comments in problem.h and from ERR1: each
 * code's status and class. Kept here by hand so that a change to the table
 * in problem.c has to be a change to this list too.
 */
static const struct {
    bastion_rc rc;
    int status;
    const char *cls;
} EXPECTED[] = {
    {BASTION_E_BAD_REQUEST, 400, "validation"},
    {BASTION_E_MALFORMED_JSON, 400, "validation"},
    {BASTION_E_UNAUTHORIZED, 401, "auth"},
    {BASTION_E_FORBIDDEN, 403, "auth"},
    {BASTION_E_NOT_FOUND, 404, "validation"},
    {BASTION_E_METHOD_NOT_ALLOWED, 405, "validation"},
    {BASTION_E_CONFLICT, 409, "conflict"},
    {BASTION_E_IN_PROGRESS, 409, "transient"},
    {BASTION_E_GONE, 410, "conflict"},
    {BASTION_E_PRECONDITION_FAILED, 412, "conflict"},
    {BASTION_E_TOO_LARGE, 413, "validation"},
    {BASTION_E_UNSUPPORTED_MEDIA, 415, "validation"},
    {BASTION_E_UNPROCESSABLE, 422, "validation"},
    {BASTION_E_PRECONDITION_REQUIRED, 428, "validation"},
    {BASTION_E_RATE_LIMITED, 429, "transient"},
    {BASTION_E_INTERNAL, 500, "internal"},
    {BASTION_E_UNRESOLVED, 500, "transient"},
    {BASTION_E_MISCONFIGURED, 500, "internal"},
    {BASTION_E_BAD_GATEWAY, 502, "infrastructure"},
    {BASTION_E_UPSTREAM_REFUSED, 502, "conflict"},
    {BASTION_E_UNAVAILABLE, 503, "infrastructure"},
    {BASTION_E_TIMEOUT, 504, "transient"},
};
#define N_EXPECTED (sizeof EXPECTED / sizeof EXPECTED[0])

/* ERR1: the exact status codes the requirements allow */
static const int ERR1_STATUSES[] = {400, 401, 403, 404, 405, 409, 410, 412, 413,
                                    415, 422, 428, 429, 500, 502, 503, 504};

static void test_ERR1_table_covers_every_code(void **state)
{
    (void)state;
    /* every error code is listed above, once */
    assert_int_equal(N_EXPECTED, BASTION_E__COUNT - 1);
    for (size_t i = 0; i < N_EXPECTED; i++)
        assert_int_equal(EXPECTED[i].rc, (bastion_rc)(i + 1));
}

static void test_ERR1_every_code_is_problem_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const bastion_problem_info *info = bastion_problem_lookup(EXPECTED[i].rc);
        bastion_ctx cx;
        unit_ctx(&cx);
        bastion_rc rc = bastion_problem(&cx, EXPECTED[i].rc, "Something specific.");
        assert_int_equal(rc, EXPECTED[i].rc); /* so callers can `return bastion_problem(...)` */
        cJSON *j = unit_assert_problem(&cx, EXPECTED[i].status, info->slug);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "title")->valuestring, info->title);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                            "Something specific.");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "class")->valuestring,
                            EXPECTED[i].cls);
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retryable")),
                         info->retryable);
        assert_null(cJSON_GetObjectItemCaseSensitive(j, "errors"));
        cJSON_Delete(j);
    }
}

static void test_ERR1_statuses_are_the_allowed_ones(void **state)
{
    (void)state;
    /* every code maps to an allowed status … */
    for (size_t i = 0; i < N_EXPECTED; i++) {
        bool allowed = false;
        for (size_t k = 0; k < sizeof ERR1_STATUSES / sizeof ERR1_STATUSES[0]; k++)
            allowed |= bastion_problem_lookup(EXPECTED[i].rc)->status == ERR1_STATUSES[k];
        assert_true(allowed);
    }
    /* … and every allowed status has a code */
    for (size_t k = 0; k < sizeof ERR1_STATUSES / sizeof ERR1_STATUSES[0]; k++) {
        bool have = false;
        for (size_t i = 0; i < N_EXPECTED; i++)
            have |= bastion_problem_lookup(EXPECTED[i].rc)->status == ERR1_STATUSES[k];
        assert_true(have);
    }
}

static void test_ERR1_types_are_distinct_uris(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const char *a = bastion_problem_lookup(EXPECTED[i].rc)->slug;
        assert_true(a[0] != '\0');
        for (const char *p = a; *p; p++) /* a URI path segment: no escaping needed */
            assert_true((*p >= 'a' && *p <= 'z') || *p == '-');
        for (size_t k = i + 1; k < N_EXPECTED; k++)
            assert_string_not_equal(a, bastion_problem_lookup(EXPECTED[k].rc)->slug);
    }
}

/* Transient and infrastructure failures are worth retrying; nothing else is. */
static void test_ERR1_retryable_follows_class(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const bastion_problem_info *info = bastion_problem_lookup(EXPECTED[i].rc);
        bool want = strcmp(EXPECTED[i].cls, "transient") == 0 ||
                    strcmp(EXPECTED[i].cls, "infrastructure") == 0;
        assert_int_equal(info->retryable, want);
    }
}

static void test_ERR1_retry_after_on_429_and_503(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        bastion_ctx cx;
        unit_ctx(&cx);
        bastion_problem_ex(&cx, EXPECTED[i].rc, NULL, NULL, 30);
        bool want = EXPECTED[i].status == 429 || EXPECTED[i].status == 503;
        assert_int_equal(unit_resp_header_count(&cx, "retry-after"), want ? 1 : 0);
        if (want)
            assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "30"));
    }
    /* RFC 9110 §10.2.3 delay-seconds; never 0, so clients do back off */
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_problem(&cx, BASTION_E_UNAVAILABLE, "down");
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "1"));
    unit_ctx(&cx);
    bastion_problem_ex(&cx, BASTION_E_RATE_LIMITED, "slow down", NULL, 0);
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "1"));
    unit_ctx(&cx);
    bastion_problem_ex(&cx, BASTION_E_RATE_LIMITED, "slow down", NULL, UINT32_MAX);
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "4294967295"));
}

static void test_ERR1_detail_defaults_to_title(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_problem(&cx, BASTION_E_NOT_FOUND, NULL);
    cJSON *j = unit_assert_problem(&cx, 404, "not-found");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        bastion_problem_lookup(BASTION_E_NOT_FOUND)->title);
    cJSON_Delete(j);
}

static void test_ERR1_detail_is_escaped(void **state)
{
    (void)state;
    const char *detail = "quote \" backslash \\ newline \n tab \t </script>";
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_problem(&cx, BASTION_E_BAD_REQUEST, detail);
    cJSON *j = unit_assert_problem(&cx, 400, "bad-request");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring, detail);
    cJSON_Delete(j);
}

static void test_ERR1_errors_extension(void **state)
{
    (void)state;
    cJSON *errors = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", "/email");
    cJSON_AddStringToObject(e, "detail", "must be an email address");
    cJSON_AddItemToArray(errors, e);
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_problem_ex(&cx, BASTION_E_UNPROCESSABLE, "invalid", errors, 0); /* now the problem's */
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_true(cJSON_IsArray(got));
    assert_int_equal(cJSON_GetArraySize(got), 1);
    assert_string_equal(unit_error_for(got, "/email"), "must be an email address");
    cJSON_Delete(j);
}

/* RFC 9457 §3.2: a caller's own extension members ride along; the members
 * the table owns cannot be overridden by them. */
static void test_ERR1_extension_members(void **state)
{
    (void)state;
    cJSON *ext = cJSON_CreateObject();
    cJSON *checks = cJSON_AddObjectToObject(ext, "checks");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(checks, "sql"), "status", "fail");
    cJSON_AddStringToObject(ext, "status", "fail"); /* the HTTP status stays 503 */
    cJSON_AddStringToObject(ext, "type", "about:blank");
    cJSON_AddBoolToObject(ext, "retryable", false);
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_problem_with(&cx, BASTION_E_UNAVAILABLE, "sql is down", ext, 5),
                     BASTION_E_UNAVAILABLE);      /* ext's members move into the problem */
    assert_int_equal(cJSON_GetArraySize(ext), 0); /* arena memory, left empty (problem.h) */
    cJSON *j = unit_assert_problem(&cx, 503, "unavailable");
    assert_true(unit_str_is(unit_resp_header(&cx, "retry-after"), "5"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring,
                        UNIT_TYPE_BASE "unavailable");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retryable")));
    assert_int_equal(cJSON_GetArraySize(j), 7); /* the six of every problem, and checks */
    const cJSON *sql =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "checks"), "sql");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sql, "status")->valuestring, "fail");
    cJSON_Delete(j);
    /* NULL: a plain problem */
    unit_ctx(&cx);
    bastion_problem_with(&cx, BASTION_E_UNAVAILABLE, NULL, NULL, 0);
    j = unit_assert_problem(&cx, 503, "unavailable");
    assert_int_equal(cJSON_GetArraySize(j), 6);
    cJSON_Delete(j);
}

static void test_ERR1_unknown_code_is_500(void **state)
{
    (void)state;
    assert_int_equal(bastion_problem_lookup(BASTION_E__COUNT)->status, 500);
    assert_int_equal(bastion_problem_lookup((bastion_rc)1000)->status, 500);
    assert_int_equal(bastion_problem_lookup((bastion_rc)-1)->status, 500);
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_problem(&cx, (bastion_rc)77, "x");
    cJSON_Delete(unit_assert_problem(&cx, 500, "internal"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ERR1_table_covers_every_code),
        cmocka_unit_test(test_ERR1_every_code_is_problem_json),
        cmocka_unit_test(test_ERR1_statuses_are_the_allowed_ones),
        cmocka_unit_test(test_ERR1_types_are_distinct_uris),
        cmocka_unit_test(test_ERR1_retryable_follows_class),
        cmocka_unit_test(test_ERR1_retry_after_on_429_and_503),
        cmocka_unit_test(test_ERR1_detail_defaults_to_title),
        cmocka_unit_test(test_ERR1_detail_is_escaped),
        cmocka_unit_test(test_ERR1_errors_extension),
        cmocka_unit_test(test_ERR1_extension_members),
        cmocka_unit_test(test_ERR1_unknown_code_is_500),
    };
    return cmocka_run_group_tests_name("problem", tests, NULL, NULL);
}
