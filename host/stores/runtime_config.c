/*
 * The runtime config: where this deployment's stores live (issue #9). The
 * manifest says what a function needs; this file says where it is, in the
 * style of Spin's runtime config:
 *
 *   [kv.default]
 *   backend = "redis"
 *   url = "redis://127.0.0.1:6379/0"
 *
 *   [sql.default]
 *   backend = "postgres"
 *   url = "postgresql://bastion:${BASTION_VAR_pg_password}@127.0.0.1/bastion"
 *
 *   [kv.ratelimit]          # one store somewhere else
 *   backend = "sqlite"
 *
 * A table is `kv.<store>`, `sql.<database>` or the kind's `default`; keys
 * are `backend`, `url` (not for SQLite), `required` (default true: a
 * required backend down turns /health into 503) and, for Redis,
 * `key_prefix` (default "bastion:"), so deployments can share one Redis. `${NAME}` in a string is
 * the environment variable NAME, so secrets stay out of the file; `$$` is a
 * dollar. Without a file, or for whatever it does not name, stores are on
 * SQLite in the state directory.
 *
 * The parser reads the TOML subset this needs (tables, strings, booleans,
 * comments) and refuses everything else with the file, line, key and what
 * was expected.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct parser {
    const char *path;
    const char *p, *end;
    unsigned line;
    FILE *errs;
    int failed;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(ps->errs, "%s:%u: ", ps->path, ps->line);
    vfprintf(ps->errs, fmt, ap);
    fputc('\n', ps->errs);
    va_end(ap);
    ps->failed = 1;
    return -1;
}

static void skip_blanks(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
        ps->p++;
}

/* Blanks, then a comment or the end of the line. */
static int end_of_line(struct parser *ps)
{
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == '#')
        while (ps->p < ps->end && *ps->p != '\n')
            ps->p++;
    if (ps->p < ps->end && *ps->p == '\r')
        ps->p++;
    if (ps->p < ps->end && *ps->p != '\n')
        return fail(ps, "expected the end of the line, found '%c'", *ps->p);
    return 0;
}

static int bare_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* A bare key into buf. */
static int key(struct parser *ps, char *buf, size_t cap, const char *what)
{
    size_t n = 0;
    while (ps->p < ps->end && bare_char(*ps->p)) {
        if (n + 1 >= cap)
            return fail(ps, "%s is too long", what);
        buf[n++] = *ps->p++;
    }
    buf[n] = 0;
    return n ? 0 : fail(ps, "expected %s", what);
}

/* Appends ${NAME}'s value from the environment (NAME up to the brace). */
static int interpolate(struct parser *ps, const char *k, char *out, size_t *n, size_t cap)
{
    char name[128];
    size_t nl = 0;
    ps->p += 2; /* "${" */
    while (ps->p < ps->end && *ps->p != '}' && *ps->p != '"' && *ps->p != '\n') {
        if (nl + 1 >= sizeof name)
            return fail(ps, "%s: variable name too long", k);
        name[nl++] = *ps->p++;
    }
    name[nl] = 0;
    if (ps->p >= ps->end || *ps->p != '}' || nl == 0)
        return fail(ps, "%s: expected ${NAME}", k);
    ps->p++;
    const char *v = getenv(name);
    if (!v)
        return fail(ps, "%s: ${%s} is not set in the environment", k, name);
    size_t vl = strlen(v);
    if (*n + vl >= cap)
        return fail(ps, "%s: value too long", k);
    memcpy(out + *n, v, vl);
    *n += vl;
    return 0;
}

/* A basic string ("…" with \" \\ \n \t escapes and ${NAME}). */
static char *string(struct parser *ps, const char *k)
{
    char out[2048];
    size_t n = 0;
    ps->p++; /* opening quote */
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p;
        if (c == '\n' || (unsigned char)c < 0x20) {
            fail(ps, "%s: unterminated string", k);
            return NULL;
        }
        if (c == '$' && ps->p + 1 < ps->end && ps->p[1] == '{') {
            if (interpolate(ps, k, out, &n, sizeof out) != 0)
                return NULL;
            continue;
        }
        if (c == '$' && ps->p + 1 < ps->end && ps->p[1] == '$')
            ps->p++;
        else if (c == '\\') {
            char e = ps->p + 1 < ps->end ? ps->p[1] : 0;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == '"' || e == '\\' ? e : 0;
            if (!c) {
                fail(ps, "%s: unsupported escape \\%c", k, e ? e : ' ');
                return NULL;
            }
            ps->p++;
        }
        if (n + 1 >= sizeof out) {
            fail(ps, "%s: value too long", k);
            return NULL;
        }
        out[n++] = c;
        ps->p++;
    }
    if (ps->p >= ps->end) {
        fail(ps, "%s: unterminated string", k);
        return NULL;
    }
    ps->p++;
    out[n] = 0;
    return strdup(out);
}

/* One table being read: [kind.name] and its keys. */
struct table {
    int sql;
    char name[72];
    unsigned line;
    char *backend, *url, *key_prefix;
    int required;
};

