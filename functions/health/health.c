/*
 * GET /health (REL10): checks each dependency and reports it. 200 when all
 * are up, 503 with Retry-After when a required one is down.
 */
#include <bastion/bastion.h>

static const char *check_kv(bastion_ctx *cx)
{
    bastion_str key = BASTION_LIT("health:probe");
    bastion_str value = BASTION_LIT("ok");
    bastion_str got;
    bool found;
    if (bastion_kv_set(cx, "health", key, value, 10000) != BASTION_HOST_OK ||
        bastion_kv_get(cx, "health", key, &got, &found) != BASTION_HOST_OK)
        return "fail";
    return found && bastion_str_eq(got, value) ? "ok" : "fail";
}

static const char *check_sql(bastion_ctx *cx)
{
    bastion_rows rows;
    if (bastion_sql_query(cx, "health", "SELECT 1", NULL, 0, &rows) != BASTION_HOST_OK)
        return "fail";
    return rows.n_rows == 1 && rows.rows[0][0].type == BASTION_SQL_INTEGER &&
                   rows.rows[0][0].v.i == 1
               ? "ok"
               : "fail";
}

static void health(bastion_ctx *cx)
{
    const char *kv = check_kv(cx), *sql = check_sql(cx);
    bool up = kv[0] == 'o' && sql[0] == 'o';
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", up ? "ok" : "fail");
    cJSON *checks = cJSON_AddObjectToObject(body, "checks");
    cJSON_AddItemToObject(checks, "kv", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(checks, "kv"), "status", kv);
    cJSON_AddItemToObject(checks, "sql", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(checks, "sql"), "status", sql);
    bastion_respond_json(cx, up ? 200 : 503, body);
    if (!up)
        bastion_set_header(cx, BASTION_LIT("retry-after"), BASTION_LIT("5"));
}

static const bastion_route routes[] = {
    {"GET", "/health", health},
};
BASTION_ROUTES(routes);
