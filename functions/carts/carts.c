/*
 * Carts: a shopper's cart, kept until it is completed (VAL1, DATA1).
 *
 *   PUT  /api/carts/{id}           {"email", "items": [{"sku", "name", "qty",
 *                                   "price_cents"}]}  → 201 created, 200 replaced
 *   POST /api/carts/{id}/complete  no body            → 200
 *
 * The id is the client's UUID (its own v4, the cart's only key: whoever
 * holds it may change the cart, so it is never listed or logged with the
 * address). A PUT replaces the whole cart: the row and its items in one
 * transaction, the line count, quantity and total computed here from the
 * validated items, never taken from the client. A completed cart is final:
 * PUT and complete answer 409. The abandoned-carts job (REL6) reminds the
 * open ones. CONC2: a per-IP limit on both routes.
 */
#include <stdio.h>

#include <bastion/bastion.h>

#define DB "carts"
#define KV "carts"

#define MAX_LINES 100

static const bastion_rate_policy PER_IP = {"carts-ip", KV, 60, 60};

static const bastion_field id_rule = {
    .name = "id", .type = BASTION_FIELD_UUID, .flags = BASTION_REQUIRED | BASTION_NO_TRIM};

/* Kept in step with the CHECKs in schema.sql (DATA1). */
enum { I_SKU, I_NAME, I_QTY, I_PRICE, N_ITEM_FIELDS };
static const bastion_field item_fields[N_ITEM_FIELDS] = {
    [I_SKU] = {.name = "sku",
               .type = BASTION_FIELD_SLUG,
               .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
               .min = 1,
               .max = 64},
    [I_NAME] = {.name = "name",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED,
                .min = 1,
                .max = 200},
    [I_QTY] = {.name = "qty",
               .type = BASTION_FIELD_INTEGER,
               .flags = BASTION_REQUIRED,
               .min = 1,
               .max = 999},
    [I_PRICE] = {.name = "price_cents",
                 .type = BASTION_FIELD_INTEGER,
                 .flags = BASTION_REQUIRED,
                 .min = 0,
                 .max = 10000000},
};
static const bastion_field item_rule = {.name = "item",
                                        .type = BASTION_FIELD_OBJECT,
                                        .flags = BASTION_REQUIRED,
                                        .fields = item_fields,
                                        .n_fields = N_ITEM_FIELDS};

