/*
 * Shopify webhooks for the SMS app (HOOK2-HOOK4, AUTH5) and its tenant
 * register.
 *
 *   POST /api/webhooks/shopify  a delivery: X-Shopify-Hmac-Sha256, -Shop-Domain,
 *                               -Webhook-Id, -Topic; the body is the topic's resource
 *   POST /api/admin/tenants     {"shop_domain"} (admin JWT): installs a shop, 201
 *
 * A delivery passes, in order: the HMAC over the raw body (401, before any
 * parsing), the tenant — X-Shopify-Shop-Domain, lower-case
 * <name>.myshopify.com and an installed row of tenants (401 otherwise, also
 * once uninstalled) — the X-Shopify-Webhook-Id (400), the topic's structure
 * (400 with errors[]), then the exactly-once ledger (webhook_event.h).
 *
 *   customers/create, customers/update  the customer → a contact
 *   orders/create                       the order's customer (else the order's
 *                                       phone and email) → a contact
 *   app/uninstalled                     the tenant becomes uninstalled; its campaigns not
 *                                       yet sent are cancelled and their credits released
 *   anything else                       200 {"received":true,"ignored":true}
 *
 * Contacts are keyed by (tenant, phone): a customer without a phone is
 * answered 200 {"processed":true,"skipped":"no phone"}. opted_in is SMS
 * consent only: sms_marketing_consent.state "subscribed" is 1, any other
 * state 0; email consent never counts (consent is per channel), and a
 * payload without SMS consent leaves a known contact's as it was (a new
 * one starts at 0). What the payload carries replaces the stored value,
 * what it lacks keeps it: an order without the customer's tags keeps them.
 *
 * The ledger's event id is "<shop>/<X-Shopify-Webhook-Id>": Shopify's ids
 * are global, but scoping them by tenant keeps even the ledger inside one
 * (AUTH5) and lets a shop's rows be found by its domain.
 */
#include <math.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB       "shop"
#define KV       "webhooks"
#define PROVIDER "shopify"

#define SHOP_SUFFIX    ".myshopify.com"
#define SHOP_LABEL_MAX 63  /* a DNS label (RFC 1035 §2.3.4) */
#define WEBHOOK_ID_MAX 128 /* with the shop, the ledger id stays within its 255 */
#define TOPIC_MAX      255

/* --- the tenant --- */

/* ^[a-z0-9][a-z0-9-]*\.myshopify\.com$, the name at most one DNS label. */
static bool shop_domain_ok(bastion_str s)
{
    size_t suffix = sizeof SHOP_SUFFIX - 1;
    if (!s.ptr || s.len <= suffix || s.len - suffix > SHOP_LABEL_MAX ||
        !bastion_str_eq((bastion_str){s.ptr + s.len - suffix, suffix}, BASTION_LIT(SHOP_SUFFIX)))
        return false;
    for (size_t i = 0; i < s.len - suffix; i++) {
        char c = s.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0))
            return false;
    }
    return true;
}

static bastion_rc not_installed(bastion_ctx *cx)
{
    return bastion_problem(cx, BASTION_E_UNAUTHORIZED, "The shop is not installed.");
}

/*
 * HOOK2, AUTH5: the HMAC covers the body only, so the shop header is a
 * claim; it counts only when it names an installed tenant, and everything
 * after this runs for that tenant alone.
 */
