/*
 * SMS campaigns for the tenants of the Shopify app: contacts, campaigns,
 * their enqueue with recipients and a credit reservation, and credits.
 *
 *   POST /api/contacts                   {"contacts": [{"phone", "opted_in", "email"?,
 *                                        "first_name"?, "tags"?}]} (1-1000) → 200
 *                                        {"inserted", "updated", "rejected": [{"index", "errors"}]}
 *   GET  /api/contacts                   ?tag&limit&cursor
 *   POST /api/campaigns                  {"name", "message", "audience": {"all": true} |
 *                                        {"tag"}} → 201, a draft
 *   GET  /api/campaigns[/{id}]           ?limit&cursor
 *   POST /api/campaigns/{id}/enqueue     Idempotency-Key required → 202
 *   GET  /api/campaigns/{id}/recipients  ?status&limit&cursor
 *   GET  /api/credits                    {"balance", "reserved", "available"}
 *   POST /api/credits/purchase           {"pack"}, Idempotency-Key required → 201, a checkout
 *
 * AUTH5: the tenant is the token's claim, a shop domain (REQUIREMENTS'
 * clarifications), and every statement names it; another tenant's campaign
 * is 404. Writes also need the shop installed (shopify-webhook's tenants):
 * each write's transaction starts with a guarded touch of the tenant's row,
 * which also serialises a tenant's writes against app/uninstalled and
 * against each other on PostgreSQL (a row lock), so two enqueues cannot
 * both spend the same credits. CONC2: each state-changing request counts
 * one tenant write (tenant_writes_per_minute). CONC4: enqueue and purchase
 * require an Idempotency-Key (idempotency.h). CONC5: the enqueue is one
 * transaction — the campaign draft → sending, its recipients by INSERT …
 * SELECT (never through the module, so its memory does not grow with the
 * audience), the count, and the reservation guarded by balance − active
 * reservations ≥ recipients — or nothing.
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB "shop"
#define KV "campaigns" /* idempotency records, tenant writes, the payments breaker */

#define CONTACTS_MAX       1000
#define RESERVATION_TTL_MS INT64_C(86400000) /* 24 h */

/* Credit packs: credits and their price, the one table of them. */
static const struct pack {
    const char *name;
    int64_t credits, amount_cents;
} PACKS[] = {
    {"100", 100, 1000},
    {"500", 500, 4500},
    {"2500", 2500, 20000},
};
#define CURRENCY "usd"
static const char *const PACK_NAMES[] = {"100", "500", "2500", NULL};

/* The first statement of every write: the shop is installed (and, on
 * PostgreSQL, its row locked until the commit). $1 is the tenant. */
#define TENANT_GUARD                                                                               \
    "UPDATE tenants SET updated_at = updated_at WHERE shop_domain = $1 AND status = 'installed'"

static bastion_rc not_installed(bastion_ctx *cx)
{
    return bastion_problem(cx, BASTION_E_FORBIDDEN, "The app is not installed for this shop.");
}

/*
 * A write for the tenant: st[0] becomes TENANT_GUARD (the caller leaves it
 * free), then st[1..n) run with it in one transaction. BASTION_OK with
 * out[0..n) filled; a lost guard is 403 not installed, any other failure
 * is logged under `what` and answered as bastion_host_fail_or_problem does.
 */
static bastion_rc tenant_write_or_problem(bastion_ctx *cx, bastion_str tenant, bastion_sql_stmt *st,
                                          size_t n, bastion_rows *out, const char *what)
{
    bastion_sql_value *guard = bastion_alloc(sizeof *guard);
    *guard = BASTION_SQL_STR(tenant);
    st[0] = (bastion_sql_stmt){.sql = TENANT_GUARD,
                               .params = guard,
                               .n_params = 1,
                               .has_expect = true,
                               .expect_changes = 1};
    bastion_host_rc hrc = bastion_sql_transaction(cx, DB, st, n, out);
    if (hrc == BASTION_HOST_GUARD && bastion_sql_guard_failed() == 1)
        return not_installed(cx);
    if (hrc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, hrc, what);
    return BASTION_OK;
}

/* A list's cursor scope: its name, the tenant and what narrows it (page.h). */
static bastion_str scope(const char *list, bastion_str tenant, bastion_str narrow)
{
    return bastion_sprintf("%s\n" BASTION_STR_FMT "\n" BASTION_STR_FMT, list,
                           BASTION_STR_ARG(tenant), BASTION_STR_ARG(narrow));
}

/* DATA4: rows strictly after the cursor's (key, id); $2..$4 (page.h) */
#define AFTER(key, id) BASTION_PAGE_AFTER(key, id)

