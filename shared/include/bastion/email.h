/*
 * Transactional email through the host's outbound HTTP (REL4).
 *
 * The provider contract: POST {email_api_base}/emails with
 * `Authorization: Bearer {email_api_key}` and JSON {"from","to","subject","text"};
 * a 2xx answer means accepted. Variables: email_api_base, email_api_key,
 * email_from (granted to the function in manifest.toml).
 *
 * Every send is awaited under the external budget and guarded by the "email"
 * circuit breaker (REL3). A send that fails for any reason — timeout, 5xx,
 * breaker open, missing configuration — is recorded durably in the
 * function's database, table email_failures, for the email-retry job (REL5);
 * the caller's business action still succeeds. Every function that sends
 * email includes shared/schema/email_failures.sql in its schema.sql
 * ("-- bastion:include ../../shared/schema/email_failures.sql").
 *
 * Addresses never reach the logs: lines carry the kind and the error only.
 */
#ifndef BASTION_EMAIL_H
#define BASTION_EMAIL_H

#include "core.h"
#include "host.h"
#include <cjson/cJSON.h>

typedef struct {
    const char *kind; /* e.g. "booking-confirmation"; [a-z0-9-] */
    bastion_str to, subject, text;
} bastion_email;

typedef struct {
    const char *db;       /* sql database holding email_failures */
    const char *kv_store; /* kv store for the breaker's state */
} bastion_email_sender;

typedef struct {
    bool sent;
    const char *error; /* NULL when sent; a short reason safe to show an admin */
    int64_t outbox_id; /* the email_failures row when not sent, else 0 */
} bastion_email_result;

/*
 * A statement that queues `m` in email_failures as not yet attempted, for
 * the caller's own transaction (CONC5: the state change and the outbox row
 * commit together). Its RETURNING id goes to bastion_email_deliver_queued.
 * params MUST outlive the transaction call.
 */
void bastion_email_queue_stmt(bastion_sql_stmt *st, bastion_sql_value params[5],
                              const bastion_email *m);

/* One send, nothing recorded: for the email-retry job, which keeps its
 * own rows. error NULL when sent; circuit_open when the breaker stopped it
 * without a call. */
typedef struct {
    const char *error;
    bool circuit_open;
} bastion_email_attempt_result;
bastion_email_attempt_result bastion_email_attempt(bastion_ctx *cx, const bastion_email_sender *s,
                                                   const bastion_email *m);

/* Sends a queued row now; on success deletes it, on failure records the
 * error, attempts = 1 and the next attempt time on it. */
void bastion_email_deliver_queued(bastion_ctx *cx, const bastion_email_sender *s, int64_t outbox_id,
                                  const bastion_email *m, bastion_email_result *out);

/*
 * CONC5 and REL4 in one call: runs `change` (a statement with
 * expect_changes) and queues `m` in one transaction, then delivers `m`,
 * awaited. BASTION_OK with *sent filled when the change committed. When the
 * change's guard did not hold, writes 409 with `conflict_detail` (NULL: a
 * lost guard is not the client's doing, 500); any other failure writes the
 * mapped 5xx, a constraint included. Nothing is committed on failure.
 */
bastion_rc bastion_email_with_change_or_problem(bastion_ctx *cx, const bastion_email_sender *s,
                                                const bastion_sql_stmt *change,
                                                const bastion_email *m, const char *conflict_detail,
                                                bastion_email_result *sent);

/*
 * bastion_email_with_change_or_problem for a change that takes several
 * statements (a status change and the row that records it):
 * changes[0..n) and the outbox row in one transaction (CONC5), then the
 * awaited delivery (REL4). A lost guard of any change writes 409 with
 * `conflict_detail` (NULL: 500) and bastion_sql_guard_failed() says which;
 * the outbox row's own guard is ours, a 500. 1 <= n <=
 * BASTION_EMAIL_MAX_CHANGES (else 500, nothing run). `changes` and their
 * params are borrowed for the call.
 */
#define BASTION_EMAIL_MAX_CHANGES 7
bastion_rc bastion_email_with_changes_or_problem(bastion_ctx *cx, const bastion_email_sender *s,
                                                 const bastion_sql_stmt *changes, size_t n,
                                                 const bastion_email *m,
                                                 const char *conflict_detail,
                                                 bastion_email_result *sent);

/*
 * The same for a job, which answers no client: BASTION_HOST_OK when the
 * changes and the outbox row committed and `m` was then delivered or kept
 * (*sent says which); BASTION_HOST_GUARD when a change's guard did not hold
 * (bastion_sql_guard_failed() says which); any other failure as the store
 * reported it. Nothing is committed and nothing sent unless BASTION_HOST_OK.
 */
bastion_host_rc bastion_email_with_changes(bastion_ctx *cx, const bastion_email_sender *s,
                                           const bastion_sql_stmt *changes, size_t n,
                                           const bastion_email *m, bastion_email_result *sent);

/*
 * A job's claimed email (REL6): `claim`, a guarded insert of the job's own
 * row for this email (ON CONFLICT DO NOTHING, expect one change), and the
 * outbox row in one transaction, then the send. Counts it in *t — sent;
 * queued (claimed, the send failed: the outbox has it for email-retry); or
 * skipped (the claim's guard did not hold: another run has it) — and
 * returns BASTION_HOST_OK. Any other failure is returned with nothing
 * counted, committed or sent.
 */
typedef struct {
    uint64_t sent, queued, skipped;
} bastion_email_tally;
bastion_host_rc bastion_email_claimed(bastion_ctx *cx, const bastion_email_sender *s,
                                      const bastion_sql_stmt *claim, const bastion_email *m,
                                      bastion_email_tally *t);

/* Sends now; on failure inserts the outbox row with the error. */
void bastion_email_send(bastion_ctx *cx, const bastion_email_sender *s, const bastion_email *m,
                        bastion_email_result *out);

/* REL4: adds "email_sent" and "email_error" (null when sent) to a response. */
void bastion_email_result_json(cJSON *body, const bastion_email_result *r);

/* REL4: the 201 answer to a request whose admin notification was awaited
 * (after bastion_email_with_change_or_problem): {"id", "status",
 * "admin_notified"}. `id` and `status` are copied. */
void bastion_email_respond_requested(bastion_ctx *cx, bastion_str id, const char *status,
                                     const bastion_email_result *sent);

#endif