enum { F_EMAIL, F_ITEMS, N_FIELDS };
static const bastion_field cart_fields[N_FIELDS] = {
    [F_EMAIL] = {.name = "email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
    [F_ITEMS] = {.name = "items",
                 .type = BASTION_FIELD_ARRAY,
                 .flags = BASTION_REQUIRED,
                 .min = 0,
                 .max = MAX_LINES,
                 .items = &item_rule},
};

/* The rate limit, then the cart id in the path (422 when not a UUID). */
static bastion_rc cart_id_or_problem(bastion_ctx *cx, bastion_field_value *id)
{
    bastion_rate_result rl;
    bastion_rc rc = bastion_rate_limit_or_problem(cx, &PER_IP, cx->client_ip, &rl);
    return rc ? rc : bastion_param_or_problem(cx, &id_rule, id);
}

/* 404 or 409 for a cart whose guarded change did not hold. */
static void lost_guard(bastion_ctx *cx, bastion_str id, const char *conflict)
{
    bastion_sql_value key[] = {BASTION_SQL_STR(id)};
    bastion_rows found;
    if (bastion_sql_query_or_problem(cx, DB, "SELECT status FROM carts WHERE id = $1", key,
                                     BASTION_COUNTOF(key), &found, "cart lookup"))
        return;
    if (found.n_rows == 0)
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such cart.");
    else
        bastion_problem(cx, BASTION_E_CONFLICT, conflict);
}

static void put_cart(bastion_ctx *cx)
{
    bastion_field_value id;
    if (cart_id_or_problem(cx, &id))
        return;
    bastion_field_value in[N_FIELDS];
    cJSON *errors = cJSON_CreateArray();
    if (bastion_parse_json_collect_or_problem(cx, cart_fields, N_FIELDS, in, errors))
        return;
    size_t n = in[F_ITEMS].present ? in[F_ITEMS].n_items : 0;
    const bastion_field_value *items = in[F_ITEMS].items;
    /* one line per SKU (the items' UNIQUE (cart_id, sku)) */
    for (size_t i = 0; i < n; i++) {
        const bastion_field_value *it = items[i].object;
        for (size_t j = 0; j < i && it[I_SKU].present; j++)
            if (items[j].object[I_SKU].present &&
                bastion_str_eq(items[j].object[I_SKU].str, it[I_SKU].str)) {
                char pointer[32];
                snprintf(pointer, sizeof pointer, "/items/%zu/sku", i);
                bastion_error_add(errors, pointer, "is already in the cart on another line");
                break;
            }
    }
    if (bastion_errors_or_problem(cx, errors))
        return;

    int64_t quantity = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        quantity += items[i].object[I_QTY].integer;
        total += items[i].object[I_QTY].integer * items[i].object[I_PRICE].integer;
    }
    int64_t now = (int64_t)bastion_now_ms();
    /* the cart (guarded: only an open cart changes), its old items gone,
     * its new ones: one transaction */
    bastion_sql_stmt *st = bastion_alloc((n + 2) * sizeof *st);
    bastion_sql_value cart[] = {
        BASTION_SQL_STR(id.str),   BASTION_SQL_STR(in[F_EMAIL].str), BASTION_SQL_INT((int64_t)n),
        BASTION_SQL_INT(quantity), BASTION_SQL_INT(total),           BASTION_SQL_INT(now),
    };
    st[0] = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO carts (id, email, status, lines, quantity, total_cents, created_at, "
        "updated_at) VALUES ($1, $2, 'open', $3, $4, $5, $6, $6) ON CONFLICT (id) DO UPDATE SET "
        "email = excluded.email, lines = excluded.lines, quantity = excluded.quantity, "
        "total_cents = excluded.total_cents, updated_at = excluded.updated_at "
        "WHERE carts.status = 'open' RETURNING created_at",
        cart);
    bastion_sql_value key[] = {BASTION_SQL_STR(id.str)};
    st[1] = (bastion_sql_stmt){
        .sql = "DELETE FROM cart_items WHERE cart_id = $1", .params = key, .n_params = 1};
    for (size_t i = 0; i < n; i++) {
        const bastion_field_value *it = items[i].object;
        bastion_sql_value *p = bastion_alloc(6 * sizeof *p);
        p[0] = BASTION_SQL_STR(id.str);
        p[1] = BASTION_SQL_INT((int64_t)i + 1);
        p[2] = BASTION_SQL_STR(it[I_SKU].str);
        p[3] = BASTION_SQL_STR(it[I_NAME].str);
        p[4] = BASTION_SQL_INT(it[I_QTY].integer);
        p[5] = BASTION_SQL_INT(it[I_PRICE].integer);
        st[i + 2] = (bastion_sql_stmt){
            .sql = "INSERT INTO cart_items (cart_id, line, sku, name, qty, price_cents) "
                   "VALUES ($1, $2, $3, $4, $5, $6)",
            .params = p,
            .n_params = 6};
    }
    bastion_rows *out = bastion_alloc((n + 2) * sizeof *out);
    bastion_host_rc rc = bastion_sql_transaction(cx, DB, st, n + 2, out);
    if (rc == BASTION_HOST_GUARD) {
        lost_guard(cx, id.str, "The cart is completed and can no longer change.");
        return;
    }
    if (rc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, rc, "cart write");
        return;
    }
    bastion_row row = bastion_row_at(&out[0], 0);
    int64_t created_at = bastion_row_int(&row, 0);
    if (bastion_row_or_problem(cx, &row, "cart write"))
        return;

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(id.str));
    cJSON_AddStringToObject(body, "email", bastion_str_dup(in[F_EMAIL].str));
    cJSON_AddStringToObject(body, "status", "open");
    cJSON *list = cJSON_AddArrayToObject(body, "items");
    for (size_t i = 0; i < n; i++) {
        const bastion_field_value *it = items[i].object;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "sku", bastion_str_dup(it[I_SKU].str));
        cJSON_AddStringToObject(o, "name", bastion_str_dup(it[I_NAME].str));
        cJSON_AddNumberToObject(o, "qty", (double)it[I_QTY].integer);
        cJSON_AddNumberToObject(o, "price_cents", (double)it[I_PRICE].integer);
        cJSON_AddNumberToObject(o, "line_cents", (double)(it[I_QTY].integer * it[I_PRICE].integer));
        cJSON_AddItemToArray(list, o);
    }
    cJSON_AddNumberToObject(body, "quantity", (double)quantity);
    cJSON_AddNumberToObject(body, "total_cents", (double)total);
    bastion_json_add_time(body, "updated_at", now);
    bastion_respond_json(cx, created_at == now ? 201 : 200, body);
}

static void complete(bastion_ctx *cx)
{
    bastion_field_value id;
    if (cart_id_or_problem(cx, &id))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(id.str), BASTION_SQL_INT(now)};
    bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE(
        "UPDATE carts SET status = 'completed', completed_at = $2, updated_at = $2 "
        "WHERE id = $1 AND status = 'open'",
        p);
    bastion_rows rows;
    bastion_host_rc rc = bastion_sql_transaction(cx, DB, &st, 1, &rows);
    if (rc == BASTION_HOST_GUARD) {
        lost_guard(cx, id.str, "The cart is already completed.");
        return;
    }
    if (rc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, rc, "cart complete");
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(id.str));
    cJSON_AddStringToObject(body, "status", "completed");
    bastion_json_add_time(body, "completed_at", now);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"PUT", "/api/carts/{id}", put_cart},
    {"POST", "/api/carts/{id}/complete", complete},
};
BASTION_ROUTES(routes);