/* Per-tenant data: no shared cache may keep it (RFC 9111 §5.2.2.5). */
static void respond_private(bastion_ctx *cx, uint16_t status, cJSON *body)
{
    bastion_respond_json(cx, status, body);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

/* The pages of a list: keys and ids of up to `n` rows, in the arena. */
typedef struct {
    cJSON *items;
    int64_t *keys;
    bastion_str *ids;
} page_rows;

static page_rows page_rows_new(size_t n)
{
    return (page_rows){cJSON_CreateArray(), bastion_alloc((n + 1) * sizeof(int64_t)),
                       bastion_alloc((n + 1) * sizeof(bastion_str))};
}

/* --- POST /api/contacts --- */

static const bastion_field tag_rule = {
    .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = BASTION_TAG_MAX};
enum { K_PHONE, K_OPTED_IN, K_EMAIL, K_FIRST_NAME, K_TAGS, N_K };
static const bastion_field contact_fields[N_K] = {
    [K_PHONE] = {.name = "phone", .type = BASTION_FIELD_PHONE, .flags = BASTION_REQUIRED},
    /* REQUIREMENTS: consent is explicit */
    [K_OPTED_IN] = {.name = "opted_in", .type = BASTION_FIELD_BOOL, .flags = BASTION_REQUIRED},
    [K_EMAIL] = {.name = "email", .type = BASTION_FIELD_EMAIL, .min = 3, .max = 254},
    [K_FIRST_NAME] = {.name = "first_name", .type = BASTION_FIELD_STRING, .min = 1, .max = 255},
    [K_TAGS] = {.name = "tags",
                .type = BASTION_FIELD_ARRAY,
                .max = BASTION_TAGS_MAX,
                .items = &tag_rule},
};

/* One accepted contact's statements: insert it if new, else update it (the
 * id tells which ran), then its tag rows when it named tags. */
#define STMTS_PER_CONTACT 4

static size_t contact_stmts(bastion_str tenant, const bastion_field_value *in, const char *id,
                            int64_t now, bastion_sql_stmt *out)
{
    bastion_sql_value *p = bastion_alloc(8 * sizeof *p);
    bastion_tags tags = {0};
    for (size_t i = 0; i < in[K_TAGS].n_items; i++)
        bastion_tags_add(&tags, in[K_TAGS].items[i].str); /* bounds checked by the rules */
    p[0] = BASTION_SQL_STR(bastion_cstr(id));
    p[1] = BASTION_SQL_STR(tenant);
    p[2] = BASTION_SQL_STR(in[K_PHONE].str);
    p[3] = in[K_EMAIL].present ? BASTION_SQL_STR(in[K_EMAIL].str) : BASTION_SQL_NULLV;
    p[4] = in[K_FIRST_NAME].present ? BASTION_SQL_STR(in[K_FIRST_NAME].str) : BASTION_SQL_NULLV;
    p[5] = BASTION_SQL_INT(in[K_OPTED_IN].boolean);
    p[6] = in[K_TAGS].present ? BASTION_SQL_STR(bastion_tags_json(&tags)) : BASTION_SQL_NULLV;
    p[7] = BASTION_SQL_INT(now);
    out[0] = (bastion_sql_stmt){
        .sql = "INSERT INTO contacts (id, tenant, phone, email, first_name, opted_in, tags, "
               "created_at, updated_at) VALUES ($1, $2, $3, CAST($4 AS TEXT), CAST($5 AS TEXT), "
               "$6, COALESCE(CAST($7 AS TEXT), '[]'), $8, $8) "
               "ON CONFLICT (tenant, phone) DO NOTHING",
        .params = p,
        .n_params = 8};
    out[1] = (bastion_sql_stmt){
        .sql = "UPDATE contacts SET email = COALESCE(CAST($4 AS TEXT), email), "
               "first_name = COALESCE(CAST($5 AS TEXT), first_name), opted_in = $6, "
               "tags = COALESCE(CAST($7 AS TEXT), tags), updated_at = $8 "
               "WHERE tenant = $2 AND phone = $3 AND id <> $1",
        .params = p,
        .n_params = 8};
    size_t n = 2;
    if (in[K_TAGS].present)
        n += bastion_contact_tags_stmts(tenant, in[K_PHONE].str, &tags, &out[2]);
    return n;
}

/* The element at `i`, checked alone: its errors (full pointers) go to a
 * rejected entry, the rest of the batch is unaffected. */
static bool contact_checked(const cJSON *el, size_t i, bastion_field_value *in,
                            const bastion_field_value *const *accepted, size_t n_accepted,
                            cJSON *rejected)
{
    cJSON *errors = cJSON_CreateArray();
    char at[32];
    snprintf(at, sizeof at, "/contacts/%zu", i);
    bastion_item_fields(el, at, contact_fields, N_K, in, errors);
    for (size_t j = 0; in[K_PHONE].present && j < n_accepted; j++) {
        if (bastion_str_eq(accepted[j][K_PHONE].str, in[K_PHONE].str)) {
            bastion_error_add(errors, bastion_str_dup(bastion_sprintf("%s/phone", at)),
                              "repeats the phone of an earlier contact in this request");
            break;
        }
    }
    if (cJSON_GetArraySize(errors) == 0)
        return true;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "index", (double)i);
    cJSON_AddItemToObject(r, "errors", errors);
    cJSON_AddItemToArray(rejected, r);
    return false;
}