static bastion_rc tenant_or_problem(bastion_ctx *cx, bastion_str *shop)
{
    *shop = bastion_header_get(cx, "x-shopify-shop-domain");
    if (!shop_domain_ok(*shop))
        return bastion_problem(cx, BASTION_E_UNAUTHORIZED,
                               "X-Shopify-Shop-Domain must name a shop as "
                               "<name>.myshopify.com, in lower case.");
    bastion_sql_value p[] = {BASTION_SQL_STR(*shop)};
    bastion_rows rows;
    bastion_rc rc =
        bastion_sql_query_or_problem(cx, DB, "SELECT status FROM tenants WHERE shop_domain = $1", p,
                                     BASTION_COUNTOF(p), &rows, "tenant lookup");
    if (rc)
        return rc;
    if (rows.n_rows == 0)
        return not_installed(cx);
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str status = bastion_row_text(&row, 0);
    if ((rc = bastion_row_or_problem(cx, &row, "tenant lookup")))
        return rc;
    return bastion_str_eq(status, BASTION_LIT("installed")) ? BASTION_OK : not_installed(cx);
}

/* --- events --- */

typedef struct {
    bastion_str shop, event_id, topic;
} delivery;

/* The most statements an event's effect takes: the uninstall's four. */
#define EFFECT_MAX 4

/*
 * HOOK3: claims the event, runs `effect[0..n)` (n 0: nothing to change) in
 * one transaction with the ledger's done mark, and answers 200 with
 * `extra`'s members. A lost guard (the tenant was uninstalled meanwhile) is
 * the tenant check's 401; any other failure is recorded and answered 5xx,
 * so Shopify retries.
 */
static void process(bastion_ctx *cx, const delivery *d, const bastion_sql_stmt *effect, size_t n,
                    const char *what, cJSON *extra)
{
    bastion_webhook_event ev;
    if (bastion_webhook_event_begin_or_problem(cx, KV, DB, PROVIDER, d->event_id, d->topic, &ev))
        return;
    if (n == 0) {
        bastion_webhook_event_done(cx, &ev, false);
    } else {
        bastion_sql_value done_p[3];
        bastion_sql_stmt stmts[EFFECT_MAX + 1];
        memcpy(stmts, effect, n * sizeof *effect);
        stmts[n] = bastion_webhook_event_done_stmt(&ev, done_p);
        bastion_rows out[EFFECT_MAX + 1];
        bastion_host_rc hrc = bastion_sql_transaction(cx, DB, stmts, n + 1, out);
        if (hrc != BASTION_HOST_OK) {
            /* the problem first: it logs the host's text, which fail's own calls replace */
            if (hrc == BASTION_HOST_GUARD)
                not_installed(cx);
            else
                bastion_host_fail_or_problem(cx, hrc, what);
            bastion_str why = hrc == BASTION_HOST_GUARD
                                  ? BASTION_LIT("the shop is not installed")
                                  : bastion_sprintf("%s: " BASTION_STR_FMT, what,
                                                    BASTION_STR_ARG(bastion_host_rc_name(hrc)));
            bastion_webhook_event_fail(cx, &ev, bastion_str_dup(why));
            return;
        }
        bastion_webhook_event_done(cx, &ev, true);
    }
    bastion_header f[] = {{BASTION_LIT("shop"), d->shop},
                          {BASTION_LIT("topic"), d->topic},
                          {BASTION_LIT("event"), d->event_id}};
    bastion_log_safe(BASTION_LOG_INFO, "shopify event processed", f, BASTION_COUNTOF(f));
    cJSON_AddBoolToObject(extra, "processed", true);
    bastion_webhook_respond_received(cx, extra);
}

/* --- customers and orders → contacts --- */

static const bastion_field consent_fields[] = {
    {.name = "state",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED | BASTION_LOWERCASE,
     .min = 1,
     .max = 64},
};

/* A Shopify customer, as the customers topics send it and orders carry it. */
enum { C_EMAIL, C_FIRST_NAME, C_PHONE, C_TAGS, C_SMS, N_CUSTOMER };
static const bastion_field customer_fields[N_CUSTOMER] = {
    [C_EMAIL] = {.name = "email", .type = BASTION_FIELD_EMAIL, .max = 254},
    [C_FIRST_NAME] = {.name = "first_name", .type = BASTION_FIELD_STRING, .max = 255},
    [C_PHONE] = {.name = "phone", .type = BASTION_FIELD_PHONE},
    [C_TAGS] = {.name = "tags", .type = BASTION_FIELD_STRING}, /* "a, b": split below */
    [C_SMS] = {.name = "sms_marketing_consent",
               .type = BASTION_FIELD_OBJECT,
               .fields = consent_fields,
               .n_fields = BASTION_COUNTOF(consent_fields)},
};

