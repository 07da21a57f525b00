/*
 * Unit tests for shared/src/plans.c: the plan table, a tenant's plan from its
 * subscription, and usage counted increment-first (CONC2) with give-back.
 *
 * The subscription row is scripted on the fake host's sql.query; usage runs
 * on the kv model of fake_kv.h, whose clock is also the one plans.c reads
 * (the free plan's period is the UTC calendar month, DATA2).
 */
#include "fake_host.h"
#include "unit.h"

#include "fake_kv.h"

/* The fake host keeps 255 bytes of SQL and the parameters by pointer into
 * the caller's frame; this spy keeps the whole query, then runs it as usual. */
static struct {
    char sql[1024];
    bastion_sql_value params[4];
    char text[4][64]; /* TEXT parameters' bytes */
    size_t n_params;
} spy;
static bastion_rc spy_query(bastion_ctx *cx, const char *db, const char *sql,
                            const bastion_sql_value *params, size_t n, bastion_rows *out,
                            const char *what)
{
    snprintf(spy.sql, sizeof spy.sql, "%s", sql);
    spy.n_params = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        spy.params[i] = params[i];
        if (params[i].type == BASTION_SQL_TEXT)
            snprintf(spy.text[i], sizeof spy.text[i], BASTION_STR_FMT,
                     BASTION_STR_ARG(params[i].v.s));
    }
    return bastion_sql_query_or_problem(cx, db, sql, params, n, out, what);
}
#define bastion_sql_query_or_problem spy_query
#include "../../shared/src/plans.c"
#undef bastion_now_ms

#define DAY_MS INT64_C(86400000)
/* 2024-05-10T12:00:00Z */
#define MAY_10 INT64_C(1715342400000)
/* 2024-06-01T00:00:00Z, the free period's end on MAY_10 */
#define JUNE_1 INT64_C(1717200000000)

#define PRICES "price_pro=pro, price_team = team"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    tkv_reset();
    tkv.now = (uint64_t)MAY_10;
    fake.config_names[0] = "billing_plan_prices";
    fake.config_values[0] = PRICES;
    return 0;
}

/* --- the scripted subscription row --- */

static bastion_str COLS[] = {
    BASTION_LIT("stripe_subscription_id"),
    BASTION_LIT("status"),
    BASTION_LIT("price_id"),
    BASTION_LIT("current_period_end"),
    BASTION_LIT("cancel_at_period_end"),
};
static bastion_sql_value row_vals[5];
static __typeof__(*fake.rows.rows.ptr) row_list[1];

/* One subscription row (price NULL when price is NULL). */
static void script_row(const char *status, const char *price, int64_t end, int64_t cancel)
{
    row_vals[0] = BASTION_SQL_STR(BASTION_LIT("sub_123"));
    row_vals[1] = BASTION_SQL_STR(bastion_cstr(status));
    row_vals[2] = price ? BASTION_SQL_STR(bastion_cstr(price)) : BASTION_SQL_NULLV;
    row_vals[3] = BASTION_SQL_INT(end);
    row_vals[4] = BASTION_SQL_INT(cancel);
    row_list[0].ptr = row_vals;
    row_list[0].len = 5;
    fake.rows.columns.ptr = COLS;
    fake.rows.columns.len = 5;
    fake.rows.rows.ptr = row_list;
    fake.rows.rows.len = 1;
}

static void script_no_row(void)
{
    fake.rows.columns.ptr = COLS;
    fake.rows.columns.len = 5;
    fake.rows.rows.len = 0;
}

static bastion_rc plan_of(bastion_ctx *cx, const char *tenant, bastion_tenant_plan *tp)
{
    unit_ctx(cx);
    return bastion_tenant_plan_or_problem(cx, bastion_cstr(tenant), tp);
}

/* --- the table --- */

