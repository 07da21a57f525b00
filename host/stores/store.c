/*
 * The stores seen from the rest of the host: host_kv_* and host_sql_* find
 * the backend a store or database is configured on and call through its
 * operations table (store.h); host_migrate applies schemas through it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt/rt.h"
#include "store.h"

/* Every backend there is, for thread_close and the runtime config's
 * `backend = "…"` (runtime_config.c). */
const struct host_kv_ops *const host_kv_backends[] = {
    &host_sqlite_kv_ops,
    &host_redis_kv_ops,
};
const size_t host_n_kv_backends = sizeof host_kv_backends / sizeof *host_kv_backends;
const struct host_sql_ops *const host_sql_backends[] = {
    &host_sqlite_sql_ops,
    &host_postgres_sql_ops,
};
const size_t host_n_sql_backends = sizeof host_sql_backends / sizeof *host_sql_backends;

/* The store configured for `name`, else the kind's "default" (runtime_config.c
 * always ends the list with SQLite defaults, so this finds one). */
static struct host_store *lookup(struct host_state *st, int sql, const char *name)
{
    struct host_store *fallback = NULL;
    for (size_t i = 0; i < st->n_stores; i++) {
        struct host_store *s = &st->stores[i];
        if ((s->sql != NULL) != sql)
            continue;
        if (strcmp(s->name, name) == 0)
            return s;
        if (!fallback && strcmp(s->name, "default") == 0)
            fallback = s;
    }
    return fallback;
}

/* see store.h */
struct host_store *host_kv_store(struct host_state *st, const char *name)
{
    return lookup(st, 0, name);
}

/* see store.h */
struct host_store *host_sql_store(struct host_state *st, const char *name)
{
    return lookup(st, 1, name);
}

/* see host.h */
int host_kv_get(struct host_state *st, const char *store, const void *key, size_t klen,
                uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->get(s, store, key, klen, budget_ms, val, vlen, found, err);
}

/* see host.h */
int host_kv_set(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
                struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->set(s, store, key, klen, val, vlen, ttl_ms, budget_ms, err);
}

/* see host.h */
int host_kv_add(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
                struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->add(s, store, key, klen, val, vlen, ttl_ms, budget_ms, added, err);
}

/* see host.h */
int host_kv_increment(struct host_state *st, const char *store, const void *key, size_t klen,
                      int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                      struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->increment(s, store, key, klen, delta, ttl_ms, budget_ms, out, err);
}

/* see host.h */
int host_kv_swap(struct host_state *st, const char *store, const void *key, size_t klen,
                 const void *expected, size_t elen, int has_expected, const void *val, size_t vlen,
                 uint64_t ttl_ms, uint32_t budget_ms, int *swapped, struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->swap(s, store, key, klen, expected, elen, has_expected, val, vlen, ttl_ms,
                       budget_ms, swapped, err);
}

/* see host.h */
int host_kv_delete(struct host_state *st, const char *store, const void *key, size_t klen,
                   uint32_t budget_ms, int *deleted, struct host_err *err)
{
    struct host_store *s = host_kv_store(st, store);
    return s->kv->del(s, store, key, klen, budget_ms, deleted, err);
}

/* see host.h */
int host_sql_query(struct host_state *st, const char *db, const struct host_stmt *s,
                   uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    struct host_store *b = host_sql_store(st, db);
    return b->sql->query(b, db, s, budget_ms, out, err);
}

/* see host.h */
int host_sql_transaction(struct host_state *st, const char *db, const struct host_stmt *s, size_t n,
                         uint32_t budget_ms, struct host_rows *out, struct host_err *err)
{
    struct host_store *b = host_sql_store(st, db);
    return b->sql->transaction(b, db, s, n, budget_ms, out, err);
}

/* see host.h */
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

/* see host.h */
void host_store_thread_close(void)
{
    for (size_t i = 0; i < host_n_kv_backends; i++)
        host_kv_backends[i]->thread_close();
    for (size_t i = 0; i < host_n_sql_backends; i++)
        host_sql_backends[i]->thread_close();
}

/* see store.h */
int host_kv_parse_counter(const void *v, size_t n, int64_t *out)
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

/* --- schemas -------------------------------------------------------------- */

/* Is line [p, end) the marker `-- bastion:<word>` (with an argument after
 * it when `arg` is given)? */