static void import_contacts(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    cJSON *root;
    if (bastion_json_body_or_problem(cx, &root))
        return;
    const cJSON *list = NULL, *m;
    cJSON_ArrayForEach(m, root)
    {
        if (strcmp(m->string, "contacts") != 0 || list) {
            bastion_field_problem(cx, bastion_str_dup(bastion_sprintf("/%s", m->string)),
                                  list && strcmp(m->string, "contacts") == 0
                                      ? "appears more than once"
                                      : "is not a known field");
            return;
        }
        list = m;
    }
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > CONTACTS_MAX) {
        bastion_field_problem(cx, "/contacts", "must be an array of 1 to 1000 contacts");
        return;
    }

    cJSON *rejected = cJSON_CreateArray();
    const bastion_field_value **accepted = bastion_alloc((size_t)n * sizeof *accepted);
    size_t n_accepted = 0;
    bastion_sql_stmt *st = bastion_alloc((1 + (size_t)n * STMTS_PER_CONTACT) * sizeof *st);
    size_t *first = bastion_alloc((size_t)n * sizeof *first); /* each one's insert statement */
    size_t n_st = 1;                                          /* st[0]: the tenant's guard */
    int64_t now = (int64_t)bastion_now_ms();
    for (int i = 0; i < n; i++) {
        bastion_field_value *in = bastion_alloc(N_K * sizeof *in);
        if (!contact_checked(cJSON_GetArrayItem(list, i), (size_t)i, in, accepted, n_accepted,
                             rejected))
            continue;
        char *id = bastion_alloc(37);
        if (bastion_uuid_v4(id) != 0) {
            bastion_problem(cx, BASTION_E_INTERNAL, "No contact id could be generated.");
            return;
        }
        first[n_accepted] = n_st;
        accepted[n_accepted++] = in;
        n_st += contact_stmts(who.tenant, in, id, now, &st[n_st]);
    }

    uint64_t inserted = 0, updated = 0;
    if (n_accepted) {
        bastion_rows *out = bastion_alloc(n_st * sizeof *out);
        if (tenant_write_or_problem(cx, who.tenant, st, n_st, out, "contact import"))
            return;
        for (size_t k = 0; k < n_accepted; k++) {
            inserted += out[first[k]].changes;
            updated += out[first[k] + 1].changes;
        }
    }
    bastion_header f[] = {
        {BASTION_LIT("inserted"), bastion_u64_str(inserted)},
        {BASTION_LIT("updated"), bastion_u64_str(updated)},
        {BASTION_LIT("rejected"), bastion_u64_str((uint64_t)cJSON_GetArraySize(rejected))}};
    bastion_log_safe(BASTION_LOG_INFO, "contacts imported", f, BASTION_COUNTOF(f));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "inserted", (double)inserted);
    cJSON_AddNumberToObject(body, "updated", (double)updated);
    cJSON_AddItemToObject(body, "rejected", rejected);
    respond_private(cx, 200, body);
}

/* --- GET /api/contacts --- */

#define CONTACT_COLS "c.id, c.phone, c.email, c.first_name, c.opted_in, c.tags, c.created_at"

static void list_contacts(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        {.name = "tag", .type = BASTION_FIELD_STRING, .min = 1, .max = BASTION_TAG_MAX},
    };
    bastion_jwt_claims who;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    bastion_page pg;
    bastion_str tag = in[0].present ? in[0].str : BASTION_LIT("");
    if (bastion_page_or_problem(cx, scope("contacts", who.tenant, tag), &pg))
        return;
    bastion_sql_value p[6] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    p[5] = BASTION_SQL_STR(tag);
    /* each on its index: contacts (tenant, created_at, id), contact_tags (tenant, tag, …) */
    const char *sql =
        in[0].present
            ? "SELECT " CONTACT_COLS " FROM contact_tags t JOIN contacts c ON c.id = t.contact_id "
              "WHERE t.tenant = $1 AND t.tag = $6 AND " AFTER(
                  "t.created_at", "t.contact_id") " ORDER BY t.created_at, t.contact_id LIMIT $5"
            : "SELECT " CONTACT_COLS " FROM contacts c WHERE c.tenant = $1 AND " AFTER(
                  "c.created_at", "c.id") " ORDER BY c.created_at, c.id LIMIT $5";
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB, sql, p, BASTION_COUNTOF(p), &rows, "contact list"))
        return;
    page_rows pr = page_rows_new(rows.n_rows);
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row row = bastion_row_at(&rows, r);
        bastion_str email, name;
        pr.ids[r] = bastion_row_text(&row, 0);
        bastion_str phone = bastion_row_text(&row, 1);
        bool has_email = bastion_row_text_opt(&row, 2, &email);
        bool has_name = bastion_row_text_opt(&row, 3, &name);
        bool opted_in = bastion_row_bool(&row, 4);
        bastion_str tags = bastion_row_text(&row, 5);
        pr.keys[r] = bastion_row_int(&row, 6);
        if (bastion_row_or_problem(cx, &row, "contact list"))
            return;
        cJSON *tag_list = cJSON_Parse(bastion_str_dup(tags));
        if (!cJSON_IsArray(tag_list)) {
            bastion_problem(cx, BASTION_E_INTERNAL, "Stored data could not be read.");
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", bastion_str_dup(pr.ids[r]));
        cJSON_AddStringToObject(o, "phone", bastion_str_dup(phone));
        if (has_email)
            cJSON_AddStringToObject(o, "email", bastion_str_dup(email));
        else
            cJSON_AddNullToObject(o, "email");
        if (has_name)
            cJSON_AddStringToObject(o, "first_name", bastion_str_dup(name));
        else
            cJSON_AddNullToObject(o, "first_name");
        cJSON_AddBoolToObject(o, "opted_in", opted_in);
        cJSON_AddItemToObject(o, "tags", tag_list);
        bastion_json_add_time(o, "created_at", pr.keys[r]);
        cJSON_AddItemToArray(pr.items, o);
    }
    bastion_page_respond(cx, &pg, pr.items, pr.keys, pr.ids);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