static void test_plan_table_lookup(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t assessments, ai_matching;
    } WANT[] = {{"free", 5, 0}, {"pro", 100, 50}, {"team", 1000, 500}};
    for (size_t i = 0; i < BASTION_COUNTOF(WANT); i++) {
        const bastion_plan *p = bastion_plan_named(bastion_cstr(WANT[i].name));
        assert_non_null(p);
        assert_string_equal(p->name, WANT[i].name);
        assert_int_equal(p->limits[BASTION_FEATURE_ASSESSMENTS], WANT[i].assessments);
        assert_int_equal(p->limits[BASTION_FEATURE_AI_MATCHING], WANT[i].ai_matching);
    }
    static const char *const NOT[] = {"", "Pro", "pro ", "enterprise", "fre"};
    for (size_t i = 0; i < BASTION_COUNTOF(NOT); i++)
        assert_null(bastion_plan_named(bastion_cstr(NOT[i])));
    const char pro_x[] = {'p', 'r', 'o', 'x'};
    assert_non_null(bastion_plan_named((bastion_str){pro_x, 3})); /* a slice, not a C string */
    /* the enum rule's choices, and where each is counted */
    assert_string_equal(BASTION_FEATURE_NAMES[BASTION_FEATURE_ASSESSMENTS], "assessments");
    assert_string_equal(BASTION_FEATURE_NAMES[BASTION_FEATURE_AI_MATCHING], "ai_matching");
    assert_null(BASTION_FEATURE_NAMES[BASTION_FEATURE__COUNT]);
    assert_string_equal(BASTION_FEATURE_STORES[BASTION_FEATURE_ASSESSMENTS], "assessments");
    assert_string_equal(BASTION_FEATURE_STORES[BASTION_FEATURE_AI_MATCHING], "jobs");
}

/* --- a tenant's plan --- */

/* No subscription: "none", free, the month; the tenant is the parameter. */
static void test_AUTH5_no_subscription_is_free(void **state)
{
    (void)state;
    script_no_row();
    bastion_ctx cx;
    bastion_tenant_plan tp;
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
    assert_false(cx.responded);
    assert_string_equal(tp.plan->name, "free");
    assert_true(unit_str_is(tp.status, "none"));
    assert_null(tp.subscription_id.ptr);
    assert_false(tp.has_subscription_period_end);
    assert_int_equal(tp.period_end_ms, JUNE_1);
    const fake_call *q = fake_last();
    assert_int_equal(q->fn, FAKE_SQL_QUERY);
    assert_string_equal(q->store, "billing");
    assert_non_null(strstr(spy.sql, "WHERE tenant = $1"));
    assert_string_equal(spy.text[0], "acme");
}

/* The price maps to a plan through billing_plan_prices; unmapped is free. */
static void test_price_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *price, *plan;
    } CASES[] = {
        {"price_pro", "pro"},    {"price_team", "team"},
        {"price_other", "free"}, {"PRICE_PRO", "free"}, /* ids compare exactly */
        {NULL, "free"},
    };
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        setup(NULL);
        script_row("active", CASES[i].price, MAY_10 + 20 * DAY_MS, 0);
        bastion_ctx cx;
        bastion_tenant_plan tp;
        assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
        if (strcmp(tp.plan->name, CASES[i].plan) != 0)
            unit_fail("price %s: plan %s, want %s", CASES[i].price ? CASES[i].price : "NULL",
                      tp.plan->name, CASES[i].plan);
        assert_true(unit_str_is(tp.subscription_id, "sub_123"));
        assert_true(unit_str_is(tp.status, "active"));
    }
}

/* REL8: a map naming a plan that does not exist, or a member that is not
 * price=plan, is a 500 for every tenant: whatever its price, and without a
 * subscription too. */
static void test_REL8_bad_price_map_is_500_for_everyone(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "price_pro=pro, price_x=gold",
        "price_pro=pro,price_team",
        "=pro",
        "price_pro=",
        "price_pro=Pro",
    };
    for (size_t i = 0; i < BASTION_COUNTOF(BAD); i++) {
        for (int with_row = 0; with_row < 2; with_row++) {
            setup(NULL);
            fake.config_values[0] = BAD[i];
            if (with_row)
                script_row("active", "price_pro", MAY_10 + DAY_MS, 0);
            else
                script_no_row();
            bastion_ctx cx;
            bastion_tenant_plan tp;
            if (plan_of(&cx, "acme", &tp) != BASTION_E_MISCONFIGURED)
                unit_fail("billing_plan_prices=%s (row %d) was accepted", BAD[i], with_row);
            cJSON *p = unit_assert_problem(&cx, 500, "misconfigured");
            /* names the variable, never its value */
            assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")),
                                   "billing_plan_prices"));
            assert_false(unit_contains(cx.resp_body, "gold"));
        }
    }
    /* empty members and OWS are list syntax, not errors (RFC 9110 §5.6.1) */
    setup(NULL);
    fake.config_values[0] = " , price_pro = pro ,, ";
    script_row("active", "price_pro", MAY_10 + DAY_MS, 0);
    bastion_ctx cx;
    bastion_tenant_plan tp;
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
    assert_string_equal(tp.plan->name, "pro");
    setup(NULL);
    fake.config_names[0] = NULL; /* unset: every price is unmapped */
    script_row("active", "price_pro", MAY_10 + DAY_MS, 0);
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
    assert_string_equal(tp.plan->name, "free");
}

