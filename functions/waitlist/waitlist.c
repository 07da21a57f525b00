/*
 * The waitlist: join a product's waitlist once per email, and count it.
 *
 *   POST /api/waitlist                       {"email", "product_id"}
 *   GET  /api/waitlist/{product_id}/count
 */
#include <bastion/bastion.h>

#define DB "waitlist"

/* CONC2: joins per client IP per minute, counted before anything else. */
static bastion_rate_policy join_limit = {"waitlist-join", "ratelimit", 10, 60};

static const bastion_field join_fields[] = {
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED, .min = 3, .max = 254},
    {.name = "product_id",
     .type = BASTION_FIELD_SLUG,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = 64},
};

static void join(bastion_ctx *cx)
{
    bastion_rate_result rl;
    int64_t limit;
    /* a variable so operators can tune it without a rebuild; malformed → 500 (REL8) */
    if (bastion_config_int_or_problem(cx, "waitlist_joins_per_minute", 10, 1, 1000000, &limit))
        return;
    join_limit.limit = (uint32_t)limit;
    if (bastion_rate_limit_or_problem(cx, &join_limit, cx->client_ip, &rl))
        return;
    bastion_field_value in[BASTION_COUNTOF(join_fields)];
    if (bastion_parse_json_or_problem(cx, join_fields, BASTION_COUNTOF(join_fields), in))
        return;
    /* One guarded statement: the UNIQUE constraint decides, never a
     * check-then-insert across two calls. */
    bastion_sql_value params[] = {
        BASTION_SQL_STR(in[0].str),
        BASTION_SQL_STR(in[1].str),
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    bastion_rows rows;
    if (bastion_sql_query_or_problem(
            cx, DB,
            "INSERT INTO waitlist (email, product_id, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (email, product_id) DO NOTHING",
            params, BASTION_COUNTOF(params), &rows, "waitlist insert"))
        return;
    bool joined = rows.changes == 1;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", joined ? "joined" : "already_joined");
    bastion_respond_json(cx, joined ? 201 : 200, body);
}

static void count(bastion_ctx *cx)
{
    static const bastion_field product = {.name = "product_id",
                                          .type = BASTION_FIELD_SLUG,
                                          .flags = BASTION_REQUIRED,
                                          .min = 1,
                                          .max = 64};
    bastion_field_value v;
    if (bastion_param_or_problem(cx, &product, &v))
        return;
    bastion_sql_value params[] = {BASTION_SQL_STR(v.str)};
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB, "SELECT COUNT(*) FROM waitlist WHERE product_id = $1",
                                     params, BASTION_COUNTOF(params), &rows, "waitlist count"))
        return;
    bastion_row row = bastion_row_at(&rows, 0);
    int64_t n = bastion_row_int(&row, 0);
    if (bastion_row_or_problem(cx, &row, "waitlist count"))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "product_id", bastion_str_dup(v.str));
    cJSON_AddNumberToObject(body, "count", (double)n);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/waitlist", join},
    {"GET", "/api/waitlist/{product_id}/count", count},
};
BASTION_ROUTES(routes);
