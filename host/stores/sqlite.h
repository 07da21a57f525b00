/*
 * Internal to the SQLite backend (host/stores/sqlite*.c): the pooled
 * connections and what the kv and sql halves share. Not for other parts of
 * the host, which go through host.h.
 */
#ifndef HOST_STORES_SQLITE_H
#define HOST_STORES_SQLITE_H

#include <sqlite3.h>

#include "store.h"

struct conn {
    char path[512];
    sqlite3 *db;
    uint64_t deadline_ns;
    int timed_out;
    int guest;        /* a guest's statement is prepared or stepped: the authorizer applies */
    char refused[64]; /* what the authorizer refused last, for the error */
};

/* The longest statement a guest may send; SQLite's own limit says the same. */
#define MAX_SQL_LEN 1000000

/* This thread's connection to <state>/kv.sqlite, its budget set. */
struct conn *sqlite_kv_conn(struct host_state *st, uint32_t budget_ms, struct host_err *err);
/* This thread's connection to <state>/sql/<db>.sqlite, its budget set. */
struct conn *sqlite_sql_conn(struct host_state *st, const char *db, uint32_t budget_ms,
                             struct host_err *err);
/* Maps a SQLite failure to the WIT error, without SQL text or values. */
int sqlite_fail(struct conn *c, int rc, struct host_err *err, const char *what);
/* BEGIN IMMEDIATE / COMMIT (rolling back when it fails) / ROLLBACK if open. */
int sqlite_begin(struct conn *c, struct host_err *err);
int sqlite_commit(struct conn *c, struct host_err *err);
void sqlite_rollback(struct conn *c);
/* open and close of both ops tables: SQLite's files live in the state
 * directory, so a store has nothing to configure or release. */
int sqlite_store_open(struct host_store *s, FILE *errs);
void sqlite_store_close(struct host_store *s);
/* Closes this thread's connections (both ops tables' thread_close). */
void sqlite_thread_close(void);

#endif
