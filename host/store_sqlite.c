/*
 * kv and sql on embedded SQLite (the default backend).
 *
 * One connection per worker thread per file, opened lazily and kept for the
 * thread's life. WAL mode, so readers never block the writer. Every call runs
 * under its budget: a busy handler that waits only until the budget's end and
 * a progress handler that interrupts a statement running past it.
 *
 * kv lives in <state>/kv.sqlite, one table for all stores, expiry as epoch ms
 * in a column and swept lazily (expired rows read as absent and are replaced
 * on write). Each sql database is <state>/sql/<name>.sqlite.
 *
 * A grant is a wall (SAFE4). A connection outlives the call that used it and
 * serves every function granted the same file on that worker, so nothing a
 * guest's statement does may reach past its database or survive the call:
 * every connection is hardened at open, an authorizer walls each guest
 * statement into `main` (no ATTACH, transaction control, writable PRAGMAs,
 * extension loading or TEMP objects), VACUUM is refused before it is
 * prepared, and after every guest call the connection is checked back to
 * autocommit with nothing attached.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "rt/rt.h"

int host_fail(struct host_err *err, host_err_kind kind, const char *fmt, ...)
{
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

struct conn {
    char path[512];
    sqlite3 *db;
    uint64_t deadline_ns;
    int timed_out;
    int guest;          /* a guest's statement is prepared or stepped: the authorizer applies */
    char refused[64];   /* what the authorizer refused last, for the error */
};

/* The longest statement a guest may send; SQLite's own limit says the same. */
#define MAX_SQL_LEN 1000000

#define MAX_CONNS 32
static _Thread_local struct conn conns[MAX_CONNS];

static int on_busy(void *arg, int count)
{
    struct conn *c = arg;
    (void)count;
    if (host_now_ns() >= c->deadline_ns) {
        c->timed_out = 1;
        return 0;
    }
    usleep(200);
    return 1;
}

static int on_progress(void *arg)
{
    struct conn *c = arg;
    if (host_now_ns() >= c->deadline_ns) {
        c->timed_out = 1;
        return 1;
    }
    return 0;
}

/* Settings no statement can change back, on every connection (SAFE4):
 * DEFENSIVE forbids what corrupts a file (writable_schema, journal_mode=OFF,
 * shadow-table writes), an untrusted schema runs no function or virtual
 * table that is not innocuous from a view or trigger, and no extension can be
 * loaded. ATTACHED = 0 makes ATTACH, and the ATTACH inside VACUUM, fail in
 * SQLite itself, whatever reaches them. LENGTH caps one value far below
 * SQLite's 1 GB, yet above a guest's default 32 MB of memory, so an oversized
 * result still traps in the guest's allocator rather than in SQLite. */
static int harden(sqlite3 *db)
{
    static const int on_off[][2] = {
        {SQLITE_DBCONFIG_DEFENSIVE, 1},
        {SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0},
        {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0},
        {SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0},
    };
    for (size_t i = 0; i < sizeof on_off / sizeof on_off[0]; i++) {
        int now = -1;
        if (sqlite3_db_config(db, on_off[i][0], on_off[i][1], &now) != SQLITE_OK ||
            now != on_off[i][1])
            return -1;
    }
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LEN);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 64 * 1024 * 1024);
    sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
    return 0;
}

static int refuse(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->refused, sizeof c->refused, fmt, ap);
    va_end(ap);
    return SQLITE_DENY;
}

/* The PRAGMAs a guest may run: reading its own schema and versions. Any
 * other one, and any of these given a value, would change the pooled
 * connection or the file for everyone after it. The table_info family needs
 * its argument; page_size and data_version are also what rtree and fts5 read
 * for themselves while a guest's statement runs. */
