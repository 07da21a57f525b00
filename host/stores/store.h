/*
 * The store backend interface (issue #9). kv and sql are each a small table
 * of operations: the WIT's functions plus open, close, health and the
 * per-thread release. Bindings call host_kv_* / host_sql_* (host.h), which
 * find the backend a store or database is configured on (runtime config,
 * runtime_config.c) and call through its table; they never know which
 * backend answers.
 *
 * Every backend keeps the WIT's error meaning (host.h host_err_kind):
 *   timeout      the call's budget ran out (the budget bounds every wait:
 *                connecting, locks, the statement itself)
 *   unavailable  the backend is down or unreachable
 *   conflict     a constraint violation (sql) — kept apart from
 *   guard        a lost expect-changes in a transaction (the statement index)
 *   invalid      bad SQL, a bad parameter, a non-integer under increment
 *   internal     anything else (out of memory, protocol surprise)
 *
 * Connections are per worker thread, opened lazily, reconnected after a
 * failure; `thread_close` releases the calling thread's.
 */
#ifndef HOST_STORES_STORE_H
#define HOST_STORES_STORE_H

#include "host.h"

struct host_store;

struct host_kv_ops {
    const char *backend; /* "sqlite", "redis" */
    /* Validates the configuration (URL) and prepares s->impl; connects
     * lazily, so a backend down at start-up is a failing health check and
     * `unavailable` answers, not a refusal to start. Errors go to errs. */
    int (*open)(struct host_store *s, FILE *errs);
    void (*close)(struct host_store *s);
    /* A round trip within the budget: 0 up, -1 with err filled. */
    int (*health)(struct host_store *s, uint32_t budget_ms, struct host_err *err);
    /* Releases the calling thread's connections to every store of this
     * backend (a worker ends). */
    void (*thread_close)(void);

    /* The WIT's kv functions; `name` is the store (a namespace). */
    int (*get)(struct host_store *s, const char *name, const void *key, size_t klen,
               uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err);
    int (*set)(struct host_store *s, const char *name, const void *key, size_t klen,
               const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
               struct host_err *err);
    int (*add)(struct host_store *s, const char *name, const void *key, size_t klen,
               const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
               struct host_err *err);
    /* Counters are decimal ASCII values; the TTL applies on create only. */
    int (*increment)(struct host_store *s, const char *name, const void *key, size_t klen,
                     int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                     struct host_err *err);
    /* has_expected = 0: the key must be absent. */
    int (*swap)(struct host_store *s, const char *name, const void *key, size_t klen,
                const void *expected, size_t elen, int has_expected, const void *val, size_t vlen,
                uint64_t ttl_ms, uint32_t budget_ms, int *swapped, struct host_err *err);
    int (*del)(struct host_store *s, const char *name, const void *key, size_t klen,
               uint32_t budget_ms, int *deleted, struct host_err *err);
};

/* Reads a counter as every kv backend stores it: decimal ASCII, as Redis
 * does, so a get of a counter reads the same on all of them (strtoll's
 * reading, under 24 bytes). 0, or -1 when it is no integer. */
int host_kv_parse_counter(const void *v, size_t n, int64_t *out);

/* What a migration found (host_sql_ops.migrate). */
enum host_migration {
    HOST_MIGRATION_FAILED = -1,
    HOST_MIGRATION_APPLIED = 0,
    HOST_MIGRATION_UP_TO_DATE = 1,
    HOST_MIGRATION_CHANGED = 2, /* applied with another checksum; not allowed */
};

struct host_sql_ops {
    const char *backend; /* "sqlite", "postgres": also the schema.sql dialect */
    int (*open)(struct host_store *s, FILE *errs);
    void (*close)(struct host_store *s);
    int (*health)(struct host_store *s, uint32_t budget_ms, struct host_err *err);
    void (*thread_close)(void);

    /* The WIT's sql functions; `db` is the manifest's database name.
     * Parameters are $1..$n; results come back typed as the WIT's value
     * cases. On failure `out` holds nothing. */
    int (*query)(struct host_store *s, const char *db, const struct host_stmt *st,
                 uint32_t budget_ms, struct host_rows *out, struct host_err *err);
    /* All or none, serializable, each statement's expect-changes checked
     * (HOST_E_GUARD with err->statement on a miss). */
    int (*transaction)(struct host_store *s, const char *db, const struct host_stmt *st, size_t n,
                       uint32_t budget_ms, struct host_rows *out, struct host_err *err);
    /* Applies `script` (schema.sql already cut to this dialect) as function
     * `fn`'s schema, recorded with `checksum` in _bastion_migrations, all in
     * one transaction. Exactly once even when several hosts start together. */
    enum host_migration (*migrate)(struct host_store *s, const char *db, const char *fn,
                                   const char *checksum, const char *script, int allow_changed,
                                   struct host_err *err);
};

/* One configured backend: a [kv.<name>] or [sql.<name>] table of the
 * runtime config, or the built-in SQLite default. */
struct host_store {
    char *name;                   /* the table's name: a store, a database, or "default" */
    char *url;                    /* NULL for SQLite */
    char *key_prefix;             /* Redis: what every key starts with (default "bastion:") */
    char *source;                 /* where it was configured ("runtime.toml:12"), for messages */
    const struct host_kv_ops *kv; /* exactly one of kv and sql is set */
    const struct host_sql_ops *sql;
    struct host_state *state; /* SQLite's files live in state->dir */
    void *impl;               /* the backend's own */
    int required;             /* down makes /health 503 (`required = false`: reported only) */
    unsigned users;           /* stores and databases of the manifest it serves */
};

extern const struct host_kv_ops host_sqlite_kv_ops, host_redis_kv_ops;
extern const struct host_sql_ops host_sqlite_sql_ops, host_postgres_sql_ops;
/* Every backend this build has (store.c), by `backend` name. */
extern const struct host_kv_ops *const host_kv_backends[];
extern const size_t host_n_kv_backends;
extern const struct host_sql_ops *const host_sql_backends[];
extern const size_t host_n_sql_backends;

/* The backend serving kv store / sql database `name` (never NULL once the
 * state is set up: SQLite is the fallback). */
struct host_store *host_kv_store(struct host_state *st, const char *name);
struct host_store *host_sql_store(struct host_state *st, const char *name);

/* Cuts a schema.sql to one dialect: lines between `-- bastion:dialect NAME`
 * and `-- bastion:end` are kept only for backend NAME (store.c). Returns a
 * malloc'd script; NULL when out of memory, or with *why and *bad_line set
 * when the markers do not pair (a section without its end, one inside
 * another, an end outside any): cutting on would drop or keep the rest of
 * the file for the wrong dialect. */
char *host_schema_for_dialect(const char *sql, size_t len, const char *dialect, unsigned *bad_line,
                              const char **why);

#endif
