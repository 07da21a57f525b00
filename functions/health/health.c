/*
 * GET /health (REL10): checks each dependency and reports it.
 *
 *   200 {"status": "ok", "checks": {"kv": {"status"}, "sql": {"status"}},
 *        "backends": {"kv.default": {"backend", "required", "status"}, …}}
 *   503 problem+json (ERR1) with Retry-After and the same `checks` and
 *       `backends` as extension members (RFC 9457 §3.2), the failing ones
 *       "fail"
 *
 * `checks` is a round trip through this function's own store and database;
 * `backends` is the host's word on every backend the deployment's runtime
 * config uses (SQLite, Redis, PostgreSQL), by name: a required one down is
 * a 503 even when this function's own store is elsewhere.
 */
#include <string.h>

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
    bastion_row row = bastion_row_at(&rows, 0);
    bool one = bastion_row_int(&row, 0) == 1 && !row.failed;
    return one && rows.n_rows == 1 ? "ok" : "fail";
}

/* The host's report on the deployment's backends; *down counts the
 * required ones that failed. An unreadable report counts as one down. */
static cJSON *check_backends(int *down)
{
    bastion_str text = bastion_config("bastion:backends");
    cJSON *report = text.ptr ? cJSON_ParseWithLength(text.ptr, text.len) : NULL;
    *down = cJSON_IsObject(report) ? 0 : 1;
    if (*down) {
        cJSON_Delete(report);
        return cJSON_CreateObject();
    }
    const cJSON *b;
    cJSON_ArrayForEach(b, report)
    {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(b, "status");
        bool ok = cJSON_IsString(status) && strcmp(status->valuestring, "ok") == 0;
        if (!ok && !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "required")))
            (*down)++;
    }
    return report;
}

static void health(bastion_ctx *cx)
{
    const char *kv = check_kv(cx), *sql = check_sql(cx);
    int backends_down;
    cJSON *backends = check_backends(&backends_down);
    bool kv_up = kv[0] == 'o', sql_up = sql[0] == 'o';
    cJSON *checks = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(checks, "kv"), "status", kv);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(checks, "sql"), "status", sql);
    if (!kv_up || !sql_up || backends_down) {
        cJSON *extensions = cJSON_CreateObject();
        cJSON_AddItemToObject(extensions, "checks", checks);
        cJSON_AddItemToObject(extensions, "backends", backends);
        bastion_str detail =
            bastion_sprintf("A required dependency is down (kv %s, sql %s, %d backend%s).", kv, sql,
                            backends_down, backends_down == 1 ? "" : "s");
        bastion_problem_with(cx, BASTION_E_UNAVAILABLE, bastion_str_dup(detail), extensions, 5);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "ok");
    cJSON_AddItemToObject(body, "checks", checks);
    cJSON_AddItemToObject(body, "backends", backends);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"GET", "/health", health},
};
BASTION_ROUTES(routes);
