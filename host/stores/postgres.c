/*
 * PostgreSQL connections for the sql backend (postgres_sql.c): one per
 * worker thread per configured store, opened lazily, dropped after any
 * failure that leaves it in doubt and reopened by the next call.
 *
 * Nothing here blocks past a call's budget. libpq runs non-blocking: the
 * connection is made with PQconnectStartParams/PQconnectPoll, statements are
 * sent with PQsend* and every wait is a poll() on the socket bounded by the
 * deadline. A call that runs out of budget asks the server to cancel its
 * statement (from a detached thread: PQcancel itself has no timeout) and
 * drops the connection, so the worker is free at the deadline exactly. The
 * session's statement_timeout is only the server's own backstop for that.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres.h"
#include "rt/rt.h"

#define MAX_PG_CONNS 16
static _Thread_local struct pg_conn conns[MAX_PG_CONNS];

/* --- waiting within the budget ------------------------------------------- */

/* 1 when fd is ready for `events`, 0 at the deadline, -1 on a poll error. */
static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t now = host_now_ns();
        if (fd < 0)
            return -1;
        if (now >= deadline_ns)
            return 0;
        uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static void *cancel_main(void *arg)
{
    char buf[256];
    PQcancel(arg, buf, sizeof buf);
    PQfreeCancel(arg);
    return NULL;
}

/* Asks the server to stop the connection's statement without waiting for
 * it to answer: the caller's budget is spent already. */
static void cancel_detached(PGconn *pg)
{
    PGcancel *k = PQgetCancel(pg);
    pthread_t t;
    pthread_attr_t attr;
    if (!k)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, cancel_main, k) != 0)
        PQfreeCancel(k); /* the statement_timeout still ends it */
    pthread_attr_destroy(&attr);
}

/* see postgres.h */
void pg_conn_drop(struct pg_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    memset(c, 0, sizeof *c);
}

/* The budget ran out mid-statement: whatever the server does next, this
 * call is over. */
static int give_up(struct pg_conn *c, const char *what, struct host_err *err)
{
    if (PQtransactionStatus(c->pg) == PQTRANS_ACTIVE)
        cancel_detached(c->pg);
    pg_conn_drop(c);
    return host_fail(err, HOST_E_TIMEOUT, "%s: budget exhausted", what);
}

/* libpq's message up to its first line end (the rest is hints). */
static const char *first_line(const char *msg, char *buf, size_t cap)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    snprintf(buf, cap, "%.*s", (int)n, msg ? msg : "");
    return buf;
}

/* The connection broke: `unavailable`, and the next call reconnects. */
static int lost(struct pg_conn *c, struct host_err *err)
{
    char line[120];
    host_fail(err, HOST_E_UNAVAILABLE, "postgres: %s",
              first_line(c->pg ? PQerrorMessage(c->pg) : "connection lost", line, sizeof line));
    pg_conn_drop(c);
    return -1;
}

/* --- connecting ------------------------------------------------------------ */

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message; /* NOTICEs ("already exists, skipping") are not errors */
}

/* A new session within the deadline. The URL is libpq's; client_encoding
 * follows it so it wins over the URL's: text is UTF-8 on both sides. libpq's
 * own connect_timeout is not used: it only bounds PQconnectdb's blocking
 * wait, and the poll below is bounded by the budget instead. (A host name in
 * the URL is resolved before PQconnectStartParams returns; an address is
 * not looked up.) */
static PGconn *connect_within(const char *url, uint64_t deadline_ns, struct host_err *err)
{
    static const char *const keys[] = {"dbname", "client_encoding", "application_name", NULL};
    const char *const values[] = {url, "UTF8", "bastion", NULL};
    char line[120];
    PGconn *pg = PQconnectStartParams(keys, values, 1);
    if (!pg) {
        host_fail(err, HOST_E_INTERNAL, "postgres: out of memory");
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int w = wait_fd(PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ns);
        if (w == 0) {
            host_fail(err, HOST_E_TIMEOUT, "postgres: connect: budget exhausted");
            PQfinish(pg);
            return NULL;
        }
        st = w > 0 ? PQconnectPoll(pg) : PGRES_POLLING_FAILED;
    }
    if (st != PGRES_POLLING_OK || PQstatus(pg) != CONNECTION_OK || PQsetnonblocking(pg, 1) != 0) {
        host_fail(err, HOST_E_UNAVAILABLE, "postgres: %s",
                  first_line(PQerrorMessage(pg), line, sizeof line));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet, NULL);
    return pg;
}