enum { O_EMAIL, O_PHONE, O_CUSTOMER, N_ORDER };
static const bastion_field order_fields[N_ORDER] = {
    [O_EMAIL] = {.name = "email", .type = BASTION_FIELD_EMAIL, .max = 254},
    [O_PHONE] = {.name = "phone", .type = BASTION_FIELD_PHONE},
    [O_CUSTOMER] = {.name = "customer",
                    .type = BASTION_FIELD_OBJECT,
                    .fields = customer_fields,
                    .n_fields = N_CUSTOMER},
};

/*
 * Every resource's "id" (HOOK4). Shopify ids are 64-bit, past the 2^53 of
 * the core's INTEGER rule (a double holds them only roughly), and nothing
 * here uses them, so an id is checked for what it is: one member, a positive
 * whole JSON number. `obj` is skipped unless it is an object (its own rule
 * reports that).
 */
static void id_check(const cJSON *obj, const char *pointer, cJSON *errors)
{
    if (!cJSON_IsObject(obj))
        return;
    const cJSON *m, *id = NULL;
    int seen = 0;
    cJSON_ArrayForEach(m, obj)
    {
        if (strcmp(m->string, "id") == 0 && seen++ == 0)
            id = m;
    }
    const char *why = NULL;
    if (seen > 1)
        why = "appears more than once";
    else if (!id || cJSON_IsNull(id))
        why = "is required";
    else if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
             id->valuedouble != floor(id->valuedouble))
        why = "must be a positive integer";
    if (why)
        bastion_error_add(errors, pointer, why);
}

/* Shopify writes "" where it has no email or phone (an order without an
 * email): absent, not malformed. `obj` may be anything. */
static void blanks_absent(cJSON *obj)
{
    static const char *const NAMES[] = {"email", "phone", "first_name"};
    if (!cJSON_IsObject(obj))
        return;
    for (size_t i = 0; i < BASTION_COUNTOF(NAMES); i++) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, NAMES[i]));
        if (s && s[strspn(s, " \t\r\n")] == '\0')
            cJSON_ReplaceItemInObjectCaseSensitive(obj, NAMES[i], cJSON_CreateNull());
    }
}

/* What an event says about a contact; .ptr NULL: the event does not say. */
typedef struct {
    bastion_str phone; /* E.164; NULL: no contact */
    bastion_str email; /* lower-cased */
    bastion_str first_name;
    bool has_tags; /* the event says which tags (perhaps none) */
    bastion_tags tags;
    int consent; /* 1 subscribed, 0 another state, -1 not said */
} contact;

/* Shopify's tags are one comma list ("vip, wholesale"); a contact's are the
 * trimmed, non-empty, distinct tags in their order (contacts.h). NULL, or
 * the detail for the tags member. */
static const char *tags_from_list(bastion_str list, bastion_tags *out)
{
    bastion_str rest = list, t;
    const char *why;
    while (bastion_list_next(&rest, &t))
        if ((why = bastion_tags_add(out, t)))
            return why;
    return NULL;
}

/* The contact of a customer (its values, or NULL) at `at` in the event,
 * falling back to the email and phone of the order around it. */
