/*
 * sql on PostgreSQL (backend "postgres", url postgresql://… or postgres://…).
 *
 * Each Bastion database is a schema of that name in the configured
 * PostgreSQL database, so many functions' databases share one server and
 * one database without colliding; the session's search_path says which one
 * a call is on, and its role (postgres_role.c) what the call may reach:
 * only that schema (SAFE4). postgres.c caches both per connection. migrate
 * creates the role and the schema; a database with no schema.sql gets them
 * on its first call.
 *
 * The semantics are SQLite's (sqlite_sql.c): $1..$n bound by number, typed
 * results as the WIT's value cases, every statement serializable, a
 * transaction all or none with each expect-changes checked. Serialization
 * failures (40001, 40P01) are PostgreSQL's way of keeping that promise
 * under concurrency: the whole call is retried, a bounded number of times,
 * within its budget.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postgres.h"
#include "rt/rt.h"

/* The types a result column or a parameter is mapped by (pg_type.oid). */
enum {
    BOOL_OID = 16,
    BYTEA_OID = 17,
    INT8_OID = 20,
    INT2_OID = 21,
    INT4_OID = 23,
    TEXT_OID = 25,
    OID_OID = 26,
    FLOAT4_OID = 700,
    FLOAT8_OID = 701,
    NUMERIC_OID = 1700,
};

#define MAX_RETRIES       8     /* serialization failures, per call */
#define MIGRATE_BUDGET_MS 60000 /* what SQLite's migrate allows itself */

/* --- values ------------------------------------------------------------- */

/* A numeric is an integer when it is one and fits (SUM of a BIGINT column
 * is a numeric), else a real (AVG, a fraction). */
static void numeric_of(const char *s, struct host_value *v)
{
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    int integral = end != s && errno == 0 && (*end == 0 || *end == '.');
    if (integral && *end == '.')
        integral = end[1 + strspn(end + 1, "0")] == 0;
    v->type = integral ? 1 : 2;
    if (integral)
        v->i = i;
    else
        v->r = strtod(s, NULL);
}

/* A copy of n bytes the guest's rows own (malloc'd, as host_rows_free wants). */
static int bytes_of(const void *b, size_t n, int type, struct host_value *v)
{
    v->type = type;
    v->len = n;
    v->p = malloc(n ? n : 1);
    if (!v->p)
        return -1;
    memcpy(v->p, b, n);
    return 0;
}

/* One result field, typed: text format on the wire, converted here. */
static int value_of(const PGresult *r, int row, int col, struct host_value *v)
{
    if (PQgetisnull(r, row, col))
        return 0; /* v is all zero: null */
    const char *s = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case INT2_OID:
    case INT4_OID:
    case INT8_OID:
    case OID_OID:
        v->type = 1;
        v->i = strtoll(s, NULL, 10);
        return 0;
    case FLOAT4_OID:
    case FLOAT8_OID: /* strtod reads "Infinity" and "NaN" as PostgreSQL writes them */
        v->type = 2;
        v->r = strtod(s, NULL);
        return 0;
    case NUMERIC_OID: numeric_of(s, v); return 0;
    case BOOL_OID: /* SQLite has no booleans: comparisons are 0 or 1 there */
        v->type = 1;
        v->i = s[0] == 't';
        return 0;
    case BYTEA_OID: {
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)s, &n);
        int rc = b ? bytes_of(b, n, 4, v) : -1;
        PQfreemem(b);
        return rc;
    }
    default: return bytes_of(s, (size_t)PQgetlength(r, row, col), 3, v);
    }
}

static int take_columns(const PGresult *r, struct host_rows *out)
{
    size_t n = (size_t)PQnfields(r);
    out->cols = calloc(n ? n : 1, sizeof *out->cols);
    if (!out->cols)
        return -1;
    out->n_cols = n;
    for (size_t i = 0; i < n; i++)
        if (!(out->cols[i] = strdup(PQfname(r, (int)i))))
            return -1;
    return 0;
}

/* see postgres.h. The rows array doubles from 8 rows: it is regrown when
 * the count reaches a power of two. */
