/*
 * Stripe webhooks: order payments and subscription state, each event's
 * side effects at most once.
 *
 *   POST /api/webhooks/stripe            a Stripe event, signed (Stripe-Signature)
 *   POST /api/admin/billing/customers    {"stripe_customer_id", "tenant"}      (admin JWT)
 *
 * HOOK1: the signature is checked over the raw body with every secret in
 * stripe_webhook_secrets (a comma list; during a rotation the old and the
 * new one) before a byte is parsed: 401, no side effect. HOOK4: the envelope
 * (id evt_…, type, created, data.object), then the fields the event's type
 * needs; members nobody reads are ignored; 400 with errors[] otherwise. A
 * type not handled here is 200 {"received":true,"ignored":true}, nothing
 * claimed or stored. HOOK3: the ledger (webhook_event.h) claims the event id
 * in kv and records each attempt in billing.webhook_events; a duplicate is
 * 200 {"received":true,"duplicate":true}. HOOK5: an order or customer not
 * known is 500 unresolved-reference (transient, retryable), recorded, the
 * claim released, so Stripe's retry succeeds once it exists. HOOK6: a store
 * failure is recorded too and answered 503/504 within the 10 s deadline.
 *
 * checkout.session.completed with metadata.kind "order" pays
 * metadata.order_id, with "credits" completes a credit purchase (below); any
 * other kind is ignored. An order's answer is {"received", "outcome", …}:
 *   "paid"         it was pending: the guarded pending → paid UPDATE, the
 *                  order_payments row and the confirmation's outbox row commit
 *                  in one transaction on db orders (CONC5), then the email is
 *                  awaited (REL4: "email_sent", "email_error"; a failed send
 *                  stays in orders.email_failures and the event is still 200).
 *   "already_paid" this Checkout Session paid it: a redelivery after the
 *                  payment committed and before the ledger said so. No second
 *                  email: the outbox row committed with the payment covers a
 *                  send that never happened.
 *   "not_pending"  paid by another session, cancelled, refunded…: recorded as
 *                  processed with a warning in the log. No retry can change
 *                  it, so a 5xx would only make Stripe retry for three days;
 *                  what to do with the money is a person's decision.
 * metadata.kind "credits" completes metadata.purchase_id (campaigns' credit
 * purchases, db shop) for metadata.tenant:
 *   "credited"     it was pending (or failed: the payment API's answer was
 *                  lost, the customer paid anyway): the guarded
 *                  pending|failed → completed UPDATE and balance += credits
 *                  commit in one transaction (CONC5); of any number of
 *                  deliveries, or of events naming one purchase, one credits.
 *   "already_completed"  completed before: nothing changes.
 *   "mismatch"     the session's amount, currency or tenant is not the
 *                  purchase's: nothing credited, recorded as processed with
 *                  a warning (a person decides; a retry cannot change it).
 * A purchase not known is HOOK5's 500, as an unknown order is.
 * customer.subscription.created|updated|deleted upserts the subscription for
 * its customer's tenant together with the ledger's mark (one transaction on
 * db billing). An event older (`created`) than the stored state changes
 * nothing ("outcome":"stale"); a tie is applied, so of two events in the
 * same second the later delivery wins. deleted stores status canceled.
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define KV       "webhooks" /* event claims and the email breaker */
#define BILLING  "billing"  /* the ledger, customers, subscriptions */
#define ORDERS   "orders"   /* orders, order_payments, their email outbox */
#define SHOP     "shop"     /* campaigns' credit purchases and the tenants' credits */
#define PROVIDER "stripe"

#define MAX_CENTS  INT64_C(9007199254740991) /* 2^53 - 1, the schema's bound */
#define MAX_UNIX_S INT64_C(253402300799)     /* 9999-12-31T23:59:59Z */

static const bastion_email_sender MAIL = {ORDERS, KV};

/* --- the event (HOOK4) --- */

static const bastion_field DATA_RULES[] = {
    {.name = "object", .type = BASTION_FIELD_OBJECT, .flags = BASTION_REQUIRED},
};
enum { E_ID, E_TYPE, E_CREATED, E_DATA, N_EVENT };
static const bastion_field EVENT_RULES[N_EVENT] = {
    [E_ID] = {.name = "id",
              .type = BASTION_FIELD_SLUG,
              .flags = BASTION_REQUIRED,
              .min = 5,
              .max = BASTION_WEBHOOK_ID_MAX},
    [E_TYPE] = {.name = "type",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                .min = 1,
                .max = 255},
    [E_CREATED] = {.name = "created",
                   .type = BASTION_FIELD_INTEGER,
                   .flags = BASTION_REQUIRED,
                   .max = MAX_UNIX_S},
    [E_DATA] = {.name = "data",
                .type = BASTION_FIELD_OBJECT,
                .flags = BASTION_REQUIRED,
                .fields = DATA_RULES,
                .n_fields = BASTION_COUNTOF(DATA_RULES)},
};

