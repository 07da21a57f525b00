/*
 * Unit tests for shared/src/page.c (DATA4): ?limit, signed keyset cursors
 * bound to their list and tenant, and the one-extra-row page answer.
 */
#include "../../shared/src/page.c"

#include "fake_host.h"
#include "unit.h"

#define SECRET "page-test-secret-0123456789abcdef0123456789"

static void setup_ctx(bastion_ctx *cx, const char *query)
{
    fake_reset();
    fake.config_names[0] = "auth_jwt_secret";
    fake.config_values[0] = SECRET;
    unit_ctx(cx);
    cx->method = BASTION_LIT("GET");
    cx->query = bastion_cstr(query);
}

/* A page of `n` items keyed (1000 + i, "id-<i>"), answered for `pg`. */
static cJSON *answer(bastion_ctx *cx, const bastion_page *pg, int n)
{
    cJSON *items = cJSON_CreateArray();
    int64_t keys[BASTION_PAGE_MAX + 1];
    bastion_str ids[BASTION_PAGE_MAX + 1];
    for (int i = 0; i < n; i++) {
        keys[i] = 1000 + i;
        ids[i] = bastion_sprintf("id-%d", i);
        cJSON_AddItemToArray(items, cJSON_CreateString(ids[i].ptr));
    }
    bastion_page_respond(cx, pg, items, keys, ids);
    assert_int_equal(cx->status, 200);
    return unit_body_json(cx);
}

static void test_DATA4_limit_default_and_range(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_page pg;
    setup_ctx(&cx, "");
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg), BASTION_OK);
    assert_int_equal(pg.limit, 20);
    assert_false(pg.after);
    assert_int_equal(bastion_page_fetch(&pg), 21);
    static const char *const ok[] = {"limit=1", "limit=100", "limit=050"};
    static const uint32_t want[] = {1, 100, 50};
    for (size_t i = 0; i < BASTION_COUNTOF(ok); i++) {
        setup_ctx(&cx, ok[i]);
        assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg), BASTION_OK);
        assert_int_equal(pg.limit, want[i]);
    }
    static const char *const bad[] = {"limit=0",   "limit=101", "limit=",     "limit=-1",
                                      "limit=1.5", "limit=abc", "limit=1000", "limit=%2B5"};
    for (size_t i = 0; i < BASTION_COUNTOF(bad); i++) {
        setup_ctx(&cx, bad[i]);
        assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg),
                         BASTION_E_UNPROCESSABLE);
        cJSON *p = unit_assert_problem(&cx, 422, "validation-failed");
        assert_non_null(unit_error_for(cJSON_GetObjectItem(p, "errors"), "/limit"));
    }
}

static void test_DATA4_cursor_round_trip_and_last_page(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_page pg;
    setup_ctx(&cx, "limit=2");
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg), BASTION_OK);
    /* three rows fetched for a page of two: the third is dropped, a cursor made */
    cJSON *body = answer(&cx, &pg, 3);
    cJSON *items = cJSON_GetObjectItem(body, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(body, "next_cursor"));
    assert_non_null(next);
    /* the cursor positions the next page after the last row shown */
    char q[600];
    snprintf(q, sizeof q, "limit=2&cursor=%s", next);
    setup_ctx(&cx, q);
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg), BASTION_OK);
    assert_true(pg.after);
    assert_int_equal(pg.key, 1001);
    assert_true(unit_str_is(pg.id, "id-1"));
    bastion_sql_value p[3];
    bastion_page_params(&pg, p);
    assert_int_equal(p[0].v.i, 1);
    assert_int_equal(p[1].v.i, 1001);
    assert_true(unit_str_is(p[2].v.s, "id-1"));
    /* a short page is the last: next_cursor is null */
    setup_ctx(&cx, "limit=2");
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l\nt"), &pg), BASTION_OK);
    body = answer(&cx, &pg, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(body, "next_cursor")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body, "items")), 2);
    /* no cursor: the position parameters say "from the start" */
    bastion_page_params(&pg, p);
    assert_int_equal(p[0].v.i, 0);
    assert_true(p[1].v.i == INT64_MIN && p[2].v.s.len == 0); /* before every row */
}

/* Makes a cursor after (key 7, "row-7") for `scope`. */
static const char *cursor_for(const char *scope)
{
    bastion_ctx cx;
    bastion_page pg;
    setup_ctx(&cx, "limit=1");
    assert_int_equal(bastion_page_or_problem(&cx, bastion_cstr(scope), &pg), BASTION_OK);
    const char *c = cursor_after(&pg, 7, BASTION_LIT("row-7"));
    assert_non_null(c);
    return c;
}

static void test_DATA4_cursor_is_bound_and_tamper_evident(void **state)
{
    (void)state;
    const char *good = cursor_for("contacts\nacme");
    bastion_ctx cx;
    bastion_page pg;
    char q[700];
    /* another list, another tenant: 400 */
    static const char *const scopes[] = {"contacts\nglobex", "campaigns\nacme"};
    for (size_t i = 0; i < BASTION_COUNTOF(scopes); i++) {
        snprintf(q, sizeof q, "cursor=%s", good);
        setup_ctx(&cx, q);
        assert_int_equal(bastion_page_or_problem(&cx, bastion_cstr(scopes[i]), &pg),
                         BASTION_E_BAD_REQUEST);
        cJSON_Delete(unit_assert_problem(&cx, 400, "bad-request"));
    }
    /* every single-character change of the cursor is refused */
    size_t n = strlen(good);
    for (size_t i = 0; i < n; i++) {
        char t[600];
        memcpy(t, good, n + 1);
        if (t[i] == '.')
            continue;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        snprintf(q, sizeof q, "cursor=%s", t);
        setup_ctx(&cx, q);
        assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("contacts\nacme"), &pg),
                         BASTION_E_BAD_REQUEST);
    }
    static const char *const junk[] = {"cursor=", "cursor=abc", "cursor=.", "cursor=a.b.c"};
    for (size_t i = 0; i < BASTION_COUNTOF(junk); i++) {
        setup_ctx(&cx, junk[i]);
        assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("contacts\nacme"), &pg),
                         BASTION_E_BAD_REQUEST);
    }
    /* the right scope takes it */
    snprintf(q, sizeof q, "cursor=%s", good);
    setup_ctx(&cx, q);
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("contacts\nacme"), &pg), BASTION_OK);
    assert_int_equal(pg.key, 7);
    assert_true(unit_str_is(pg.id, "row-7"));
}

static void test_DATA4_cursor_needs_the_secret(void **state)
{
    (void)state;
    const char *good = cursor_for("l");
    bastion_ctx cx;
    bastion_page pg;
    char q[600];
    snprintf(q, sizeof q, "cursor=%s", good);
    setup_ctx(&cx, q);
    fake.config_values[0] = "short";
    assert_int_equal(bastion_page_or_problem(&cx, BASTION_LIT("l"), &pg), BASTION_E_MISCONFIGURED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_DATA4_limit_default_and_range),
        cmocka_unit_test(test_DATA4_cursor_round_trip_and_last_page),
        cmocka_unit_test(test_DATA4_cursor_is_bound_and_tamper_evident),
        cmocka_unit_test(test_DATA4_cursor_needs_the_secret),
    };
    return cmocka_run_group_tests_name("page", tests, NULL, NULL);
}
