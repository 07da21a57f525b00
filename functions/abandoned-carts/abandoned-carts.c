/*
 * abandoned-carts, a [[cron]] job (every 15 min, REL6, REL1): the shopper
 * of a cart left open (functions/carts) is reminded of it, twice at most.
 *
 *   candidates  open carts with at least one line, untouched (updated_at)
 *               for IDLE_MS, with fewer than MAX_REMINDERS reminders and
 *               none in the last GAP_MS; read in pages by (updated_at, id),
 *               so a cart that fails is not read again in the same run.
 *               When the query fails the run fails (503) and sends nothing.
 *   claim       reminder number n + 1 (cart_reminders, primary key (cart,
 *               seq), guarded to one change) inserted in one transaction
 *               with the email's outbox row, and only then sent
 *               (bastion_email_with_changes). A run that loses the race
 *               skips; a failed send stays in the outbox for email-retry.
 *   errors      a claim whose insert failed (or a cart whose items could
 *               not be read): nothing sent, nothing counted as sent, one
 *               error line with the cart id; the cart is tried again by the
 *               next run. Any error makes the run's answer a 503 (the
 *               runner's error line), after every other cart was tried.
 * Answer: {"scanned", "sent", "queued", "skipped", "errors", "stopped"}:
 * sent and queued count only committed claims (queued: the provider
 * failed, the outbox has it); stopped is null, "deadline" or "store".
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB "carts"
#define KV "abandoned-carts" /* the email breaker */

#define IDLE_MS       INT64_C(3600000)  /* untouched for an hour */
#define GAP_MS        INT64_C(86400000) /* a day between two reminders */
#define MAX_REMINDERS 2
#define BATCH         50
#define RESERVE_MS    10000u /* one send (8 s) and its commit */

static const bastion_email_sender MAIL = {DB, KV};

typedef struct {
    uint64_t scanned, errors;
    bastion_email_tally mail;
    const char *stopped; /* NULL, "deadline", "store" */
} tally;

typedef struct {
    bastion_str id, email;
    int64_t total, reminders;
} cart;

static void cart_error(tally *t, const char *what, bastion_str id)
{
    t->errors++;
    bastion_header f[] = {{BASTION_LIT("cart"), id},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, what, f, BASTION_COUNTOF(f));
}

/* "12.34" for 1234 cents. */
static const char *money(int64_t cents)
{
    return bastion_sprintf("%lld.%02lld", (long long)(cents / 100), (long long)(cents % 100)).ptr;
}

/* The reminder's text: the cart's lines and total; NULL when its items
 * could not be read. */
static const char *reminder_text(bastion_ctx *cx, const cart *c)
{
    bastion_sql_value key[] = {BASTION_SQL_STR(c->id)};
    bastion_rows rows;
    if (bastion_sql_query(cx, DB,
                          "SELECT name, qty, price_cents FROM cart_items WHERE cart_id = $1 "
                          "ORDER BY line",
                          key, BASTION_COUNTOF(key), &rows) != BASTION_HOST_OK)
        return NULL;
    const char *text = "You left these in your cart:\n\n";
    for (size_t i = 0; i < rows.n_rows; i++) {
        bastion_row row = bastion_row_at(&rows, i);
        bastion_str name = bastion_row_text(&row, 0);
        int64_t qty = bastion_row_int(&row, 1), price = bastion_row_int(&row, 2);
        if (row.failed)
            return NULL;
        text = bastion_sprintf("%s  %lld x " BASTION_STR_FMT " (%s each)\n", text, (long long)qty,
                               BASTION_STR_ARG(name), money(price))
                   .ptr;
    }
    return bastion_sprintf("%s\nTotal: %s\n\nCart: " BASTION_STR_FMT "\n", text, money(c->total),
                           BASTION_STR_ARG(c->id))
        .ptr;
}