typedef struct {
    bastion_str id, type;
    int64_t created;     /* Stripe's `created`, Unix seconds */
    const cJSON *object; /* data.object, checked per type */
} stripe_event;

/* Stripe's ids are "<prefix>_" and [A-Za-z0-9_] (the SLUG rule did the rest). */
static bool stripe_id(bastion_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len > n && memcmp(s.ptr, prefix, n) == 0;
}

static void id_error(cJSON *errors, const bastion_field_value *v, const char *prefix,
                     const char *pointer)
{
    char detail[48];
    snprintf(detail, sizeof detail, "must be a Stripe id starting %s", prefix);
    if (v->present && !stripe_id(v->str, prefix))
        bastion_error_add(errors, pointer, detail);
}

/* The event is claimed: this failure, already answered (its status), is
 * recorded and the claim given back so that Stripe's retry can succeed. */
static void failed(bastion_ctx *cx, bastion_webhook_event *ev, const char *what)
{
    char why[96];
    snprintf(why, sizeof why, "%s (%u)", what, (unsigned)cx->status);
    bastion_webhook_event_fail(cx, ev, why);
}

/* HOOK5: what the event names (`what`: "order", …) is not known, perhaps not
 * yet: 500 unresolved-reference, which Stripe retries, recorded and the claim
 * given back so that the retry can succeed once it exists. */
static void unresolved(bastion_ctx *cx, bastion_webhook_event *ev, const char *what)
{
    char detail[96], why[48];
    snprintf(detail, sizeof detail, "The %s this event is for is not known (yet); retry later.",
             what);
    snprintf(why, sizeof why, "unknown %s", what);
    bastion_problem(cx, BASTION_E_UNRESOLVED, detail);
    failed(cx, ev, why);
}

static void respond_outcome(bastion_ctx *cx, const char *outcome, const bastion_email_result *r)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "outcome", outcome);
    if (r)
        bastion_email_result_json(extra, r);
    bastion_webhook_respond_received(cx, extra);
}

/* --- checkout.session.completed: an order paid --- */

static const bastion_field KIND_META[] = {
    {.name = "kind", .type = BASTION_FIELD_STRING, .min = 1, .max = 64},
};
static const bastion_field KIND_RULES[] = {
    {.name = "metadata",
     .type = BASTION_FIELD_OBJECT,
     .fields = KIND_META,
     .n_fields = BASTION_COUNTOF(KIND_META)},
};
static const bastion_field ORDER_META[] = {
    /* the orders table's id rule */
    {.name = "order_id",
     .type = BASTION_FIELD_SLUG,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = 64},
};
static const bastion_field DETAILS[] = {
    {.name = "email", .type = BASTION_FIELD_EMAIL, .min = 3, .max = 254},
};
/* What every kind of completed Checkout Session carries. */
#define SESSION_ID_RULE                                                                            \
    {.name = "id", .type = BASTION_FIELD_SLUG, .flags = BASTION_REQUIRED, .min = 4, .max = 255}
#define SESSION_AMOUNT_RULE                                                                        \
    {.name = "amount_total",                                                                       \
     .type = BASTION_FIELD_INTEGER,                                                                \
     .flags = BASTION_REQUIRED,                                                                    \
     .max = MAX_CENTS}
#define SESSION_CURRENCY_RULE                                                                      \
    {.name = "currency",                                                                           \
     .type = BASTION_FIELD_STRING,                                                                 \
     .flags = BASTION_REQUIRED,                                                                    \
     .min = 3,                                                                                     \
     .max = 3}