static int pragma_allowed(const char *name, const char *value)
{
    static const char *const with_arg[] = {
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
        "foreign_key_list",
    };
    static const char *const read_only[] = {
        "user_version", "schema_version", "data_version", "foreign_keys", "database_list",
        "page_size",
    };
    const char *const *list = value ? with_arg : read_only;
    size_t n = value ? sizeof with_arg / sizeof *with_arg : sizeof read_only / sizeof *read_only;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* Functions that reach outside the database or hand out raw pointers:
 * load_extension runs native code, fts3_tokenizer reads and writes a C
 * pointer, and the shell's file functions would read or write any path if a
 * build ever linked them in. */
static int function_allowed(const char *name)
{
    static const char *const denied[] = {
        "load_extension", "fts3_tokenizer", "readfile", "writefile", "edit",
    };
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++)
        if (strcasecmp(name, denied[i]) == 0)
            return 0;
    return 1;
}

/* The wall around a guest's statement (SAFE4). SQLite asks while it prepares
 * and again when it re-prepares or a virtual table prepares its own inside a
 * step, which is why c->guest covers the whole statement. The host's own
 * statements (kv, BEGIN IMMEDIATE/COMMIT, migration scripts) pass untouched. */
static int on_authorize(void *arg, int action, const char *a1, const char *a2,
                        const char *schema, const char *via)
{
    struct conn *c = arg;
    (void)via;
    if (!c->guest)
        return SQLITE_OK;
    /* TEMP objects would outlive the call on the pooled connection, and a
     * TEMP table or view named like a main one would shadow it */
    if (schema && strcmp(schema, "main") != 0)
        return strcmp(schema, "temp") == 0 ? refuse(c, "TEMP objects")
                                           : refuse(c, "database %s", schema);
    switch (action) {
    case SQLITE_ATTACH:
        return refuse(c, "ATTACH");
    case SQLITE_DETACH:
        return refuse(c, "DETACH");
    /* the host owns the transaction: a guest's BEGIN would hold the write
     * lock past its call, its COMMIT would split a sql.transaction */
    case SQLITE_TRANSACTION:
        return refuse(c, "%s", a1 ? a1 : "transaction control");
    case SQLITE_SAVEPOINT:
        return refuse(c, "SAVEPOINT");
    case SQLITE_PRAGMA:
        return pragma_allowed(a1, a2) ? SQLITE_OK : refuse(c, "PRAGMA %s", a1);
    case SQLITE_FUNCTION:
        return function_allowed(a2) ? SQLITE_OK : refuse(c, "function %s", a2);
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
        return refuse(c, "TEMP objects");
    default:
        return SQLITE_OK;
    }
}

static const char KV_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS kv ("
    " store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0," /* epoch ms; 0 = never */
    " PRIMARY KEY (store, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at <> 0;";

static struct conn *open_conn(const char *path, const char *schema, struct host_err *err)
{
    struct conn *free_slot = NULL;
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].db && strcmp(conns[i].path, path) == 0)
            return &conns[i];
        if (!conns[i].db && !free_slot)
            free_slot = &conns[i];
    }
    if (!free_slot) {
        host_fail(err, HOST_E_INTERNAL, "too many databases open on one worker");
        return NULL;
    }
    /* the directory of a database file, once per new connection */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        mkdir(dir, 0700);
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        host_fail(err, HOST_E_UNAVAILABLE, "open %s: %s", path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    if (harden(db) != 0) {
        host_fail(err, HOST_E_INTERNAL, "open %s: cannot harden the connection", path);
        sqlite3_close(db);
        return NULL;
    }
    struct conn *c = free_slot;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->db = db;
    c->deadline_ns = host_now_ns() + 10000000000ull;
    c->guest = 0;
    sqlite3_set_authorizer(db, on_authorize, c);
    sqlite3_busy_handler(db, on_busy, c);
    sqlite3_progress_handler(db, 1000, on_progress, c);
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK ||
        (schema && sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK)) {
        host_fail(err, HOST_E_UNAVAILABLE, "init %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        c->db = NULL;
        return NULL;
    }
    return c;
}

void host_store_thread_close(void)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].db)
            sqlite3_close(conns[i].db);
        conns[i].db = NULL;
    }
}

