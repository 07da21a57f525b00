/*
 * reminders, a [[cron]] job (every 5 min, REL6): the customer of a confirmed
 * appointment (functions/appointments) is reminded a day ahead and an hour
 * ahead of its confirmed start.
 *
 *   candidates  confirmed appointments whose confirmed start lies in a
 *               kind's window — "1h": (now, now + 1 h]; "24h": (now + 1 h,
 *               now + 24 h] — with no appointment_reminders row of that
 *               kind. One query per batch; when it fails the run fails (the
 *               runner's error line, 503) and sends nothing: a row that
 *               could not be read is never taken for "not reminded yet".
 *   claim       the (appointment, kind) row inserted, guarded to one change
 *               (its primary key is the claim), in one transaction with the
 *               reminder's outbox row (email_failures); only then is it sent
 *               (bastion_email_with_changes). Two runs at once, a run whose
 *               lease ran out, a retried run: the loser's insert changes
 *               nothing and it skips. A failed send stays in the outbox for
 *               email-retry (REL5), never a second reminder.
 * An appointment confirmed less than an hour ahead gets the 1 h reminder
 * only. Answer: {"scanned", "sent", "queued", "skipped", "stopped"}: queued
 * is claimed but left in the outbox (the provider failed), skipped is
 * claimed by another run first; stopped is null, "deadline" or "store".
 */
#include <string.h>

#include <bastion/bastion.h>

#define DB "appointments"
#define KV "reminders" /* the email breaker */

#define HOUR_MS    INT64_C(3600000)
#define BATCH      50
#define RESERVE_MS 10000u /* one send (8 s) and its commit */

typedef struct {
    const char *kind;       /* appointment_reminders.kind */
    const char *email;      /* the email's kind (logs, outbox) */
    int64_t from_ms, to_ms; /* the window: start in (now + from, now + to] */
    const char *subject;
} reminder_kind;

/* The nearer first: an hour's notice is the one that must not wait. */
static const reminder_kind KINDS[] = {
    {"1h", "appointment-reminder-1h", 0, HOUR_MS, "Reminder: your appointment is in an hour"},
    {"24h", "appointment-reminder-24h", HOUR_MS, 24 * HOUR_MS,
     "Reminder: your appointment is tomorrow"},
};

static const bastion_email_sender MAIL = {DB, KV};

typedef struct {
    uint64_t scanned;
    bastion_email_tally mail;
    const char *stopped; /* NULL, "deadline", "store" */
} tally;

static void store_failed(tally *t, const char *what, bastion_str appointment)
{
    t->stopped = "store";
    bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()},
                          {BASTION_LIT("appointment"), appointment}};
    bastion_log_safe(BASTION_LOG_ERROR, what, f, appointment.len ? 2 : 1);
}

/* One candidate: claimed with its outbox row, then sent. */
static void remind(bastion_ctx *cx, const reminder_kind *k, bastion_str id, bastion_str to,
                   bastion_str service, int64_t start, tally *t)
{
    char at[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(start, at);
    bastion_email m = {
        .kind = k->email,
        .to = to,
        .subject = bastion_cstr(k->subject),
        .text = bastion_sprintf("Your " BASTION_STR_FMT " appointment starts at %s (UTC).\n\n"
                                "Reference: " BASTION_STR_FMT "\n",
                                BASTION_STR_ARG(service), at, BASTION_STR_ARG(id)),
    };
    bastion_sql_value p[] = {BASTION_SQL_STR(id), BASTION_SQL_STR(bastion_cstr(k->kind)),
                             BASTION_SQL_INT(start), BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_sql_stmt claim = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO appointment_reminders (appointment_id, kind, start_at, claimed_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (appointment_id, kind) DO NOTHING",
        p);
    if (bastion_email_claimed(cx, &MAIL, &claim, &m, &t->mail) != BASTION_HOST_OK)
        store_failed(t, "reminder not claimed", id);
}

static void remind_kind(bastion_ctx *cx, const reminder_kind *k, tally *t)
{
    while (!t->stopped) {
        int64_t now = (int64_t)bastion_now_ms();
        bastion_sql_value p[] = {BASTION_SQL_INT(now + k->from_ms), BASTION_SQL_INT(now + k->to_ms),
                                 BASTION_SQL_STR(bastion_cstr(k->kind)), BASTION_SQL_INT(BATCH)};
        bastion_rows rows;
        if (bastion_sql_query(cx, DB,
                              "SELECT a.id, a.email, a.service, a.confirmed_start "
                              "FROM appointments a WHERE a.status = 'confirmed' "
                              "AND a.confirmed_start > $1 AND a.confirmed_start <= $2 "
                              "AND NOT EXISTS (SELECT 1 FROM appointment_reminders r "
                              "WHERE r.appointment_id = a.id AND r.kind = $3) "
                              "ORDER BY a.confirmed_start, a.id LIMIT $4",
                              p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
            store_failed(t, "reminder candidates not read; nothing sent", BASTION_LIT(""));
            return;
        }
        if (rows.n_rows == 0)
            return;
        for (size_t i = 0; i < rows.n_rows && !t->stopped; i++) {
            if (bastion_job_out_of_time(cx, RESERVE_MS, &t->stopped))
                return;
            bastion_row row = bastion_row_at(&rows, i);
            bastion_str id = bastion_row_text(&row, 0);
            bastion_str to = bastion_row_text(&row, 1);
            bastion_str service = bastion_row_text(&row, 2);
            int64_t start = bastion_row_int(&row, 3);
            if (row.failed) {
                store_failed(t, "reminder candidate unreadable", BASTION_LIT(""));
                return;
            }
            t->scanned++;
            remind(cx, k, id, to, service, start, t);
        }
    }
}

static void run(bastion_ctx *cx)
{
    tally t = {0};
    for (size_t i = 0; i < BASTION_COUNTOF(KINDS) && !t.stopped; i++)
        remind_kind(cx, &KINDS[i], &t);
    const bastion_count counts[] = {
        {"scanned", t.scanned},
        {"sent", t.mail.sent},
        {"queued", t.mail.queued},
        {"skipped", t.mail.skipped},
    };
    bool broken = t.stopped && !strcmp(t.stopped, "store");
    bastion_job_respond(cx, counts, BASTION_COUNTOF(counts), t.stopped, broken);
}

static const bastion_route routes[] = {
    {BASTION_CRON_METHOD, "reminders", run},
};
BASTION_ROUTES(routes);
