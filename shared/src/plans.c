/*
 * The plan table, a tenant's plan from its subscription, and usage counters
 * (see plans.h).
 */
#include <string.h>

#include "bastion/calendar.h"
#include "bastion/host.h"
#include "bastion/list.h"
#include "bastion/log.h"
#include "bastion/plans.h"
#include "bastion/rows.h"

const char *const BASTION_FEATURE_STORES[BASTION_FEATURE__COUNT] = {
    [BASTION_FEATURE_ASSESSMENTS] = "assessments",
    [BASTION_FEATURE_AI_MATCHING] = "jobs",
};

const char *const BASTION_FEATURE_NAMES[BASTION_FEATURE__COUNT + 1] = {"assessments", "ai_matching",
                                                                       NULL};

/* Every number of every plan, here and nowhere else. */
static const bastion_plan PLANS[] = {
    {"free", {[BASTION_FEATURE_ASSESSMENTS] = 5, [BASTION_FEATURE_AI_MATCHING] = 0}},
    {"pro", {[BASTION_FEATURE_ASSESSMENTS] = 100, [BASTION_FEATURE_AI_MATCHING] = 50}},
    {"team", {[BASTION_FEATURE_ASSESSMENTS] = 1000, [BASTION_FEATURE_AI_MATCHING] = 500}},
};

/* A retained count outlives its period by a week, then lapses. */
#define USAGE_LINGER_MS (7 * BASTION_MS_PER_DAY)

/* see plans.h */
const bastion_plan *bastion_plan_named(bastion_str name)
{
    for (size_t i = 0; i < BASTION_COUNTOF(PLANS); i++)
        if (bastion_str_eq(name, bastion_cstr(PLANS[i].name)))
            return &PLANS[i];
    return NULL;
}

/* The first instant of the next UTC month. */
static int64_t month_end_ms(int64_t now_ms)
{
    int64_t y;
    unsigned m, d;
    bastion_civil_from_days(bastion_day_of_ms(now_ms), &y, &m, &d);
    if (++m > 12) {
        m = 1;
        y++;
    }
    return bastion_days_from_civil(y, m, 1) * BASTION_MS_PER_DAY;
}

/*
 * REL8: billing_plan_prices ("price_123=pro, price_456=team") is checked
 * whole on every read, whatever the tenant's price: a member that is not
 * "<price id>=<plan>" with a plan of the table is a 500 for every tenant at
 * once, never a silent "free" for some and a 500 for others. *plan is the
 * plan mapped to `price` (NULL when `price` is NULL or unmapped).
 */
static bastion_rc price_plan_or_problem(bastion_ctx *cx, const bastion_str *price,
                                        const bastion_plan **plan)
{
    *plan = NULL;
    bastion_str rest = bastion_config("billing_plan_prices"), item;
    while (bastion_list_next(&rest, &item)) {
        const char *eq = memchr(item.ptr, '=', item.len);
        size_t at = eq ? (size_t)(eq - item.ptr) : 0;
        bastion_str id = bastion_trim_ows((bastion_str){item.ptr, at});
        const bastion_plan *p =
            eq ? bastion_plan_named(bastion_trim_ows((bastion_str){eq + 1, item.len - at - 1}))
               : NULL;
        if (!id.len || !p)
            return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                                   "Variable billing_plan_prices must be price_id=plan pairs, "
                                   "each naming a plan that exists.");
        if (price && !*plan && bastion_str_eq(id, *price))
            *plan = p;
    }
    return BASTION_OK;
}

/* The statuses in which a subscription pays for its plan, once for C and SQL. */
#define PAYING_SQL "'active', 'trialing', 'past_due'"
static bool paying(bastion_str status)
{
    return bastion_str_eq(status, BASTION_LIT("active")) ||
           bastion_str_eq(status, BASTION_LIT("trialing")) ||
           bastion_str_eq(status, BASTION_LIT("past_due"));
}