/* active, trialing and past_due pay for the plan, for the subscription's
 * period; every other status is free, for the month. */
static void test_statuses_paying_and_free(void **state)
{
    (void)state;
    static const struct {
        const char *status;
        bool paying;
    } CASES[] = {
        {"active", true},
        {"trialing", true},
        {"past_due", true},
        {"canceled", false},
        {"unpaid", false},
        {"incomplete", false},
        {"incomplete_expired", false},
        {"paused", false},
    };
    const int64_t end = MAY_10 + 12 * DAY_MS;
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        setup(NULL);
        script_row(CASES[i].status, "price_pro", end, 1);
        bastion_ctx cx;
        bastion_tenant_plan tp;
        assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
        if (strcmp(tp.plan->name, CASES[i].paying ? "pro" : "free") != 0)
            unit_fail("%s: plan %s", CASES[i].status, tp.plan->name);
        assert_int_equal(tp.period_end_ms, CASES[i].paying ? end : JUNE_1);
        /* what the row says is kept either way, for display */
        assert_true(unit_str_is(tp.status, CASES[i].status));
        assert_true(tp.cancel_at_period_end);
        assert_true(tp.has_subscription_period_end);
        assert_int_equal(tp.subscription_period_end_ms, end);
    }
}

/* A paying status whose period has ended (a renewal the webhook has not
 * told yet) is free until it is renewed. */
static void test_ended_period_is_free(void **state)
{
    (void)state;
    script_row("active", "price_pro", MAY_10, 0); /* ends now: exclusive */
    bastion_ctx cx;
    bastion_tenant_plan tp;
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
    assert_string_equal(tp.plan->name, "free");
    assert_int_equal(tp.period_end_ms, JUNE_1);
}

/* Of several subscriptions, the query puts one paying in its period first,
 * then the newest; "now" is its parameter. */
static void test_paying_subscription_is_read_first(void **state)
{
    (void)state;
    script_no_row();
    bastion_ctx cx;
    bastion_tenant_plan tp;
    plan_of(&cx, "acme", &tp);
    const char *order = strstr(spy.sql, "ORDER BY");
    assert_non_null(order);
    const char *paying = strstr(order, "'active', 'trialing', 'past_due'");
    const char *newest = strstr(order, "event_created DESC");
    assert_true(paying && newest && paying < newest);
    assert_non_null(strstr(order, "current_period_end > $2"));
    assert_int_equal(spy.n_params, 2);
    assert_int_equal(spy.params[1].type, BASTION_SQL_INTEGER);
    assert_int_equal(spy.params[1].v.i, MAY_10);
    assert_non_null(strstr(spy.sql, "LIMIT 1"));
}

/* DATA2: the free period ends at the first instant of the next UTC month. */
static void test_DATA2_free_period_is_the_utc_month(void **state)
{
    (void)state;
    static const struct {
        int64_t now, end;
    } CASES[] = {
        {MAY_10, JUNE_1},
        {INT64_C(1704067200000), INT64_C(1706745600000)}, /* 2024-01-01T00:00Z → 02-01 */
        {INT64_C(1709208000000), INT64_C(1709251200000)}, /* 2024-02-29T12:00Z → 03-01 */
        {INT64_C(1735689599999), INT64_C(1735689600000)}, /* 2024-12-31T23:59:59.999Z → 2025 */
        {INT64_C(1706745599999), INT64_C(1706745600000)}, /* 2024-01-31T23:59:59.999Z */
    };
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        setup(NULL);
        tkv.now = (uint64_t)CASES[i].now;
        script_no_row();
        bastion_ctx cx;
        bastion_tenant_plan tp;
        assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
        if (tp.period_end_ms != CASES[i].end)
            unit_fail("now %lld: end %lld, want %lld", (long long)CASES[i].now,
                      (long long)tp.period_end_ms, (long long)CASES[i].end);
    }
}

/* REL1: a store failure is its own 503/504 (the code returned is the
 * problem written); a row of the wrong type is a 500. */
