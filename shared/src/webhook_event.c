/*
 * The webhook event ledger: kv claim + durable row (see webhook_event.h).
 */
#include <string.h>

#include "bastion/http.h"
#include "bastion/log.h"
#include "bastion/rows.h"
#include "bastion/webhook_event.h"

const char BASTION_WEBHOOK_EVENTS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS webhook_events (\n"
    "    provider     TEXT    NOT NULL CHECK (length(provider) BETWEEN 1 AND 32),\n"
    "    id           TEXT    NOT NULL CHECK (length(id) BETWEEN 1 AND 255),\n"
    "    type         TEXT    NOT NULL CHECK (length(type) BETWEEN 1 AND 255),\n"
    "    status       TEXT    NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),\n"
    "    attempts     BIGINT  NOT NULL CHECK (attempts >= 1),\n"
    "    error        TEXT,\n"
    "    received_at  BIGINT  NOT NULL,\n"
    "    updated_at   BIGINT  NOT NULL,\n"
    "    processed_at BIGINT,\n"
    "    PRIMARY KEY (provider, id)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS webhook_events_status ON webhook_events (status, updated_at);\n";

static bool id_ok(bastion_str id)
{
    if (!id.ptr || id.len == 0 || id.len > BASTION_WEBHOOK_ID_MAX)
        return false;
    for (size_t i = 0; i < id.len; i++)
        if ((unsigned char)id.ptr[i] < 0x21 || (unsigned char)id.ptr[i] > 0x7e)
            return false;
    return true;
}

/* HOOK6: while the claim is held, budgets end before the reserve (see
 * BASTION_WEBHOOK_RESERVE_MS): a budget equal to the time left would let a
 * hung store run into the host's deadline, which unwinds the request with
 * the claim still taken. */
static void hold_reserve(bastion_ctx *cx, bastion_webhook_event *ev)
{
    ev->deadline_ms = cx->deadline_ms;
    cx->deadline_ms = ev->deadline_ms > BASTION_WEBHOOK_RESERVE_MS
                          ? ev->deadline_ms - BASTION_WEBHOOK_RESERVE_MS
                          : 0;
}

/* Gives the request `left_ms` short of its own deadline; 0: all of it. */
static void restore_deadline(bastion_ctx *cx, const bastion_webhook_event *ev, uint64_t left_ms)
{
    if (ev->deadline_ms)
        cx->deadline_ms = ev->deadline_ms > left_ms ? ev->deadline_ms - left_ms : 0;
}

static void respond_duplicate(bastion_ctx *cx)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddBoolToObject(extra, "duplicate", true);
    bastion_webhook_respond_received(cx, extra);
}

static void log_ledger(const bastion_webhook_event *ev, const char *msg)
{
    bastion_header f[] = {{BASTION_LIT("provider"), ev->provider},
                          {BASTION_LIT("event"), ev->id},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, msg, f, BASTION_COUNTOF(f));
}

/* see webhook_event.h */
bastion_rc bastion_webhook_event_begin_or_problem(bastion_ctx *cx, const char *kv, const char *db,
                                                  const char *provider, bastion_str id,
                                                  bastion_str type, bastion_webhook_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->db = db;
    ev->provider = bastion_cstr(provider);
    ev->id = id;
    if (!id_ok(id))
        return bastion_problem(cx, BASTION_E_BAD_REQUEST,
                               "The event id must be 1-255 printable ASCII characters.");
    bastion_str input =
        bastion_sprintf("webhook:%s\n" BASTION_STR_FMT, provider, BASTION_STR_ARG(id));
    bastion_rc rc =
        bastion_dedup_claim_or_problem(cx, kv, input, BASTION_WEBHOOK_CLAIM_TTL_S, &ev->claim);
    if (rc)
        return rc;
    if (ev->claim.duplicate) {
        respond_duplicate(cx);
        return BASTION_ANSWERED;
    }
    hold_reserve(cx, ev);
    /* The ledger: a new row, or another attempt at one not yet processed.
     * No row comes back when it was processed already (the kv forgot). */
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(ev->provider), BASTION_SQL_STR(id),
                             BASTION_SQL_STR(type), BASTION_SQL_INT(now)};
    bastion_rows rows;
    bastion_host_rc hrc = bastion_sql_query(
        cx, db,
        "INSERT INTO webhook_events (provider, id, type, status, attempts, received_at, "
        "updated_at) VALUES ($1, $2, $3, 'processing', 1, $4, $4) "
        "ON CONFLICT (provider, id) DO UPDATE SET status = 'processing', "
        "attempts = webhook_events.attempts + 1, error = NULL, updated_at = $4 "
        "WHERE webhook_events.status <> 'processed' RETURNING attempts",
        p, BASTION_COUNTOF(p), &rows);
    if (hrc != BASTION_HOST_OK) {
        rc = bastion_host_fail_or_problem(cx, hrc, "webhook ledger write");
        restore_deadline(cx, ev, 0);
        bastion_dedup_release(cx, &ev->claim);
        return rc;
    }
    if (rows.n_rows == 0) {
        ev->finished = true;
        bastion_webhook_event_done(cx, ev, true); /* re-arm the kv memory */
        respond_duplicate(cx);
        return BASTION_ANSWERED;
    }
    bastion_row row = bastion_row_at(&rows, 0);
    ev->attempts = bastion_row_int(&row, 0);
    return BASTION_OK;
}

