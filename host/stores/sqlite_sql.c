/*
 * sql on SQLite: <state>/sql/<name>.sqlite. Guest statements run inside the
 * SAFE4 wall (sqlite.c's authorizer), and every guest call ends with the
 * connection back in autocommit with only main attached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/rt.h"
#include "sqlite.h"

/* --- sql ----------------------------------------------------------------- */

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
            return sqlite_fail(c, rc, err, "bind");
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
    int rc = sqlite_stmt(c, st->sql, st->sql_len, &s, &tail);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, err, "prepare");
    if (!s)
        return host_fail(err, HOST_E_INVALID, "empty statement");
    for (const char *p = tail; p < st->sql + st->sql_len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
            sqlite_stmt_done(c, s);
            return host_fail(err, HOST_E_INVALID, "one statement per call");
        }
    if (bind_params(c, s, st, err) != 0) {
        sqlite_stmt_done(c, s);
        return -1;
    }
    /* the first step before the columns: a cached statement is prepared again
     * inside it when the schema changed, and its column list with it */
    rc = sqlite3_step(s);
    int ncol = sqlite3_column_count(s);
    out->n_cols = (size_t)ncol;
    out->cols = calloc(ncol ? (size_t)ncol : 1, sizeof *out->cols);
    if (!out->cols)
        goto oom;
    for (int i = 0; i < ncol; i++)
        if (!(out->cols[i] = strdup(sqlite3_column_name(s, i))))
            goto oom;
    size_t cap = 0;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
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
            case SQLITE_INTEGER:
                v->type = 1;
                v->i = sqlite3_column_int64(s, i);
                break;
            case SQLITE_FLOAT:
                v->type = 2;
                v->r = sqlite3_column_double(s, i);
                break;
            case SQLITE_TEXT:
            case SQLITE_BLOB: {
                int text = sqlite3_column_type(s, i) == SQLITE_TEXT;
                const void *b =
                    text ? (const void *)sqlite3_column_text(s, i) : sqlite3_column_blob(s, i);
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
        int r = sqlite_fail(c, rc, err, "step");
        sqlite_stmt_done(c, s);
        return r;
    }
    /* Rows written by this statement alone (triggers excluded); sqlite3_changes
     * keeps the previous statement's count for a read-only one, so report 0. */
    out->changes = sqlite3_stmt_readonly(s) ? 0 : (uint64_t)sqlite3_changes64(c->db);
    sqlite_stmt_done(c, s);
    return 0;
oom:
    sqlite_stmt_done(c, s);
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
    host_log_line("warn", NULL, NULL, msg, n < (int)sizeof msg ? (size_t)n : sizeof msg - 1, NULL,
                  NULL, 0);
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
        sqlite_stmt_forget(c);
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
}

static int sql_query(struct host_store *b, const char *db, const struct host_stmt *s,
                     uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    struct conn *c = sqlite_sql_conn(b->state, db, budget_ms, err);
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
    if (sqlite_begin(c, err) != 0)
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
    if (sqlite_commit(c, err) != 0)
        goto undo;
    return 0;
fail:
    sqlite_rollback(c);
undo:
    for (size_t i = 0; i < n; i++)
        host_rows_free(&out[i]);
    return -1;
}

static int sql_transaction(struct host_store *b, const char *db, const struct host_stmt *s,
                           size_t n, uint32_t budget_ms, struct host_rows *out,
                           struct host_err *err)
{
    struct conn *c = sqlite_sql_conn(b->state, db, budget_ms, err);
    if (!c)
        return -1;
    int rc = guest_transaction(c, s, n, out, err);
    reset_after_guest(c);
    return rc;
}

/* Runs a trusted script (a migration) on a connection of its own budget. */
static int exec_script(struct conn *c, const char *sql, struct host_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        host_fail(err, HOST_E_INVALID, "%s", msg ? msg : "error");
        sqlite3_free(msg);
        sqlite_rollback(c);
        return -1;
    }
    return 0;
}

/* The function's recorded checksum, or "" (sum has room for 32). */
static int recorded(struct conn *c, const char *fn, char sum[33], struct host_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT checksum FROM _bastion_migrations WHERE function=?1",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, err, "migrations");
    sqlite3_bind_text(q, 1, fn, -1, SQLITE_STATIC);
    sum[0] = 0;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        snprintf(sum, 33, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_fail(c, rc, err, "migrations");
}

/* see store.h: BEGIN IMMEDIATE holds the file's write lock from the check to
 * the commit, so two hosts on one state directory apply a schema once. */
static enum host_migration sql_migrate(struct host_store *b, const char *db, const char *fn,
                                       const char *checksum, const char *script, int allow_changed,
                                       struct host_err *err)
{
    struct conn *c = sqlite_sql_conn(b->state, db, 60000, err);
    char sum[33];
    if (!c || exec_script(c,
                          "CREATE TABLE IF NOT EXISTS _bastion_migrations ("
                          " function TEXT PRIMARY KEY, checksum TEXT NOT NULL,"
                          " applied_at INTEGER NOT NULL);"
                          "BEGIN IMMEDIATE",
                          err) != 0)
        return HOST_MIGRATION_FAILED;
    if (recorded(c, fn, sum, err) != 0) {
        sqlite_rollback(c);
        return HOST_MIGRATION_FAILED;
    }
    if (strcmp(sum, checksum) == 0 || (sum[0] && !allow_changed)) {
        sqlite_rollback(c);
        return sum[0] && strcmp(sum, checksum) != 0 ? HOST_MIGRATION_CHANGED
                                                    : HOST_MIGRATION_UP_TO_DATE;
    }
    sqlite3_stmt *up = NULL;
    int rc = SQLITE_OK;
    if (exec_script(c, script, err) != 0)
        return HOST_MIGRATION_FAILED;
    rc = sqlite3_prepare_v2(c->db,
                            "INSERT INTO _bastion_migrations(function,checksum,applied_at)"
                            " VALUES(?1,?2,?3) ON CONFLICT(function) DO UPDATE SET"
                            " checksum=excluded.checksum, applied_at=excluded.applied_at",
                            -1, &up, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(up, 1, fn, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, checksum, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 3, (int64_t)host_wall_ms());
        rc = sqlite3_step(up) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
        sqlite3_finalize(up);
    }
    if (rc != SQLITE_OK) {
        sqlite_fail(c, rc, err, "migrations");
        sqlite_rollback(c);
        return HOST_MIGRATION_FAILED;
    }
    return sqlite_commit(c, err) == 0 ? HOST_MIGRATION_APPLIED : HOST_MIGRATION_FAILED;
}

/* The directory the database files live in must be there and writable. */
static int sql_health(struct host_store *b, uint32_t budget_ms, struct host_err *err)
{
    char dir[512];
    (void)budget_ms;
    snprintf(dir, sizeof dir, "%s/sql", b->state->dir);
    if (access(dir, W_OK | X_OK) != 0 && !(errno == ENOENT && access(b->state->dir, W_OK) == 0))
        return host_fail(err, HOST_E_UNAVAILABLE, "%s: %s", dir, strerror(errno));
    return 0;
}

const struct host_sql_ops host_sqlite_sql_ops = {
    .backend = "sqlite",
    .open = sqlite_store_open,
    .close = sqlite_store_close,
    .health = sql_health,
    .thread_close = sqlite_thread_close,
    .query = sql_query,
    .transaction = sql_transaction,
    .migrate = sql_migrate,
};