static int marker(const char *p, const char *end, const char *word, const char **arg)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    static const char prefix[] = "-- bastion:";
    size_t pl = sizeof prefix - 1, wl = strlen(word);
    if ((size_t)(end - p) < pl + wl || memcmp(p, prefix, pl) != 0 || memcmp(p + pl, word, wl) != 0)
        return 0;
    p += pl + wl;
    if (arg) {
        if (p >= end || (*p != ' ' && *p != '\t'))
            return 0;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        *arg = p;
        return 1;
    }
    /* "end" stands alone: "-- bastion:endless" is a comment, not a marker */
    return p >= end || *p == ' ' || *p == '\t' || *p == '\r';
}

/* The argument of a dialect marker, up to the end of the line or a blank. */
static int dialect_is(const char *arg, const char *end, const char *dialect)
{
    size_t n = 0;
    while (arg + n < end && arg[n] != ' ' && arg[n] != '\t' && arg[n] != '\r')
        n++;
    return n == strlen(dialect) && memcmp(arg, dialect, n) == 0;
}

/* see store.h */
char *host_schema_for_dialect(const char *sql, size_t len, const char *dialect, unsigned *bad_line,
                              const char **why)
{
    *bad_line = 0;
    *why = NULL;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned line = 1, opened = 0;
    int keep = 1;
    const char *arg;
    for (const char *p = sql, *end = sql + len; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (marker(p, eol, "dialect", &arg)) {
            if (opened) {
                *why = "-- bastion:dialect inside a section (sections do not nest)";
                goto bad;
            }
            opened = line;
            keep = dialect_is(arg, eol, dialect);
        } else if (marker(p, eol, "end", NULL)) {
            if (!opened) {
                *why = "-- bastion:end without a -- bastion:dialect before it";
                goto bad;
            }
            opened = 0;
            keep = 1;
        } else if (keep) {
            memcpy(out + o, p, (size_t)(next - p));
            o += (size_t)(next - p);
        }
        p = next;
    }
    if (opened) {
        line = opened;
        *why = "-- bastion:dialect without its -- bastion:end";
        goto bad;
    }
    out[o] = 0;
    return out;
bad:
    *bad_line = line;
    free(out);
    return NULL;
}

/*
 * A schema with its `-- bastion:include FILE` lines replaced by FILE's text
 * (FILE relative to the schema's directory; one level: an included file
 * includes nothing), so a table every function repeats (the email outbox,
 * the webhook ledger) is written once, in shared/schema/. NULL on failure,
 * with the line and the reason.
 */
static char *schema_expand(const char *path, size_t *len, unsigned *bad_line, char *why,
                           size_t why_len)
{
    size_t n = 0;
    char *sql = host_read_file(path, &n);
    if (!sql) {
        snprintf(why, why_len, "cannot read the file");
        return NULL;
    }
    size_t cap = n + 1, o = 0;
    char *out = malloc(cap);
    unsigned line = 1;
    const char *arg;
    for (const char *p = sql, *end = sql + n; out && p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *next = nl ? nl + 1 : end;
        const char *piece = p;
        size_t piece_len = (size_t)(next - p);
        char *inc = NULL;
        if (marker(p, eol, "include", &arg)) {
            size_t al = (size_t)(eol - arg);
            while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\t' || arg[al - 1] == '\r'))
                al--;
            const char *slash = strrchr(path, '/');
            size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
            char file[4096];
            size_t inc_len = 0;
            if (dl + al >= sizeof file) {
                snprintf(why, why_len, "-- bastion:include path too long");
            } else {
                memcpy(file, path, dl);
                memcpy(file + dl, arg, al);
                file[dl + al] = 0;
                inc = host_read_file(file, &inc_len);
                if (!inc)
                    snprintf(why, why_len, "-- bastion:include cannot read %.200s", file);
                else if (strstr(inc, "-- bastion:include"))
                    snprintf(why, why_len, "-- bastion:include in %.200s (includes do not nest)",
                             file);
            }
            if (!inc || strstr(inc, "-- bastion:include")) {
                free(inc);
                free(out);
                free(sql);
                *bad_line = line;
                return NULL;
            }
            piece = inc;
            piece_len = inc_len;
        }
        if (o + piece_len + 2 > cap) {
            cap = (o + piece_len + 2) * 2;
            char *grown = realloc(out, cap);
            if (!grown)
                free(out);
            out = grown;
        }
        if (out) {
            memcpy(out + o, piece, piece_len);
            o += piece_len;
            if (inc && piece_len && piece[piece_len - 1] != '\n')
                out[o++] = '\n';
        }
        free(inc);
        p = next;
    }
    free(sql);
    if (!out) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    out[o] = 0;
    *len = o;
    return out;
}

