/*
 * Plans and their limits, in one table for every function (the billing
 * function reports them, assessments enforce them). A tenant's plan comes
 * from its subscription (table subscriptions in database "billing", written
 * by the stripe-webhook function): a subscription that is active, trialing
 * or past_due, whose price id the variable billing_plan_prices maps to a
 * plan ("price_123=pro,price_456=team"), gives that plan for its billing
 * period (up to current_period_end). Anything else — no subscription, a
 * canceled or unpaid one, an unmapped price — is "free", whose period is
 * the calendar month in UTC. Of several subscriptions, one paying within its
 * period wins, then the newest (event_created, then updated_at).
 *
 * Usage is counted per (tenant, feature, period) in kv, increment-first as
 * rate limits are (CONC2): of N concurrent uses at the limit exactly the
 * allowed number pass, and a refused or failed use gives its count back.
 */
#ifndef BASTION_PLANS_H
#define BASTION_PLANS_H

#include "core.h"
#include "problem.h"

typedef enum {
    BASTION_FEATURE_ASSESSMENTS = 0, /* invitations sent per period */
    BASTION_FEATURE_AI_MATCHING,     /* matching runs per period */
    BASTION_FEATURE__COUNT
} bastion_feature;

/* "assessments", "ai_matching", NULL: for BASTION_FIELD_ENUM rules. */
extern const char *const BASTION_FEATURE_NAMES[BASTION_FEATURE__COUNT + 1];

/*
 * The kv store each feature's uses are counted in: the store of the function
 * that counts them (assessments: the assessments function; ai_matching: the
 * jobs function's matching runs: a contract for that function, not built
 * yet). Stores are namespaces, so a function that reads a feature's usage
 * (billing) is granted that store too; the name is agreed here, once.
 */
extern const char *const BASTION_FEATURE_STORES[BASTION_FEATURE__COUNT];

typedef struct {
    const char *name;
    uint32_t limits[BASTION_FEATURE__COUNT];
} bastion_plan;

/* The plan table's row for `name`, or NULL. */
const bastion_plan *bastion_plan_named(bastion_str name);

typedef struct {
    const bastion_plan *plan;
    bastion_str status;          /* the subscription's status, or "none" */
    bastion_str subscription_id; /* .ptr NULL without a subscription */
    int64_t period_end_ms;       /* the current period's end (exclusive) */
    bool has_period_end;         /* false only for a subscription without one */
    bool cancel_at_period_end;
    /* The subscription's own current_period_end, paying or not (for display;
     * the plan's period is period_end_ms above). */
    int64_t subscription_period_end_ms;
    bool has_subscription_period_end;
} bastion_tenant_plan;

/* Reads the tenant's subscription from database "billing" (the function
 * must be granted it) and decides its plan and period as above. 5xx on store
 * failures; 500 misconfigured (REL8) when any member of billing_plan_prices
 * is not "<price id>=<plan>" naming a plan of the table, whatever the
 * tenant's own price, and with no subscription too. Strings in *out live in
 * the request arena. */
bastion_rc bastion_tenant_plan_or_problem(bastion_ctx *cx, bastion_str tenant,
                                          bastion_tenant_plan *out);

/* The uses of `f` counted in the tenant's current period (kv `store`). */
bastion_rc bastion_plan_used_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant,
                                        const bastion_tenant_plan *tp, bastion_feature f,
                                        int64_t *used);

/* Counts one use of `f`: BASTION_OK when within the plan's limit; 409
 * "plan limit reached" (the count given back) when beyond; 5xx when the
 * store fails. */
bastion_rc bastion_plan_use_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant,
                                       const bastion_tenant_plan *tp, bastion_feature f);

/* Gives back a use that bastion_plan_use_or_problem counted, when the action
 * it paid for failed. A store failure is logged. */
void bastion_plan_release(bastion_ctx *cx, const char *store, bastion_str tenant,
                          const bastion_tenant_plan *tp, bastion_feature f);

#endif
