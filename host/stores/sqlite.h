/*
 * Internal to the SQLite backend (host/stores/sqlite*.c): the pooled
 * connections and what the kv and sql halves share. Not for other parts of
 * the host, which go through host.h.
 */
#ifndef HOST_STORES_SQLITE_H
#define HOST_STORES_SQLITE_H

#include <sqlite3.h>

#include "store.h"

/* Prepared statements a connection keeps for its next calls (by exact SQL
 * text and by who prepared it: a guest's under the SAFE4 authorizer, the
 * host's own without), so a function's every request does not parse the
 * same statement again. */
#define STMT_CACHE 32
/* Longer statements are prepared each time: a guest's 1 MB statements must
 * not stay pinned, 32 per connection on every worker. */
#define STMT_CACHE_MAX_SQL 4096
struct cached_stmt {
    sqlite3_stmt *s;
    char *sql;
    size_t len;
    uint64_t used; /* the connection's tick at the last use: the least recent goes first */
    int guest;
    int in_use; /* handed out and not yet done: neither found again nor evicted */
};

struct conn {
    char path[512];
    sqlite3 *db;
    struct cached_stmt cache[STMT_CACHE];
    uint64_t tick;
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
/* A prepared statement for exactly sql[0, len), from the connection's cache
 * when it holds one prepared by the same kind of caller (c->guest), else
 * newly prepared (as sqlite3_prepare_v2: rc, *out NULL for an empty one,
 * *tail after the first statement). Only a statement with nothing but
 * blanks and semicolons after it is kept. Hand it back with sqlite_stmt_done. */
int sqlite_stmt(struct conn *c, const char *sql, size_t len, sqlite3_stmt **out, const char **tail);
/* Reset with no bindings left when cached (bindings may point into guest
 * memory), finalized when not. NULL is a no-op. */
void sqlite_stmt_done(struct conn *c, sqlite3_stmt *s);
/* Finalizes every cached statement: before the connection closes. */
void sqlite_stmt_forget(struct conn *c);
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
