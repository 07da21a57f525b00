/*
 * Thin wrappers over the host bindings (wit/bastion.wit). Every call returns
 * a bastion_host_rc: 0 on success, otherwise the WIT error case; "not found"
 * is a separate out-parameter, never an error (REL1). The host's error text
 * goes to the log through bastion_host_error_log, never to the client.
 *
 * Budgets (REL2): each call takes the budget of its kind and passes
 * min(budget, time left before the deadline) to the host. A budget that has
 * already run out returns BASTION_HOST_TIMEOUT without calling the host.
 */
#ifndef BASTION_HOST_H
#define BASTION_HOST_H

#include "core.h"
#include "problem.h"

typedef enum {
    BASTION_HOST_OK = 0,
    BASTION_HOST_TIMEOUT,
    BASTION_HOST_UNAVAILABLE,
    BASTION_HOST_CONFLICT,
    BASTION_HOST_INVALID,
    BASTION_HOST_DENIED,
    BASTION_HOST_INTERNAL,
    BASTION_HOST_GUARD, /* a transaction's expect-changes did not hold; all rolled back */
} bastion_host_rc;

/* Default budgets in ms; each is overridable by a variable granted to the
 * function: budget_cache_ms, budget_db_ms, budget_external_ms. */
typedef enum {
    BASTION_BUDGET_CACHE = 2000,    /* kv */
    BASTION_BUDGET_DB = 10000,      /* sql */
    BASTION_BUDGET_EXTERNAL = 8000, /* http-out */
} bastion_budget;

/* The WIT case's name ("timeout", "guard", …; "ok" for BASTION_HOST_OK),
 * for log fields; a value outside the enum is "internal". Static. */
bastion_str bastion_host_rc_name(bastion_host_rc rc);
/* The last host error's text on this instance (for logs only). */
bastion_str bastion_host_error_text(void);
/* Maps a host error to its problem code: timeout → 504, unavailable → 503,
 * guard → 409 (a lost race), conflict (a constraint failed: the module's
 * own bug or data it did not expect) / invalid / denied / internal → 500. */
bastion_rc bastion_host_rc_problem(bastion_host_rc rc);
/* Logs the failed operation with the host's text and writes the mapped
 * problem. Returns the problem code. */
bastion_rc bastion_host_fail_or_problem(bastion_ctx *cx, bastion_host_rc rc, const char *what);

uint32_t bastion_budget_ms(const bastion_ctx *cx, bastion_budget kind);

/* --- kv --- values are copied into the arena */
bastion_host_rc bastion_kv_get(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str *value, bool *found);
bastion_host_rc bastion_kv_set(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms);
bastion_host_rc bastion_kv_add(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms, bool *added);
bastion_host_rc bastion_kv_increment(bastion_ctx *cx, const char *store, bastion_str key,
                                     int64_t delta, uint64_t ttl_ms, int64_t *value);
/* expected.ptr == NULL: swap only if absent */
bastion_host_rc bastion_kv_swap(bastion_ctx *cx, const char *store, bastion_str key,
                                bastion_str expected, bastion_str value, uint64_t ttl_ms,
                                bool *swapped);
bastion_host_rc bastion_kv_delete(bastion_ctx *cx, const char *store, bastion_str key,
                                  bool *deleted);

/* --- sql --- */
typedef enum {
    BASTION_SQL_NULL = 0,
    BASTION_SQL_INTEGER,
    BASTION_SQL_REAL,
    BASTION_SQL_TEXT,
    BASTION_SQL_BLOB,
} bastion_sql_type;

/* Layout is the canonical ABI's `value` (16 bytes, align 8; asserted in
 * shared/src/bindings_layout.h): do not reorder. */
typedef struct {
    uint8_t type; /* bastion_sql_type */
    union {
        int64_t i;
        double r;
        bastion_str s; /* text or blob */
    } v;
} bastion_sql_value;

#define BASTION_SQL_INT(x) ((bastion_sql_value){BASTION_SQL_INTEGER, {.i = (x)}})
#define BASTION_SQL_STR(x) ((bastion_sql_value){BASTION_SQL_TEXT, {.s = (x)}})
#define BASTION_SQL_NULLV  ((bastion_sql_value){BASTION_SQL_NULL, {.i = 0}})

typedef struct {
    const bastion_str *columns;
    size_t n_columns;
    const bastion_sql_value *const *rows; /* rows[r][c] */
    size_t n_rows;
    uint64_t changes;
} bastion_rows;

typedef struct {
    const char *sql;
    const bastion_sql_value *params;
    size_t n_params;
    bool has_expect;
    uint64_t expect_changes;
} bastion_sql_stmt;