/* --- campaigns --- */

static const bastion_field audience_fields[] = {
    {.name = "all", .type = BASTION_FIELD_BOOL},
    {.name = "tag", .type = BASTION_FIELD_STRING, .min = 1, .max = BASTION_TAG_MAX},
};
enum { M_NAME, M_MESSAGE, M_AUDIENCE, N_M };
static const bastion_field campaign_fields[N_M] = {
    [M_NAME] = {.name = "name",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED,
                .min = 1,
                .max = 100},
    [M_MESSAGE] = {.name = "message",
                   .type = BASTION_FIELD_STRING,
                   .flags = BASTION_REQUIRED | BASTION_MULTILINE,
                   .min = 1,
                   .max = 640},
    [M_AUDIENCE] = {.name = "audience",
                    .type = BASTION_FIELD_OBJECT,
                    .flags = BASTION_REQUIRED,
                    .fields = audience_fields,
                    .n_fields = BASTION_COUNTOF(audience_fields)},
};

#define CAMPAIGN_COLS                                                                              \
    "id, name, message, audience_tag, status, recipients, created_at, enqueued_at, cancelled_at, " \
    "completed_at"

static cJSON *campaign_json_or_null(bastion_ctx *cx, const bastion_rows *rows, size_t r,
                                    int64_t *key, bastion_str *id)
{
    bastion_row row = bastion_row_at(rows, r);
    *id = bastion_row_text(&row, 0);
    bastion_str name = bastion_row_text(&row, 1);
    bastion_str message = bastion_row_text(&row, 2);
    bastion_str tag;
    bool has_tag = bastion_row_text_opt(&row, 3, &tag);
    bastion_str status = bastion_row_text(&row, 4);
    int64_t recipients = bastion_row_int(&row, 5), enqueued = 0, cancelled = 0, completed = 0;
    *key = bastion_row_int(&row, 6);
    bool has_enqueued = bastion_row_int_opt(&row, 7, &enqueued);
    bool has_cancelled = bastion_row_int_opt(&row, 8, &cancelled);
    bool has_completed = bastion_row_int_opt(&row, 9, &completed);
    if (bastion_row_or_problem(cx, &row, "campaign read"))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", bastion_str_dup(*id));
    cJSON_AddStringToObject(o, "name", bastion_str_dup(name));
    cJSON_AddStringToObject(o, "message", bastion_str_dup(message));
    cJSON *aud = cJSON_AddObjectToObject(o, "audience");
    if (has_tag)
        cJSON_AddStringToObject(aud, "tag", bastion_str_dup(tag));
    else
        cJSON_AddBoolToObject(aud, "all", true);
    cJSON_AddStringToObject(o, "status", bastion_str_dup(status));
    cJSON_AddNumberToObject(o, "recipients", (double)recipients);
    bastion_json_add_time(o, "created_at", *key);
    if (has_enqueued)
        bastion_json_add_time(o, "enqueued_at", enqueued);
    else
        cJSON_AddNullToObject(o, "enqueued_at");
    if (has_cancelled)
        bastion_json_add_time(o, "cancelled_at", cancelled);
    if (has_completed) /* sent, or failed by the reconcile job */
        bastion_json_add_time(o, "completed_at", completed);
    return o;
}

static void create_campaign(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    bastion_field_value in[N_M];
    cJSON *errors = cJSON_CreateArray();
    if (bastion_parse_json_collect_or_problem(cx, campaign_fields, N_M, in, errors))
        return;
    const bastion_field_value *aud = in[M_AUDIENCE].present ? in[M_AUDIENCE].object : NULL;
    if (aud && aud[0].present == aud[1].present)
        bastion_error_add(errors, "/audience", "must be {\"all\": true} or {\"tag\": \"…\"}");
    else if (aud && aud[0].present && !aud[0].boolean)
        bastion_error_add(errors, "/audience/all", "must be true (or name a tag instead)");
    if (bastion_errors_or_problem(cx, errors))
        return;
    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No campaign id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(who.tenant),
        BASTION_SQL_STR(in[M_NAME].str),
        BASTION_SQL_STR(in[M_MESSAGE].str),
        aud[1].present ? BASTION_SQL_STR(aud[1].str) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt st[] = {
        {0}, /* the tenant's guard */
        BASTION_SQL_CHANGE_ONE("INSERT INTO campaigns (id, tenant, name, message, audience_tag, "
                               "status, recipients, created_at, updated_at) VALUES ($1, $2, $3, "
                               "$4, CAST($5 AS TEXT), 'draft', 0, $6, $6)",
                               p),
    };
    bastion_rows out[BASTION_COUNTOF(st)];
    if (tenant_write_or_problem(cx, who.tenant, st, BASTION_COUNTOF(st), out, "campaign insert"))
        return;
    bastion_rows rows;
    bastion_sql_value q[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(who.tenant)};
    if (bastion_sql_query_or_problem(
            cx, DB, "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = $1 AND tenant = $2", q,
            BASTION_COUNTOF(q), &rows, "campaign read"))
        return;
    int64_t key;
    bastion_str row_id;
    cJSON *o = rows.n_rows ? campaign_json_or_null(cx, &rows, 0, &key, &row_id) : NULL;
    if (!o) {
        if (!cx->responded)
            bastion_problem(cx, BASTION_E_INTERNAL, "The campaign could not be read back.");
        return;
    }
    bastion_set_header(cx, BASTION_LIT("location"), bastion_sprintf("/api/campaigns/%s", id));
    respond_private(cx, 201, o);
}