static void contact_from(const bastion_field_value *cust, const char *at, bastion_str email,
                         bastion_str phone, contact *c, cJSON *errors)
{
    *c = (contact){.phone = phone, .email = email, .consent = -1};
    if (!cust)
        return;
    if (cust[C_PHONE].present)
        c->phone = cust[C_PHONE].str;
    if (cust[C_EMAIL].present)
        c->email = cust[C_EMAIL].str;
    if (cust[C_FIRST_NAME].present && cust[C_FIRST_NAME].str.len)
        c->first_name = cust[C_FIRST_NAME].str;
    const char *why;
    c->has_tags = cust[C_TAGS].present;
    if (c->has_tags && (why = tags_from_list(cust[C_TAGS].str, &c->tags)))
        bastion_error_add(errors, bastion_str_dup(bastion_sprintf("%s/tags", at)), why);
    if (cust[C_SMS].present)
        c->consent = bastion_str_eq(cust[C_SMS].object[0].str, BASTION_LIT("subscribed"));
}

static bastion_sql_value str_or_null(bastion_str s)
{
    return s.ptr ? BASTION_SQL_STR(s) : BASTION_SQL_NULLV;
}

/*
 * One upsert per contact, keyed by (tenant, phone) and guarded by the
 * tenant's installation in the same statement (AUTH5): a tenant that was
 * uninstalled between the check and the commit changes nothing.
 */
static void upsert_contact(bastion_ctx *cx, const delivery *d, const contact *c)
{
    cJSON *extra = cJSON_CreateObject();
    if (!c->phone.ptr) {
        cJSON_AddStringToObject(extra, "skipped", "no phone");
        process(cx, d, NULL, 0, NULL, extra);
        return;
    }
    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No contact id could be generated.");
        return;
    }
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(d->shop),
        BASTION_SQL_STR(c->phone),
        str_or_null(c->email),
        str_or_null(c->first_name),
        c->consent < 0 ? BASTION_SQL_NULLV : BASTION_SQL_INT(c->consent),
        c->has_tags ? BASTION_SQL_STR(bastion_tags_json(&c->tags)) : BASTION_SQL_NULLV,
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    bastion_sql_stmt st[3];
    st[0] = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO contacts (id, tenant, phone, email, first_name, opted_in, tags, "
        "created_at, updated_at) "
        "SELECT $1, $2, $3, CAST($4 AS TEXT), CAST($5 AS TEXT), "
        "COALESCE(CAST($6 AS BIGINT), 0), COALESCE(CAST($7 AS TEXT), '[]'), $8, $8 "
        "WHERE EXISTS (SELECT 1 FROM tenants WHERE shop_domain = $2 AND status = 'installed') "
        "ON CONFLICT (tenant, phone) DO UPDATE SET "
        "email = COALESCE(excluded.email, contacts.email), "
        "first_name = COALESCE(excluded.first_name, contacts.first_name), "
        "opted_in = COALESCE(CAST($6 AS BIGINT), contacts.opted_in), "
        "tags = COALESCE(CAST($7 AS TEXT), contacts.tags), updated_at = excluded.updated_at "
        "WHERE contacts.tenant = $2",
        p);
    size_t n = 1; /* tags the event does not name stay as they were */
    if (c->has_tags)
        n += bastion_contact_tags_stmts(d->shop, c->phone, &c->tags, &st[1]);
    process(cx, d, st, n, "contact upsert", extra);
}

static void on_customer(bastion_ctx *cx, const delivery *d, cJSON *root)
{
    blanks_absent(root);
    bastion_field_value in[N_CUSTOMER];
    cJSON *errors = cJSON_CreateArray();
    bastion_event_fields(root, "", customer_fields, N_CUSTOMER, in, errors);
    id_check(root, "/id", errors);
    contact c;
    contact_from(in, "", BASTION_STR_NULL, BASTION_STR_NULL, &c, errors);
    if (bastion_event_errors_or_problem(cx, errors)) /* HOOK4 */
        return;
    upsert_contact(cx, d, &c);
}

