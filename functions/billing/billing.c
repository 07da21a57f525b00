/*
 * Billing for tenants: the subscription and its plan, cancelling at the
 * period's end through the payment API, and plan checks.
 *
 *   GET  /api/billing/subscription   tenant user   → {"status", "plan", "current_period_end",
 *                                                     "cancel_at_period_end",
 *                                                     "usage": {"assessments_used",
 *                                                               "assessments_limit"}}
 *   POST /api/billing/cancel         tenant admin, X-CSRF-Token → {"status",
 *                                                     "cancel_at_period_end": true}
 *   POST /api/billing/verify         tenant user   {"feature"} → {"feature", "allowed",
 *                                                     "used", "limit"}
 *
 * AUTH5: the tenant is the token's "tenant" claim (403 without one), never
 * the body's. A tenant reads and cancels only its own subscription: one
 * without any — whoever else has one — reads "status": "none", plan "free"
 * and current_period_end null, and cancels 404. The plan, its period and
 * the usage come from plans.h (the subscriptions stripe-webhook writes, the
 * variable billing_plan_prices, the counters of the functions that count).
 *
 * Cancel is the tenant's admin's (role "admin" with the tenant claim; a
 * tenant user gets 403): ending what the tenant pays for is not every
 * member's call. AUTH4: the X-CSRF-Token from GET /api/auth/csrf is consumed
 * first (403 missing or used), before the write limit, so a forged request
 * cannot spend the tenant's writes; then CONC2's tenant_writes_per_minute
 * (429). 404 without a subscription, 409 when it has ended (canceled,
 * incomplete_expired). The payment API (payments.h: REL2, REL3) is asked
 * first, and the row changes only after it confirmed, with an answer naming
 * the subscription with cancel_at_period_end true. Each provider failure has
 * its own answer and leaves the row as it was: 4xx → 502 upstream-refused
 * (not retryable), 5xx or no connection → 502 bad-gateway (retryable), no
 * answer within the budget → 504, breaker open → 503 + Retry-After without a
 * call. Should the local write fail after the provider confirmed (5xx), the
 * customer.subscription.updated event stripe-webhook receives sets the same
 * flag, and a retry is harmless: the provider's change is idempotent.
 *
 * Verify only reads: it counts no use (the counting function does that, with
 * bastion_plan_use_or_problem). "allowed" is used < limit.
 */
#include <string.h>

#include <bastion/bastion.h>

#define DB "billing" /* stripe-webhook's tables: subscriptions, stripe_customers */
#define KV "billing" /* the payments breaker, the tenant write limit */

static const bastion_field verify_fields[] = {
    {.name = "feature",
     .type = BASTION_FIELD_ENUM,
     .flags = BASTION_REQUIRED,
     .choices = BASTION_FEATURE_NAMES},
};

/* Statuses after which nothing is left to cancel (Stripe's terminal ones). */
static bool ended(bastion_str status)
{
    return bastion_str_eq(status, BASTION_LIT("canceled")) ||
           bastion_str_eq(status, BASTION_LIT("incomplete_expired"));
}

/* A stored id goes into the provider's path: only [A-Za-z0-9_-], which
 * stripe-webhook admits, so no stored byte can reshape the URL. */
static bool path_safe(bastion_str id)
{
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return id.len > 0;
}

/* The provider's subscription object confirms the change for `id`. */
static bool confirmed(const cJSON *sub, bastion_str id)
{
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sub, "id"));
    return got && bastion_str_eq(bastion_cstr(got), id) &&
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sub, "cancel_at_period_end"));
}