static struct conn *kv_conn(struct host_state *st, uint32_t budget_ms, struct host_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/kv.sqlite", st->dir);
    struct conn *c = open_conn(path, KV_SCHEMA, err);
    if (c) {
        c->deadline_ns = host_now_ns() + (uint64_t)budget_ms * 1000000ull;
        c->timed_out = 0;
    }
    return c;
}

static int valid_db_name(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static struct conn *sql_conn(struct host_state *st, const char *db, uint32_t budget_ms,
                             struct host_err *err)
{
    if (!valid_db_name(db)) {
        host_fail(err, HOST_E_INVALID, "bad database name");
        return NULL;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/sql/%s.sqlite", st->dir, db);
    struct conn *c = open_conn(path, NULL, err);
    if (c) {
        c->deadline_ns = host_now_ns() + (uint64_t)budget_ms * 1000000ull;
        c->timed_out = 0;
    }
    return c;
}

/* Maps a SQLite failure to the WIT error, without SQL text or values. */
static int sql_fail(struct conn *c, int rc, struct host_err *err, const char *what)
{
    int prim = rc & 0xff;
    /* The SAFE4 wall refused part of a guest's statement. SQLite reports some
     * refusals as SQLITE_ERROR (a denied function), so the record decides. */
    if (c->guest && c->refused[0])
        return host_fail(err, HOST_E_INVALID, "%s: not allowed: %s", what, c->refused);
    if (c->timed_out || prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_INTERRUPT)
        return host_fail(err, HOST_E_TIMEOUT, "%s: budget exhausted", what);
    if (prim == SQLITE_CONSTRAINT)
        return host_fail(err, HOST_E_CONFLICT, "%s: %s", what, sqlite3_errmsg(c->db));
    if (prim == SQLITE_AUTH)
        return host_fail(err, HOST_E_INVALID, "%s: not allowed: %s", what, sqlite3_errmsg(c->db));
    if (prim == SQLITE_ERROR || prim == SQLITE_RANGE || prim == SQLITE_MISMATCH ||
        prim == SQLITE_TOOBIG)
        return host_fail(err, HOST_E_INVALID, "%s: %s", what, sqlite3_errmsg(c->db));
    if (prim == SQLITE_FULL || prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN ||
        prim == SQLITE_CORRUPT || prim == SQLITE_READONLY)
        return host_fail(err, HOST_E_UNAVAILABLE, "%s: %s", what, sqlite3_errmsg(c->db));
    return host_fail(err, HOST_E_INTERNAL, "%s: %s", what, sqlite3_errmsg(c->db));
}

static int exec_simple(struct conn *c, const char *sql, struct host_err *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_fail(c, rc, err, sql);
}

/* BEGIN IMMEDIATE takes the write lock up front: in SQLite that makes the
 * transaction serializable and lets the busy handler wait for it. */
static int begin(struct conn *c, struct host_err *err)
{
    return exec_simple(c, "BEGIN IMMEDIATE", err);
}

static void rollback(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int commit(struct conn *c, struct host_err *err)
{
    if (exec_simple(c, "COMMIT", err) != 0) {
        rollback(c);
        return -1;
    }
    return 0;
}

static int64_t expiry(uint64_t ttl_ms)
{
    return ttl_ms ? (int64_t)(host_wall_ms() + ttl_ms) : 0;
}

/* --- kv ------------------------------------------------------------------ */

/* Reads a live value inside the current transaction (or autocommit). */
static int kv_read(struct conn *c, const char *store, const void *key, size_t klen, void **val,
                   size_t *vlen, int *found, struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT value FROM kv WHERE store=?1 AND key=?2 AND "
                                "(expires_at=0 OR expires_at>?3)", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(c, rc, err, "kv read");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)host_wall_ms());
    rc = sqlite3_step(s);
    *found = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        if (val) {
            size_t n = (size_t)sqlite3_column_bytes(s, 0);
            *val = malloc(n ? n : 1);
            if (!*val) {
                sqlite3_finalize(s);
                return host_fail(err, HOST_E_INTERNAL, "out of memory");
            }
            if (n)
                memcpy(*val, sqlite3_column_blob(s, 0), n);
            *vlen = n;
        }
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) {
        int r = sql_fail(c, rc, err, "kv read");
        sqlite3_finalize(s);
        return r;
    }
    sqlite3_finalize(s);
    return 0;
}

