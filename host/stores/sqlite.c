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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/rt.h"
#include "sqlite.h"

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

/* The connection's settings, then the file's schema (NULL: none). */
static int init_conn(sqlite3 *db, const char *schema, char **msg)
{
    int rc = sqlite3_exec(db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "PRAGMA foreign_keys=ON;",
                          NULL, NULL, msg);
    if (rc == SQLITE_OK && schema)
        rc = sqlite3_exec(db, schema, NULL, NULL, msg);
    return rc;
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
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    };
    static const char *const read_only[] = {
        "user_version", "schema_version", "data_version",
        "foreign_keys", "database_list",  "page_size",
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
static int on_authorize(void *arg, int action, const char *a1, const char *a2, const char *schema,
                        const char *via)
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
    case SQLITE_ATTACH: return refuse(c, "ATTACH");
    case SQLITE_DETACH: return refuse(c, "DETACH");
    /* the host owns the transaction: a guest's BEGIN would hold the write
     * lock past its call, its COMMIT would split a sql.transaction */
    case SQLITE_TRANSACTION: return refuse(c, "%s", a1 ? a1 : "transaction control");
    case SQLITE_SAVEPOINT: return refuse(c, "SAVEPOINT");
    case SQLITE_PRAGMA: return pragma_allowed(a1, a2) ? SQLITE_OK : refuse(c, "PRAGMA %s", a1);
    case SQLITE_FUNCTION: return function_allowed(a2) ? SQLITE_OK : refuse(c, "function %s", a2);
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW: return refuse(c, "TEMP objects");
    default: return SQLITE_OK;
    }
}

/* Process-wide settings, before SQLite's first use. Connections are never
 * shared between threads (one per worker per file, opened NOMUTEX), and the
 * host reads no memory statistics, so SQLite's global allocation mutex is
 * pure contention between workers: turned off. */
static pthread_once_t configured = PTHREAD_ONCE_INIT;
static void configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* SQLITE_MISUSE once initialized: harmless */
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
    pthread_once(&configured, configure);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
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
    int rc;
    /* Another process opening or writing the same file can make these
     * statements fail with SQLITE_BUSY without calling the busy handler (a
     * read lock that cannot be upgraded, WAL recovery): they are idempotent,
     * so they are tried again until the connection's own deadline. */
    while ((rc = init_conn(db, schema, &msg)) != SQLITE_OK && (rc & 0xff) == SQLITE_BUSY &&
           host_now_ns() < c->deadline_ns) {
        sqlite3_free(msg);
        msg = NULL;
        usleep(1000);
    }
    if (rc != SQLITE_OK) {
        host_fail(err, HOST_E_UNAVAILABLE, "init %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        c->db = NULL;
        return NULL;
    }
    return c;
}

static int blank_tail(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';')
            return 0;
    return 1;
}

/* BASTION_TEST_SQL_PLANS=FILE (tests only, read from the host's own
 * environment): each guest statement this connection prepares afresh adds one
 * line to FILE, {"sql": …, "plan": [EXPLAIN QUERY PLAN's details]}, so a test
 * can prove which index a query path uses (DATA1, DATA4). */
static void record_plan(struct conn *c, sqlite3_stmt *s)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    const char *path = getenv("BASTION_TEST_SQL_PLANS");
    const char *sql = sqlite3_sql(s);
    if (!path || !*path || !sql)
        return;
    char *explain = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *q = NULL;
    if (explain && sqlite3_prepare_v2(c->db, explain, -1, &q, NULL) == SQLITE_OK && q) {
        pthread_mutex_lock(&lock);
        FILE *f = fopen(path, "a");
        if (f) {
            fputs("{\"sql\": \"", f);
            host_json_escape(f, sql, strlen(sql));
            fputs("\", \"plan\": [", f);
            for (int n = 0; sqlite3_step(q) == SQLITE_ROW; n++) {
                const char *d = (const char *)sqlite3_column_text(q, 3);
                fputs(n ? ", \"" : "\"", f);
                host_json_escape(f, d ? d : "", d ? strlen(d) : 0);
                fputc('"', f);
            }
            fputs("]}\n", f);
            fclose(f);
        }
        pthread_mutex_unlock(&lock);
    }
    sqlite3_finalize(q);
    sqlite3_free(explain);
}

