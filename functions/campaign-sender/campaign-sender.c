/*
 * campaign-sender, a [[cron]] job (every minute): the SMS of campaigns in
 * `sending`, each recipient at most once.
 *
 * For each sending campaign, oldest first, until the run's time is spent:
 *   1. claim a batch of queued recipients with one guarded UPDATE that sets
 *      a fresh lease (lease_id, lease_until = now + LEASE_MS) on rows not
 *      leased or whose lease ran out, and read back exactly the rows of that
 *      lease (the runner's kv lease already keeps a second run away; the row
 *      lease is what a run that died leaves behind, to expire);
 *   2. send each through the SMS provider (sms.h) with Idempotency-Key
 *      "<campaign>/<contact>", so a message sent again after a crash between
 *      the provider's answer and the commit below is still one message;
 *   3. mark it in one transaction (CONC5): sent → status, provider id, and
 *      one credit debited from both the tenant's balance and the campaign's
 *      reservation (guarded: the row still ours and queued, the reservation
 *      active with credits left, the balance ≥ 1); refused or failed →
 *      status failed with why, nothing debited;
 *   4. with no recipient left queued: the campaign `sending → sent` and its
 *      reservation closed (consumed when any credit was used, else
 *      released), so what was not used is no longer held.
 * The breaker open stops the run early: the batch's unsent rows are given
 * back (lease cleared) for the next run. Answer: {"campaigns", "claimed",
 * "sent", "failed", "completed", "released", "unrecorded", "stopped"}.
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB "shop"
#define KV "campaign-sender" /* the sms breaker */

#define CAMPAIGNS_PER_RUN 20
#define BATCH             100
#define LEASE_MS          INT64_C(120000) /* past the run's own deadline (55 s) */
/* stop claiming or sending when less than this is left: one send (the 8 s
 * external budget) and its commit still fit */
#define RESERVE_MS 10000u

typedef struct {
    uint64_t campaigns, claimed, sent, failed, completed, released, unrecorded;
    const char *stopped; /* NULL, "deadline", "breaker", "misconfigured", "store" */
} tally;

static void log_fail(const char *what, bastion_str campaign)
{
    bastion_header f[] = {{BASTION_LIT("campaign"), campaign},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, what, f, BASTION_COUNTOF(f));
}

/* 1. A batch of the campaign's queued recipients under a new lease; their
 * contact ids and phones in *rows. */
static bool claim(bastion_ctx *cx, bastion_str campaign, const char *lease, bastion_rows *rows)
{
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {BASTION_SQL_STR(campaign), BASTION_SQL_STR(bastion_cstr(lease)),
                             BASTION_SQL_INT(now + LEASE_MS), BASTION_SQL_INT(now),
                             BASTION_SQL_INT(BATCH)};
    bastion_sql_value q[] = {BASTION_SQL_STR(campaign), BASTION_SQL_STR(bastion_cstr(lease))};
#define FREE "status = 'queued' AND (lease_until IS NULL OR lease_until < $4)"
    if (bastion_sql_claim(
            cx, DB,
            "UPDATE campaign_recipients SET lease_id = $2, lease_until = $3, "
            "updated_at = $4 WHERE campaign_id = $1 AND " FREE " AND contact_id IN "
            "(SELECT contact_id FROM campaign_recipients WHERE campaign_id = $1 AND " FREE
            " ORDER BY created_at, contact_id LIMIT $5)",
            p, BASTION_COUNTOF(p),
            "SELECT contact_id, phone FROM campaign_recipients WHERE campaign_id = $1 "
            "AND lease_id = $2 AND status = 'queued' ORDER BY created_at, contact_id",
            q, BASTION_COUNTOF(q), rows) != BASTION_HOST_OK) {
        log_fail("recipients not claimed", campaign);
        return false;
    }
#undef FREE
    return true;
}

/* Gives the lease's unsent rows back for the next run. */
static void give_back(bastion_ctx *cx, bastion_str campaign, const char *lease)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(campaign), BASTION_SQL_STR(bastion_cstr(lease)),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_rows rows;
    if (bastion_sql_query(cx, DB,
                          "UPDATE campaign_recipients SET lease_id = NULL, lease_until = NULL, "
                          "updated_at = $3 WHERE campaign_id = $1 AND lease_id = $2 "
                          "AND status = 'queued'",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK)
        log_fail("claimed recipients not given back (their lease expires)", campaign);
}

/* 3. The recipient marked, and for a sent one its credit debited, in one
 * transaction. */
