/*
 * reconcile, a [[cron]] job (every 5 min, REL7): what a killed or stuck
 * sender leaves behind, and what has outlived its purpose.
 *
 *   stuck       a campaign `sending` without progress (campaigns.progress_at:
 *               the enqueue or the last recipient marked) for STUCK_MS: its
 *               queued rows' leases are cleared, so the next campaign-sender
 *               run takes them, and `reconciled` counts up; on the
 *               GIVE_UP-th time it is `failed` instead: queued recipients
 *               failed, the reservation closed (consumed if any credit was
 *               used, else released). Each is one guarded transaction.
 *   expired     an active credit reservation past expires_at holds nothing
 *               (campaigns' credits already ignore it): released, and a
 *               campaign still sending on it failed with its queued rows, so
 *               no message goes out that no credit covers.
 *   purged      webhook ledger rows (webhook_events, in each database of
 *               LEDGERS) processed or failed more than LEDGER_KEEP_MS ago:
 *               the providers retry for three days at most. Idempotency
 *               records, event claims, rate counters and CSRF tokens live in
 *               kv with TTLs: nothing of theirs is in sql.
 * Answer: {"stuck", "recovered", "failed", "expired", "purged"}; a store
 * failure is a 503 (the runner's error line), with the counts so far.
 */
#include <stdio.h>

#include <bastion/bastion.h>

#define SHOP "shop"

#define STUCK_MS       INT64_C(900000) /* 15 min without progress */
#define GIVE_UP        3               /* reconciliations before a campaign fails */
#define LEDGER_KEEP_MS (INT64_C(30) * 86400000)
#define STUCK_PER_RUN  100

/* The databases whose schema.sql includes shared/schema/webhook_events.sql. */
static const char *const LEDGERS[] = {"billing", "shop"};

typedef struct {
    uint64_t stuck, recovered, failed, expired, purged;
    bool broken;
} tally;

static void store_failed(tally *t, const char *what)
{
    t->broken = true;
    bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, what, f, BASTION_COUNTOF(f));
}

/* The close of a reservation: consumed when any credit was used. */
#define CLOSE_RESERVATION "status = CASE WHEN consumed > 0 THEN 'consumed' ELSE 'released' END"

/* One stuck campaign ($1 id, $2 now, $3 the stuck line). */
static void reconcile_campaign(bastion_ctx *cx, bastion_str id, int64_t reconciled, int64_t now,
                               tally *t)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(id), BASTION_SQL_INT(now),
                             BASTION_SQL_INT(now - STUCK_MS)};
    bastion_sql_value q[] = {BASTION_SQL_STR(id), BASTION_SQL_INT(now)};
    bool give_up = reconciled + 1 >= GIVE_UP;
    /* the guard: still sending and still stuck (a sender may have moved it) */
#define STILL_STUCK "id = $1 AND status = 'sending' AND progress_at < $3"
    const bastion_sql_stmt recover[] = {
        BASTION_SQL_CHANGE_ONE(
            "UPDATE campaigns SET reconciled = reconciled + 1, progress_at = $2, "
            "updated_at = $2 WHERE " STILL_STUCK,
            p),
        {.sql = "UPDATE campaign_recipients SET lease_id = NULL, lease_until = NULL, "
                "updated_at = $2 WHERE campaign_id = $1 AND status = 'queued' "
                "AND lease_id IS NOT NULL",
         .params = q,
         .n_params = BASTION_COUNTOF(q)},
    };
    const bastion_sql_stmt fail[] = {
        BASTION_SQL_CHANGE_ONE(
            "UPDATE campaigns SET status = 'failed', reconciled = reconciled + 1, "
            "completed_at = $2, progress_at = $2, updated_at = $2 "
            "WHERE " STILL_STUCK,
            p),
        {.sql = "UPDATE campaign_recipients SET status = 'failed', error = 'campaign failed: no "
                "progress', lease_id = NULL, lease_until = NULL, updated_at = $2 "
                "WHERE campaign_id = $1 AND status = 'queued'",
         .params = q,
         .n_params = BASTION_COUNTOF(q)},
        {.sql = "UPDATE credit_reservations SET " CLOSE_RESERVATION ", updated_at = $2 "
                "WHERE campaign_id = $1 AND status = 'active'",
         .params = q,
         .n_params = BASTION_COUNTOF(q)},
    };