static void test_REL1_store_and_row_failures(void **state)
{
    (void)state;
    static const struct {
        int tag;
        int status;
        const char *slug;
        bastion_rc rc;
    } CASES[] = {
        {0, 504, "timeout", BASTION_E_TIMEOUT},
        {1, 503, "unavailable", BASTION_E_UNAVAILABLE},
        {5, 500, "internal", BASTION_E_INTERNAL},
    };
    for (size_t i = 0; i < BASTION_COUNTOF(CASES); i++) {
        setup(NULL);
        fake.error_tag = CASES[i].tag;
        bastion_ctx cx;
        bastion_tenant_plan tp;
        assert_int_equal(plan_of(&cx, "acme", &tp), CASES[i].rc);
        cJSON_Delete(unit_assert_problem(&cx, CASES[i].status, CASES[i].slug));
    }
    setup(NULL);
    script_row("active", "price_pro", MAY_10 + DAY_MS, 0);
    row_vals[3] = BASTION_SQL_STR(BASTION_LIT("soon")); /* not an integer */
    bastion_ctx cx;
    bastion_tenant_plan tp;
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_E_INTERNAL);
    cJSON_Delete(unit_assert_problem(&cx, 500, "internal"));
    setup(NULL);
    script_row("active", "price_pro", MAY_10 + DAY_MS, 2); /* not 0/1 */
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_E_INTERNAL);
}

/* --- usage --- */

static bastion_tenant_plan plan_now(const char *status, const char *price, int64_t end)
{
    script_row(status, price, end, 0);
    bastion_ctx cx;
    bastion_tenant_plan tp;
    assert_int_equal(plan_of(&cx, "acme", &tp), BASTION_OK);
    return tp;
}

static int64_t used(const char *tenant, const bastion_tenant_plan *tp, bastion_feature f)
{
    bastion_ctx cx;
    int64_t n = -1;
    unit_ctx(&cx);
    assert_int_equal(
        bastion_plan_used_or_problem(&cx, "assessments", bastion_cstr(tenant), tp, f, &n),
        BASTION_OK);
    return n;
}

static bastion_rc use(bastion_ctx *cx, const char *tenant, const bastion_tenant_plan *tp,
                      bastion_feature f)
{
    unit_ctx(cx);
    return bastion_plan_use_or_problem(cx, "assessments", bastion_cstr(tenant), tp, f);
}

/* CONC2: each use is counted before it is judged; past the limit it is 409
 * and the count is given back, so the counter never stays above the limit. */
static void test_CONC2_usage_increment_first_with_give_back(void **state)
{
    (void)state;
    bastion_tenant_plan tp = plan_now("canceled", "price_pro", MAY_10); /* free: 5 */
    bastion_ctx cx;
    assert_int_equal(used("acme", &tp, BASTION_FEATURE_ASSESSMENTS), 0);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(use(&cx, "acme", &tp, BASTION_FEATURE_ASSESSMENTS), BASTION_OK);
        assert_false(cx.responded);
        assert_int_equal(used("acme", &tp, BASTION_FEATURE_ASSESSMENTS), i);
    }
    size_t before = tkv.n_calls;
    assert_int_equal(use(&cx, "acme", &tp, BASTION_FEATURE_ASSESSMENTS), BASTION_E_CONFLICT);
    cJSON_Delete(unit_assert_problem(&cx, 409, "conflict"));
    /* increment first, then the give-back: +1, -1 */
    assert_int_equal(tkv.n_calls, before + 2);
    assert_int_equal(tkv.calls[before].op, TKV_INCREMENT);
    assert_int_equal(tkv.calls[before + 1].op, TKV_INCREMENT);
    assert_int_equal(used("acme", &tp, BASTION_FEATURE_ASSESSMENTS), 5);
    /* the free plan has no matching runs at all */
    assert_int_equal(use(&cx, "acme", &tp, BASTION_FEATURE_AI_MATCHING), BASTION_E_CONFLICT);
    assert_int_equal(used("acme", &tp, BASTION_FEATURE_AI_MATCHING), 0);
    /* tenants count apart */
    assert_int_equal(used("globex", &tp, BASTION_FEATURE_ASSESSMENTS), 0);
    assert_int_equal(use(&cx, "globex", &tp, BASTION_FEATURE_ASSESSMENTS), BASTION_OK);
}

/* The counter's key names feature, period and tenant, and lives for the
 * rest of the period plus a week; a new period starts from zero. */