static void on_order(bastion_ctx *cx, const delivery *d, cJSON *root)
{
    blanks_absent(root);
    blanks_absent(cJSON_GetObjectItemCaseSensitive(root, "customer"));
    bastion_field_value in[N_ORDER];
    cJSON *errors = cJSON_CreateArray();
    bastion_event_fields(root, "", order_fields, N_ORDER, in, errors);
    id_check(root, "/id", errors);
    id_check(cJSON_GetObjectItemCaseSensitive(root, "customer"), "/customer/id", errors);
    contact c;
    contact_from(in[O_CUSTOMER].present ? in[O_CUSTOMER].object : NULL, "/customer",
                 in[O_EMAIL].str, in[O_PHONE].str, &c, errors);
    if (bastion_event_errors_or_problem(cx, errors)) /* HOOK4 */
        return;
    upsert_contact(cx, d, &c);
}

/* --- app/uninstalled --- */

enum { S_DOMAIN, N_SHOP };
static const bastion_field shop_fields[N_SHOP] = {
    [S_DOMAIN] = {.name = "myshopify_domain",
                  .type = BASTION_FIELD_STRING,
                  .flags = BASTION_REQUIRED,
                  .min = 1,
                  .max = 255},
};

/* The body is the shop itself: it must be the shop the header names, so a
 * signed uninstall of one shop cannot be replayed against another. */
static void on_uninstalled(bastion_ctx *cx, const delivery *d, cJSON *root)
{
    bastion_field_value in[N_SHOP];
    cJSON *errors = cJSON_CreateArray();
    bastion_event_fields(root, "", shop_fields, N_SHOP, in, errors);
    id_check(root, "/id", errors);
    if (bastion_event_errors_or_problem(cx, errors)) /* HOOK4 */
        return;
    if (!bastion_str_eq_ci(in[S_DOMAIN].str, d->shop)) {
        bastion_problem(cx, BASTION_E_UNAUTHORIZED,
                        "The event names another shop than X-Shopify-Shop-Domain.");
        return;
    }
    /* The tenant, and with it what the campaigns function holds for it:
     * campaigns not yet sent are cancelled, their queued recipients failed
     * and their credits released, all with the ledger's mark. */
    bastion_sql_value p[] = {BASTION_SQL_STR(d->shop), BASTION_SQL_INT((int64_t)bastion_now_ms())};
    const bastion_sql_stmt st[] = {
        BASTION_SQL_CHANGE_ONE("UPDATE tenants SET status = 'uninstalled', uninstalled_at = $2, "
                               "updated_at = $2 WHERE shop_domain = $1 AND status = 'installed'",
                               p),
        {.sql = "UPDATE credit_reservations SET status = 'released', updated_at = $2 "
                "WHERE tenant = $1 AND status = 'active'",
         .params = p,
         .n_params = BASTION_COUNTOF(p)},
        {.sql = "UPDATE campaign_recipients SET status = 'failed', error = 'campaign cancelled', "
                "updated_at = $2 WHERE status = 'queued' AND campaign_id IN (SELECT id FROM "
                "campaigns WHERE tenant = $1 AND status IN ('draft', 'sending'))",
         .params = p,
         .n_params = BASTION_COUNTOF(p)},
        {.sql = "UPDATE campaigns SET status = 'cancelled', cancelled_at = $2, updated_at = $2 "
                "WHERE tenant = $1 AND status IN ('draft', 'sending')",
         .params = p,
         .n_params = BASTION_COUNTOF(p)},
    };
    _Static_assert(BASTION_COUNTOF(st) <= EFFECT_MAX, "EFFECT_MAX holds the uninstall");
    process(cx, d, st, BASTION_COUNTOF(st), "tenant uninstall", cJSON_CreateObject());
}

/* --- POST /api/webhooks/shopify --- */

typedef void (*topic_fn)(bastion_ctx *cx, const delivery *d, cJSON *root);
static const struct {
    const char *topic;
    topic_fn fn;
} TOPICS[] = {
    {"customers/create", on_customer},
    {"customers/update", on_customer},
    {"orders/create", on_order},
    {"app/uninstalled", on_uninstalled},
};