/* Lazy sweep: every 64th write on a worker also deletes up to 256 expired
 * rows, so idempotency, dedup and rate-limit records cannot pile up. Reads
 * already treat expired rows as absent; this only reclaims space. */
static void kv_sweep(struct conn *c)
{
    static _Thread_local unsigned writes;
    if (++writes % 64)
        return;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "DELETE FROM kv WHERE (store, key) IN (SELECT store, key FROM kv "
                           "WHERE expires_at <> 0 AND expires_at <= ?1 LIMIT 256)",
                           -1, &s, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(s, 1, (int64_t)host_wall_ms());
    sqlite3_step(s); /* best effort: a failure leaves rows for the next sweep */
    sqlite3_finalize(s);
}

static int kv_write(struct conn *c, const char *store, const void *key, size_t klen,
                    const void *val, size_t vlen, uint64_t ttl_ms, struct host_err *err)
{
    kv_sweep(c);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "INSERT INTO kv(store,key,value,expires_at) VALUES(?1,?2,?3,?4) "
                                "ON CONFLICT(store,key) DO UPDATE SET value=excluded.value, "
                                "expires_at=excluded.expires_at", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(c, rc, err, "kv write");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, vlen ? val : "", (int)vlen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, expiry(ttl_ms));
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : sql_fail(c, rc, err, "kv write");
}

static int kv_remove(struct conn *c, const char *store, const void *key, size_t klen,
                     struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, "DELETE FROM kv WHERE store=?1 AND key=?2", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(c, rc, err, "kv delete");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : sql_fail(c, rc, err, "kv delete");
}

/* see host.h */
int host_kv_get(struct host_state *st, const char *store, const void *key, size_t klen,
                uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c)
        return -1;
    return kv_read(c, store, key, klen, val, vlen, found, err);
}

/* see host.h */
int host_kv_set(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
                struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c)
        return -1;
    return kv_write(c, store, key, klen, val, vlen, ttl_ms, err);
}

/* see host.h */
int host_kv_add(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
                struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c || begin(c, err) != 0)
        return -1;
    int found = 0;
    *added = 0;
    if (kv_read(c, store, key, klen, NULL, NULL, &found, err) != 0)
        goto fail;
    if (!found) {
        if (kv_write(c, store, key, klen, val, vlen, ttl_ms, err) != 0)
            goto fail;
        *added = 1;
    }
    if (commit(c, err) != 0) {
        *added = 0;
        return -1;
    }
    return 0;
fail:
    rollback(c);
    return -1;
}

/* Counters are stored as decimal ASCII, as Redis does, so a get of a counter
 * reads the same on both backends. */
static int parse_counter(const void *v, size_t n, int64_t *out)
{
    char buf[24];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, v, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end || end == buf)
        return -1;
    *out = x;
    return 0;
}

/* see host.h */
int host_kv_increment(struct host_state *st, const char *store, const void *key, size_t klen,
                      int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                      struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c || begin(c, err) != 0)
        return -1;
    void *old = NULL;
    size_t olen = 0;
    int found = 0;
    int64_t cur = 0;
    if (kv_read(c, store, key, klen, &old, &olen, &found, err) != 0)
        goto fail;
    if (found && parse_counter(old, olen, &cur) != 0) {
        host_fail(err, HOST_E_INVALID, "kv increment: value is not an integer");
        goto fail;
    }
    if (__builtin_add_overflow(cur, delta, out)) {
        host_fail(err, HOST_E_INVALID, "kv increment: overflow");
        goto fail;
    }
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", (long long)*out);
    if (found) {
        /* keep the existing expiry: TTL is set on create only */
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(c->db, "UPDATE kv SET value=?3 WHERE store=?1 AND key=?2",
                                    -1, &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
            sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
            sqlite3_bind_blob(s, 3, text, n, SQLITE_STATIC);
            rc = sqlite3_step(s);
            sqlite3_finalize(s);
        }
        if (rc != SQLITE_DONE) {
            sql_fail(c, rc, err, "kv increment");
            goto fail;
        }
    } else if (kv_write(c, store, key, klen, text, (size_t)n, ttl_ms, err) != 0) {
        goto fail;
    }
    free(old);
    return commit(c, err);