/* A pooled connection whose server went away (restarted, stopped) shows it
 * as a readable socket while idle: found here, without a round trip, it is
 * replaced before a statement is sent on it. */
static int stale(struct pg_conn *c)
{
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (PQstatus(c->pg) != CONNECTION_OK || p.fd < 0)
        return 1;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    return !PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK;
}

/* see postgres.h */
struct pg_conn *pg_conn_get(const struct host_store *s, uint64_t deadline_ns, struct host_err *err)
{
    struct pg_conn *slot = NULL;
    for (int i = 0; i < MAX_PG_CONNS; i++) {
        struct pg_conn *c = &conns[i];
        if (c->pg && c->store == s) {
            if (!stale(c))
                return c;
            pg_conn_drop(c);
        }
        if (!c->pg && !slot)
            slot = c;
    }
    if (!slot) {
        host_fail(err, HOST_E_INTERNAL, "too many PostgreSQL stores on one worker");
        return NULL;
    }
    PGconn *pg = connect_within(s->url, deadline_ns, err);
    if (!pg)
        return NULL;
    memset(slot, 0, sizeof *slot);
    slot->store = s;
    slot->pg = pg;
    return slot;
}

/* see postgres.h */
void pg_conns_close(const struct host_store *s)
{
    for (int i = 0; i < MAX_PG_CONNS; i++)
        if (conns[i].pg && (!s || conns[i].store == s))
            pg_conn_drop(&conns[i]);
}

/* The server's backstop for a statement: what is left of the budget rounded
 * up to a power of two (at least 64 ms), so that it changes, and costs a
 * round trip, only when the budgets in use do. The deadline itself is
 * enforced here, exactly. */
static uint32_t backstop_ms(uint64_t deadline_ns)
{
    uint64_t now = host_now_ns();
    uint64_t left = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 1;
    uint32_t b = 64;
    while (b < left && b < (1u << 30))
        b <<= 1;
    return b;
}

/* The SET that gives the session database db's role (db NULL: back to the
 * login role) into sql at n; the bytes written. */
static size_t set_role(char *sql, size_t n, size_t cap, const char *db)
{
    return (size_t)(db ? snprintf(sql + n, cap - n, "SET ROLE \"" PG_ROLE_PREFIX "%s\";", db)
                       : snprintf(sql + n, cap - n, "RESET ROLE;"));
}

/* see postgres.h. Every guest statement runs SERIALIZABLE, a single query
 * (autocommit) too: SQLite serialises all writes, and CONC1-style guarded
 * statements rely on it. The role is set with the search_path (SAFE4): the
 * schema only says where unqualified names go, the role what may be reached.
 * The host's own statements see pg_catalog alone: nothing a guest made in its
 * schema (an aggregate named like a built-in) is ever resolved for them.
 * Nothing cached is trusted once a SET failed. */
int pg_conn_settle(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    char sql[384];
    size_t n = 0;
    uint32_t timeout = backstop_ms(deadline_ns);
    const char *role = db ? db : "", *path = db ? db : "pg_catalog";
    if (!c->ready) /* strings as the wall reads them, whatever the server's default */
        n += (size_t)snprintf(sql + n, sizeof sql - n,
                              "SET default_transaction_isolation = serializable;"
                              "SET standard_conforming_strings = on;");
    if (strcmp(c->schema, path) != 0)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "SET search_path TO \"%s\";", path);
    if (!c->ready || strcmp(c->role, role) != 0)
        n += set_role(sql, n, sizeof sql, db);
    if (timeout != c->timeout_ms)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "SET statement_timeout = %u;", timeout);
    if (n == 0)
        return 0;
    if (pg_run(c, sql, NULL, deadline_ns, NULL, err) != 0) {
        if (c->pg) /* forget what the failed SETs may or may not have done */
            c->ready = 0, c->schema[0] = 0, c->timeout_ms = 0;
        return -1;
    }
    c->ready = 1;
    snprintf(c->schema, sizeof c->schema, "%s", path);
    snprintf(c->role, sizeof c->role, "%s", role);
    c->timeout_ms = timeout;
    return 0;
}