enum { C_ID, C_AMOUNT, C_CURRENCY, C_DETAILS, C_EMAIL, C_META, N_CHECKOUT };
static const bastion_field CHECKOUT_RULES[N_CHECKOUT] = {
    [C_ID] = SESSION_ID_RULE,
    [C_AMOUNT] = SESSION_AMOUNT_RULE,
    [C_CURRENCY] = SESSION_CURRENCY_RULE,
    [C_DETAILS] = {.name = "customer_details",
                   .type = BASTION_FIELD_OBJECT,
                   .fields = DETAILS,
                   .n_fields = BASTION_COUNTOF(DETAILS)},
    [C_EMAIL] = {.name = "customer_email", .type = BASTION_FIELD_EMAIL, .min = 3, .max = 254},
    [C_META] = {.name = "metadata",
                .type = BASTION_FIELD_OBJECT,
                .flags = BASTION_REQUIRED,
                .fields = ORDER_META,
                .n_fields = BASTION_COUNTOF(ORDER_META)},
};

/* ISO 4217 is three letters; Stripe sends them lower-case, the orders
 * schema keeps them upper-case. Upper-cases the arena copy in place. */
static bool currency_normalise(bastion_str s)
{
    char *p = (char *)s.ptr;
    for (size_t i = 0; i < s.len; i++) {
        if (p[i] >= 'a' && p[i] <= 'z')
            p[i] = (char)(p[i] - 32);
        if (p[i] < 'A' || p[i] > 'Z')
            return false;
    }
    return true;
}

/* The order as the payment finds it; `paid_by` is NULL without a payment. */
typedef struct {
    bastion_str status, paid_by;
} order_state;

/* The one row `sql` finds for $1 = id, in *row (reading *rows), and whether
 * there is one; a store failure is answered (logged under `what`). */
static bastion_rc row_by_id_or_problem(bastion_ctx *cx, const char *db, const char *sql,
                                       bastion_str id, const char *what, bastion_rows *rows,
                                       bastion_row *row, bool *found)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(id)};
    bastion_rc rc = bastion_sql_query_or_problem(cx, db, sql, p, BASTION_COUNTOF(p), rows, what);
    *found = rc == BASTION_OK && rows->n_rows > 0;
    if (*found)
        *row = bastion_row_at(rows, 0);
    return rc;
}

static bastion_rc order_or_problem(bastion_ctx *cx, bastion_str id, bool *found, order_state *o)
{
    bastion_rows rows;
    bastion_row row;
    bastion_rc rc =
        row_by_id_or_problem(cx, ORDERS,
                             "SELECT o.status, p.checkout_session_id FROM orders o "
                             "LEFT JOIN order_payments p ON p.order_id = o.id WHERE o.id = $1",
                             id, "order lookup", &rows, &row, found);
    if (!*found)
        return rc;
    o->status = bastion_row_text(&row, 0);
    bastion_row_text_opt(&row, 1, &o->paid_by);
    return bastion_row_or_problem(cx, &row, "order lookup");
}

/* A Checkout Session's own checks, for every kind. */
static void session_errors(cJSON *errors, const bastion_field_value *id,
                           const bastion_field_value *currency)
{
    id_error(errors, id, "cs_", "/data/object/id");
    if (currency->present && !currency_normalise(currency->str))
        bastion_error_add(errors, "/data/object/currency", "must be three letters (ISO 4217)");
}