/* see plans.h */
bastion_rc bastion_tenant_plan_or_problem(bastion_ctx *cx, bastion_str tenant,
                                          bastion_tenant_plan *out)
{
    memset(out, 0, sizeof *out);
    int64_t now = (int64_t)bastion_now_ms();
    out->plan = &PLANS[0];
    out->status = BASTION_LIT("none");
    out->period_end_ms = month_end_ms(now);
    out->has_period_end = true;
    /* A paying subscription in its period wins over any other, however new:
     * a tenant that moved to a new subscription, whose old one's deletion
     * event came later, still has the plan it pays for. */
    bastion_sql_value p[] = {BASTION_SQL_STR(tenant), BASTION_SQL_INT(now)};
    bastion_rows rows;
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, "billing",
        "SELECT stripe_subscription_id, status, price_id, current_period_end, "
        "cancel_at_period_end FROM subscriptions WHERE tenant = $1 ORDER BY "
        "CASE WHEN status IN (" PAYING_SQL ") AND current_period_end > $2 THEN 0 ELSE 1 END, "
        "event_created DESC, updated_at DESC LIMIT 1",
        p, BASTION_COUNTOF(p), &rows, "subscription read");
    if (rc)
        return rc;
    const bastion_plan *plan;
    if (rows.n_rows == 0)
        return price_plan_or_problem(cx, NULL, &plan); /* REL8 holds without one too */
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str id = bastion_row_text(&row, 0);
    bastion_str status = bastion_row_text(&row, 1);
    bastion_str price;
    bool has_price = bastion_row_text_opt(&row, 2, &price);
    int64_t end;
    bool has_end = bastion_row_int_opt(&row, 3, &end);
    bool cancel = bastion_row_bool(&row, 4);
    if ((rc = bastion_row_or_problem(cx, &row, "subscription read")))
        return rc;
    out->subscription_id = id;
    out->status = status;
    out->cancel_at_period_end = cancel;
    out->has_subscription_period_end = has_end;
    out->subscription_period_end_ms = has_end ? end : 0;
    if ((rc = price_plan_or_problem(cx, has_price ? &price : NULL, &plan)))
        return rc;
    if (plan && paying(status) && (!has_end || end > now)) {
        out->plan = plan;
        out->has_period_end = has_end;
        out->period_end_ms = has_end ? end : out->period_end_ms;
    }
    return BASTION_OK;
}

static bastion_str usage_key(bastion_str tenant, const bastion_tenant_plan *tp, bastion_feature f)
{
    return bastion_sprintf("usage:%s:%lld:" BASTION_STR_FMT, BASTION_FEATURE_NAMES[f],
                           (long long)tp->period_end_ms, BASTION_STR_ARG(tenant));
}

static uint64_t usage_ttl(const bastion_tenant_plan *tp)
{
    int64_t left = tp->period_end_ms - (int64_t)bastion_now_ms();
    return (uint64_t)(left > 0 ? left : 0) + USAGE_LINGER_MS;
}

/* see plans.h */
bastion_rc bastion_plan_used_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant,
                                        const bastion_tenant_plan *tp, bastion_feature f,
                                        int64_t *used)
{
    *used = 0;
    bastion_str v;
    bool found;
    bastion_host_rc rc = bastion_kv_get(cx, store, usage_key(tenant, tp, f), &v, &found);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "plan usage read");
    int64_t n = 0;
    for (size_t i = 0; found && i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++)
        n = n * 10 + (v.ptr[i] - '0');
    *used = n;
    return BASTION_OK;
}

/* see plans.h */
bastion_rc bastion_plan_use_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant,
                                       const bastion_tenant_plan *tp, bastion_feature f)
{
    int64_t count;
    bastion_host_rc rc =
        bastion_kv_increment(cx, store, usage_key(tenant, tp, f), 1, usage_ttl(tp), &count);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "plan usage count");
    if (count <= (int64_t)tp->plan->limits[f])
        return BASTION_OK;
    bastion_plan_release(cx, store, tenant, tp, f);
    return bastion_problem(cx, BASTION_E_CONFLICT, "plan limit reached");
}

/* see plans.h */
void bastion_plan_release(bastion_ctx *cx, const char *store, bastion_str tenant,
                          const bastion_tenant_plan *tp, bastion_feature f)
{
    int64_t count;
    if (bastion_kv_increment(cx, store, usage_key(tenant, tp, f), -1, usage_ttl(tp), &count) !=
        BASTION_HOST_OK) {
        bastion_header h[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_ERROR, "plan usage not given back", h, BASTION_COUNTOF(h));
    }
}