static void mark(bastion_ctx *cx, bastion_str campaign, bastion_str tenant, bastion_str contact,
                 const char *lease, const bastion_sms_result *r, tally *t)
{
    bool sent = r->outcome == BASTION_SMS_SENT;
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value row[] = {
        BASTION_SQL_STR(campaign),
        BASTION_SQL_STR(contact),
        BASTION_SQL_STR(bastion_cstr(lease)),
        BASTION_SQL_INT(now),
        sent ? BASTION_SQL_STR(r->provider_id) : BASTION_SQL_STR(bastion_cstr(r->error)),
    };
    bastion_sql_value camp[] = {BASTION_SQL_STR(campaign), BASTION_SQL_STR(tenant),
                                BASTION_SQL_INT(now)};
    bastion_sql_value acct[] = {BASTION_SQL_STR(tenant), BASTION_SQL_INT(now)};
#define OURS "WHERE campaign_id = $1 AND contact_id = $2 AND lease_id = $3 AND status = 'queued'"
    const bastion_sql_stmt st[] = {
        BASTION_SQL_CHANGE_ONE(
            sent
                ? "UPDATE campaign_recipients SET status = 'sent', provider_id = $5, sent_at = $4, "
                  "lease_id = NULL, lease_until = NULL, updated_at = $4 " OURS
                : "UPDATE campaign_recipients SET status = 'failed', error = $5, "
                  "lease_id = NULL, lease_until = NULL, updated_at = $4 " OURS,
            row),
        BASTION_SQL_CHANGE_ONE("UPDATE campaigns SET progress_at = $3 WHERE id = $1 AND "
                               "tenant = $2 AND status = 'sending'",
                               camp),
        BASTION_SQL_CHANGE_ONE("UPDATE credit_reservations SET consumed = consumed + 1, "
                               "updated_at = $3 WHERE campaign_id = $1 AND tenant = $2 "
                               "AND status = 'active' AND consumed < credits",
                               camp),
        BASTION_SQL_CHANGE_ONE("UPDATE credit_accounts SET balance = balance - 1, updated_at = $2 "
                               "WHERE tenant = $1 AND balance >= 1",
                               acct),
    };
#undef OURS
    bastion_rows out[BASTION_COUNTOF(st)];
    size_t n = sent ? 4 : 2;
    bastion_host_rc rc = bastion_sql_transaction(cx, DB, st, n, out);
    if (rc == BASTION_HOST_OK) {
        if (sent)
            t->sent++;
        else
            t->failed++;
        return;
    }
    /* The message's fate is known but not recorded: the campaign was
     * cancelled under it (a guard), or the store failed. Logged with what
     * the provider said; a sent one is never sent again (its row stays
     * leased until reconcile looks at it, and the provider dedups the key). */
    t->unrecorded++;
    bastion_header f[] = {{BASTION_LIT("campaign"), campaign},
                          {BASTION_LIT("contact"), contact},
                          {BASTION_LIT("outcome"), bastion_cstr(sent ? "sent" : "failed")},
                          {BASTION_LIT("provider_id"), sent ? r->provider_id : BASTION_LIT("")},
                          {BASTION_LIT("guard"), bastion_u64_str(bastion_sql_guard_failed())},
                          {BASTION_LIT("detail"), bastion_host_error_text()}};
    bastion_log_safe(BASTION_LOG_ERROR, "recipient's outcome not recorded", f, BASTION_COUNTOF(f));
}

/* 4. No recipient queued: sending → sent, the reservation closed. */
static void finish(bastion_ctx *cx, bastion_str campaign, tally *t)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(campaign), BASTION_SQL_INT((int64_t)bastion_now_ms())};
    const bastion_sql_stmt st[] = {
        BASTION_SQL_CHANGE_ONE("UPDATE campaigns SET status = 'sent', completed_at = $2, "
                               "progress_at = $2, updated_at = $2 WHERE id = $1 AND "
                               "status = 'sending' AND NOT EXISTS (SELECT 1 FROM "
                               "campaign_recipients WHERE campaign_id = $1 AND status = 'queued')",
                               p),
        {.sql = "UPDATE credit_reservations SET status = CASE WHEN consumed > 0 THEN 'consumed' "
                "ELSE 'released' END, updated_at = $2 WHERE campaign_id = $1 AND status = 'active'",
         .params = p,
         .n_params = BASTION_COUNTOF(p)},
    };
    bastion_rows out[BASTION_COUNTOF(st)];
    bastion_host_rc rc = bastion_sql_transaction(cx, DB, st, BASTION_COUNTOF(st), out);
    if (rc == BASTION_HOST_GUARD)
        return; /* recipients still queued (leased by a run that died), or cancelled */
    if (rc != BASTION_HOST_OK) {
        log_fail("campaign not completed", campaign);
        return;
    }
    t->completed++;
    t->released += out[1].changes;
    bastion_header f[] = {{BASTION_LIT("campaign"), campaign}};
    bastion_log_safe(BASTION_LOG_INFO, "campaign sent", f, 1);
}