static void order_paid(bastion_ctx *cx, const stripe_event *e, cJSON *errors)
{
    bastion_field_value in[N_CHECKOUT];
    bastion_event_fields(e->object, "/data/object", CHECKOUT_RULES, N_CHECKOUT, in, errors);
    session_errors(errors, &in[C_ID], &in[C_CURRENCY]);
    const bastion_field_value *email = in[C_DETAILS].present && in[C_DETAILS].object[0].present
                                           ? &in[C_DETAILS].object[0]
                                           : &in[C_EMAIL];
    if (!email->present && cJSON_GetArraySize(errors) == 0)
        bastion_error_add(errors, "/data/object/customer_details/email",
                          "is required (or /data/object/customer_email)");
    if (bastion_event_errors_or_problem(cx, errors))
        return;
    bastion_str order_id = in[C_META].object[0].str, session = in[C_ID].str;

    bastion_webhook_event ev;
    if (bastion_webhook_event_begin_or_problem(cx, KV, BILLING, PROVIDER, e->id, e->type, &ev))
        return;
    bool found;
    order_state o;
    if (order_or_problem(cx, order_id, &found, &o)) {
        failed(cx, &ev, "order lookup failed");
        return;
    }
    if (!found) {
        unresolved(cx, &ev, "order");
        return;
    }
    if (!bastion_str_eq(o.status, BASTION_LIT("pending"))) {
        bool ours = o.paid_by.ptr && bastion_str_eq(o.paid_by, session);
        bastion_header f[] = {{BASTION_LIT("order"), order_id}, {BASTION_LIT("status"), o.status}};
        if (!ours)
            bastion_log_safe(BASTION_LOG_WARN, "checkout completed for an order not pending", f,
                             BASTION_COUNTOF(f));
        bastion_webhook_event_done(cx, &ev, false);
        respond_outcome(cx, ours ? "already_paid" : "not_pending", NULL);
        return;
    }

    /* CONC5: the state change, the payment and the outbox row, or nothing.
     * The guard decides a race with another event paying the same order. */
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value upd[] = {BASTION_SQL_STR(order_id), BASTION_SQL_INT(now)};
    bastion_sql_value pay[] = {BASTION_SQL_STR(order_id), BASTION_SQL_STR(session),
                               BASTION_SQL_INT(in[C_AMOUNT].integer),
                               BASTION_SQL_STR(in[C_CURRENCY].str), BASTION_SQL_INT(now)};
    const bastion_sql_stmt changes[] = {
        BASTION_SQL_CHANGE_ONE("UPDATE orders SET status = 'paid', updated_at = $2 "
                               "WHERE id = $1 AND status = 'pending'",
                               upd),
        BASTION_SQL_CHANGE_ONE("INSERT INTO order_payments (order_id, checkout_session_id, "
                               "amount_total_cents, currency, paid_at) VALUES ($1, $2, $3, $4, $5)",
                               pay),
    };
    bastion_email m = {
        .kind = "order-paid",
        .to = email->str,
        .subject = bastion_sprintf("Payment received for order " BASTION_STR_FMT,
                                   BASTION_STR_ARG(order_id)),
        .text = bastion_sprintf("Thank you: we received your payment for order " BASTION_STR_FMT
                                ".\n\nPayment reference: " BASTION_STR_FMT "\n",
                                BASTION_STR_ARG(order_id), BASTION_STR_ARG(session)),
    };
    bastion_email_result sent;
    if (bastion_email_with_changes_or_problem(
            cx, &MAIL, changes, BASTION_COUNTOF(changes), &m,
            "The order changed while this payment was applied; a retry will see its state.",
            &sent)) {
        failed(cx, &ev, "order payment not committed");
        return;
    }
    bastion_webhook_event_done(cx, &ev, false); /* the ledger is in billing, the effect in orders */
    bastion_header paid[] = {{BASTION_LIT("order"), order_id},
                             {BASTION_LIT("email_sent"), bastion_bool_str(sent.sent)}};
    bastion_log_safe(BASTION_LOG_INFO, "order paid", paid, BASTION_COUNTOF(paid));
    respond_outcome(cx, "paid", &sent);
}

/* --- checkout.session.completed, kind "credits": a credit purchase paid --- */

static const bastion_field CREDITS_META[] = {
    {.name = "purchase_id", .type = BASTION_FIELD_UUID, .flags = BASTION_REQUIRED},
    /* the tenant claim as campaigns sent it; compared, never trusted alone */
    {.name = "tenant",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
     .min = 1,
     .max = 77},
};
enum { K_ID, K_AMOUNT, K_CURRENCY, K_META, N_CREDITS };
static const bastion_field CREDITS_RULES[N_CREDITS] = {
    [K_ID] = SESSION_ID_RULE,
    [K_AMOUNT] = SESSION_AMOUNT_RULE,
    [K_CURRENCY] = SESSION_CURRENCY_RULE,
    [K_META] = {.name = "metadata",
                .type = BASTION_FIELD_OBJECT,
                .flags = BASTION_REQUIRED,
                .fields = CREDITS_META,
                .n_fields = BASTION_COUNTOF(CREDITS_META)},
};

/* The purchase as the payment finds it; `session` is NULL when the payment
 * API's answer never arrived. */
typedef struct {
    bastion_str tenant, status, currency, session;
    int64_t credits, amount_cents;
} purchase_state;