fail:
    free(old);
    rollback(c);
    return -1;
}

/* see host.h */
int host_kv_swap(struct host_state *st, const char *store, const void *key, size_t klen,
                 const void *expected, size_t elen, int has_expected, const void *val,
                 size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *swapped,
                 struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c || begin(c, err) != 0)
        return -1;
    void *old = NULL;
    size_t olen = 0;
    int found = 0;
    *swapped = 0;
    if (kv_read(c, store, key, klen, &old, &olen, &found, err) != 0)
        goto fail;
    int match = has_expected ? (found && olen == elen && memcmp(old, expected, elen) == 0)
                             : !found;
    if (match) {
        if (kv_write(c, store, key, klen, val, vlen, ttl_ms, err) != 0)
            goto fail;
    }
    free(old);
    if (commit(c, err) != 0)
        return -1;
    *swapped = match;
    return 0;
fail:
    free(old);
    rollback(c);
    return -1;
}

/* see host.h */
int host_kv_delete(struct host_state *st, const char *store, const void *key, size_t klen,
                   uint32_t budget_ms, int *deleted, struct host_err *err)
{
    struct conn *c = kv_conn(st, budget_ms, err);
    if (!c || begin(c, err) != 0)
        return -1;
    int found = 0;
    if (kv_read(c, store, key, klen, NULL, NULL, &found, err) != 0 ||
        kv_remove(c, store, key, klen, err) != 0) {
        rollback(c);
        return -1;
    }
    if (commit(c, err) != 0)
        return -1;
    *deleted = found;
    return 0;
}

/* --- sql ----------------------------------------------------------------- */

void host_rows_free(struct host_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_cols; i++)
        free(r->cols[i]);
    free(r->cols);
    for (size_t i = 0; i < r->n_rows * r->n_cols; i++)
        free(r->vals[i].p);
    free(r->vals);
    memset(r, 0, sizeof *r);
}

/* Binds $1..$n by name, so their order of appearance in the SQL is free. */
static int bind_params(struct conn *c, sqlite3_stmt *s, const struct host_stmt *st,
                       struct host_err *err)
{
    int n = sqlite3_bind_parameter_count(s);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(s, i);
        char *end;
        long k = name && name[0] == '$' ? strtol(name + 1, &end, 10) : 0;
        if (!name || name[0] != '$' || *end || k < 1)
            return host_fail(err, HOST_E_INVALID, "parameters must be $1..$n");
        if ((size_t)k > st->n_params)
            return host_fail(err, HOST_E_INVALID, "parameter $%ld has no value", k);
        const struct host_value *v = &st->params[k - 1];
        int rc;
        switch (v->type) {
        case 0: rc = sqlite3_bind_null(s, i); break;
        case 1: rc = sqlite3_bind_int64(s, i, v->i); break;
        case 2: rc = sqlite3_bind_double(s, i, v->r); break;
        case 3: rc = sqlite3_bind_text(s, i, v->p ? v->p : "", (int)v->len, SQLITE_STATIC); break;
        default: rc = sqlite3_bind_blob(s, i, v->p ? v->p : "", (int)v->len, SQLITE_STATIC); break;
        }
        if (rc != SQLITE_OK)
            return sql_fail(c, rc, err, "bind");
    }
    return 0;
}