long pg_take_row(const PGresult *r, int row, struct host_rows *out)
{
    if (!out->cols && take_columns(r, out) != 0)
        return -1;
    if (row < 0)
        return 0;
    size_t ncol = out->n_cols, n = out->n_rows;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 8;
        struct host_value *grown = realloc(out->vals, cap * ncol * sizeof *grown + 1);
        if (!grown)
            return -1;
        out->vals = grown;
    }
    struct host_value *vals = &out->vals[n * ncol];
    memset(vals, 0, ncol * sizeof *vals);
    out->n_rows++;
    long bytes = (long)(ncol * sizeof *vals);
    for (size_t c = 0; c < ncol; c++) {
        if (value_of(r, row, (int)c, &vals[c]) != 0)
            return -1;
        bytes += (long)vals[c].len;
    }
    return bytes;
}

/* --- parameters --------------------------------------------------------- */

static void params_free(struct pg_params *pp)
{
    free(pp->sql);
    free(pp->words); /* the one block every array lives in */
    memset(pp, 0, sizeof *pp);
}

/* The first n values of st as libpq wants them: binary and typed by their
 * WIT case (text is text, so `$1 IS NULL` needs no cast); a null is left
 * untyped for the server to infer from where it stands, as a NULL literal
 * would be. */
static int params_of(const struct host_value *vals, int n, struct pg_params *pp,
                     struct host_err *err)
{
    size_t each = sizeof(uint64_t) + sizeof(char *) + sizeof(Oid) + 2 * sizeof(int);
    char *mem = calloc(1, (size_t)n * each + 1);
    if (!mem)
        return host_fail(err, HOST_E_INTERNAL, "out of memory");
    pp->n = n;
    pp->words = (uint64_t *)mem;
    pp->values = (const char **)(mem + (size_t)n * sizeof(uint64_t));
    pp->types = (Oid *)(mem + (size_t)n * (sizeof(uint64_t) + sizeof(char *)));
    pp->lengths = (int *)(pp->types + n);
    pp->formats = pp->lengths + n;
    for (int i = 0; i < n; i++) {
        const struct host_value *v = &vals[i];
        static const Oid types[] = {0, INT8_OID, FLOAT8_OID, TEXT_OID, BYTEA_OID};
        if (v->type < 0 || v->type > 4 || v->len > INT_MAX) {
            params_free(pp);
            return host_fail(err, HOST_E_INVALID, "parameter $%d: bad value", i + 1);
        }
        pp->types[i] = types[v->type];
        if (v->type == 0)
            continue;
        pp->formats[i] = 1;
        if (v->type == 1 || v->type == 2) {
            uint64_t bits;
            memcpy(&bits, v->type == 1 ? (const void *)&v->i : (const void *)&v->r, 8);
            pp->words[i] = htobe64(bits);
            pp->values[i] = (const char *)&pp->words[i];
            pp->lengths[i] = 8;
        } else {
            pp->values[i] = v->p ? v->p : "";
            pp->lengths[i] = (int)v->len;
        }
    }
    return 0;
}

/* A guest's statement through the wall (postgres_wall.c), then its
 * parameters: as many as it uses, and every one it uses given. */
static int guest_params(const struct host_stmt *st, struct pg_params *pp, struct host_err *err)
{
    struct pg_scan scan;
    pg_scan(st->sql, st->sql_len, &scan);
    if (scan.refused[0])
        return host_fail(err, HOST_E_INVALID, "not allowed: %s", scan.refused);
    if (st->sql_len > 1000000) /* SQLite's limit too (sqlite.h MAX_SQL_LEN) */
        return host_fail(err, HOST_E_INVALID, "statement too long");
    if (memchr(st->sql, 0, st->sql_len))
        return host_fail(err, HOST_E_INVALID, "statement contains a NUL byte");
    if ((size_t)scan.max_param > st->n_params)
        return host_fail(err, HOST_E_INVALID, "parameter $%d has no value", scan.max_param);
    if (scan.max_param > 65535) /* the protocol's count is 16 bits: libpq sends nothing */
        return host_fail(err, HOST_E_INVALID, "more than 65535 parameters");
    if (params_of(st->params, scan.max_param, pp, err) != 0)
        return -1;
    if (!(pp->sql = strndup(st->sql, st->sql_len))) {
        params_free(pp);
        return host_fail(err, HOST_E_INTERNAL, "out of memory");
    }
    return 0;
}

/* "statement N: " before the message, the class kept. */
static void name_statement(struct host_err *err, size_t i)
{
    char msg[sizeof err->msg + 32];
    snprintf(msg, sizeof msg, "statement %zu: %s", i + 1, err->msg);
    snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, msg);
}