static bool stop_for(bastion_sms_outcome o, tally *t)
{
    if (o == BASTION_SMS_CIRCUIT_OPEN)
        t->stopped = "breaker";
    else if (o == BASTION_SMS_MISCONFIGURED)
        t->stopped = "misconfigured";
    return t->stopped != NULL;
}

/* One campaign's queued recipients, batch by batch. */
static void send_campaign(bastion_ctx *cx, bastion_str id, bastion_str tenant, bastion_str message,
                          tally *t)
{
    while (!t->stopped) {
        if (bastion_job_out_of_time(cx, RESERVE_MS, &t->stopped))
            return;
        char lease[37];
        if (bastion_uuid_v4(lease) != 0)
            __builtin_trap();
        bastion_rows rows;
        if (!claim(cx, id, lease, &rows)) {
            t->stopped = "store";
            return;
        }
        if (rows.n_rows == 0)
            break;
        t->claimed += rows.n_rows;
        for (size_t i = 0; i < rows.n_rows && !t->stopped; i++) {
            if (bastion_job_out_of_time(cx, RESERVE_MS, &t->stopped))
                break;
            bastion_row row = bastion_row_at(&rows, i);
            bastion_str contact = bastion_row_text(&row, 0), phone = bastion_row_text(&row, 1);
            if (bastion_row_or_problem(cx, &row, "recipient read"))
                return;
            bastion_str key = bastion_sprintf(BASTION_STR_FMT "/" BASTION_STR_FMT,
                                              BASTION_STR_ARG(id), BASTION_STR_ARG(contact));
            bastion_sms_result r = bastion_sms_send(cx, KV, phone, message, key);
            if (stop_for(r.outcome, t))
                break;
            mark(cx, id, tenant, contact, lease, &r, t);
        }
        if (t->stopped) {
            give_back(cx, id, lease);
            return;
        }
    }
    finish(cx, id, t);
}

static void run(bastion_ctx *cx)
{
    tally t = {0};
    bastion_rows campaigns;
    /* only what an active reservation still covers (reconcile fails the rest) */
    bastion_sql_value p[] = {BASTION_SQL_INT(CAMPAIGNS_PER_RUN),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    if (bastion_sql_query_or_problem(
            cx, DB,
            "SELECT c.id, c.tenant, c.message FROM campaigns c WHERE c.status = 'sending' AND "
            "EXISTS (SELECT 1 FROM credit_reservations r WHERE r.campaign_id = c.id AND "
            "r.status = 'active' AND r.expires_at > $2) ORDER BY c.enqueued_at, c.id LIMIT $1",
            p, BASTION_COUNTOF(p), &campaigns, "campaigns read"))
        return; /* loud: a 5xx answer, the runner's error line */
    for (size_t i = 0; i < campaigns.n_rows && !t.stopped; i++) {
        bastion_row row = bastion_row_at(&campaigns, i);
        bastion_str id = bastion_row_text(&row, 0), tenant = bastion_row_text(&row, 1),
                    message = bastion_row_text(&row, 2);
        if (bastion_row_or_problem(cx, &row, "campaigns read"))
            return;
        t.campaigns++;
        send_campaign(cx, id, tenant, message, &t);
    }
    const bastion_count counts[] = {
        {"campaigns", t.campaigns},   {"claimed", t.claimed},     {"sent", t.sent},
        {"failed", t.failed},         {"completed", t.completed}, {"released", t.released},
        {"unrecorded", t.unrecorded},
    };
    /* a store failure or a misconfiguration is the job failing: loud */
    bool broken = t.stopped && (!strcmp(t.stopped, "store") || !strcmp(t.stopped, "misconfigured"));
    bastion_job_respond(cx, counts, BASTION_COUNTOF(counts), t.stopped, broken);
}

static const bastion_route routes[] = {
    {BASTION_CRON_METHOD, "campaign-sender", run},
};
BASTION_ROUTES(routes);