static int run_stmt(struct conn *c, const struct host_stmt *st, struct host_rows *out,
                    struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    if (st->sql_len > MAX_SQL_LEN)
        return host_fail(err, HOST_E_INVALID, "statement too long");
    int rc = sqlite3_prepare_v2(c->db, st->sql, (int)st->sql_len, &s, &tail);
    if (rc != SQLITE_OK)
        return sql_fail(c, rc, err, "prepare");
    if (!s)
        return host_fail(err, HOST_E_INVALID, "empty statement");
    for (const char *p = tail; p < st->sql + st->sql_len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
            sqlite3_finalize(s);
            return host_fail(err, HOST_E_INVALID, "one statement per call");
        }
    if (bind_params(c, s, st, err) != 0) {
        sqlite3_finalize(s);
        return -1;
    }
    int ncol = sqlite3_column_count(s);
    out->n_cols = (size_t)ncol;
    out->cols = calloc(ncol ? (size_t)ncol : 1, sizeof *out->cols);
    if (!out->cols)
        goto oom;
    for (int i = 0; i < ncol; i++)
        if (!(out->cols[i] = strdup(sqlite3_column_name(s, i))))
            goto oom;
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->n_rows == cap) {
            cap = cap ? cap * 2 : 8;
            struct host_value *grown = realloc(out->vals, cap * (size_t)ncol * sizeof *grown + 1);
            if (!grown)
                goto oom;
            out->vals = grown;
        }
        struct host_value *row = &out->vals[out->n_rows * (size_t)ncol];
        memset(row, 0, (size_t)ncol * sizeof *row);
        out->n_rows++;
        for (int i = 0; i < ncol; i++) {
            struct host_value *v = &row[i];
            switch (sqlite3_column_type(s, i)) {
            case SQLITE_NULL: v->type = 0; break;
            case SQLITE_INTEGER: v->type = 1; v->i = sqlite3_column_int64(s, i); break;
            case SQLITE_FLOAT: v->type = 2; v->r = sqlite3_column_double(s, i); break;
            case SQLITE_TEXT:
            case SQLITE_BLOB: {
                int text = sqlite3_column_type(s, i) == SQLITE_TEXT;
                const void *b = text ? (const void *)sqlite3_column_text(s, i)
                                     : sqlite3_column_blob(s, i);
                v->type = text ? 3 : 4;
                v->len = (size_t)sqlite3_column_bytes(s, i);
                v->p = malloc(v->len ? v->len : 1);
                if (!v->p)
                    goto oom;
                if (v->len)
                    memcpy(v->p, b, v->len);
                break;
            }
            }
        }
    }
    if (rc != SQLITE_DONE) {
        int r = sql_fail(c, rc, err, "step");
        sqlite3_finalize(s);
        return r;
    }
    /* Rows written by this statement alone (triggers excluded); sqlite3_changes
     * keeps the previous statement's count for a read-only one, so report 0. */
    out->changes = sqlite3_stmt_readonly(s) ? 0 : (uint64_t)sqlite3_changes64(c->db);
    sqlite3_finalize(s);
    return 0;
oom:
    sqlite3_finalize(s);
    return host_fail(err, HOST_E_INTERNAL, "out of memory");
}

/* Whether a statement is VACUUM, which has no authorizer code: it must be
 * the statement's first keyword, after SQLite's whitespace and comments. */
static int is_vacuum(const char *sql, size_t len)
{
    const char *p = sql, *end = sql + len;
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r') {
            p++;
        } else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            p += 2;
            while (end - p >= 2 && !(p[0] == '*' && p[1] == '/'))
                p++;
            p = end - p >= 2 ? p + 2 : end;
        } else {
            break;
        }
    }
    static const char kw[] = "vacuum";
    size_t n = sizeof kw - 1;
    if ((size_t)(end - p) < n || strncasecmp(p, kw, n) != 0)
        return 0;
    p += n;
    /* VACUUMx is a name, not the keyword */
    return p == end || !(*p == '_' || *p == '$' || (*p >= '0' && *p <= '9') ||
                         ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (unsigned char)*p >= 0x80);
}