static bastion_rc purchase_or_problem(bastion_ctx *cx, bastion_str id, bool *found,
                                      purchase_state *p)
{
    bastion_rows rows;
    bastion_row row;
    bastion_rc rc = row_by_id_or_problem(
        cx, SHOP,
        "SELECT tenant, status, currency, checkout_session_id, credits, amount_cents "
        "FROM credit_purchases WHERE id = $1",
        id, "purchase lookup", &rows, &row, found);
    if (!*found)
        return rc;
    p->tenant = bastion_row_text(&row, 0);
    p->status = bastion_row_text(&row, 1);
    p->currency = bastion_row_text(&row, 2);
    bastion_row_text_opt(&row, 3, &p->session);
    p->credits = bastion_row_int(&row, 4);
    p->amount_cents = bastion_row_int(&row, 5);
    return bastion_row_or_problem(cx, &row, "purchase lookup");
}

/* Why this session cannot complete the purchase, or NULL when it can. */
static const char *purchase_mismatch(const purchase_state *p, bastion_str tenant,
                                     bastion_str session, const bastion_field_value *in)
{
    if (!bastion_str_eq(p->tenant, tenant))
        return "tenant";
    if (p->session.ptr && !bastion_str_eq(p->session, session))
        return "checkout session";
    if (in[K_AMOUNT].integer != p->amount_cents)
        return "amount";
    if (!bastion_str_eq_ci(p->currency, in[K_CURRENCY].str)) /* shop keeps Stripe's lower case */
        return "currency";
    return NULL;
}

static void respond_credits(bastion_ctx *cx, const char *outcome, bastion_str id)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "outcome", outcome);
    cJSON_AddStringToObject(extra, "purchase_id", bastion_str_dup(id));
    bastion_webhook_respond_received(cx, extra);
}

static void credits_paid(bastion_ctx *cx, const stripe_event *e, cJSON *errors)
{
    bastion_field_value in[N_CREDITS];
    bastion_event_fields(e->object, "/data/object", CREDITS_RULES, N_CREDITS, in, errors);
    session_errors(errors, &in[K_ID], &in[K_CURRENCY]);
    if (bastion_event_errors_or_problem(cx, errors))
        return;
    bastion_str id = in[K_META].object[0].str, tenant = in[K_META].object[1].str,
                session = in[K_ID].str;

    bastion_webhook_event ev;
    if (bastion_webhook_event_begin_or_problem(cx, KV, BILLING, PROVIDER, e->id, e->type, &ev))
        return;
    bool found;
    purchase_state p;
    if (purchase_or_problem(cx, id, &found, &p)) {
        failed(cx, &ev, "purchase lookup failed");
        return;
    }
    if (!found) {
        unresolved(cx, &ev, "credit purchase");
        return;
    }
    if (bastion_str_eq(p.status, BASTION_LIT("completed"))) {
        bastion_webhook_event_done(cx, &ev, false);
        respond_credits(cx, "already_completed", id);
        return;
    }
    const char *differs = purchase_mismatch(&p, tenant, session, in);
    if (differs) {
        bastion_header f[] = {{BASTION_LIT("purchase"), id},
                              {BASTION_LIT("differs"), bastion_cstr(differs)}};
        bastion_log_safe(BASTION_LOG_WARN, "checkout completed does not match its purchase", f,
                         BASTION_COUNTOF(f));
        bastion_webhook_event_done(cx, &ev, false);
        respond_credits(cx, "mismatch", id);
        return;
    }

    /* CONC5: the purchase completed and its credits added, or neither. The
     * guard decides a race with another event completing the same purchase. */
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value done[] = {BASTION_SQL_STR(id), BASTION_SQL_STR(session),
                                BASTION_SQL_INT(now)};
    bastion_sql_value add[] = {BASTION_SQL_STR(p.tenant), BASTION_SQL_INT(p.credits),
                               BASTION_SQL_INT(now)};
    const bastion_sql_stmt st[] = {
        BASTION_SQL_CHANGE_ONE("UPDATE credit_purchases SET status = 'completed', "
                               "checkout_session_id = $2, error = NULL, completed_at = $3, "
                               "updated_at = $3 WHERE id = $1 AND status IN ('pending', 'failed')",
                               done),
        BASTION_SQL_CHANGE_ONE("INSERT INTO credit_accounts (tenant, balance, updated_at) "
                               "VALUES ($1, $2, $3) ON CONFLICT (tenant) DO UPDATE SET "
                               "balance = credit_accounts.balance + excluded.balance, "
                               "updated_at = excluded.updated_at",
                               add),
    };
    bastion_rows out[BASTION_COUNTOF(st)];
    bastion_host_rc hrc = bastion_sql_transaction(cx, SHOP, st, BASTION_COUNTOF(st), out);
    if (hrc == BASTION_HOST_GUARD && bastion_sql_guard_failed() == 1) {
        /* another event completed it between the read and this write */
        bastion_webhook_event_done(cx, &ev, false);
        respond_credits(cx, "already_completed", id);
        return;
    }
    if (hrc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, hrc, "credits purchase completion");
        failed(cx, &ev, "credits not added");
        return;
    }
    bastion_webhook_event_done(cx, &ev, false); /* the ledger is in billing, the effect in shop */
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)p.credits);
    bastion_header f[] = {{BASTION_LIT("purchase"), id},
                          {BASTION_LIT("tenant"), p.tenant},
                          {BASTION_LIT("credits"), bastion_cstr(n)}};
    bastion_log_safe(BASTION_LOG_INFO, "credits purchased", f, BASTION_COUNTOF(f));
    respond_credits(cx, "credited", id);
}