/* see postgres.h */
void pg_end(struct pg_conn *c, const char *how, uint64_t deadline_ns)
{
    if (!c->pg || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    struct host_err ignored = {0};
    char state[sizeof c->sqlstate];
    memcpy(state, c->sqlstate, sizeof state);
    pg_run(c, how, NULL, deadline_ns, NULL, &ignored);
    if (c->pg)
        memcpy(c->sqlstate, state, sizeof state);
}

/* --- errors ---------------------------------------------------------------- */

/* The WIT case of a SQLSTATE (store.h), by the longest matching prefix
 * first. 40001/40P01 arrive here only when the retries ran out. 42501 is a
 * privilege the database's role lacks: another database's schema, schema
 * public, a superuser's function; `denied`, as a database the manifest does
 * not grant is. */
static host_err_kind kind_of(const char *state)
{
    static const struct {
        const char *prefix;
        host_err_kind kind;
    } kinds[] = {
        {"42501", HOST_E_DENIED},   {"57014", HOST_E_TIMEOUT},  {"55P03", HOST_E_TIMEOUT},
        {"40001", HOST_E_TIMEOUT},  {"40P01", HOST_E_TIMEOUT},  {"57P0", HOST_E_UNAVAILABLE},
        {"53", HOST_E_UNAVAILABLE}, {"08", HOST_E_UNAVAILABLE}, {"23", HOST_E_CONFLICT},
        {"44", HOST_E_CONFLICT},    {"2B", HOST_E_CONFLICT},    {"42", HOST_E_INVALID},
        {"22", HOST_E_INVALID},     {"0A", HOST_E_INVALID},     {"21", HOST_E_INVALID},
        {"25", HOST_E_INVALID},     {"3F", HOST_E_INVALID},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strncmp(state, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
            return kinds[i].kind;
    return HOST_E_INTERNAL;
}

/* Words for a failure that never carry a value: the server's message for the
 * classes whose messages name only objects (a constraint, a column, a token
 * of the statement), fixed words for data exceptions (class 22 messages
 * quote the offending input), and for everything else. */
static const char *describe(const char *state, const char *msg)
{
    static const char *const named[] = {"42", "23", "0A", "08", "53", "57", "40",
                                        "55", "25", "21", "3F", "2B", "44"};
    static const struct {
        const char *state, *words;
    } data[] = {
        {"22003", "numeric value out of range"},
        {"22P02", "invalid input syntax"},
        {"22012", "division by zero"},
        {"22001", "value too long"},
        {"22021", "invalid byte sequence"},
        {"22007", "invalid date/time format"},
        {"22008", "date/time field out of range"},
        {"2201B", "invalid regular expression"},
    };
    for (size_t i = 0; msg && i < sizeof named / sizeof *named; i++)
        if (strncmp(state, named[i], 2) == 0)
            return msg;
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        if (strcmp(state, data[i].state) == 0)
            return data[i].words;
    return strncmp(state, "22", 2) == 0 ? "data exception" : "error";
}

/* A failed statement as the WIT error (store.h), by its SQLSTATE. */
static int failed(struct pg_conn *c, const PGresult *r, struct host_err *err)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char line[120];
    if (!state) /* made by libpq itself: the connection, or memory */
        return PQstatus(c->pg) != CONNECTION_OK
                   ? lost(c, err)
                   : host_fail(err, HOST_E_INTERNAL, "postgres: %s",
                               first_line(PQresultErrorMessage(r), line, sizeof line));
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return host_fail(err, kind_of(state), "%s [%s]", describe(state, msg), state);
}

/* --- running a statement --------------------------------------------------- */

/* One result of the statement into out (or only its errors, without out).
 * Returns 0, -1 failed (keep draining), -2 failed and the connection must go
 * (its rest cannot be drained or trusted). */
static int take(struct pg_conn *c, const PGresult *r, struct host_rows *out, size_t *bytes,
                struct host_err *err)
{
    switch (PQresultStatus(r)) {
    case PGRES_SINGLE_TUPLE:
    case PGRES_TUPLES_OK:
        if (out && !out->cols && pg_take_row(r, -1, out) != 0)
            return host_fail(err, HOST_E_INTERNAL, "out of memory"), -2;
        for (int i = 0; out && i < PQntuples(r); i++) {
            long b = pg_take_row(r, i, out);
            if (b < 0)
                return host_fail(err, HOST_E_INTERNAL, "out of memory"), -2;
            *bytes += (size_t)b;
            if (*bytes > 64u * 1024 * 1024) /* what SQLite allows one value */
                return host_fail(err, HOST_E_INVALID, "result larger than 64 MiB"), -2;
        }
        /* the last result of a statement says what it changed */
        __attribute__((fallthrough));
    case PGRES_COMMAND_OK: {
        const char *tag = PQcmdStatus((PGresult *)r);
        int writes = strncmp(tag, "INSERT ", 7) == 0 || strncmp(tag, "UPDATE ", 7) == 0 ||
                     strncmp(tag, "DELETE ", 7) == 0 || strncmp(tag, "MERGE ", 6) == 0;
        if (out && PQresultStatus(r) != PGRES_SINGLE_TUPLE)
            out->changes = writes ? strtoull(PQcmdTuples((PGresult *)r), NULL, 10) : 0;
        return 0;
    }
    case PGRES_EMPTY_QUERY: return host_fail(err, HOST_E_INVALID, "empty statement");
    case PGRES_FATAL_ERROR: return failed(c, r, err);
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH: return host_fail(err, HOST_E_INVALID, "not allowed: COPY"), -2;
    default: return host_fail(err, HOST_E_INTERNAL, "postgres: unexpected result"), -2;
    }
}

/* Sends what libpq buffered, reading meanwhile so the server never stalls
 * on a full socket. */
static int flush_within(struct pg_conn *c, uint64_t deadline_ns, struct host_err *err)
{
    int r;
    while ((r = PQflush(c->pg)) == 1) {
        int w = wait_fd(PQsocket(c->pg), POLLIN | POLLOUT, deadline_ns);
        if (w == 0)
            return give_up(c, "send", err);
        if (w < 0 || !PQconsumeInput(c->pg))
            return lost(c, err);
    }
    return r == 0 ? 0 : lost(c, err);
}

/* The statement's next result once it is there; NULL when it is done. */
static int next_result(struct pg_conn *c, uint64_t deadline_ns, PGresult **r, struct host_err *err)
{
    while (PQisBusy(c->pg)) {
        int w = wait_fd(PQsocket(c->pg), POLLIN, deadline_ns);
        if (w == 0)
            return give_up(c, "statement", err);
        if (w < 0 || !PQconsumeInput(c->pg))
            return lost(c, err);
    }
    *r = PQgetResult(c->pg);
    return 0;
}

/* Reads every result of the statement; the first failure is the answer. */
static int collect(struct pg_conn *c, uint64_t deadline_ns, struct host_rows *out,
                   struct host_err *err)
{
    int rc = 0;
    size_t bytes = 0;
    for (;;) {
        PGresult *r = NULL;
        if (next_result(c, deadline_ns, &r, err) != 0)
            return -1;
        if (!r)
            break;
        int t = rc == 0 ? take(c, r, out, &bytes, err) : 0;
        PQclear(r);
        if (t == -2) {
            pg_conn_drop(c);
            return -1;
        }
        rc = rc ? rc : t;
    }
    if (rc != 0 && err->kind == HOST_E_UNAVAILABLE && c->pg)
        pg_conn_drop(c); /* the server said it is going away */
    return rc;
}

/* see postgres.h */
int pg_run(struct pg_conn *c, const char *sql, const struct pg_params *params, uint64_t deadline_ns,
           struct host_rows *out, struct host_err *err)
{
    c->sqlstate[0] = 0;
    int sent = params ? PQsendQueryParams(c->pg, sql, params->n, params->types, params->values,
                                          params->lengths, params->formats, 0)
                      : PQsendQuery(c->pg, sql);
    if (!sent)
        return lost(c, err);
    /* rows arrive one at a time, so the size cap holds before libpq has
     * buffered a whole oversized result */
    if (out && !PQsetSingleRowMode(c->pg))
        return lost(c, err);
    if (flush_within(c, deadline_ns, err) != 0)
        return -1;
    return collect(c, deadline_ns, out, err);
}
