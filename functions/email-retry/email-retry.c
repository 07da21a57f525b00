/*
 * email-retry, a [[cron]] job (every minute, REL5, REL3): the email outboxes
 * (email_failures, shared/schema/email_failures.sql) of every database in
 * OUTBOXES, the one list of them.
 *
 * In each, rows due (status pending, next_attempt_at ≤ now, attempts < 3,
 * no live lease) are claimed in batches by one guarded UPDATE that sets a
 * lease, then resent through the core's email client (breaker "email"):
 *   sent     status sent, sent_at; the lease cleared.
 *   failed   attempts + 1 and next_attempt_at = now + BASE_MS × 2^(attempts
 *            - 1) plus a random jitter of up to half that; on the third
 *            failure status failed instead, and in the same transaction the
 *            row's alert is claimed (alerted_at, guarded IS NULL), so each
 *            failed email raises exactly one admin alert: an email to
 *            admin_alert_email, itself put in the outbox when it cannot go
 *            now (kind "admin-alert", which never alerts again).
 * The breaker open ends the run: the claimed rows not tried are given back.
 * Answer: {"scanned", "sent", "failed", "retrying", "alerts", "stopped"}; a
 * store failure is a 503 (the runner's error line).
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define KV "email-retry" /* the email breaker */

#define BATCH        50
#define MAX_ATTEMPTS 3
#define BASE_MS      INT64_C(60000)  /* the second attempt a minute after the first */
#define LEASE_MS     INT64_C(120000) /* past the run's own deadline */
#define RESERVE_MS   10000u          /* one send (8 s) and its commit */
#define ALERT_KIND   "admin-alert"

/* Every database whose schema.sql includes shared/schema/email_failures.sql. */
static const char *const OUTBOXES[] = {"appointments", "auth",   "bookings", "carts",
                                       "hiring",       "orders", "permits"};

typedef struct {
    uint64_t scanned, sent, failed, retrying, alerts;
    const char *stopped; /* NULL, "deadline", "breaker", "store" */
} tally;

typedef struct {
    int64_t id, attempts;
    bastion_str kind, to, subject, body;
} outbox_row;

static void log_store(const char *what, const char *db)
{
    bastion_header f[] = {{BASTION_LIT("db"), bastion_cstr(db)},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, what, f, BASTION_COUNTOF(f));
}

/* When attempt `attempts` + 1 is due: BASE_MS × 2^(attempts - 1), plus up to
 * half of that again at random, so retries of many rows spread out. */
static int64_t next_attempt(int64_t now, int64_t attempts)
{
    int64_t wait = BASE_MS << (attempts > 1 ? attempts - 1 : 0);
    uint32_t r = 0;
    if (bastion_random(&r, sizeof r) != 0)
        r = (uint32_t)now;
    return now + wait + (int64_t)(r % (uint32_t)(wait / 2 + 1));
}

static bool claim(bastion_ctx *cx, const char *db, const char *lease, bastion_rows *rows)
{
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(lease)), BASTION_SQL_INT(now + LEASE_MS),
                             BASTION_SQL_INT(now), BASTION_SQL_INT(MAX_ATTEMPTS),
                             BASTION_SQL_INT(BATCH)};
    bastion_sql_value q[] = {BASTION_SQL_STR(bastion_cstr(lease))};
#define DUE                                                                                        \
    "status = 'pending' AND next_attempt_at <= $3 AND attempts < $4 AND "                          \
    "(lease_until IS NULL OR lease_until < $3)"
    bastion_host_rc rc = bastion_sql_claim(
        cx, db,
        "UPDATE email_failures SET lease_id = $1, lease_until = $2 WHERE " DUE
        " AND id IN (SELECT id FROM email_failures WHERE " DUE " ORDER BY next_attempt_at, id "
        "LIMIT $5)",
        p, BASTION_COUNTOF(p),
        "SELECT id, attempts, kind, recipient, subject, body FROM email_failures "
        "WHERE lease_id = $1 AND status = 'pending' ORDER BY next_attempt_at, id",
        q, BASTION_COUNTOF(q), rows);
#undef DUE
    if (rc != BASTION_HOST_OK) {
        log_store("outbox rows not claimed", db);
        return false;
    }
    return true;
}

static void give_back(bastion_ctx *cx, const char *db, const char *lease)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(lease))};
    bastion_rows rows;
    if (bastion_sql_query(cx, db,
                          "UPDATE email_failures SET lease_id = NULL, lease_until = NULL "
                          "WHERE lease_id = $1 AND status = 'pending'",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK)
        log_store("claimed outbox rows not given back (their lease expires)", db);
}

/* The alert for an email given up on: sent now, or queued in the same outbox. */
static void alert(bastion_ctx *cx, const char *db, const outbox_row *r, const char *error, tally *t)
{
    bastion_str admin = bastion_config("admin_alert_email");
    if (!admin.len) {
        bastion_header f[] = {{BASTION_LIT("db"), bastion_cstr(db)},
                              {BASTION_LIT("outbox_id"), bastion_u64_str((uint64_t)r->id)}};
        bastion_log_safe(BASTION_LOG_ERROR, "email given up; admin_alert_email unset", f,
                         BASTION_COUNTOF(f));
        return;
    }
    bastion_email m = {
        .kind = ALERT_KIND,
        .to = admin,
        .subject =
            bastion_sprintf("An email could not be delivered (%s #%lld)", db, (long long)r->id),
        .text = bastion_sprintf("After %d attempts this email was given up on.\n\n"
                                "Database: %s\nOutbox id: %lld\nKind: " BASTION_STR_FMT
                                "\nTo: " BASTION_STR_FMT "\nSubject: " BASTION_STR_FMT
                                "\nLast error: %s\n",
                                MAX_ATTEMPTS, db, (long long)r->id, BASTION_STR_ARG(r->kind),
                                BASTION_STR_ARG(r->to), BASTION_STR_ARG(r->subject), error),
    };
    const bastion_email_sender s = {db, KV};
    bastion_email_result out;
    bastion_email_send(cx, &s, &m, &out);
    t->alerts++;
}