/* One cart: its next reminder claimed with its outbox row, then sent. */
static void remind(bastion_ctx *cx, const cart *c, tally *t)
{
    const char *text = reminder_text(cx, c);
    if (!text) {
        cart_error(t, "cart items not read; no reminder", c->id);
        return;
    }
    bastion_email m = {
        .kind = "cart-reminder",
        .to = c->email,
        .subject = BASTION_LIT("You left something in your cart"),
        .text = bastion_cstr(text),
    };
    bastion_sql_value p[] = {BASTION_SQL_STR(c->id), BASTION_SQL_INT(c->reminders + 1),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_sql_stmt claim = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO cart_reminders (cart_id, seq, claimed_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (cart_id, seq) DO NOTHING",
        p);
    if (bastion_email_claimed(cx, &MAIL, &claim, &m, &t->mail) != BASTION_HOST_OK)
        cart_error(t, "cart reminder not recorded; not sent", c->id);
}

static void run(bastion_ctx *cx)
{
    tally t = {0};
    int64_t now = (int64_t)bastion_now_ms();
    /* the page key: after (updated_at, id) of the last cart seen */
    int64_t after_at = -1;
    bastion_str after_id = BASTION_LIT("");
    while (!t.stopped) {
        bastion_sql_value p[] = {BASTION_SQL_INT(now - IDLE_MS), BASTION_SQL_INT(after_at),
                                 BASTION_SQL_STR(after_id),      BASTION_SQL_INT(MAX_REMINDERS),
                                 BASTION_SQL_INT(now - GAP_MS),  BASTION_SQL_INT(BATCH)};
        bastion_rows rows;
        if (bastion_sql_query(cx, DB,
                              "SELECT c.id, c.email, c.total_cents, c.updated_at, "
                              "(SELECT COUNT(*) FROM cart_reminders r WHERE r.cart_id = c.id) "
                              "FROM carts c WHERE c.status = 'open' AND c.lines > 0 "
                              "AND c.updated_at <= $1 "
                              "AND (c.updated_at > $2 OR (c.updated_at = $2 AND c.id > $3)) "
                              /* seq n exists only after 1..n-1: no row at
                               * MAX_REMINDERS means fewer than that many */
                              "AND NOT EXISTS (SELECT 1 FROM cart_reminders r "
                              "WHERE r.cart_id = c.id AND (r.seq >= $4 OR r.claimed_at > $5)) "
                              "ORDER BY c.updated_at, c.id LIMIT $6",
                              p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
            t.stopped = "store";
            bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
            bastion_log_safe(BASTION_LOG_ERROR, "abandoned carts not read; nothing sent", f,
                             BASTION_COUNTOF(f));
            break;
        }
        if (rows.n_rows == 0)
            break;
        for (size_t i = 0; i < rows.n_rows && !t.stopped; i++) {
            if (bastion_job_out_of_time(cx, RESERVE_MS, &t.stopped))
                break;
            bastion_row row = bastion_row_at(&rows, i);
            cart c = {
                .id = bastion_row_text(&row, 0),
                .email = bastion_row_text(&row, 1),
                .total = bastion_row_int(&row, 2),
                .reminders = bastion_row_int(&row, 4),
            };
            after_at = bastion_row_int(&row, 3);
            after_id = c.id;
            if (row.failed) {
                t.stopped = "store"; /* no page key to go on from */
                break;
            }
            t.scanned++;
            remind(cx, &c, &t);
        }
    }
    const bastion_count counts[] = {
        {"scanned", t.scanned},      {"sent", t.mail.sent}, {"queued", t.mail.queued},
        {"skipped", t.mail.skipped}, {"errors", t.errors},
    };
    bool failed = t.errors > 0 || (t.stopped && !strcmp(t.stopped, "store"));
    bastion_job_respond(cx, counts, BASTION_COUNTOF(counts), t.stopped, failed);
}

static const bastion_route routes[] = {
    {BASTION_CRON_METHOD, "abandoned-carts", run},
};
BASTION_ROUTES(routes);