/*
 * A statement guarded to change exactly one row (expect_changes = 1): the
 * usual form of a state change that decides a race (CONC1, CONC5, CONC6).
 * `params` MUST be an array (it is counted with BASTION_COUNTOF) and MUST
 * outlive the transaction call.
 *
 *     bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE("UPDATE … WHERE id = $1 AND …", p);
 */
#define BASTION_SQL_CHANGE_ONE(sql_, params_)                                                      \
    ((bastion_sql_stmt){.sql = (sql_),                                                             \
                        .params = (params_),                                                       \
                        .n_params = BASTION_COUNTOF(params_),                                      \
                        .has_expect = true,                                                        \
                        .expect_changes = 1})

bastion_host_rc bastion_sql_query(bastion_ctx *cx, const char *db, const char *sql,
                                  const bastion_sql_value *params, size_t n_params,
                                  bastion_rows *out);
/*
 * bastion_sql_query for a handler that cannot go on without the answer:
 * BASTION_OK with *out filled, or the failure logged under `what` (a
 * constant naming the operation) and answered as bastion_host_fail_or_problem
 * does, its code returned.
 *
 *     if (bastion_sql_query_or_problem(cx, DB, "SELECT …", p, BASTION_COUNTOF(p), &rows,
 *                                      "page read"))
 *         return;
 */
bastion_rc bastion_sql_query_or_problem(bastion_ctx *cx, const char *db, const char *sql,
                                        const bastion_sql_value *params, size_t n_params,
                                        bastion_rows *out, const char *what);
/* All-or-nothing; a statement whose changes differ from expect_changes rolls
 * everything back and returns BASTION_HOST_GUARD. out has n entries. */
bastion_host_rc bastion_sql_transaction(bastion_ctx *cx, const char *db,
                                        const bastion_sql_stmt *stmts, size_t n, bastion_rows *out);

/*
 * One guarded statement that decides a race on its own (CONC1, CONC6):
 * `change` (has_expect set) run as a transaction of one. BASTION_OK with
 * its rows in *out. When its expect_changes did not hold (it lost the race,
 * or its WHERE found nothing to change), writes `lost` — typically
 * BASTION_E_CONFLICT (409) or BASTION_E_PRECONDITION_FAILED (412) — with
 * `lost_detail`, and returns it. Any other failure, a failed constraint
 * included, is logged under `what` and answered as
 * bastion_host_fail_or_problem does (a constraint is never a 409).
 */
bastion_rc bastion_sql_change_or_problem(bastion_ctx *cx, const char *db,
                                         const bastion_sql_stmt *change, bastion_rows *out,
                                         bastion_rc lost, const char *lost_detail,
                                         const char *what);

/*
 * A job's batch claim (campaign-sender, email-retry): `mark` puts this run's
 * lease on due rows (an UPDATE … WHERE <due> AND key IN (SELECT … LIMIT n))
 * and `read` selects the rows under that lease, in one transaction, so the
 * batch is exactly what this run holds. BASTION_HOST_OK with the read's rows
 * in *out (arena memory).
 */
bastion_host_rc bastion_sql_claim(bastion_ctx *cx, const char *db, const char *mark_sql,
                                  const bastion_sql_value *mark, size_t n_mark,
                                  const char *read_sql, const bastion_sql_value *read,
                                  size_t n_read, bastion_rows *out);

/*
 * After bastion_sql_transaction returned BASTION_HOST_GUARD: the 1-based
 * index of the statement whose expect_changes guard did not hold (the WIT's
 * guard(u32) case); 0 after any other result. A handler tells "lost the
 * race" (guard, 409) from "the data broke a rule" (conflict, 500) by the
 * case alone, and which guard by this index.
 */
size_t bastion_sql_guard_failed(void);

/* --- http-out --- only to the function's allow-list; the response is in the arena */
typedef struct {
    uint16_t status;
    const bastion_header *headers; /* names lower-case */
    size_t n_headers;
    bastion_str body;
} bastion_http_response;

bastion_host_rc bastion_http_send(bastion_ctx *cx, const char *method, const char *url,
                                  const bastion_header *headers, size_t n_headers, bastion_str body,
                                  bastion_http_response *out);

/* --- config --- */
/* The variable's value, or BASTION_STR_NULL when unset or not granted. */
bastion_str bastion_config(const char *name);

/* --- log --- fields are name/value pairs */
typedef enum {
    BASTION_LOG_DEBUG,
    BASTION_LOG_INFO,
    BASTION_LOG_WARN,
    BASTION_LOG_ERROR
} bastion_log_level;
void bastion_log(bastion_log_level level, const char *msg, const bastion_header *fields, size_t n);

#endif