static int value(struct parser *ps, struct table *t, const char *k)
{
    char **slot = strcmp(k, "backend") == 0      ? &t->backend
                  : strcmp(k, "url") == 0        ? &t->url
                  : strcmp(k, "key_prefix") == 0 ? &t->key_prefix
                                                 : NULL;
    if (slot) {
        if (ps->p >= ps->end || *ps->p != '"')
            return fail(ps, "%s: expected a string in double quotes", k);
        if (*slot)
            return fail(ps, "%s is given twice", k);
        *slot = string(ps, k);
        return *slot ? 0 : -1;
    }
    if (strcmp(k, "required") == 0) {
        size_t left = (size_t)(ps->end - ps->p);
        if (left >= 4 && memcmp(ps->p, "true", 4) == 0)
            t->required = 1, ps->p += 4;
        else if (left >= 5 && memcmp(ps->p, "false", 5) == 0)
            t->required = 0, ps->p += 5;
        else
            return fail(ps, "required: expected true or false");
        return 0;
    }
    return fail(ps, "unknown key '%s' in [%s.%s]; expected backend, url, required or key_prefix", k,
                t->sql ? "sql" : "kv", t->name);
}

/* "[kv.name]" or "[sql.name]" */
static int header(struct parser *ps, struct table *t)
{
    char kind[8];
    ps->p++;
    skip_blanks(ps);
    if (key(ps, kind, sizeof kind, "kv or sql") != 0)
        return -1;
    if (strcmp(kind, "kv") != 0 && strcmp(kind, "sql") != 0)
        return fail(ps, "unknown table [%s…]; expected [kv.<store>] or [sql.<database>]", kind);
    if (ps->p >= ps->end || *ps->p != '.')
        return fail(ps, "expected [%s.<name>]", kind);
    ps->p++;
    *t = (struct table){.sql = kind[0] == 's', .line = ps->line, .required = 1};
    if (key(ps, t->name, sizeof t->name, "a store or database name") != 0)
        return -1;
    skip_blanks(ps);
    if (ps->p >= ps->end || *ps->p != ']')
        return fail(ps, "expected ] after [%s.%s", kind, t->name);
    ps->p++;
    return end_of_line(ps);
}

/* Does some function of `m` use this kv store / sql database? */
static int used(const struct host_manifest *m, int sql, const char *name)
{
    for (size_t i = 0; i < m->n_fns; i++) {
        const struct host_function *f = &m->fns[i];
        char *const *list = sql ? f->sql : f->kv;
        for (size_t j = 0, n = sql ? f->n_sql : f->n_kv; j < n; j++)
            if (strcmp(list[j], name) == 0)
                return 1;
    }
    return 0;
}

static void store_free(struct host_store *s)
{
    free(s->name);
    free(s->url);
    free(s->key_prefix);
    free(s->source);
}

/* Turns a finished table into a store appended to st. */
static int add_table(struct parser *ps, struct host_state *st, const struct host_manifest *m,
                     struct table *t)
{
    const char *kind = t->sql ? "sql" : "kv";
    unsigned line = ps->line;
    ps->line = t->line; /* messages point at the table */
    int rc = -1;
    for (size_t i = 0; i < st->n_stores; i++)
        if ((st->stores[i].sql != NULL) == t->sql && strcmp(st->stores[i].name, t->name) == 0) {
            fail(ps, "[%s.%s] is given twice", kind, t->name);
            goto out;
        }
    if (strcmp(t->name, "default") != 0 && !used(m, t->sql, t->name)) {
        fail(ps, "[%s.%s]: no function in the manifest uses %s '%s'", kind, t->name,
             t->sql ? "database" : "kv store", t->name);
        goto out;
    }
    if (!t->backend) {
        fail(ps, "[%s.%s]: backend is missing; expected %s", kind, t->name,
             t->sql ? "\"sqlite\" or \"postgres\"" : "\"sqlite\" or \"redis\"");
        goto out;
    }
    struct host_store s = {.required = t->required, .state = st};
    for (size_t i = 0; !t->sql && i < host_n_kv_backends; i++)
        if (strcmp(host_kv_backends[i]->backend, t->backend) == 0)
            s.kv = host_kv_backends[i];
    for (size_t i = 0; t->sql && i < host_n_sql_backends; i++)
        if (strcmp(host_sql_backends[i]->backend, t->backend) == 0)
            s.sql = host_sql_backends[i];
    if (!s.kv && !s.sql) {
        fail(ps, "[%s.%s]: backend \"%s\" is not a %s backend; expected %s", kind, t->name,
             t->backend, kind, t->sql ? "\"sqlite\" or \"postgres\"" : "\"sqlite\" or \"redis\"");
        goto out;
    }
    int is_sqlite = strcmp(t->backend, "sqlite") == 0;
    if (is_sqlite == (t->url != NULL)) {
        fail(ps,
             is_sqlite ? "[%s.%s]: url is not used by backend \"sqlite\" (its files are in "
                         "the state directory)"
                       : "[%s.%s]: url is missing",
             kind, t->name);
        goto out;
    }
    if (t->key_prefix && strcmp(t->backend, "redis") != 0) {
        fail(ps, "[%s.%s]: key_prefix is only for backend \"redis\"", kind, t->name);
        goto out;
    }
    struct host_store *grown = realloc(st->stores, (st->n_stores + 1) * sizeof *grown);
    if (!grown)
        goto out;
    st->stores = grown;
    s.name = strdup(t->name);
    s.url = t->url;
    s.key_prefix = t->key_prefix;
    t->url = t->key_prefix = NULL;
    if (asprintf(&s.source, "%s:%u [%s.%s]", ps->path, t->line, kind, t->name) < 0)
        s.source = NULL;
    st->stores[st->n_stores++] = s;
    rc = 0;
out:
    free(t->backend);
    free(t->url);
    free(t->key_prefix);
    t->backend = t->url = t->key_prefix = NULL;
    ps->line = line;
    return rc;
}