static void list_campaigns(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who))
        return;
    bastion_page pg;
    if (bastion_page_or_problem(cx, scope("campaigns", who.tenant, BASTION_LIT("")), &pg))
        return;
    bastion_sql_value p[5] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    bastion_rows rows;
    if (bastion_sql_query_or_problem(
            cx, DB,
            "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE tenant = $1 "
            "AND " AFTER("created_at", "id") " ORDER BY created_at, id LIMIT $5",
            p, BASTION_COUNTOF(p), &rows, "campaign list"))
        return;
    page_rows pr = page_rows_new(rows.n_rows);
    for (size_t r = 0; r < rows.n_rows; r++) {
        cJSON *o = campaign_json_or_null(cx, &rows, r, &pr.keys[r], &pr.ids[r]);
        if (!o)
            return;
        cJSON_AddItemToArray(pr.items, o);
    }
    bastion_page_respond(cx, &pg, pr.items, pr.keys, pr.ids);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

/* The campaign the route names, the tenant's own (404 otherwise, AUTH5). */
static bastion_rc campaign_or_problem(bastion_ctx *cx, bastion_str tenant, char id[37],
                                      bastion_rows *rows)
{
    if (!bastion_uuid_parse(bastion_param(cx, "id"), id))
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such campaign.");
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(tenant)};
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB, "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = $1 AND tenant = $2", p,
        BASTION_COUNTOF(p), rows, "campaign read");
    if (rc == BASTION_OK && rows->n_rows == 0)
        rc = bastion_problem(cx, BASTION_E_NOT_FOUND, "No such campaign.");
    return rc;
}

static void get_campaign(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char id[37];
    bastion_rows rows;
    if (bastion_auth_tenant_or_problem(cx, &who) || campaign_or_problem(cx, who.tenant, id, &rows))
        return;
    int64_t key;
    bastion_str row_id;
    cJSON *o = campaign_json_or_null(cx, &rows, 0, &key, &row_id);
    if (o)
        respond_private(cx, 200, o);
}

/* --- POST /api/campaigns/{id}/enqueue --- */

/* The audience's recipients, never through the module: $1 campaign, $2
 * tenant, $3 now, $4 the tag. */
#define RECIPIENTS_INSERT                                                                          \
    "INSERT INTO campaign_recipients (campaign_id, contact_id, tenant, phone, status, "            \
    "created_at, updated_at) SELECT $1, c.id, c.tenant, c.phone, 'queued', $3, $3 "
static const char *const RECIPIENTS_SQL[] = {
    RECIPIENTS_INSERT "FROM contacts c WHERE c.tenant = $2 AND c.opted_in = 1",
    RECIPIENTS_INSERT "FROM contact_tags t JOIN contacts c ON c.id = t.contact_id "
                      "WHERE t.tenant = $2 AND t.tag = $4 AND c.tenant = $2 AND c.opted_in = 1",
};

/* What a tenant's credits are: $1 tenant, $2 now. */
#define CREDITS_SELECT                                                                             \
    "SELECT CAST(COALESCE((SELECT balance FROM credit_accounts WHERE tenant = $1), 0) AS "         \
    "BIGINT), "                                                                                    \
    "CAST(COALESCE((SELECT SUM(credits - consumed) FROM credit_reservations WHERE tenant = $1 "    \
    "AND status = 'active' AND expires_at > $2), 0) AS BIGINT)"

typedef struct {
    int64_t balance, reserved;
} credits;

static bastion_rc credits_or_problem(bastion_ctx *cx, bastion_str tenant, int64_t now, credits *c)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(tenant), BASTION_SQL_INT(now)};
    bastion_rows rows;
    bastion_rc rc = bastion_sql_query_or_problem(cx, DB, CREDITS_SELECT, p, BASTION_COUNTOF(p),
                                                 &rows, "credits read");
    if (rc)
        return rc;
    if (rows.n_rows != 1)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The credits could not be read.");
    bastion_row row = bastion_row_at(&rows, 0);
    c->balance = bastion_row_int(&row, 0);
    c->reserved = bastion_row_int(&row, 1);
    return bastion_row_or_problem(cx, &row, "credits read");
}

/* After a lost reservation guard: how many the audience needs and how many
 * are available, for the 409's detail (both as they are now). */