/* Per-tenant data: no shared cache may keep it (RFC 9111 §5.2.2.5). */
static void respond_private(bastion_ctx *cx, cJSON *body)
{
    bastion_respond_json(cx, 200, body);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

static void subscription(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    bastion_tenant_plan tp;
    int64_t used;
    const bastion_feature f = BASTION_FEATURE_ASSESSMENTS;
    if (bastion_auth_tenant_or_problem(cx, &claims) ||
        bastion_tenant_plan_or_problem(cx, claims.tenant, &tp) ||
        bastion_plan_used_or_problem(cx, BASTION_FEATURE_STORES[f], claims.tenant, &tp, f, &used))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", bastion_str_dup(tp.status));
    cJSON_AddStringToObject(body, "plan", tp.plan->name);
    char end[BASTION_RFC3339_BUF];
    if (tp.subscription_id.ptr && tp.has_subscription_period_end &&
        bastion_format_rfc3339(tp.subscription_period_end_ms, end))
        cJSON_AddStringToObject(body, "current_period_end", end);
    else
        cJSON_AddNullToObject(body, "current_period_end");
    cJSON_AddBoolToObject(body, "cancel_at_period_end", tp.cancel_at_period_end);
    cJSON *usage = cJSON_AddObjectToObject(body, "usage");
    cJSON_AddNumberToObject(usage, "assessments_used", (double)used);
    cJSON_AddNumberToObject(usage, "assessments_limit", tp.plan->limits[f]);
    respond_private(cx, body);
}

static void cancel(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    bastion_tenant_plan tp;
    if (bastion_auth_tenant_admin_or_problem(cx, &claims) ||       /* 401 / 403 */
        bastion_csrf_consume_or_problem(cx, &claims) ||            /* AUTH4: 403 */
        bastion_tenant_writes_or_problem(cx, KV, claims.tenant) || /* CONC2: 429 */
        bastion_tenant_plan_or_problem(cx, claims.tenant, &tp))
        return;
    bastion_str id = tp.subscription_id;
    if (!id.ptr) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "The tenant has no subscription.");
        return;
    }
    if (ended(tp.status)) {
        bastion_problem(cx, BASTION_E_CONFLICT, "The subscription has already ended.");
        return;
    }
    if (!path_safe(id)) {
        bastion_problem(cx, BASTION_E_INTERNAL, "Stored data could not be read.");
        return;
    }
    const bastion_form_field form[] = {{"cancel_at_period_end", BASTION_LIT("true")}};
    /* bastion_sprintf's text is NUL-terminated (core.h): a C string for the path */
    bastion_str path = bastion_sprintf("/v1/subscriptions/" BASTION_STR_FMT, BASTION_STR_ARG(id));
    cJSON *sub;
    if (bastion_payments_post_or_problem(cx, KV, path.ptr, form, BASTION_COUNTOF(form), &sub))
        return;
    if (!confirmed(sub, id)) {
        bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                        "The payment provider did not confirm the cancellation.");
        return;
    }
    /* Only now, and only the tenant's own row (AUTH5). */
    bastion_sql_value p[] = {BASTION_SQL_INT((int64_t)bastion_now_ms()),
                             BASTION_SQL_STR(claims.tenant), BASTION_SQL_STR(id)};
    bastion_sql_stmt change =
        BASTION_SQL_CHANGE_ONE("UPDATE subscriptions SET cancel_at_period_end = 1, updated_at = $1 "
                               "WHERE tenant = $2 AND stripe_subscription_id = $3",
                               p);
    bastion_rows rows;
    if (bastion_sql_change_or_problem(cx, DB, &change, &rows, BASTION_E_CONFLICT,
                                      "The subscription changed while it was being canceled.",
                                      "subscription cancel"))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", bastion_str_dup(tp.status));
    cJSON_AddBoolToObject(body, "cancel_at_period_end", true);
    respond_private(cx, body);
}

static void verify(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    bastion_field_value in[BASTION_COUNTOF(verify_fields)];
    bastion_tenant_plan tp;
    if (bastion_auth_tenant_or_problem(cx, &claims) ||
        bastion_parse_json_or_problem(cx, verify_fields, BASTION_COUNTOF(verify_fields), in) ||
        bastion_tenant_plan_or_problem(cx, claims.tenant, &tp))
        return;
    bastion_feature f = (bastion_feature)in[0].integer;
    int64_t used;
    if (bastion_plan_used_or_problem(cx, BASTION_FEATURE_STORES[f], claims.tenant, &tp, f, &used))
        return;
    uint32_t limit = tp.plan->limits[f];
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "feature", BASTION_FEATURE_NAMES[f]);
    cJSON_AddBoolToObject(body, "allowed", used < (int64_t)limit);
    cJSON_AddNumberToObject(body, "used", (double)used);
    cJSON_AddNumberToObject(body, "limit", limit);
    respond_private(cx, body);
}

static const bastion_route routes[] = {
    {"GET", "/api/billing/subscription", subscription},
    {"POST", "/api/billing/cancel", cancel},
    {"POST", "/api/billing/verify", verify},
};
BASTION_ROUTES(routes);
