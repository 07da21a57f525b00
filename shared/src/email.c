/*
 * Email with an outbox (see email.h).
 */
#include <stdio.h>
#include <string.h>

#include "bastion/breaker.h"
#include "bastion/email.h"
#include "bastion/http.h"
#include "bastion/problem.h"
#include "bastion/rows.h"

/* First retry a minute later; the retry job backs off from there (REL5). */
#define FIRST_RETRY_MS 60000

static const bastion_breaker EMAIL_BREAKER = {"email", NULL, 5, 30000, 0};

static void log_email(const bastion_email *m, const char *what, const char *error)
{
    bastion_header f[] = {
        {BASTION_LIT("kind"), bastion_cstr(m->kind)},
        {BASTION_LIT("error"), bastion_cstr(error ? error : "")},
    };
    bastion_log(error ? BASTION_LOG_WARN : BASTION_LOG_INFO, what, f,
                error ? BASTION_COUNTOF(f) : 1); /* the kind alone when sent */
}

/* One attempt at the provider. Returns NULL when accepted, else the reason. */
static const char *attempt(bastion_ctx *cx, const bastion_email_sender *s, const bastion_email *m,
                           bool *circuit_open);

/* see email.h */
bastion_email_attempt_result bastion_email_attempt(bastion_ctx *cx, const bastion_email_sender *s,
                                                   const bastion_email *m)
{
    bastion_email_attempt_result r = {0};
    r.error = attempt(cx, s, m, &r.circuit_open);
    return r;
}

static const char *attempt(bastion_ctx *cx, const bastion_email_sender *s, const bastion_email *m,
                           bool *circuit_open)
{
    bastion_str base = bastion_config("email_api_base");
    bastion_str key = bastion_config("email_api_key");
    bastion_str from = bastion_config("email_from");
    if (!base.ptr || !key.ptr || !from.ptr)
        return "email is not configured";

    bastion_breaker b = EMAIL_BREAKER;
    b.store = s->kv_store;
    bastion_breaker_ticket ticket;
    uint64_t retry_ms;
    if (!bastion_breaker_allow(cx, &b, &ticket, &retry_ms)) {
        if (circuit_open)
            *circuit_open = true;
        return "email provider circuit open";
    }

    size_t ul = base.len + sizeof "/emails";
    char *url = bastion_alloc(ul);
    snprintf(url, ul, BASTION_STR_FMT "/emails", BASTION_STR_ARG(base));
    size_t al = key.len + sizeof "Bearer ";
    char *auth = bastion_alloc(al);
    snprintf(auth, al, "Bearer " BASTION_STR_FMT, BASTION_STR_ARG(key));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "from", bastion_str_dup(from));
    cJSON_AddStringToObject(body, "to", bastion_str_dup(m->to));
    cJSON_AddStringToObject(body, "subject", bastion_str_dup(m->subject));
    cJSON_AddStringToObject(body, "text", bastion_str_dup(m->text));
    char *json = cJSON_PrintUnformatted(body); /* arena memory (core.h) */
    if (!json)
        __builtin_trap();
    bastion_header h[] = {
        {BASTION_LIT("authorization"), bastion_cstr(auth)},
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    bastion_http_response r;
    bastion_host_rc rc = bastion_http_send(cx, "POST", url, h, 2, bastion_cstr(json), &r);
    const char *error = NULL;
    if (rc == BASTION_HOST_TIMEOUT)
        error = "email provider timed out";
    else if (rc == BASTION_HOST_DENIED)
        error = "email provider not on the outbound allow-list";
    else if (rc != BASTION_HOST_OK)
        error = "email provider unreachable";
    else if (r.status < 200 || r.status > 299) {
        static char buf[48];
        snprintf(buf, sizeof buf, "email provider answered %u", r.status);
        error = buf;
    }
    bastion_breaker_record(cx, &b, &ticket, error == NULL);
    return error;
}