static void insufficient(bastion_ctx *cx, bastion_str tenant, const char *id, bastion_str tag,
                         int64_t now)
{
    credits c;
    bastion_rows rows;
    bastion_sql_value p[] = {BASTION_SQL_STR(tenant), BASTION_SQL_STR(tag)};
    const char *count =
        tag.len ? "SELECT COUNT(*) FROM contact_tags t JOIN contacts c ON c.id = t.contact_id "
                  "WHERE t.tenant = $1 AND t.tag = $2 AND c.opted_in = 1"
                : "SELECT COUNT(*) FROM contacts WHERE tenant = $1 AND opted_in = 1";
    if (credits_or_problem(cx, tenant, now, &c) ||
        bastion_sql_query_or_problem(cx, DB, count, p, BASTION_COUNTOF(p), &rows, "audience count"))
        return;
    int64_t needed = 0;
    if (rows.n_rows == 1) {
        bastion_row row = bastion_row_at(&rows, 0);
        needed = bastion_row_int(&row, 0);
    }
    bastion_header f[] = {{BASTION_LIT("campaign"), bastion_cstr(id)}};
    bastion_log_safe(BASTION_LOG_INFO, "enqueue refused: insufficient credits", f,
                     BASTION_COUNTOF(f));
    bastion_problem(cx, BASTION_E_CONFLICT,
                    bastion_str_dup(bastion_sprintf(
                        "Insufficient credits: the audience needs %lld, %lld are available.",
                        (long long)needed, (long long)(c.balance - c.reserved))));
}

static void enqueue_campaign(bastion_ctx *cx, const bastion_jwt_claims *who)
{
    char id[37];
    bastion_rows found;
    if (campaign_or_problem(cx, who->tenant, id, &found))
        return;
    if (cx->body.len) { /* no members: an empty body or {} */
        bastion_field_value none;
        if (bastion_parse_json_or_problem(cx, NULL, 0, &none))
            return;
    }
    bastion_row row = bastion_row_at(&found, 0);
    bastion_str tag = BASTION_LIT(""), status = bastion_row_text(&row, 4);
    bastion_row_text_opt(&row, 3, &tag);
    if (bastion_row_or_problem(cx, &row, "campaign read"))
        return;
    if (!bastion_str_eq(status, BASTION_LIT("draft"))) {
        bastion_problem(cx, BASTION_E_CONFLICT, "The campaign is not a draft.");
        return;
    }
    char rid[37];
    if (bastion_uuid_v4(rid) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No reservation id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value guard[] = {BASTION_SQL_STR(who->tenant)};
    bastion_sql_value c[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(who->tenant),
                             BASTION_SQL_INT(now), BASTION_SQL_STR(tag)};
    bastion_sql_value res[] = {BASTION_SQL_STR(bastion_cstr(rid)), BASTION_SQL_STR(who->tenant),
                               BASTION_SQL_STR(bastion_cstr(id)),
                               BASTION_SQL_INT(now + RESERVATION_TTL_MS), BASTION_SQL_INT(now)};
    enum { G_TENANT, G_DRAFT, G_RECIPIENTS, G_COUNT, G_CREDITS, N_G };
    const bastion_sql_stmt st[N_G] = {
        [G_TENANT] = BASTION_SQL_CHANGE_ONE(TENANT_GUARD, guard),
        [G_DRAFT] = BASTION_SQL_CHANGE_ONE("UPDATE campaigns SET status = 'sending', enqueued_at = "
                                           "$3, progress_at = $3, updated_at = $3 "
                                           "WHERE id = $1 AND tenant = $2 AND status = 'draft'",
                                           c),
        [G_RECIPIENTS] = {.sql = RECIPIENTS_SQL[tag.len > 0], .params = c, .n_params = 4},
        /* zero recipients is the guard's 422 */
        [G_COUNT] = BASTION_SQL_CHANGE_ONE(
            "UPDATE campaigns SET recipients = (SELECT COUNT(*) FROM campaign_recipients "
            "WHERE campaign_id = $1) WHERE id = $1 AND tenant = $2 "
            "AND EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = $1)",
            c),
        /* CONC5: balance - active reservations >= recipients, or nothing at all */
        [G_CREDITS] = BASTION_SQL_CHANGE_ONE(
            "INSERT INTO credit_reservations (id, tenant, campaign_id, credits, status, "
            "expires_at, created_at, updated_at) SELECT $1, $2, c.id, c.recipients, 'active', $4, "
            "$5, $5 FROM campaigns c WHERE c.id = $3 AND c.tenant = $2 AND "
            "COALESCE((SELECT balance FROM credit_accounts WHERE tenant = $2), 0) - "
            "COALESCE((SELECT SUM(credits - consumed) FROM credit_reservations WHERE tenant = $2 "
            "AND status = 'active' AND expires_at > $5), 0) >= c.recipients",
            res),
    };
    bastion_rows out[N_G];
    bastion_host_rc hrc = bastion_sql_transaction(cx, DB, st, N_G, out);
    if (hrc == BASTION_HOST_GUARD) {
        switch (bastion_sql_guard_failed() - 1) {
        case G_TENANT: not_installed(cx); return;
        case G_DRAFT:
            bastion_problem(cx, BASTION_E_CONFLICT, "The campaign is not a draft.");
            return;
        case G_COUNT:
            bastion_field_problem(cx, "", "The campaign's audience has no opted-in contacts.");
            return;
        default: insufficient(cx, who->tenant, id, tag, now); return;
        }
    }
    if (hrc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, hrc, "campaign enqueue");
        return;
    }
    uint64_t n = out[G_RECIPIENTS].changes;
    bastion_header f[] = {{BASTION_LIT("campaign"), bastion_cstr(id)},
                          {BASTION_LIT("recipients"), bastion_u64_str(n)}};
    bastion_log_safe(BASTION_LOG_INFO, "campaign enqueued", f, BASTION_COUNTOF(f));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddStringToObject(body, "status", "sending");
    cJSON_AddNumberToObject(body, "recipients", (double)n);
    cJSON_AddNumberToObject(body, "reserved_credits", (double)n);
    respond_private(cx, 202, body);
}

