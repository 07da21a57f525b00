/*
 * GET /api/orders/{id} (REL9, AUTH1): one order, for its owner or an admin.
 *
 *   → {"id","status","total_cents","currency","items":[…],"updated_at"}
 *
 * Anyone else gets the same 404 as for an order that does not exist, so the
 * answer never tells a stranger which ids are real (as AUTH5 asks of tenants).
 *
 * Cache (REL9): kv "orders-cache", key "order:<id>", TTL 60 s, holding
 * {"owner", "order"}. The owner travels with the cached order because
 * authorization runs on every answer, hit or miss: one entry serves the
 * owner and admins and never anyone else. The database stays the source of
 * truth: a cache that fails, times out or holds garbage is logged and skipped
 * (REL1), never the reason for a 5xx. Orders are written by the payments
 * work, which owns invalidation; until then a change shows within 60 s.
 */
#include <string.h>

#include <bastion/bastion.h>

#define DB           "orders"
#define CACHE        "orders-cache"
#define CACHE_TTL_MS 60000 /* REL9: at most 60 s stale */

/* NO_TRIM: "%20abc" is not "abc" */
static const bastion_field id_rule = {.name = "id",
                                      .type = BASTION_FIELD_SLUG,
                                      .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                                      .min = 1,
                                      .max = 64};

/* A cache failure is worth a warning, never a failed request (REL1). */
static void log_cache(const char *op, bastion_host_rc rc)
{
    bastion_header f[] = {
        {BASTION_LIT("op"), bastion_cstr(op)},
        {BASTION_LIT("error"), bastion_host_rc_name(rc)},
        {BASTION_LIT("detail"), bastion_host_error_text()},
    };
    bastion_log_safe(BASTION_LOG_WARN, "order cache unusable; using the database", f,
                     BASTION_COUNTOF(f));
}

/* The cached entry, or NULL on a miss. A stored value that is not an entry
 * (a schema change, a bad write) counts as a miss. */
static cJSON *cache_get(bastion_ctx *cx, bastion_str key)
{
    bastion_str text;
    bool found;
    bastion_host_rc rc = bastion_kv_get(cx, CACHE, key, &text, &found);
    if (rc != BASTION_HOST_OK) {
        log_cache("kv get", rc);
        return NULL;
    }
    if (!found)
        return NULL;
    cJSON *entry = cJSON_ParseWithLength(text.ptr, text.len);
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(entry, "owner")) &&
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(entry, "order")))
        return entry;
    cJSON_Delete(entry);
    bastion_log_safe(BASTION_LOG_WARN, "order cache entry malformed; using the database", NULL, 0);
    return NULL;
}

/*
 * Reads the order and its items in one statement, so they come from one
 * snapshot, into an entry {"owner", "order"}. *entry is NULL when there is
 * no such order. Returns non-zero after writing a problem. The schema's NOT
 * NULL and CHECKs make every column's type certain; a row that breaks them
 * is corrupt, and serving half of it would be worse (the row readers' 500).
 */