/* see email.h */
void bastion_email_queue_stmt(bastion_sql_stmt *st, bastion_sql_value params[5],
                              const bastion_email *m)
{
    int64_t now = (int64_t)bastion_now_ms();
    params[0] = BASTION_SQL_STR(bastion_cstr(m->kind));
    params[1] = BASTION_SQL_STR(m->to);
    params[2] = BASTION_SQL_STR(m->subject);
    params[3] = BASTION_SQL_STR(m->text);
    params[4] = BASTION_SQL_INT(now);
    memset(st, 0, sizeof *st);
    st->sql = "INSERT INTO email_failures (kind, recipient, subject, body, attempts, status, "
              "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, 'pending', $5, $5) "
              "RETURNING id";
    st->params = params;
    st->n_params = 5; /* params[5] in the signature */
    st->has_expect = true;
    st->expect_changes = 1;
}

static void record_failure(bastion_ctx *cx, const bastion_email_sender *s, int64_t id,
                           const char *error)
{
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(error)),
        BASTION_SQL_INT((int64_t)bastion_now_ms() + FIRST_RETRY_MS),
        BASTION_SQL_INT(id),
    };
    bastion_rows rows;
    bastion_host_rc rc = bastion_sql_query(
        cx, s->db,
        "UPDATE email_failures SET error = $1, attempts = 1, next_attempt_at = $2 WHERE id = $3", p,
        BASTION_COUNTOF(p), &rows);
    if (rc != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log(BASTION_LOG_ERROR, "email outbox update failed", f, BASTION_COUNTOF(f));
    }
}

