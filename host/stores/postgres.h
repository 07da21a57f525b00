/*
 * Internal to the PostgreSQL backend (host/stores/postgres*.c): the pooled
 * connections, the budgeted round trip and the SAFE4 wall. Not for other
 * parts of the host, which go through host.h.
 */
#ifndef HOST_STORES_POSTGRES_H
#define HOST_STORES_POSTGRES_H

#include <libpq-fe.h>

#include "store.h"

/* Bastion database `x` is schema "x", owned by role "bastion_db_x", the role
 * its guests' statements run as (postgres_role.c). Both names must fit
 * PostgreSQL's 63-byte identifiers: a longer one would be cut, and two
 * databases could end up sharing a role. */
#define PG_ROLE_PREFIX "bastion_db_"
#define PG_NAME_MAX    63

/* One worker thread's connection to one configured store (host_store). The
 * session settings the host made are cached so a call that needs none of
 * them changing costs no extra round trip. */
struct pg_conn {
    const struct host_store *store;
    PGconn *pg;
    int ready;           /* default_transaction_isolation and the like are set */
    char schema[64];     /* the search_path set on the session; "" not known */
    char role[64];       /* the database whose role the session has; "" the login role */
    uint32_t timeout_ms; /* the statement_timeout set on the session; 0 none yet */
    char sqlstate[6];    /* the last failure's SQLSTATE ("" none), for retries */
};

/* This thread's connection to store s, connected within the deadline
 * (CLOCK_MONOTONIC ns). NULL with err filled. */
struct pg_conn *pg_conn_get(const struct host_store *s, uint64_t deadline_ns, struct host_err *err);
/* Makes the session serve database `db`, as its role and on its schema
 * (NULL: the host's own statements, as the login role on pg_catalog alone),
 * with a statement_timeout that covers what is left until the deadline. */
int pg_conn_settle(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err);
/* Drops the connection (the next call reconnects). */
void pg_conn_drop(struct pg_conn *c);
/* Closes this thread's connections to store s (NULL: to every store). */
void pg_conns_close(const struct host_store *s);

/* A statement's parameters in libpq's shape. */
struct pg_params {
    char *sql; /* a guest's statement, NUL-terminated (the guest's is not) */
    int n;
    Oid *types;
    const char **values;
    int *lengths, *formats;
    uint64_t *words; /* the big-endian integers and reals values[] point into */
};

/* Runs one statement (params may be NULL: the simple protocol, several
 * statements allowed, results discarded) and waits for it within the
 * deadline. With `out`, rows are streamed into it, typed (postgres_sql.c's
 * pg_take_row). On failure the error is classified by SQLSTATE, and
 * c->sqlstate says which it was. */
int pg_run(struct pg_conn *c, const char *sql, const struct pg_params *params, uint64_t deadline_ns,
           struct host_rows *out, struct host_err *err);
/* pg_run for a host statement whose n (at most 4) parameters are texts. */
int pg_run_texts(struct pg_conn *c, const char *sql, const char *const *texts, int n,
                 uint64_t deadline_ns, struct host_rows *out, struct host_err *err);
/* Ends the transaction c is in, if it is in one, with `how` (COMMIT or
 * ROLLBACK), whatever that answers: the failure that led here is the one to
 * report, and c->sqlstate keeps saying which it was. */
void pg_end(struct pg_conn *c, const char *how, uint64_t deadline_ns);
/* Appends row `row` of result r to out, typed (postgres_sql.c); row -1
 * takes only the column names. Returns the bytes it holds, or -1 when out
 * of memory. */
long pg_take_row(const PGresult *r, int row, struct host_rows *out);

/* What the wall found in a guest's statement (postgres_wall.c). */
struct pg_scan {
    int max_param;    /* the highest $n used */
    char refused[64]; /* non-empty: not allowed, and why */
};
/* Scans a guest's statement: refuses what could reach past its database or
 * outlive its call (SAFE4), and finds the parameters it uses. */
void pg_scan(const char *sql, size_t len, struct pg_scan *out);

/* A role per database (postgres_role.c), all as the login role. */
/* Database db's role exists and the login role may SET ROLE to it: created
 * (CREATEROLE or superuser needed) and joined if need be. Outside a
 * transaction: another host creating the same role at once is no failure. */
int pg_db_role(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err);
/* BEGIN (READ COMMITTED) holding db's advisory lock, which every host
 * creating or migrating db takes: what it finds after the wait is what the
 * previous holder committed. */
int pg_db_lock(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err);
/* In pg_db_lock's transaction: db's schema exists, it and everything in it
 * are its role's, and that role can create nothing outside it. */
int pg_db_schema(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err);
/* All of the above for a database no migration made (it has no schema.sql),
 * in a transaction of its own. */
int pg_db_create(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err);

#endif