static bastion_rc load_or_problem(bastion_ctx *cx, bastion_str id, cJSON **entry)
{
    bastion_sql_value params[] = {BASTION_SQL_STR(id)};
    bastion_rows rows;
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB,
        "SELECT o.user_id, o.status, o.total_cents, o.currency, o.updated_at, "
        "i.sku, i.name, i.quantity, i.unit_price_cents "
        "FROM orders o LEFT JOIN order_items i ON i.order_id = o.id "
        "WHERE o.id = $1 ORDER BY i.line",
        params, BASTION_COUNTOF(params), &rows, "order read");
    if (rc)
        return rc;
    *entry = NULL;
    if (rows.n_rows == 0)
        return BASTION_OK;
    bastion_row o = bastion_row_at(&rows, 0);
    bastion_str owner = bastion_row_text(&o, 0);
    bastion_str status = bastion_row_text(&o, 1);
    int64_t total = bastion_row_int(&o, 2);
    bastion_str currency = bastion_row_text(&o, 3);
    int64_t updated_at = bastion_row_int(&o, 4);
    if (bastion_row_or_problem(cx, &o, "order read"))
        return BASTION_E_INTERNAL;
    char when[BASTION_RFC3339_BUF];
    if (bastion_format_rfc3339(updated_at, when) == 0) /* the CHECK's range, broken */
        return bastion_problem(cx, BASTION_E_INTERNAL, "Stored data could not be read.");
    cJSON *order = cJSON_CreateObject();
    cJSON_AddStringToObject(order, "id", bastion_str_dup(id));
    cJSON_AddStringToObject(order, "status", bastion_str_dup(status));
    cJSON_AddNumberToObject(order, "total_cents", (double)total);
    cJSON_AddStringToObject(order, "currency", bastion_str_dup(currency));
    cJSON *items = cJSON_AddArrayToObject(order, "items");
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row it = bastion_row_at(&rows, r);
        bastion_str sku;
        if (!bastion_row_text_opt(&it, 5, &sku) && !it.failed)
            continue; /* the LEFT JOIN's row for an order without items */
        bastion_str name = bastion_row_text(&it, 6);
        int64_t quantity = bastion_row_int(&it, 7);
        int64_t unit_price = bastion_row_int(&it, 8);
        if (bastion_row_or_problem(cx, &it, "order item read")) {
            cJSON_Delete(order);
            return BASTION_E_INTERNAL;
        }
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "sku", bastion_str_dup(sku));
        cJSON_AddStringToObject(item, "name", bastion_str_dup(name));
        cJSON_AddNumberToObject(item, "quantity", (double)quantity);
        cJSON_AddNumberToObject(item, "unit_price_cents", (double)unit_price);
        cJSON_AddItemToArray(items, item);
    }
    cJSON_AddStringToObject(order, "updated_at", when);
    *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(*entry, "owner", bastion_str_dup(owner));
    cJSON_AddItemToObject(*entry, "order", order);
    return BASTION_OK;
}

static void get_order(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    if (bastion_auth_user_or_problem(cx, &claims))
        return;
    bastion_field_value id_v;
    if (bastion_param_or_problem(cx, &id_rule, &id_v))
        return;
    bastion_str id = id_v.str;
    size_t klen = sizeof "order:" - 1 + id.len;
    char *k = bastion_alloc(klen);
    memcpy(k, "order:", sizeof "order:" - 1);
    memcpy(k + sizeof "order:" - 1, id.ptr, id.len);
    bastion_str key = {k, klen};

    cJSON *entry = cache_get(cx, key);
    if (!entry) {
        if (load_or_problem(cx, id, &entry))
            return;
        if (entry) {
            char *text = cJSON_PrintUnformatted(entry); /* arena memory: never free()d */
            if (!text)
                __builtin_trap(); /* only on out of memory, as bastion_respond_json */
            bastion_host_rc rc = bastion_kv_set(cx, CACHE, key, bastion_cstr(text), CACHE_TTL_MS);
            if (rc != BASTION_HOST_OK)
                log_cache("kv set", rc);
        }
    }
    /* AUTH1: decided on every answer, cached or not */
    const char *owner = entry ? cJSON_GetStringValue(cJSON_GetObjectItem(entry, "owner")) : NULL;
    if (!owner || !(bastion_str_eq(bastion_cstr(owner), claims.sub) ||
                    bastion_jwt_has_role(&claims, "admin"))) {
        cJSON_Delete(entry);
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such order.");
        return;
    }
    bastion_respond_json(cx, 200, cJSON_GetObjectItemCaseSensitive(entry, "order"));
    cJSON_Delete(entry);
    /* per-user data: no shared cache may keep it (RFC 9111 §5.2.2.5, §5.2.2.7) */
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("private, no-store"));
}

static const bastion_route routes[] = {
    {"GET", "/api/orders/{id}", get_order},
};
BASTION_ROUTES(routes);