/* see email.h */
void bastion_email_deliver_queued(bastion_ctx *cx, const bastion_email_sender *s, int64_t outbox_id,
                                  const bastion_email *m, bastion_email_result *out)
{
    const char *error = attempt(cx, s, m, NULL);
    out->sent = error == NULL;
    out->error = error;
    out->outbox_id = error ? outbox_id : 0;
    if (error) {
        log_email(m, "email not sent; kept in the outbox", error);
        record_failure(cx, s, outbox_id, error);
        return;
    }
    log_email(m, "email sent", NULL);
    bastion_sql_value p[] = {BASTION_SQL_INT(outbox_id)};
    bastion_rows rows;
    /* The row was only a guarantee; a failed delete means one duplicate send
     * by the retry job at worst, which is logged. */
    if (bastion_sql_query(cx, s->db, "DELETE FROM email_failures WHERE id = $1", p,
                          BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log(BASTION_LOG_ERROR, "email outbox cleanup failed", f, BASTION_COUNTOF(f));
    }
}

/* see email.h */
bastion_host_rc bastion_email_with_changes(bastion_ctx *cx, const bastion_email_sender *s,
                                           const bastion_sql_stmt *changes, size_t n,
                                           const bastion_email *m, bastion_email_result *sent)
{
    if (n == 0 || n > BASTION_EMAIL_MAX_CHANGES)
        return BASTION_HOST_INTERNAL;
    bastion_sql_value outbox[5];
    bastion_sql_stmt st[BASTION_EMAIL_MAX_CHANGES + 1];
    memcpy(st, changes, n * sizeof *st);
    bastion_email_queue_stmt(&st[n], outbox, m);
    bastion_rows out[BASTION_EMAIL_MAX_CHANGES + 1];
    bastion_host_rc rc = bastion_sql_transaction(cx, s->db, st, n + 1, out);
    if (rc == BASTION_HOST_GUARD && bastion_sql_guard_failed() > n)
        rc = BASTION_HOST_INTERNAL; /* the outbox row's own guard: ours, not a lost race */
    if (rc != BASTION_HOST_OK)
        return rc;
    bastion_row id = bastion_row_at(&out[n], 0); /* the RETURNING id */
    int64_t outbox_id = bastion_row_int(&id, 0);
    if (id.failed)
        return BASTION_HOST_INTERNAL;
    bastion_email_deliver_queued(cx, s, outbox_id, m, sent);
    return BASTION_HOST_OK;
}

/* see email.h */
bastion_host_rc bastion_email_claimed(bastion_ctx *cx, const bastion_email_sender *s,
                                      const bastion_sql_stmt *claim, const bastion_email *m,
                                      bastion_email_tally *t)
{
    bastion_email_result sent;
    bastion_host_rc rc = bastion_email_with_changes(cx, s, claim, 1, m, &sent);
    if (rc == BASTION_HOST_GUARD)
        t->skipped++;
    else if (rc == BASTION_HOST_OK && sent.sent)
        t->sent++;
    else if (rc == BASTION_HOST_OK)
        t->queued++;
    return rc == BASTION_HOST_GUARD ? BASTION_HOST_OK : rc;
}

/* see email.h */
bastion_rc bastion_email_with_changes_or_problem(bastion_ctx *cx, const bastion_email_sender *s,
                                                 const bastion_sql_stmt *changes, size_t n,
                                                 const bastion_email *m,
                                                 const char *conflict_detail,
                                                 bastion_email_result *sent)
{
    bastion_host_rc rc = bastion_email_with_changes(cx, s, changes, n, m, sent);
    if (rc == BASTION_HOST_OK)
        return BASTION_OK;
    if (rc == BASTION_HOST_GUARD && conflict_detail)
        return bastion_problem(cx, BASTION_E_CONFLICT, conflict_detail);
    /* a lost guard with no conflict to report is not the client's doing */
    return bastion_host_fail_or_problem(cx, rc == BASTION_HOST_GUARD ? BASTION_HOST_INTERNAL : rc,
                                        m->kind);
}

/* see email.h */
bastion_rc bastion_email_with_change_or_problem(bastion_ctx *cx, const bastion_email_sender *s,
                                                const bastion_sql_stmt *change,
                                                const bastion_email *m, const char *conflict_detail,
                                                bastion_email_result *sent)
{
    return bastion_email_with_changes_or_problem(cx, s, change, 1, m, conflict_detail, sent);
}

/* see email.h */
void bastion_email_send(bastion_ctx *cx, const bastion_email_sender *s, const bastion_email *m,
                        bastion_email_result *out)
{
    const char *error = attempt(cx, s, m, NULL);
    out->sent = error == NULL;
    out->error = error;
    out->outbox_id = 0;
    if (!error) {
        log_email(m, "email sent", NULL);
        return;
    }
    log_email(m, "email not sent; kept in the outbox", error);
    bastion_sql_stmt st;
    bastion_sql_value params[5];
    bastion_email_queue_stmt(&st, params, m);
    bastion_sql_value p[] = {params[0],
                             params[1],
                             params[2],
                             params[3],
                             BASTION_SQL_STR(bastion_cstr(error)),
                             BASTION_SQL_INT((int64_t)bastion_now_ms() + FIRST_RETRY_MS),
                             params[4]};
    bastion_rows rows;
    bastion_host_rc rc = bastion_sql_query(
        cx, s->db,
        "INSERT INTO email_failures (kind, recipient, subject, body, error, attempts, status, "
        "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 1, 'pending', $6, $7) "
        "RETURNING id",
        p, BASTION_COUNTOF(p), &rows);
    bastion_row id = bastion_row_at(&rows, 0); /* the RETURNING id */
    if (rc == BASTION_HOST_OK)
        out->outbox_id = bastion_row_int(&id, 0);
    if (rc != BASTION_HOST_OK || id.failed) {
        out->outbox_id = 0;
        /* the email is lost only if the database is down too: say so loudly */
        bastion_header f[] = {{BASTION_LIT("kind"), bastion_cstr(m->kind)},
                              {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log(BASTION_LOG_ERROR, "email outbox insert failed; email lost", f,
                    BASTION_COUNTOF(f));
    }
}

/* see email.h */
void bastion_email_result_json(cJSON *body, const bastion_email_result *r)
{
    cJSON_AddBoolToObject(body, "email_sent", r->sent);
    if (r->error)
        cJSON_AddStringToObject(body, "email_error", r->error);
    else
        cJSON_AddNullToObject(body, "email_error");
}

/* see email.h */
void bastion_email_respond_requested(bastion_ctx *cx, bastion_str id, const char *status,
                                     const bastion_email_result *sent)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(id));
    cJSON_AddStringToObject(body, "status", status);
    cJSON_AddBoolToObject(body, "admin_notified", sent->sent);
    bastion_respond_json(cx, 201, body);
}