static void test_usage_is_per_period(void **state)
{
    (void)state;
    const int64_t end = MAY_10 + 3 * DAY_MS;
    bastion_tenant_plan tp = plan_now("active", "price_pro", end);
    bastion_ctx cx;
    assert_int_equal(use(&cx, "acme", &tp, BASTION_FEATURE_AI_MATCHING), BASTION_OK);
    const tkv_call *inc = tkv_last(TKV_INCREMENT);
    assert_string_equal(inc->key, "usage:ai_matching:1715601600000:acme");
    assert_int_equal(inc->ttl_ms, 3 * DAY_MS + USAGE_LINGER_MS);
    assert_non_null(tkv_only("usage:ai_matching:"));
    assert_int_equal(tkv_count(TKV_INCREMENT), 1);
    bastion_tenant_plan next = plan_now("active", "price_pro", end + 30 * DAY_MS);
    assert_int_equal(used("acme", &next, BASTION_FEATURE_AI_MATCHING), 0);
    assert_int_equal(used("acme", &tp, BASTION_FEATURE_AI_MATCHING), 1);
}

/* release gives one use back, when the action it paid for failed. */
static void test_release_gives_a_use_back(void **state)
{
    (void)state;
    bastion_tenant_plan tp = plan_now("active", "price_team", MAY_10 + DAY_MS);
    bastion_ctx cx;
    use(&cx, "acme", &tp, BASTION_FEATURE_ASSESSMENTS);
    use(&cx, "acme", &tp, BASTION_FEATURE_ASSESSMENTS);
    unit_ctx(&cx);
    bastion_plan_release(&cx, "assessments", BASTION_LIT("acme"), &tp, BASTION_FEATURE_ASSESSMENTS);
    assert_false(cx.responded);
    assert_int_equal(used("acme", &tp, BASTION_FEATURE_ASSESSMENTS), 1);
    /* a store failure while giving back is logged, never answered */
    tkv.fail_mask = 1u << TKV_INCREMENT;
    size_t logs = fake.n_logs;
    bastion_plan_release(&cx, "assessments", BASTION_LIT("acme"), &tp, BASTION_FEATURE_ASSESSMENTS);
    assert_false(cx.responded);
    assert_int_equal(fake.n_logs, logs + 1);
    assert_non_null(strstr(fake.logs[logs].msg, "not given back"));
}

/* REL1: a failing counter store is 503/504, never "allowed" and never 0. */
static void test_REL1_usage_store_failures(void **state)
{
    (void)state;
    bastion_tenant_plan tp = plan_now("active", "price_pro", MAY_10 + DAY_MS);
    bastion_ctx cx;
    tkv.fail_mask = 1u << TKV_INCREMENT;
    assert_int_equal(use(&cx, "acme", &tp, BASTION_FEATURE_ASSESSMENTS), BASTION_E_UNAVAILABLE);
    cJSON_Delete(unit_assert_problem(&cx, 503, "unavailable"));
    tkv.fail_mask = 1u << TKV_GET;
    tkv.fail_rc = BASTION_HOST_TIMEOUT;
    int64_t n = -1;
    unit_ctx(&cx);
    assert_int_equal(bastion_plan_used_or_problem(&cx, "assessments", BASTION_LIT("acme"), &tp,
                                                  BASTION_FEATURE_ASSESSMENTS, &n),
                     BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kv_model_matches_host_semantics, setup),
        cmocka_unit_test_setup(test_plan_table_lookup, setup),
        cmocka_unit_test_setup(test_AUTH5_no_subscription_is_free, setup),
        cmocka_unit_test_setup(test_price_mapping, setup),
        cmocka_unit_test_setup(test_REL8_bad_price_map_is_500_for_everyone, setup),
        cmocka_unit_test_setup(test_statuses_paying_and_free, setup),
        cmocka_unit_test_setup(test_ended_period_is_free, setup),
        cmocka_unit_test_setup(test_paying_subscription_is_read_first, setup),
        cmocka_unit_test_setup(test_DATA2_free_period_is_the_utc_month, setup),
        cmocka_unit_test_setup(test_REL1_store_and_row_failures, setup),
        cmocka_unit_test_setup(test_CONC2_usage_increment_first_with_give_back, setup),
        cmocka_unit_test_setup(test_usage_is_per_period, setup),
        cmocka_unit_test_setup(test_release_gives_a_use_back, setup),
        cmocka_unit_test_setup(test_REL1_usage_store_failures, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