/* A financial operation (CONC4): the tenant, its write (CONC2), then `op`
 * under a required Idempotency-Key scoped to the tenant. */
static void idempotent(bastion_ctx *cx, void (*op)(bastion_ctx *cx, const bastion_jwt_claims *who))
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    bastion_idem idem;
    if (bastion_idempotency_begin_or_problem(cx, KV, who.tenant, true, &idem))
        return;
    op(cx, &who);
    bastion_idempotency_finish(cx, &idem);
}

static void enqueue(bastion_ctx *cx)
{
    idempotent(cx, enqueue_campaign);
}

/* --- GET /api/campaigns/{id}/recipients --- */

static const char *const RECIPIENT_STATUSES[] = {"queued", "sent", "failed", NULL};

#define LIST_RECIPIENTS(where)                                                                     \
    "SELECT contact_id, phone, status, error, created_at FROM campaign_recipients "                \
    "WHERE campaign_id = $1 AND tenant = $6 AND " where AFTER(                                     \
        "created_at", "contact_id") " ORDER BY created_at, contact_id LIMIT $5"

static void list_recipients(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        {.name = "status", .type = BASTION_FIELD_ENUM, .choices = RECIPIENT_STATUSES},
    };
    bastion_jwt_claims who;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    char id[37];
    bastion_rows found;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        campaign_or_problem(cx, who.tenant, id, &found) ||
        bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    bastion_str status = in[0].present ? in[0].str : BASTION_LIT("");
    bastion_page pg;
    if (bastion_page_or_problem(
            cx,
            scope("recipients", who.tenant,
                  bastion_sprintf("%s\n" BASTION_STR_FMT, id, BASTION_STR_ARG(status))),
            &pg))
        return;
    bastion_sql_value p[7] = {BASTION_SQL_STR(bastion_cstr(id))};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    p[5] = BASTION_SQL_STR(who.tenant);
    p[6] = BASTION_SQL_STR(status);
    const char *sql = in[0].present ? LIST_RECIPIENTS("status = $7 AND ") : LIST_RECIPIENTS("");
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB, sql, p, BASTION_COUNTOF(p), &rows, "recipient list"))
        return;
    page_rows pr = page_rows_new(rows.n_rows);
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row row = bastion_row_at(&rows, r);
        pr.ids[r] = bastion_row_text(&row, 0);
        bastion_str phone = bastion_row_text(&row, 1), st = bastion_row_text(&row, 2), error;
        bool has_error = bastion_row_text_opt(&row, 3, &error);
        pr.keys[r] = bastion_row_int(&row, 4);
        if (bastion_row_or_problem(cx, &row, "recipient list"))
            return;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "contact_id", bastion_str_dup(pr.ids[r]));
        cJSON_AddStringToObject(o, "phone", bastion_str_dup(phone));
        cJSON_AddStringToObject(o, "status", bastion_str_dup(st));
        if (has_error)
            cJSON_AddStringToObject(o, "error", bastion_str_dup(error));
        else
            cJSON_AddNullToObject(o, "error");
        cJSON_AddItemToArray(pr.items, o);
    }
    bastion_page_respond(cx, &pg, pr.items, pr.keys, pr.ids);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

/* --- credits --- */

static void get_credits(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    credits c;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        credits_or_problem(cx, who.tenant, (int64_t)bastion_now_ms(), &c))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "balance", (double)c.balance);
    cJSON_AddNumberToObject(body, "reserved", (double)c.reserved);
    cJSON_AddNumberToObject(body, "available", (double)(c.balance - c.reserved));
    respond_private(cx, 200, body);
}

static const bastion_field purchase_fields[] = {
    {.name = "pack", .type = BASTION_FIELD_ENUM, .flags = BASTION_REQUIRED, .choices = PACK_NAMES},
};

/* A failed purchase keeps why (the problem already written is the answer);
 * failing to record it is logged, never a changed answer. */
static void purchase_failed(bastion_ctx *cx, const char *id, bastion_str tenant, const char *why)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(tenant),
                             BASTION_SQL_STR(bastion_cstr(why)),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_rows rows;
    if (bastion_sql_query(cx, DB,
                          "UPDATE credit_purchases SET status = 'failed', error = $3, "
                          "updated_at = $4 WHERE id = $1 AND tenant = $2 AND status = 'pending'",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("purchase"), bastion_cstr(id)},
                              {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_ERROR, "purchase failure not recorded", f, BASTION_COUNTOF(f));
    }
}

static bool http_url(bastion_str s)
{
    return (s.len > 8 && bastion_str_eq_ci((bastion_str){s.ptr, 8}, BASTION_LIT("https://"))) ||
           (s.len > 7 && bastion_str_eq_ci((bastion_str){s.ptr, 7}, BASTION_LIT("http://")));
}