/* see webhook_event.h */
bastion_sql_stmt bastion_webhook_event_done_stmt(const bastion_webhook_event *ev,
                                                 bastion_sql_value params[3])
{
    params[0] = BASTION_SQL_STR(ev->provider);
    params[1] = BASTION_SQL_STR(ev->id);
    params[2] = BASTION_SQL_INT((int64_t)bastion_now_ms());
    return (bastion_sql_stmt){.sql = "UPDATE webhook_events SET status = 'processed', error = "
                                     "NULL, processed_at = $3, updated_at = $3 "
                                     "WHERE provider = $1 AND id = $2",
                              .params = params,
                              .n_params = 3};
}

/* see webhook_event.h */
void bastion_webhook_event_done(bastion_ctx *cx, bastion_webhook_event *ev, bool marked)
{
    restore_deadline(cx, ev, 0); /* the effect is in: all the time left is the mark's */
    if (!marked) {
        bastion_sql_value p[3];
        bastion_sql_stmt st = bastion_webhook_event_done_stmt(ev, p);
        bastion_rows rows;
        if (bastion_sql_query(cx, ev->db, st.sql, st.params, st.n_params, &rows) != BASTION_HOST_OK)
            log_ledger(ev, "webhook ledger not marked processed; the kv claim still stops "
                           "replays for 24 h");
    }
    ev->finished = true;
    if (bastion_kv_set(cx, ev->claim.store, ev->claim.kv_key, BASTION_LIT("processed"),
                       (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u) != BASTION_HOST_OK)
        log_ledger(ev, "webhook claim not kept for 24 h; the ledger still stops replays");
}

/* see webhook_event.h */
void bastion_webhook_event_fail(bastion_ctx *cx, bastion_webhook_event *ev, const char *error)
{
    if (ev->finished)
        return;
    ev->finished = true;
    restore_deadline(cx, ev, BASTION_WEBHOOK_RELEASE_MS);
    bastion_sql_value p[] = {BASTION_SQL_STR(ev->provider), BASTION_SQL_STR(ev->id),
                             BASTION_SQL_STR(bastion_log_mask(bastion_cstr(error))),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_rows rows;
    if (bastion_sql_query(cx, ev->db,
                          "UPDATE webhook_events SET status = 'failed', error = $3, "
                          "updated_at = $4 WHERE provider = $1 AND id = $2 AND "
                          "status = 'processing'",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK)
        log_ledger(ev, "webhook failure not recorded in the ledger");
    restore_deadline(cx, ev, 0);
    bastion_dedup_release(cx, &ev->claim);
}

/* see webhook_event.h */
void bastion_webhook_respond_received(bastion_ctx *cx, cJSON *extra)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "received", true);
    for (cJSON *m = extra ? extra->child : NULL; m; m = m->next)
        cJSON_AddItemReferenceToObject(b, m->string, m);
    bastion_respond_json(cx, 200, b);
}

/* see webhook_event.h */
void bastion_webhook_respond_ignored(bastion_ctx *cx)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddBoolToObject(extra, "ignored", true);
    bastion_webhook_respond_received(cx, extra);
}