/* One statement of a guest's, inside the SAFE4 wall: host_sql_query and
 * host_sql_transaction are the guest's entry points (migrate's checksum read
 * is a plain SELECT and passes). VACUUM is refused by name: it would copy the
 * database (INTO any path) and runs its own ATTACH. */
static int guest_stmt(struct conn *c, const struct host_stmt *st, struct host_rows *out,
                      struct host_err *err)
{
    if (is_vacuum(st->sql, st->sql_len))
        return host_fail(err, HOST_E_INVALID, "prepare: not allowed: VACUUM");
    c->refused[0] = 0;
    c->guest = 1;
    int rc = run_stmt(c, st, out, err);
    c->guest = 0;
    return rc;
}

static void log_reset(const char *path, const char *what)
{
    char msg[600];
    int n = snprintf(msg, sizeof msg, "sql connection %s after a guest call: %s", what, path);
    host_log_line("warn", NULL, NULL, msg, n < (int)sizeof msg ? (size_t)n : sizeof msg - 1,
                  NULL, NULL, 0);
}

/* Every guest call ends here, success or failure (SAFE4): the connection goes
 * back to the pool in autocommit with only main attached. The authorizer
 * should make both impossible, so either one found means something got past
 * it; the host says so, and a connection with anything attached is closed
 * rather than trusted to detach. */
static void reset_after_guest(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db)) {
        log_reset(c->path, "rolled back");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (sqlite3_db_name(c->db, 2) != NULL || !sqlite3_get_autocommit(c->db)) {
        log_reset(c->path, "closed");
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
}

/* see host.h */
int host_sql_query(struct host_state *st, const char *db, const struct host_stmt *s,
                   uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    struct conn *c = sql_conn(st, db, budget_ms, err);
    if (!c)
        return -1;
    int rc = guest_stmt(c, s, out, err);
    reset_after_guest(c);
    if (rc != 0)
        host_rows_free(out);
    return rc;
}

/* The statements of a sql.transaction, all or none, each inside the wall. */
static int guest_transaction(struct conn *c, const struct host_stmt *s, size_t n,
                             struct host_rows *out, struct host_err *err)
{
    if (begin(c, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (guest_stmt(c, &s[i], &out[i], err) != 0) {
            /* say which statement failed, keep the class */
            char prefix[32];
            size_t pl = (size_t)snprintf(prefix, sizeof prefix, "statement %zu: ", i + 1);
            size_t ml = strnlen(err->msg, sizeof err->msg - 1 - pl);
            memmove(err->msg + pl, err->msg, ml);
            memcpy(err->msg, prefix, pl);
            err->msg[pl + ml] = 0;
            goto fail;
        }
        if (s[i].has_expect && out[i].changes != s[i].expect) {
            host_fail(err, HOST_E_GUARD, "statement %zu: expect-changes did not hold", i + 1);
            err->statement = (uint32_t)(i + 1);
            goto fail;
        }
    }
    if (commit(c, err) != 0)
        goto undo;
    return 0;
fail:
    rollback(c);
undo:
    for (size_t i = 0; i < n; i++)
        host_rows_free(&out[i]);
    return -1;
}

/* see host.h */
int host_sql_transaction(struct host_state *st, const char *db, const struct host_stmt *s,
                         size_t n, uint32_t budget_ms, struct host_rows *out,
                         struct host_err *err)
{
    struct conn *c = sql_conn(st, db, budget_ms, err);
    if (!c)
        return -1;
    int rc = guest_transaction(c, s, n, out, err);
    reset_after_guest(c);
    return rc;
}

/* see host.h */
int host_sql_exec_script(struct host_state *st, const char *db, const char *sql,
                         struct host_err *err)
{
    struct conn *c = sql_conn(st, db, 60000, err);
    if (!c)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        host_fail(err, HOST_E_INVALID, "%s", msg ? msg : "error");
        sqlite3_free(msg);
        rollback(c);
        return -1;
    }
    return 0;
}