/* see sqlite.h */
int sqlite_stmt(struct conn *c, const char *sql, size_t len, sqlite3_stmt **out, const char **tail)
{
    c->tick++;
    for (int i = 0; i < STMT_CACHE; i++) {
        struct cached_stmt *e = &c->cache[i];
        if (e->s && !e->in_use && e->len == len && e->guest == c->guest &&
            memcmp(e->sql, sql, len) == 0) {
            e->used = c->tick;
            e->in_use = 1;
            *out = e->s;
            *tail = sql + len;
            return SQLITE_OK;
        }
    }
    int rc = sqlite3_prepare_v3(c->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, out, tail);
    if (rc == SQLITE_OK && *out && c->guest)
        record_plan(c, *out);
    if (rc != SQLITE_OK || !*out || len > STMT_CACHE_MAX_SQL || !blank_tail(*tail, sql + len))
        return rc;
    struct cached_stmt *victim = NULL;
    for (int i = 0; i < STMT_CACHE; i++) {
        struct cached_stmt *e = &c->cache[i];
        if (!e->in_use && (!victim || !e->s || (victim->s && e->used < victim->used)))
            victim = e;
    }
    char *copy = victim ? malloc(len ? len : 1) : NULL;
    if (!copy)
        return rc; /* not kept: sqlite_stmt_done finalizes it */
    if (victim->s) {
        sqlite3_finalize(victim->s);
        free(victim->sql);
    }
    memcpy(copy, sql, len);
    *victim = (struct cached_stmt){*out, copy, len, c->tick, c->guest, 1};
    return rc;
}

/* see sqlite.h */
void sqlite_stmt_done(struct conn *c, sqlite3_stmt *s)
{
    if (!s)
        return;
    for (int i = 0; i < STMT_CACHE; i++)
        if (c->cache[i].s == s) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            c->cache[i].in_use = 0;
            return;
        }
    sqlite3_finalize(s);
}

/* see sqlite.h */
void sqlite_stmt_forget(struct conn *c)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        if (c->cache[i].s)
            sqlite3_finalize(c->cache[i].s);
        free(c->cache[i].sql);
        c->cache[i] = (struct cached_stmt){0};
    }
}

/* see sqlite.h */
int sqlite_store_open(struct host_store *s, FILE *errs)
{
    (void)s, (void)errs;
    return 0;
}

/* see sqlite.h */
void sqlite_store_close(struct host_store *s)
{
    (void)s;
}

/* see sqlite.h */
void sqlite_thread_close(void)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        sqlite_stmt_forget(&conns[i]);
        if (conns[i].db)
            sqlite3_close(conns[i].db);
        conns[i].db = NULL;
    }
}

struct conn *sqlite_kv_conn(struct host_state *st, uint32_t budget_ms, struct host_err *err)
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

/* see host.h */
int host_sqlite_db_name_ok(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

struct conn *sqlite_sql_conn(struct host_state *st, const char *db, uint32_t budget_ms,
                             struct host_err *err)
{
    if (!host_sqlite_db_name_ok(db)) {
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
int sqlite_fail(struct conn *c, int rc, struct host_err *err, const char *what)
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

/* One host statement (BEGIN IMMEDIATE, COMMIT) through the statement cache,
 * so it is parsed once per connection, not once per transaction. */
static int exec_simple(struct conn *c, const char *sql, struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    const char *tail;
    int rc = sqlite_stmt(c, sql, strlen(sql), &s, &tail);
    if (rc == SQLITE_OK && s)
        rc = sqlite3_step(s);
    int r = rc == SQLITE_OK || rc == SQLITE_DONE ? 0 : sqlite_fail(c, rc, err, sql);
    sqlite_stmt_done(c, s);
    return r;
}

/* BEGIN IMMEDIATE takes the write lock up front: in SQLite that makes the
 * transaction serializable and lets the busy handler wait for it. */
int sqlite_begin(struct conn *c, struct host_err *err)
{
    return exec_simple(c, "BEGIN IMMEDIATE", err);
}

void sqlite_rollback(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

int sqlite_commit(struct conn *c, struct host_err *err)
{
    if (exec_simple(c, "COMMIT", err) != 0) {
        sqlite_rollback(c);
        return -1;
    }
    return 0;
}