static void checkout_completed(bastion_ctx *cx, const stripe_event *e)
{
    cJSON *errors = cJSON_CreateArray();
    bastion_field_value kind[BASTION_COUNTOF(KIND_RULES)];
    bastion_event_fields(e->object, "/data/object", KIND_RULES, BASTION_COUNTOF(KIND_RULES), kind,
                         errors);
    if (bastion_event_errors_or_problem(cx, errors))
        return;
    bastion_str k =
        kind[0].present && kind[0].object[0].present ? kind[0].object[0].str : BASTION_STR_NULL;
    if (bastion_str_eq(k, BASTION_LIT("order")))
        order_paid(cx, e, errors);
    else if (bastion_str_eq(k, BASTION_LIT("credits")))
        credits_paid(cx, e, errors);
    else
        bastion_webhook_respond_ignored(cx); /* another kind of checkout: not ours */
}

/* --- customer.subscription.*: a tenant's subscription state --- */

static const char *const STATUSES[] = {
    "incomplete", "incomplete_expired", "trialing", "active",
    "past_due",   "canceled",           "unpaid",   "paused",
    NULL,
};
static const bastion_field ID_RULE[] = {
    {.name = "id", .type = BASTION_FIELD_STRING, .min = 1, .max = 255},
};
enum { I_PRICE, I_PLAN, I_PERIOD_END, N_ITEM };
static const bastion_field ITEM_RULES[N_ITEM] = {
    [I_PRICE] = {.name = "price",
                 .type = BASTION_FIELD_OBJECT,
                 .fields = ID_RULE,
                 .n_fields = BASTION_COUNTOF(ID_RULE)},
    [I_PLAN] = {.name = "plan",
                .type = BASTION_FIELD_OBJECT,
                .fields = ID_RULE,
                .n_fields = BASTION_COUNTOF(ID_RULE)},
    /* where API versions from 2025-03-31 put it */
    [I_PERIOD_END] = {.name = "current_period_end",
                      .type = BASTION_FIELD_INTEGER,
                      .max = MAX_UNIX_S},
};
enum { S_ID, S_CUSTOMER, S_STATUS, S_PERIOD_END, S_CANCEL_AT_END, N_SUB };
static const bastion_field SUB_RULES[N_SUB] = {
    [S_ID] =
        {.name = "id", .type = BASTION_FIELD_SLUG, .flags = BASTION_REQUIRED, .min = 5, .max = 255},
    [S_CUSTOMER] = {.name = "customer",
                    .type = BASTION_FIELD_SLUG,
                    .flags = BASTION_REQUIRED,
                    .min = 5,
                    .max = 255},
    [S_STATUS] = {.name = "status",
                  .type = BASTION_FIELD_ENUM,
                  .flags = BASTION_REQUIRED,
                  .choices = STATUSES},
    [S_PERIOD_END] = {.name = "current_period_end",
                      .type = BASTION_FIELD_INTEGER,
                      .max = MAX_UNIX_S},
    [S_CANCEL_AT_END] = {.name = "cancel_at_period_end",
                         .type = BASTION_FIELD_BOOL,
                         .flags = BASTION_REQUIRED},
};

/* The first price or plan id of items.data[0], and the period end from the
 * subscription or (newer API versions) that item; errors under their
 * pointers. */