/* Reads `path` into st->stores. */
static int parse_file(struct host_state *st, const char *path, const struct host_manifest *m,
                      FILE *errs)
{
    size_t len = 0;
    char *text = host_read_file(path, &len);
    if (!text) {
        fprintf(errs, "%s: cannot read the runtime config\n", path);
        return -1;
    }
    struct parser ps = {path, text, text + len, 1, errs, 0};
    struct table t = {0};
    int open = 0;
    while (ps.p < ps.end && !ps.failed) {
        skip_blanks(&ps);
        char c = ps.p < ps.end ? *ps.p : '\n';
        if (c == '[') {
            if (open && add_table(&ps, st, m, &t) != 0)
                break;
            open = header(&ps, &t) == 0;
        } else if (bare_char(c)) {
            char k[32];
            if (key(&ps, k, sizeof k, "a key") != 0)
                break;
            if (!open) {
                fail(&ps, "%s: keys belong in a [kv.<store>] or [sql.<database>] table", k);
                break;
            }
            skip_blanks(&ps);
            if (ps.p >= ps.end || *ps.p != '=') {
                fail(&ps, "%s: expected = after the key", k);
                break;
            }
            ps.p++;
            skip_blanks(&ps);
            if (value(&ps, &t, k) != 0 || end_of_line(&ps) != 0)
                break;
        } else if (end_of_line(&ps) != 0) {
            break;
        }
        if (ps.p < ps.end) {
            ps.p++; /* the newline */
            ps.line++;
        }
    }
    if (!ps.failed && open)
        add_table(&ps, st, m, &t);
    free(t.backend);
    free(t.url);
    free(t.key_prefix);
    free(text);
    return ps.failed ? -1 : 0;
}

/* The SQLite defaults, last, so a configured default is found first. */
static int add_sqlite_defaults(struct host_state *st)
{
    struct host_store *grown = realloc(st->stores, (st->n_stores + 2) * sizeof *grown);
    if (!grown)
        return -1;
    st->stores = grown;
    st->stores[st->n_stores++] = (struct host_store){
        .name = strdup("default"), .kv = &host_sqlite_kv_ops, .state = st, .required = 1};
    st->stores[st->n_stores++] = (struct host_store){
        .name = strdup("default"), .sql = &host_sqlite_sql_ops, .state = st, .required = 1};
    return 0;
}

/* Counts, for every store, the manifest's stores and databases it serves. */
static void count_users(struct host_state *st, const struct host_manifest *m)
{
    for (size_t i = 0; i < m->n_fns; i++) {
        const struct host_function *f = &m->fns[i];
        for (size_t j = 0; j < f->n_kv; j++)
            host_kv_store(st, f->kv[j])->users++;
        for (size_t j = 0; j < f->n_sql; j++)
            host_sql_store(st, f->sql[j])->users++;
    }
}

/* see host.h */
int host_state_open(struct host_state *st, const char *dir, const char *runtime_config,
                    const struct host_manifest *m, FILE *errs)
{
    *st = (struct host_state){.dir = strdup(dir)};
    size_t opened = 0;
    if (!st->dir || (runtime_config && parse_file(st, runtime_config, m, errs) != 0) ||
        add_sqlite_defaults(st) != 0)
        goto fail;
    count_users(st, m);
    for (; opened < st->n_stores; opened++) {
        struct host_store *s = &st->stores[opened];
        if ((s->kv ? s->kv->open(s, errs) : s->sql->open(s, errs)) != 0)
            goto fail;
    }
    st->opened = opened;
    return 0;
fail:
    st->opened = opened;
    host_state_close(st);
    return -1;
}

/* see host.h */
void host_state_close(struct host_state *st)
{
    for (size_t i = 0; i < st->n_stores; i++) {
        struct host_store *s = &st->stores[i];
        if (i < st->opened && s->kv)
            s->kv->close(s);
        else if (i < st->opened)
            s->sql->close(s);
        store_free(s);
    }
    free(st->stores);
    free(st->dir);
    *st = (struct host_state){0};
}