/* FNV-1a 64 is enough to notice an edited schema file; it is not security.
 * It sums the schema as written with its includes in place, so both
 * dialects share one checksum and an edited include counts as a change. */
static uint64_t checksum(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* see host.h */
int host_migrate(struct host_state *st, struct host_function *fn, int allow_changed, FILE *out)
{
    if (!fn->schema_path || fn->n_sql == 0)
        return 0;
    size_t n = 0;
    unsigned inc_line = 0;
    char inc_why[256];
    char *sql = schema_expand(fn->schema_path, &n, &inc_line, inc_why, sizeof inc_why);
    if (!sql) {
        if (inc_line)
            fprintf(out, "migrate %s: %s:%u: %s\n", fn->name, fn->schema_path, inc_line, inc_why);
        else
            fprintf(out, "migrate %s: cannot read %s\n", fn->name, fn->schema_path);
        return -1;
    }
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)checksum(sql, n));
    const char *db = fn->sql[0];
    struct host_store *s = host_sql_store(st, db);
    struct host_err err = {0};
    unsigned bad_line;
    const char *why;
    char *script = host_schema_for_dialect(sql, n, s->sql->backend, &bad_line, &why);
    enum host_migration r = HOST_MIGRATION_FAILED;
    if (!script && why)
        host_fail(&err, HOST_E_INVALID, "%s:%u: %s", fn->schema_path, bad_line, why);
    else if (!script)
        host_fail(&err, HOST_E_INTERNAL, "out of memory");
    else
        r = s->sql->migrate(s, db, fn->name, sum, script, allow_changed, &err);
    switch (r) {
    case HOST_MIGRATION_APPLIED:
        fprintf(out, "migrate %s: applied %s to database '%s' on %s (%s)\n", fn->name,
                fn->schema_path, db, s->sql->backend, sum);
        break;
    case HOST_MIGRATION_UP_TO_DATE:
        fprintf(out, "migrate %s: up to date (%s)\n", fn->name, sum);
        break;
    case HOST_MIGRATION_CHANGED:
        fprintf(out,
                "migrate %s: %s changed since it was applied; refusing "
                "(rerun with --allow-changed once the change is idempotent)\n",
                fn->name, fn->schema_path);
        break;
    case HOST_MIGRATION_FAILED: fprintf(out, "migrate %s: %s\n", fn->name, err.msg); break;
    }
    free(script);
    free(sql);
    return r == HOST_MIGRATION_APPLIED || r == HOST_MIGRATION_UP_TO_DATE ? 0 : -1;
}

/* --- health ---------------------------------------------------------------- */

/* One backend's line: "kv.default": {"backend": "redis", "required": true,
 * "status": "ok"}. The error message stays in the host's log: it may name
 * addresses a client has no business seeing. */
static int health_one(struct host_store *s, uint32_t budget_ms, FILE *out, int first)
{
    struct host_err err = {0};
    const char *backend = s->kv ? s->kv->backend : s->sql->backend;
    int up = (s->kv ? s->kv->health(s, budget_ms, &err) : s->sql->health(s, budget_ms, &err)) == 0;
    if (!up)
        fprintf(stderr, "bastion: health: %s.%s (%s) is down: %s\n", s->kv ? "kv" : "sql", s->name,
                backend, err.msg);
    fprintf(out, "%s\"%s.", first ? "" : ",", s->kv ? "kv" : "sql");
    host_json_escape(out, s->name, strlen(s->name));
    fprintf(out, "\":{\"backend\":\"%s\",\"required\":%s,\"status\":\"%s\"}", backend,
            s->required ? "true" : "false", up ? "ok" : "fail");
    return !up && s->required;
}

/* see host.h. The checks run one after another within budget_ms in all:
 * each gets an equal share of what is left, so one hung backend neither
 * stretches the report to a budget per backend nor starves those after it. */
int host_stores_health(struct host_state *st, uint32_t budget_ms, FILE *out)
{
    int down = 0, first = 1;
    size_t left = 0;
    for (size_t i = 0; i < st->n_stores; i++)
        left += st->stores[i].users != 0;
    uint64_t deadline = host_now_ns() + (uint64_t)budget_ms * 1000000u;
    fputc('{', out);
    for (size_t i = 0; i < st->n_stores; i++) {
        if (!st->stores[i].users)
            continue;
        uint64_t now = host_now_ns();
        uint64_t share = now < deadline ? (deadline - now) / 1000000u / left : 0;
        down += health_one(&st->stores[i], (uint32_t)share, out, first);
        first = 0;
        left--;
    }
    fputc('}', out);
    return down;
}