static void purchase_pack(bastion_ctx *cx, const bastion_jwt_claims *who)
{
    bastion_field_value in[BASTION_COUNTOF(purchase_fields)];
    if (bastion_parse_json_or_problem(cx, purchase_fields, BASTION_COUNTOF(purchase_fields), in))
        return;
    const struct pack *pk = &PACKS[in[0].integer];
    bastion_str origin = bastion_config("base_url");
    while (origin.len && origin.ptr[origin.len - 1] == '/')
        origin.len--;
    if (!http_url(origin)) {
        bastion_problem(cx, BASTION_E_MISCONFIGURED, "Variable base_url must be an http(s) URL.");
        return;
    }
    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No purchase id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)),       BASTION_SQL_STR(who->tenant),
                             BASTION_SQL_STR(bastion_cstr(pk->name)), BASTION_SQL_INT(pk->credits),
                             BASTION_SQL_INT(pk->amount_cents),       BASTION_SQL_INT(now)};
    bastion_sql_stmt st[] = {
        {0}, /* the tenant's guard */
        BASTION_SQL_CHANGE_ONE(
            "INSERT INTO credit_purchases (id, tenant, pack, credits, amount_cents, currency, "
            "status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, '" CURRENCY
            "', 'pending', $6, $6)",
            p),
    };
    bastion_rows out[BASTION_COUNTOF(st)];
    if (tenant_write_or_problem(cx, who->tenant, st, BASTION_COUNTOF(st), out, "purchase insert"))
        return;

    /* the checkout session; stripe-webhook completes the purchase by its metadata */
    const bastion_form_field form[] = {
        {"mode", BASTION_LIT("payment")},
        {"client_reference_id", bastion_cstr(id)},
        {"success_url", bastion_sprintf(BASTION_STR_FMT "/credits?purchase=%s&result=success",
                                        BASTION_STR_ARG(origin), id)},
        {"cancel_url", bastion_sprintf(BASTION_STR_FMT "/credits?purchase=%s&result=cancel",
                                       BASTION_STR_ARG(origin), id)},
        {"line_items[0][quantity]", BASTION_LIT("1")},
        {"line_items[0][price_data][currency]", BASTION_LIT(CURRENCY)},
        {"line_items[0][price_data][unit_amount]", bastion_u64_str((uint64_t)pk->amount_cents)},
        {"line_items[0][price_data][product_data][name]",
         bastion_sprintf("%s SMS credits", pk->name)},
        {"metadata[kind]", BASTION_LIT("credits")},
        {"metadata[purchase_id]", bastion_cstr(id)},
        {"metadata[tenant]", who->tenant},
    };
    cJSON *session;
    if (bastion_payments_post_or_problem(cx, KV, "/v1/checkout/sessions", form,
                                         BASTION_COUNTOF(form), &session)) {
        purchase_failed(cx, id, who->tenant, "the payment API did not create a checkout session");
        return;
    }
    const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(session, "id"));
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(session, "url"));
    size_t url_len = url ? strlen(url) : 0;
    if (!sid || strlen(sid) < 4 || strlen(sid) > 255 || !url || url_len > 2048 ||
        !http_url(bastion_cstr(url))) {
        bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                        "The payment provider's checkout session has no usable id and url.");
        purchase_failed(cx, id, who->tenant, "the checkout session had no usable id and url");
        return;
    }
    bastion_sql_value s[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(who->tenant),
                             BASTION_SQL_STR(bastion_cstr(sid)), BASTION_SQL_STR(bastion_cstr(url)),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_rows rows;
    if (bastion_sql_query(
            cx, DB,
            "UPDATE credit_purchases SET checkout_session_id = $3, checkout_url = $4, "
            "updated_at = $5 WHERE id = $1 AND tenant = $2",
            s, BASTION_COUNTOF(s), &rows) != BASTION_HOST_OK) {
        /* the session exists and its metadata names the purchase: the webhook still completes it */
        bastion_header f[] = {{BASTION_LIT("purchase"), bastion_cstr(id)},
                              {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_ERROR, "checkout session not recorded", f, BASTION_COUNTOF(f));
    }
    bastion_header f[] = {{BASTION_LIT("purchase"), bastion_cstr(id)},
                          {BASTION_LIT("pack"), bastion_cstr(pk->name)}};
    bastion_log_safe(BASTION_LOG_INFO, "credit purchase started", f, BASTION_COUNTOF(f));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "purchase_id", id);
    cJSON_AddStringToObject(body, "checkout_url", url);
    cJSON_AddNumberToObject(body, "credits", (double)pk->credits);
    cJSON_AddNumberToObject(body, "amount_cents", (double)pk->amount_cents);
    cJSON_AddStringToObject(body, "currency", CURRENCY);
    cJSON_AddStringToObject(body, "status", "pending");
    respond_private(cx, 201, body);
}

static void purchase(bastion_ctx *cx)
{
    idempotent(cx, purchase_pack);
}

static const bastion_route routes[] = {
    {"POST", "/api/contacts", import_contacts},
    {"GET", "/api/contacts", list_contacts},
    {"POST", "/api/campaigns", create_campaign},
    {"GET", "/api/campaigns", list_campaigns},
    {"GET", "/api/campaigns/{id}", get_campaign},
    {"POST", "/api/campaigns/{id}/enqueue", enqueue},
    {"GET", "/api/campaigns/{id}/recipients", list_recipients},
    {"GET", "/api/credits", get_credits},
    {"POST", "/api/credits/purchase", purchase},
};
BASTION_ROUTES(routes);