/* One row's outcome, in one transaction. */
static void record(bastion_ctx *cx, const char *db, const char *lease, const outbox_row *r,
                   const char *error, tally *t)
{
    int64_t now = (int64_t)bastion_now_ms();
    int64_t attempts = r->attempts + 1;
    bool give_up = error && attempts >= MAX_ATTEMPTS;
    /* $1 id, $2 lease, $3 attempts, $4 error, $5 now or the next attempt */
    bastion_sql_value p[] = {
        BASTION_SQL_INT(r->id),
        BASTION_SQL_STR(bastion_cstr(lease)),
        BASTION_SQL_INT(attempts),
        error ? BASTION_SQL_STR(bastion_cstr(error)) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(error && !give_up ? next_attempt(now, attempts) : now),
    };
#define OURS " WHERE id = $1 AND lease_id = $2 AND status = 'pending'"
    const char *sql =
        !error ? "UPDATE email_failures SET status = 'sent', sent_at = $5, attempts = $3, "
                 "error = CAST($4 AS TEXT), lease_id = NULL, lease_until = NULL" OURS
        : give_up
            /* the alert claimed with the status: exactly one per failed email */
            ? "UPDATE email_failures SET status = 'failed', attempts = $3, error = $4, "
              "alerted_at = $5, lease_id = NULL, lease_until = NULL" OURS " AND alerted_at IS NULL"
            : "UPDATE email_failures SET attempts = $3, error = $4, next_attempt_at = $5, "
              "lease_id = NULL, lease_until = NULL" OURS;
#undef OURS
    /* an alert's own failure is never alerted */
    bool is_alert = bastion_str_eq(r->kind, BASTION_LIT(ALERT_KIND));
    bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE(sql, p);
    bastion_rows rows;
    bastion_host_rc rc = bastion_sql_transaction(cx, db, &st, 1, &rows);
    if (rc == BASTION_HOST_GUARD)
        return; /* no longer ours (a lease past its end): the next run sees it */
    if (rc != BASTION_HOST_OK) {
        log_store("outbox row not updated", db);
        t->stopped = "store";
        return;
    }
    if (!error)
        t->sent++;
    else if (!give_up)
        t->retrying++;
    else {
        t->failed++;
        if (!is_alert)
            alert(cx, db, r, error, t);
    }
}

static void retry_outbox(bastion_ctx *cx, const char *db, tally *t)
{
    const bastion_email_sender s = {db, KV};
    while (!t->stopped) {
        if (bastion_job_out_of_time(cx, RESERVE_MS, &t->stopped))
            return;
        char lease[37];
        if (bastion_uuid_v4(lease) != 0)
            __builtin_trap();
        bastion_rows rows;
        if (!claim(cx, db, lease, &rows)) {
            t->stopped = "store";
            return;
        }
        if (rows.n_rows == 0)
            return;
        for (size_t i = 0; i < rows.n_rows && !t->stopped; i++) {
            if (bastion_job_out_of_time(cx, RESERVE_MS, &t->stopped))
                break;
            bastion_row row = bastion_row_at(&rows, i);
            outbox_row r = {
                .id = bastion_row_int(&row, 0),
                .attempts = bastion_row_int(&row, 1),
                .kind = bastion_row_text(&row, 2),
                .to = bastion_row_text(&row, 3),
                .subject = bastion_row_text(&row, 4),
                .body = bastion_row_text(&row, 5),
            };
            if (bastion_row_or_problem(cx, &row, "outbox read"))
                return;
            t->scanned++;
            bastion_email m = {
                .kind = bastion_str_dup(r.kind), .to = r.to, .subject = r.subject, .text = r.body};
            bastion_email_attempt_result a = bastion_email_attempt(cx, &s, &m);
            if (a.circuit_open) {
                t->stopped = "breaker";
                break;
            }
            record(cx, db, lease, &r, a.error, t);
        }
        if (t->stopped)
            give_back(cx, db, lease);
    }
}

static void run(bastion_ctx *cx)
{
    tally t = {0};
    for (size_t i = 0; i < BASTION_COUNTOF(OUTBOXES) && !t.stopped; i++)
        retry_outbox(cx, OUTBOXES[i], &t);
    const bastion_count counts[] = {
        {"scanned", t.scanned},   {"sent", t.sent},     {"failed", t.failed},
        {"retrying", t.retrying}, {"alerts", t.alerts},
    };
    bool broken = t.stopped && !strcmp(t.stopped, "store");
    bastion_job_respond(cx, counts, BASTION_COUNTOF(counts), t.stopped, broken);
}

static const bastion_route routes[] = {
    {BASTION_CRON_METHOD, "email-retry", run},
};
BASTION_ROUTES(routes);