static void first_item(const stripe_event *e, const bastion_field_value *sub, cJSON *errors,
                       bastion_str *price, int64_t *period_end)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(e->object, "items"), "data");
    bastion_field_value it[N_ITEM];
    bastion_event_fields(cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL,
                         "/data/object/items/data/0", ITEM_RULES, N_ITEM, it, errors);
    if (it[I_PRICE].present && it[I_PRICE].object[0].present)
        *price = it[I_PRICE].object[0].str;
    else if (it[I_PLAN].present && it[I_PLAN].object[0].present)
        *price = it[I_PLAN].object[0].str; /* subscriptions from before Prices */
    else
        bastion_error_add(errors, "/data/object/items/data/0/price/id",
                          "is required (or /data/object/items/data/0/plan/id)");
    if (sub[S_PERIOD_END].present || it[I_PERIOD_END].present)
        *period_end =
            sub[S_PERIOD_END].present ? sub[S_PERIOD_END].integer : it[I_PERIOD_END].integer;
    else
        bastion_error_add(errors, "/data/object/current_period_end",
                          "is required (or /data/object/items/data/0/current_period_end)");
}

static void subscription_changed(bastion_ctx *cx, const stripe_event *e)
{
    cJSON *errors = cJSON_CreateArray();
    bastion_field_value in[N_SUB];
    bastion_event_fields(e->object, "/data/object", SUB_RULES, N_SUB, in, errors);
    id_error(errors, &in[S_ID], "sub_", "/data/object/id");
    id_error(errors, &in[S_CUSTOMER], "cus_", "/data/object/customer");
    bastion_str price = BASTION_STR_NULL;
    int64_t period_end = 0;
    first_item(e, in, errors, &price, &period_end);
    if (bastion_event_errors_or_problem(cx, errors))
        return;
    bool deleted = bastion_str_eq(e->type, BASTION_LIT("customer.subscription.deleted"));
    bastion_str status = deleted ? BASTION_LIT("canceled") : in[S_STATUS].str;

    bastion_webhook_event ev;
    if (bastion_webhook_event_begin_or_problem(cx, KV, BILLING, PROVIDER, e->id, e->type, &ev))
        return;
    bastion_sql_value who[] = {BASTION_SQL_STR(in[S_CUSTOMER].str)};
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, BILLING,
                                     "SELECT tenant FROM stripe_customers "
                                     "WHERE stripe_customer_id = $1",
                                     who, BASTION_COUNTOF(who), &rows, "customer lookup")) {
        failed(cx, &ev, "customer lookup failed");
        return;
    }
    if (rows.n_rows == 0) {
        unresolved(cx, &ev, "customer");
        return;
    }
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str tenant = bastion_row_text(&row, 0);
    if (bastion_row_or_problem(cx, &row, "customer lookup")) {
        failed(cx, &ev, "customer lookup failed");
        return;
    }

    /* Out of order: a row written from a newer event is never overwritten;
     * the ledger's mark commits with the state either way. */
    bastion_sql_value up[] = {
        BASTION_SQL_STR(in[S_ID].str),
        BASTION_SQL_STR(tenant),
        BASTION_SQL_STR(in[S_CUSTOMER].str),
        BASTION_SQL_STR(status),
        BASTION_SQL_STR(price),
        BASTION_SQL_INT(period_end * 1000),
        BASTION_SQL_INT(in[S_CANCEL_AT_END].boolean),
        BASTION_SQL_INT(e->created),
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    bastion_sql_value mark[3];
    const bastion_sql_stmt st[] = {
        {.sql = "INSERT INTO subscriptions (stripe_subscription_id, tenant, stripe_customer_id, "
                "status, price_id, current_period_end, cancel_at_period_end, event_created, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (stripe_subscription_id) DO UPDATE SET tenant = excluded.tenant, "
                "stripe_customer_id = excluded.stripe_customer_id, status = excluded.status, "
                "price_id = excluded.price_id, current_period_end = excluded.current_period_end, "
                "cancel_at_period_end = excluded.cancel_at_period_end, "
                "event_created = excluded.event_created, updated_at = excluded.updated_at "
                "WHERE subscriptions.event_created <= excluded.event_created",
         .params = up,
         .n_params = BASTION_COUNTOF(up)},
        bastion_webhook_event_done_stmt(&ev, mark),
    };
    bastion_rows out[BASTION_COUNTOF(st)];
    bastion_host_rc hrc = bastion_sql_transaction(cx, BILLING, st, BASTION_COUNTOF(st), out);
    if (hrc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, hrc, "subscription upsert");
        failed(cx, &ev, "subscription not stored");
        return;
    }
    bastion_webhook_event_done(cx, &ev, true);
    respond_outcome(cx, out[0].changes ? "applied" : "stale", NULL);
}