/* 1..max printable ASCII, as the ledger stores ids and types. */
static bool header_ok(bastion_str s, size_t max)
{
    if (!s.ptr || s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

static void webhook(bastion_ctx *cx)
{
    static const char *const NEEDED[] = {"shopify_api_secret"};
    if (bastion_config_require_or_problem(cx, NEEDED, BASTION_COUNTOF(NEEDED)))
        return;
    bastion_str secret = bastion_config("shopify_api_secret");
    if (bastion_webhook_shopify_or_problem(cx, &secret, 1)) /* HOOK2: before any parsing */
        return;
    delivery d;
    if (tenant_or_problem(cx, &d.shop))
        return;
    bastion_str webhook_id = bastion_header_get(cx, "x-shopify-webhook-id");
    if (!header_ok(webhook_id, WEBHOOK_ID_MAX)) {
        bastion_problem(cx, BASTION_E_BAD_REQUEST,
                        "X-Shopify-Webhook-Id is required: 1-128 printable ASCII characters.");
        return;
    }
    d.topic = bastion_header_get(cx, "x-shopify-topic");
    if (!header_ok(d.topic, TOPIC_MAX)) {
        bastion_problem(cx, BASTION_E_BAD_REQUEST,
                        "X-Shopify-Topic is required: 1-255 printable ASCII characters.");
        return;
    }
    d.event_id = bastion_sprintf(BASTION_STR_FMT "/" BASTION_STR_FMT, BASTION_STR_ARG(d.shop),
                                 BASTION_STR_ARG(webhook_id));
    for (size_t i = 0; i < BASTION_COUNTOF(TOPICS); i++) {
        if (!bastion_str_eq(d.topic, bastion_cstr(TOPICS[i].topic)))
            continue;
        cJSON *root;
        if (bastion_event_body_or_problem(cx, &root))
            return;
        TOPICS[i].fn(cx, &d, root);
        return;
    }
    bastion_webhook_respond_ignored(cx);
}

/* --- POST /api/admin/tenants --- */

static const bastion_field tenant_fields[] = {
    {.name = "shop_domain",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED | BASTION_LOWERCASE,
     .min = 1,
     .max = 255},
};

/* A new shop, or one uninstalled before (installed again, its contacts
 * kept); an installed one is 409. One guarded statement decides. */
static void install(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    if (bastion_auth_admin_or_problem(cx, &claims)) /* AUTH1: before the body */
        return;
    bastion_field_value in[BASTION_COUNTOF(tenant_fields)];
    if (bastion_parse_json_or_problem(cx, tenant_fields, BASTION_COUNTOF(tenant_fields), in))
        return;
    if (!shop_domain_ok(in[0].str)) {
        bastion_field_problem(cx, "/shop_domain",
                              "must be a shop domain such as acme.myshopify.com");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(in[0].str), BASTION_SQL_INT(now)};
    bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO tenants (shop_domain, status, installed_at, uninstalled_at, updated_at) "
        "VALUES ($1, 'installed', $2, NULL, $2) ON CONFLICT (shop_domain) DO UPDATE SET "
        "status = 'installed', installed_at = $2, uninstalled_at = NULL, updated_at = $2 "
        "WHERE tenants.status = 'uninstalled'",
        p);
    bastion_rows out;
    if (bastion_sql_change_or_problem(cx, DB, &st, &out, BASTION_E_CONFLICT,
                                      "The shop is already installed.", "tenant install"))
        return;
    char installed[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(now, installed);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "shop_domain", bastion_str_dup(in[0].str));
    cJSON_AddStringToObject(body, "status", "installed");
    cJSON_AddStringToObject(body, "installed_at", installed);
    bastion_respond_json(cx, 201, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/webhooks/shopify", webhook},
    {"POST", "/api/admin/tenants", install},
};
BASTION_ROUTES(routes);