/* --- calls -------------------------------------------------------------- */

static uint64_t deadline_after(uint32_t ms)
{
    return host_now_ns() + (uint64_t)ms * 1000000ull;
}

/* A Bastion database name as a PostgreSQL schema and role (postgres.h): the
 * manifest's alphabet, which needs no escaping inside "…", short enough for
 * the role's name, and none of the schemas every PostgreSQL database has
 * (the role would be given them). */
static int schema_name_ok(const char *db, struct host_err *err)
{
    size_t n = strlen(db), max = PG_NAME_MAX - (sizeof PG_ROLE_PREFIX - 1);
    if (n > 0 && n <= max && strspn(db, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
        strncmp(db, "pg_", 3) != 0 && strcmp(db, "public") != 0 &&
        strcmp(db, "information_schema") != 0)
        return 1;
    host_fail(err, HOST_E_INVALID,
              "bad database name (PostgreSQL: [a-z0-9_-], at most %zu, not public, "
              "information_schema or pg_*)",
              max);
    return 0;
}

static void rows_free(struct host_rows *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        host_rows_free(&out[i]);
}

/* The statements of one call, in a transaction of their own when `block`
 * (BEGIN … COMMIT), else as one autocommit statement. */
static int attempt(struct pg_conn *c, const struct host_stmt *st, const struct pg_params *pp,
                   size_t n, int block, uint64_t deadline_ns, struct host_rows *out,
                   struct host_err *err)
{
    if (block && pg_run(c, "BEGIN ISOLATION LEVEL SERIALIZABLE", NULL, deadline_ns, NULL, err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (pg_run(c, pp[i].sql, &pp[i], deadline_ns, &out[i], err) != 0) {
            if (block)
                name_statement(err, i);
            goto fail;
        }
        if (st[i].has_expect && out[i].changes != st[i].expect) {
            host_fail(err, HOST_E_GUARD, "statement %zu: expect-changes did not hold", i + 1);
            err->statement = (uint32_t)(i + 1);
            goto fail;
        }
    }
    if (!block || pg_run(c, "COMMIT", NULL, deadline_ns, NULL, err) == 0)
        return 0;
fail:
    pg_end(c, "ROLLBACK", deadline_ns); /* the retry looks at the failure's SQLSTATE */
    rows_free(out, n);
    return -1;
}

/* Every guest call ends with the session idle (SAFE4): the wall should make
 * anything else impossible, so a session found in a transaction is closed
 * rather than trusted, and the host says so. */
static void end_call(struct pg_conn *c)
{
    if (!c->pg || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    static const char msg[] = "postgres connection closed after a guest call: not idle";
    host_log_line("warn", NULL, NULL, msg, sizeof msg - 1, NULL, NULL, 0);
    pg_conn_drop(c);
}

/* Before retry k: a few milliseconds, doubling, jittered so the losers of
 * one round do not collide again in the next; never past the deadline. */
static void backoff(int k, uint64_t deadline_ns)
{
    static _Thread_local unsigned seed;
    uint64_t now = host_now_ns();
    if (!seed)
        seed = (unsigned)now | 1u;
    uint64_t base = 1000000ull << (k < 5 ? k : 5); /* 1, 2 … 32 ms */
    uint64_t ns = base / 2 + (uint64_t)rand_r(&seed) % base;
    if (now + ns >= deadline_ns)
        ns = deadline_ns > now ? (deadline_ns - now) / 2 : 0;
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* Whether a failure says database db has no role or schema yet: it has no
 * schema.sql, or it was made before roles were. SET ROLE (at settle) finds
 * no such role (22023) or one the login role is not a member of (42501); a
 * CREATE in the statement finds no schema to create in (3F000). */
static int missing(const struct pg_conn *c, int settled)
{
    if (!settled)
        return strcmp(c->sqlstate, "22023") == 0 || strcmp(c->sqlstate, "42501") == 0;
    return strcmp(c->sqlstate, "3F000") == 0;
}

/* Makes what `missing` found missing, once per call. Failing, it is the
 * call's answer and the host says so: it is the deployment's to fix (the
 * login role's privileges, usually), not the guest's. */
static int create_db(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    struct host_err why = {0};
    if (pg_db_create(c, db, deadline_ns, &why) == 0)
        return 1;
    *err = why;
    host_log_line("warn", NULL, NULL, why.msg, strlen(why.msg), NULL, NULL, 0);
    return 0;
}

/* What to do after failed attempt k (`settled`: it failed in the statements,
 * not in pg_conn_settle): 1 retry, 0 give the error back. A database with no
 * role or schema yet gets them, once; a serialization failure is retried
 * while budget is left. */
static int retry_after(struct pg_conn *c, const char *db, int k, int settled, int *created,
                       uint64_t deadline_ns, struct host_err *err)
{
    if (!c->pg)
        return 0; /* timed out or lost: whether it ran is unknown */
    if (!*created && missing(c, settled)) {
        *created = 1;
        return create_db(c, db, deadline_ns, err);
    }
    if ((strcmp(c->sqlstate, "40001") != 0 && strcmp(c->sqlstate, "40P01") != 0) ||
        k >= MAX_RETRIES)
        return 0;
    backoff(k, deadline_ns);
    return host_now_ns() < deadline_ns;
}

/* A guest's call: n statements, a transaction when `block`. */
static int guest_call(struct host_store *s, const char *db, const struct host_stmt *st, size_t n,
                      int block, uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    uint64_t deadline = deadline_after(budget_ms);
    if (!schema_name_ok(db, err))
        return -1;
    struct pg_params *pp = calloc(n ? n : 1, sizeof *pp);
    int rc = pp ? 0 : host_fail(err, HOST_E_INTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = guest_params(&st[i], &pp[i], err)) != 0 && block)
            name_statement(err, i);
    memset(out, 0, n * sizeof *out);
    for (int k = 0, created = 0; rc == 0; k++) {
        struct pg_conn *c = pg_conn_get(s, deadline, err);
        if (!c) {
            rc = -1;
            break;
        }
        int settled = pg_conn_settle(c, db, deadline, err) == 0;
        rc = settled ? attempt(c, st, pp, n, block, deadline, out, err) : -1;
        end_call(c);
        if (rc == 0 || !retry_after(c, db, k, settled, &created, deadline, err))
            break;
        rc = 0;
    }
    for (size_t i = 0; pp && i < n; i++)
        params_free(&pp[i]);
    free(pp);
    return rc;
}

/* see store.h */
static int pg_query(struct host_store *s, const char *db, const struct host_stmt *st,
                    uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    return guest_call(s, db, st, 1, 0, budget_ms, out, err);
}

/* see store.h */
static int pg_transaction(struct host_store *s, const char *db, const struct host_stmt *st,
                          size_t n, uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    return guest_call(s, db, st, n, 1, budget_ms, out, err);
}

/* --- migrations --------------------------------------------------------- */

/* see postgres.h */
int pg_run_texts(struct pg_conn *c, const char *sql, const char *const *texts, int n,
                 uint64_t deadline_ns, struct host_rows *out, struct host_err *err)
{
    struct host_value v[4] = {{0}};
    struct pg_params pp = {0};
    for (int i = 0; i < n && i < 4; i++)
        v[i] = (struct host_value){.type = 3, .p = (char *)texts[i], .len = strlen(texts[i])};
    if (params_of(v, n, &pp, err) != 0)
        return -1;
    int rc = pg_run(c, sql, &pp, deadline_ns, out, err);
    params_free(&pp);
    return rc;
}

/* Inside the migration's transaction, holding its lock: is the recorded
 * checksum this one (1), another (2), or none (0)? -1 on failure. */
static int recorded(struct pg_conn *c, const char *fn, const char *checksum, uint64_t deadline_ns,
                    struct host_err *err)
{
    struct host_rows rows = {0};
    if (pg_run_texts(c, "SELECT checksum FROM _bastion_migrations WHERE function = $1", &fn, 1,
                     deadline_ns, &rows, err) != 0)
        return -1;
    int r = 0;
    if (rows.n_rows == 1 && rows.n_cols == 1 && rows.vals[0].type == 3)
        r = rows.vals[0].len == strlen(checksum) &&
                    memcmp(rows.vals[0].p, checksum, rows.vals[0].len) == 0
                ? 1
                : 2;
    host_rows_free(&rows);
    return r;
}

/* The script and its record, in the transaction migrate opened. */
static int apply(struct pg_conn *c, const char *fn, const char *checksum, const char *script,
                 uint64_t deadline_ns, struct host_err *err)
{
    char now[32];
    struct host_rows rows = {0};
    snprintf(now, sizeof now, "%llu", (unsigned long long)host_wall_ms());
    const char *const row[] = {fn, checksum, now};
    if (pg_run(c, script, NULL, deadline_ns, NULL, err) != 0)
        return -1;
    int rc = pg_run_texts(c,
                          "INSERT INTO _bastion_migrations (function, checksum, applied_at)"
                          " VALUES ($1, $2, CAST($3 AS BIGINT)) ON CONFLICT (function) DO UPDATE"
                          " SET checksum = excluded.checksum, applied_at = excluded.applied_at",
                          row, 3, deadline_ns, &rows, err);
    host_rows_free(&rows);
    return rc;
}

/* see store.h. The check and the apply share one transaction holding the
 * database's advisory lock (pg_db_lock), so two hosts starting together
 * apply a schema once: the second waits, then finds it recorded. The role
 * is made first, outside it: roles belong to the whole server, so another
 * PostgreSQL database's host may be making the same one. Once the schema is
 * the role's, the rest runs as the role: what the script makes is the
 * role's, and the record, which the database's guests could have replaced
 * (a table with a DEFAULT that calls something), is never written with the
 * login role's privileges. */
static enum host_migration pg_migrate(struct host_store *s, const char *db, const char *fn,
                                      const char *checksum, const char *script, int allow_changed,
                                      struct host_err *err)
{
    uint64_t deadline = deadline_after(MIGRATE_BUDGET_MS);
    if (!schema_name_ok(db, err))
        return HOST_MIGRATION_FAILED;
    struct pg_conn *c = pg_conn_get(s, deadline, err);
    if (!c || pg_conn_settle(c, NULL, deadline, err) != 0 || pg_db_role(c, db, deadline, err) != 0)
        return HOST_MIGRATION_FAILED;
    char records[512];
    snprintf(records, sizeof records,
             "SET LOCAL search_path TO \"%s\"; SET LOCAL ROLE \"" PG_ROLE_PREFIX "%s\";"
             " CREATE TABLE IF NOT EXISTS _bastion_migrations"
             " (function TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
             db, db);
    enum host_migration r = HOST_MIGRATION_FAILED;
    int found = pg_db_lock(c, db, deadline, err) == 0 && pg_db_schema(c, db, deadline, err) == 0 &&
                        pg_run(c, records, NULL, deadline, NULL, err) == 0
                    ? recorded(c, fn, checksum, deadline, err)
                    : -1;
    if (found == 1)
        r = HOST_MIGRATION_UP_TO_DATE;
    else if (found == 2 && !allow_changed)
        r = HOST_MIGRATION_CHANGED;
    else if (found >= 0 && apply(c, fn, checksum, script, deadline, err) == 0 &&
             pg_run(c, "COMMIT", NULL, deadline, NULL, err) == 0)
        return HOST_MIGRATION_APPLIED;
    pg_end(c, r == HOST_MIGRATION_FAILED ? "ROLLBACK" : "COMMIT", deadline);
    return r;
}

/* --- the store ---------------------------------------------------------- */

/* see store.h: the URL is checked here, the server only on first use. */
static int pg_open(struct host_store *s, FILE *errs)
{
    const char *url = s->url ? s->url : "";
    if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
        fprintf(errs, "%s: url must start with postgresql:// or postgres://\n", s->source);
        return -1;
    }
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) { /* libpq's words name the bad part, never the password */
        char line[160];
        size_t n = strcspn(msg ? msg : "", "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, msg ? msg : "out of memory");
        fprintf(errs, "%s: bad PostgreSQL url: %s\n", s->source, line);
        PQfreemem(msg);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

/* see store.h: this thread's connections; workers close their own. */
static void pg_close(struct host_store *s)
{
    pg_conns_close(s);
}

/* see store.h */
static int pg_health(struct host_store *s, uint32_t budget_ms, struct host_err *err)
{
    uint64_t deadline = deadline_after(budget_ms);
    struct pg_conn *c = pg_conn_get(s, deadline, err);
    return c ? pg_run(c, "SELECT 1", NULL, deadline, NULL, err) : -1;
}

/* see store.h */
static void pg_thread_close(void)
{
    pg_conns_close(NULL);
}

const struct host_sql_ops host_postgres_sql_ops = {
    .backend = "postgres",
    .open = pg_open,
    .close = pg_close,
    .health = pg_health,
    .thread_close = pg_thread_close,
    .query = pg_query,
    .transaction = pg_transaction,
    .migrate = pg_migrate,
};