#undef STILL_STUCK
    bastion_rows out[3];
    bastion_host_rc rc =
        give_up ? bastion_sql_transaction(cx, SHOP, fail, BASTION_COUNTOF(fail), out)
                : bastion_sql_transaction(cx, SHOP, recover, BASTION_COUNTOF(recover), out);
    if (rc == BASTION_HOST_GUARD)
        return; /* it moved since it was read: not stuck any more */
    if (rc != BASTION_HOST_OK) {
        store_failed(t, "stuck campaign not reconciled");
        return;
    }
    if (give_up)
        t->failed++;
    else
        t->recovered++;
    bastion_header f[] = {{BASTION_LIT("campaign"), id},
                          {BASTION_LIT("outcome"), bastion_cstr(give_up ? "failed" : "recovered")},
                          {BASTION_LIT("recipients"), bastion_u64_str(out[1].changes)}};
    bastion_log_safe(give_up ? BASTION_LOG_WARN : BASTION_LOG_INFO, "stuck campaign reconciled", f,
                     BASTION_COUNTOF(f));
}

static void stuck_campaigns(bastion_ctx *cx, int64_t now, tally *t)
{
    bastion_sql_value p[] = {BASTION_SQL_INT(now - STUCK_MS), BASTION_SQL_INT(STUCK_PER_RUN)};
    bastion_rows rows;
    if (bastion_sql_query(cx, SHOP,
                          "SELECT id, reconciled FROM campaigns WHERE status = 'sending' AND "
                          "progress_at < $1 ORDER BY enqueued_at, id LIMIT $2",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
        store_failed(t, "stuck campaigns not read");
        return;
    }
    for (size_t i = 0; i < rows.n_rows && !t->broken; i++) {
        bastion_row row = bastion_row_at(&rows, i);
        bastion_str id = bastion_row_text(&row, 0);
        int64_t reconciled = bastion_row_int(&row, 1);
        if (bastion_row_or_problem(cx, &row, "stuck campaigns read"))
            return;
        t->stuck++;
        reconcile_campaign(cx, id, reconciled, now, t);
    }
}

/* Expired reservations released; campaigns sending on one failed. */
static void expired_reservations(bastion_ctx *cx, int64_t now, tally *t)
{
    bastion_sql_value p[] = {BASTION_SQL_INT(now)};
#define EXPIRED                                                                                    \
    "SELECT campaign_id FROM credit_reservations WHERE status = 'active' AND expires_at < $1"
    const bastion_sql_stmt st[] = {
        {.sql = "UPDATE campaign_recipients SET status = 'failed', error = 'credit reservation "
                "expired', lease_id = NULL, lease_until = NULL, updated_at = $1 WHERE status = "
                "'queued' AND campaign_id IN (" EXPIRED ")",
         .params = p,
         .n_params = 1},
        {.sql = "UPDATE campaigns SET status = 'failed', completed_at = $1, updated_at = $1 "
                "WHERE status = 'sending' AND id IN (" EXPIRED ")",
         .params = p,
         .n_params = 1},
        {.sql = "UPDATE credit_reservations SET " CLOSE_RESERVATION ", updated_at = $1 "
                "WHERE status = 'active' AND expires_at < $1",
         .params = p,
         .n_params = 1},
    };
#undef EXPIRED
    bastion_rows out[BASTION_COUNTOF(st)];
    if (bastion_sql_transaction(cx, SHOP, st, BASTION_COUNTOF(st), out) != BASTION_HOST_OK) {
        store_failed(t, "expired reservations not released");
        return;
    }
    t->expired += out[2].changes;
    t->failed += out[1].changes;
}

static void purge_ledgers(bastion_ctx *cx, int64_t now, tally *t)
{
    bastion_sql_value p[] = {BASTION_SQL_INT(now - LEDGER_KEEP_MS)};
    for (size_t i = 0; i < BASTION_COUNTOF(LEDGERS); i++) {
        bastion_rows rows;
        if (bastion_sql_query(cx, LEDGERS[i],
                              "DELETE FROM webhook_events WHERE status IN ('processed', 'failed') "
                              "AND updated_at < $1",
                              p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
            store_failed(t, "webhook ledger not purged");
            continue;
        }
        t->purged += rows.changes;
    }
}

static void run(bastion_ctx *cx)
{
    tally t = {0};
    int64_t now = (int64_t)bastion_now_ms();
    stuck_campaigns(cx, now, &t);
    if (!t.broken)
        expired_reservations(cx, now, &t);
    if (!t.broken)
        purge_ledgers(cx, now, &t);
    const bastion_count counts[] = {
        {"stuck", t.stuck},     {"recovered", t.recovered}, {"failed", t.failed},
        {"expired", t.expired}, {"purged", t.purged},
    };
    cJSON *o = cJSON_CreateObject();
    bastion_json_add_counts(o, counts, BASTION_COUNTOF(counts));
    bastion_respond_json(cx, t.broken ? 503 : 200, o);
}

static const bastion_route routes[] = {
    {BASTION_CRON_METHOD, "reconcile", run},
};
BASTION_ROUTES(routes);