/* --- POST /api/webhooks/stripe --- */

static const struct {
    const char *event_type;
    void (*handle)(bastion_ctx *cx, const stripe_event *e);
} HANDLED[] = {
    {"checkout.session.completed", checkout_completed},
    {"customer.subscription.created", subscription_changed},
    {"customer.subscription.updated", subscription_changed},
    {"customer.subscription.deleted", subscription_changed},
};

static void receive(bastion_ctx *cx)
{
    bastion_str secrets[BASTION_WEBHOOK_MAX_SECRETS];
    size_t n_secrets;
    if (bastion_webhook_secrets_or_problem(cx, "stripe_webhook_secrets", secrets, &n_secrets))
        return;
    if (bastion_webhook_stripe_or_problem(cx, secrets, n_secrets)) /* HOOK1: before parsing */
        return;
    cJSON *root, *errors = cJSON_CreateArray();
    if (bastion_event_body_or_problem(cx, &root))
        return;
    bastion_field_value in[N_EVENT];
    bastion_event_fields(root, "", EVENT_RULES, N_EVENT, in, errors);
    id_error(errors, &in[E_ID], "evt_", "/id");
    if (bastion_event_errors_or_problem(cx, errors))
        return;
    const stripe_event e = {
        .id = in[E_ID].str,
        .type = in[E_TYPE].str,
        .created = in[E_CREATED].integer,
        .object = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"),
                                                   "object"),
    };
    for (size_t i = 0; i < BASTION_COUNTOF(HANDLED); i++) {
        if (bastion_str_eq(e.type, bastion_cstr(HANDLED[i].event_type))) {
            HANDLED[i].handle(cx, &e);
            return;
        }
    }
    bastion_webhook_respond_ignored(cx);
}

/* --- POST /api/admin/billing/customers --- */

enum { A_CUSTOMER, A_TENANT, N_ADMIN };
static const bastion_field CUSTOMER_RULES[N_ADMIN] = {
    [A_CUSTOMER] = {.name = "stripe_customer_id",
                    .type = BASTION_FIELD_SLUG,
                    .flags = BASTION_REQUIRED,
                    .min = 5,
                    .max = 255},
    /* a slug or a shop domain (acme.myshopify.com), as the tenant claims */
    [A_TENANT] = {.name = "tenant",
                  .type = BASTION_FIELD_STRING,
                  .flags = BASTION_REQUIRED | BASTION_LOWERCASE,
                  .min = 1,
                  .max = 64},
};

static bool tenant_ok(bastion_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void add_customer(bastion_ctx *cx)
{
    bastion_jwt_claims admin;
    if (bastion_auth_admin_or_problem(cx, &admin)) /* AUTH1: before the body */
        return;
    cJSON *errors = cJSON_CreateArray();
    bastion_field_value in[N_ADMIN];
    if (bastion_parse_json_collect_or_problem(cx, CUSTOMER_RULES, N_ADMIN, in, errors))
        return;
    if (in[A_CUSTOMER].present && !stripe_id(in[A_CUSTOMER].str, "cus_"))
        bastion_error_add(errors, "/stripe_customer_id", "must be a Stripe id starting cus_");
    if (in[A_TENANT].present && !tenant_ok(in[A_TENANT].str))
        bastion_error_add(errors, "/tenant", "may contain only letters, digits, '.', '_' and '-'");
    if (bastion_errors_or_problem(cx, errors))
        return;
    bastion_sql_value p[] = {BASTION_SQL_STR(in[A_CUSTOMER].str), BASTION_SQL_STR(in[A_TENANT].str),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_sql_stmt add = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO stripe_customers (stripe_customer_id, tenant, created_at) "
        "VALUES ($1, $2, $3) ON CONFLICT (stripe_customer_id) DO NOTHING",
        p);
    bastion_rows rows;
    if (bastion_sql_change_or_problem(cx, BILLING, &add, &rows, BASTION_E_CONFLICT,
                                      "This Stripe customer already belongs to a tenant.",
                                      "customer insert"))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "stripe_customer_id", bastion_str_dup(in[A_CUSTOMER].str));
    cJSON_AddStringToObject(body, "tenant", bastion_str_dup(in[A_TENANT].str));
    bastion_respond_json(cx, 201, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/webhooks/stripe", receive},
    {"POST", "/api/admin/billing/customers", add_customer},
};
BASTION_ROUTES(routes);
