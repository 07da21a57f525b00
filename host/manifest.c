/*
 * build/manifest.json (written by host/tools/manifest.py from manifest.toml,
 * which already validated it) → struct host_manifest; variables; routes;
 * migrations.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

/* Reads all of `f` and closes it; the text is NUL-terminated, caller frees. */
static char *read_stream(FILE *f, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* see host.h */
char *host_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    return f ? read_stream(f, len) : NULL;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static char **str_list(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    char **out = calloc(*n ? *n : 1, sizeof *out);
    if (!out)
        abort();
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) out[i++] = xstrdup(cJSON_GetStringValue(it));
    return out;
}

/* manifest.py validated and defaulted every limit; these fallbacks only
 * cover a manifest.json written before the limits existed. */
static void read_limits(struct host_limits *l, const cJSON *o)
{
    static const struct {
        const char *name;
        size_t off;
        uint32_t fallback;
    } keys[] = {
#define LIMIT(name, fallback) {#name, offsetof(struct host_limits, name), fallback}
        LIMIT(max_connections, 1024),   LIMIT(max_connections_per_ip, 64),
        LIMIT(head_timeout_ms, 10000),  LIMIT(body_min_bytes_per_s, 1024),
        LIMIT(max_target_bytes, 8192),  LIMIT(max_header_bytes, 32768),
        LIMIT(exec_workers, 64),        LIMIT(exec_queue, 256),
        LIMIT(drain_timeout_ms, 10000), LIMIT(guest_log_bytes, 65536),
#undef LIMIT
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(o, keys[i].name);
        uint32_t x = cJSON_IsNumber(v) ? (uint32_t)v->valuedouble : keys[i].fallback;
        memcpy((char *)l + keys[i].off, &x, sizeof x);
    }
}

/* see host.h */
int host_manifest_load(struct host_manifest *m, const char *path, const char *build_dir, FILE *errs)
{
    (void)build_dir;
    memset(m, 0, sizeof *m);
    char *text = host_read_file(path, NULL);
    if (!text) {
        fprintf(errs, "%s: cannot read: %s (run ./build.sh build)\n", path, strerror(errno));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) {
        fprintf(errs, "%s: not valid JSON\n", path);
        return -1;
    }
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(root, "functions");
    m->n_fns = (size_t)cJSON_GetArraySize(fns);
    m->fns = calloc(m->n_fns ? m->n_fns : 1, sizeof *m->fns);
    size_t i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, fns)
    {
        struct host_function *fn = &m->fns[i++];
        fn->name = xstrdup(f->string);
        fn->so_path = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItem(f, "so")));
        const char *schema = cJSON_GetStringValue(cJSON_GetObjectItem(f, "schema"));
        fn->schema_path = schema ? xstrdup(schema) : NULL;
        fn->timeout_ms = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "timeout_ms"));
        fn->memory_mb = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "memory_mb"));
        fn->body_limit = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "body_limit"));
        fn->kv = str_list(cJSON_GetObjectItem(f, "kv"), &fn->n_kv);
        fn->sql = str_list(cJSON_GetObjectItem(f, "sql"), &fn->n_sql);
        fn->vars = str_list(cJSON_GetObjectItem(f, "vars"), &fn->n_vars);
        fn->outbound = str_list(cJSON_GetObjectItem(f, "outbound"), &fn->n_outbound);
        const cJSON *obl = cJSON_GetObjectItem(f, "outbound_body_limit");
        fn->outbound_body_limit = cJSON_IsNumber(obl) && obl->valuedouble >= 1
                                      ? (size_t)obl->valuedouble
                                      : HOST_OUTBOUND_BODY_LIMIT_DEFAULT;
        fn->max_concurrency =
            (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "max_concurrency"));
        if (!fn->max_concurrency)
            fn->max_concurrency = 32;
    }
    const cJSON *routes = cJSON_GetObjectItem(root, "routes");
    m->n_routes = (size_t)cJSON_GetArraySize(routes);
    m->routes = calloc(m->n_routes ? m->n_routes : 1, sizeof *m->routes);
    i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, routes)
    {
        m->routes[i].path = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItem(r, "path")));
        m->routes[i].fn =
            host_manifest_fn(m, cJSON_GetStringValue(cJSON_GetObjectItem(r, "function")));
        if (!m->routes[i].fn) {
            fprintf(errs, "%s: route %s names an unknown function\n", path, m->routes[i].path);
            cJSON_Delete(root);
            return -1;
        }
        i++;
    }
    const cJSON *vars = cJSON_GetObjectItem(root, "vars");
    m->n_vars = (size_t)cJSON_GetArraySize(vars);
    m->vars = calloc(m->n_vars ? m->n_vars : 1, sizeof *m->vars);
    i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vars)
    {
        struct host_var *hv = &m->vars[i++];
        hv->name = xstrdup(v->string);
        hv->required = cJSON_IsTrue(cJSON_GetObjectItem(v, "required"));
        hv->secret = cJSON_IsTrue(cJSON_GetObjectItem(v, "secret"));
        const char *def = cJSON_GetStringValue(cJSON_GetObjectItem(v, "default"));
        hv->value = def ? xstrdup(def) : NULL;
    }
    const cJSON *crons = cJSON_GetObjectItem(root, "cron");
    m->n_crons = (size_t)cJSON_GetArraySize(crons);
    m->crons = calloc(m->n_crons ? m->n_crons : 1, sizeof *m->crons);
    i = 0;
    cJSON_ArrayForEach(v, crons)
    {
        struct host_cron *c = &m->crons[i++];
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(v, "name"));
        c->name = xstrdup(name ? name : "");
        c->fn = host_manifest_fn(m, cJSON_GetStringValue(cJSON_GetObjectItem(v, "function")));
        c->every_s = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "every_s"));
        c->jitter_s = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "jitter_s"));
        c->timeout_ms = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "timeout_ms"));
        if (!c->fn || !name || !*name || c->every_s == 0) {
            fprintf(errs, "%s: cron job '%s' needs a name, a known function and every_s\n", path,
                    c->name);
            cJSON_Delete(root);
            return -1;
        }
        if (!c->timeout_ms)
            c->timeout_ms = c->fn->timeout_ms;
    }
    m->trusted_proxies = str_list(cJSON_GetObjectItem(root, "trusted_proxies"), &m->n_trusted);
    read_limits(&m->limits, cJSON_GetObjectItem(root, "limits"));
    cJSON_Delete(root);
    return 0;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* see host.h */
void host_manifest_free(struct host_manifest *m)
{
    for (size_t i = 0; i < m->n_fns; i++) {
        struct host_function *fn = &m->fns[i];
        free(fn->name);
        free(fn->so_path);
        free(fn->schema_path);
        free_list(fn->kv, fn->n_kv);
        free_list(fn->sql, fn->n_sql);
        free_list(fn->vars, fn->n_vars);
        free_list(fn->outbound, fn->n_outbound);
    }
    free(m->fns);
    for (size_t i = 0; i < m->n_routes; i++)
        free(m->routes[i].path);
    free(m->routes);
    for (size_t i = 0; i < m->n_vars; i++) {
        free(m->vars[i].name);
        free(m->vars[i].value);
    }
    free(m->vars);
    for (size_t i = 0; i < m->n_crons; i++)
        free(m->crons[i].name);
    free(m->crons);
    free_list(m->trusted_proxies, m->n_trusted);
    memset(m, 0, sizeof *m);
}

struct host_function *host_manifest_fn(struct host_manifest *m, const char *name)
{
    for (size_t i = 0; name && i < m->n_fns; i++)
        if (strcmp(m->fns[i].name, name) == 0)
            return &m->fns[i];
    return NULL;
}

/* see host.h */
int host_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one path segment; NULL when malformed or it decodes to
 * a NUL, a '/' (a parameter is one segment, never two) or bytes that are
 * not UTF-8 (a parameter is a WIT string). */
static char *decode_segment(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = host_hex_digit(s[i + 1]), lo = host_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0) || (hi == 2 && lo == 15)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    if (!host_utf8_valid(out, o)) {
        free(out);
        return NULL;
    }
    return out;
}

void host_params_free(char **params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(params[i]);
    free(params);
}

/* Matches one route pattern segment by segment; literal segments win over
 * parameters because routes are tried in manifest order (first match). */
static int match_one(const char *pat, const char *path, char ***params, size_t *n)
{
    char **out = NULL;
    size_t cnt = 0;
    const char *p = pat, *q = path;
    while (*p && *q) {
        if (*p != '/' || *q != '/')
            goto miss;
        p++;
        q++;
        size_t pl = strcspn(p, "/"), ql = strcspn(q, "/");
        if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (ql == 0)
                goto miss;
            char **grown = realloc(out, (cnt + 2) * sizeof *out);
            if (!grown)
                goto miss;
            out = grown;
            out[cnt] = strndup(p + 1, pl - 2);
            out[cnt + 1] = decode_segment(q, ql);
            cnt += 2;
            if (!out[cnt - 2] || !out[cnt - 1])
                goto miss;
        } else if (pl != ql || memcmp(p, q, pl) != 0) {
            goto miss;
        }
        p += pl;
        q += ql;
    }
    if (*p || *q)
        goto miss;
    *params = out;
    *n = cnt;
    return 1;
miss:
    host_params_free(out, cnt);
    return 0;
}

/* see host.h */
struct host_route *host_route_match(struct host_manifest *m, const char *path, char ***params,
                                    size_t *n_params)
{
    for (size_t i = 0; i < m->n_routes; i++)
        if (match_one(m->routes[i].path, path, params, n_params))
            return &m->routes[i];
    return NULL;
}

static struct host_var *find_var(struct host_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n_vars; i++)
        if (strcmp(m->vars[i].name, name) == 0)
            return &m->vars[i];
    return NULL;
}

/* Applies NAME=VALUE lines (no quotes processing beyond stripping one pair);
 * `text` is cut up in place. */
static void apply_env_text(struct host_manifest *m, char *text, int overwrite)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ')
            line++;
        if (*line == '#' || !*line)
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *val = eq + 1;
        size_t vl = strlen(val);
        if (vl && val[vl - 1] == '\r')
            val[--vl] = 0;
        if (vl >= 2 &&
            ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = 0;
            val++;
        }
        const char *name = line;
        if (strncmp(name, "BASTION_VAR_", 12) == 0)
            name += 12;
        struct host_var *v = find_var(m, name);
        if (v && (overwrite || !v->value)) {
            free(v->value);
            v->value = xstrdup(val);
        }
    }
}

static void load_env_file(struct host_manifest *m, const char *path, int overwrite)
{
    char *text = host_read_file(path, NULL);
    if (!text)
        return;
    apply_env_text(m, text, overwrite);
    free(text);
}

/*
 * The dev secrets file holds live secrets, so it is only read when it is a
 * regular file of ours that group and others cannot read or write, and a
 * symlink at its path is refused rather than followed (O_NOFOLLOW): a
 * planted link must not make us read, or later write, somewhere else.
 * Returns 0 with *text NULL when the file does not exist yet, 0 with *text
 * (NUL-terminated, caller frees) when it was read, -1 after writing why it
 * was refused to `out`.
 */
static int read_dev_secrets(const char *path, char **text, FILE *out)
{
    *text = NULL;
    /* O_NONBLOCK: a FIFO planted at the path must not hang start-up */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP)
            fprintf(out, "dev: refusing %s: it is a symbolic link\n", path);
        else
            fprintf(out, "dev: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = "it is not a regular file";
    else if (sb.st_uid != geteuid())
        why = "it is owned by another user";
    else if (sb.st_mode & (S_IRWXG | S_IRWXO))
        why = "group or others may access it (chmod 600 it, or delete it to regenerate)";
    FILE *f = why ? NULL : fdopen(fd, "rb");
    if (!f) {
        fprintf(out, "dev: refusing %s: %s\n", path, why ? why : strerror(errno));
        close(fd);
        return -1;
    }
    *text = read_stream(f, NULL);
    if (!*text) {
        fprintf(out, "dev: cannot read %s\n", path);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Generates a secret for every secret variable still unset and stores them,
 * after the lines already in the file (`old`, may be NULL), in `path`. The
 * file is never rewritten in place: a temporary in the same directory is
 * created 0600 with O_EXCL before anything is written, then renamed over
 * `path`, so no secret ever sits in a file others can read, and a link
 * planted at either name is replaced or refused, never followed. Generated
 * values are kept only once stored; returns -1 (reason written to `out`) and
 * leaves them unset otherwise.
 */
static int generate_dev_secrets(struct host_manifest *m, const char *path, const char *old,
                                FILE *out)
{
    unsigned char *made = calloc(m->n_vars ? m->n_vars : 1, 1);
    if (!made)
        abort();
    size_t want = 0;
    for (size_t i = 0; i < m->n_vars; i++) {
        made[i] = m->vars[i].secret && !m->vars[i].value;
        want += made[i];
    }
    if (want == 0) {
        free(made);
        return 0;
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t old_len = old ? strlen(old) : 0;
    int ok = fd >= 0 && write_all(fd, old, old_len) == 0 &&
             (old_len == 0 || old[old_len - 1] == '\n' || write_all(fd, "\n", 1) == 0);
    for (size_t i = 0; ok && i < m->n_vars; i++) {
        if (!made[i])
            continue;
        uint8_t b[32];
        char hex[65];
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
            ok = 0;
            break;
        }
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", b[k]);
        struct host_var *v = &m->vars[i];
        v->value = xstrdup(hex);
        ok = write_all(fd, v->name, strlen(v->name)) == 0 && write_all(fd, "=", 1) == 0 &&
             write_all(fd, hex, 64) == 0 && write_all(fd, "\n", 1) == 0;
    }
    if (fd >= 0) {
        ok = ok && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        ok = ok && rename(tmp, path) == 0;
    }
    if (!ok) {
        fprintf(out, "dev: cannot store generated secrets in %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
    for (size_t i = 0; i < m->n_vars; i++) {
        if (!made[i])
            continue;
        if (ok) {
            fprintf(out, "dev: generated a throw-away secret for '%s' in %s\n", m->vars[i].name,
                    path);
        } else {
            free(m->vars[i].value);
            m->vars[i].value = NULL;
        }
    }
    free(made);
    return ok ? 0 : -1;
}

/*
 * --dev: secret variables nothing else set come from <state>/dev-secrets.env,
 * and the ones still unset are generated into it. When the file is refused
 * they stay unset, so they are reported missing like any other.
 */
static void dev_secrets(struct host_manifest *m, const char *state_dir, FILE *out)
{
    char path[512];
    if (snprintf(path, sizeof path, "%s/dev-secrets.env", state_dir) >= (int)sizeof path) {
        fprintf(out, "dev: state dir path too long: %s\n", state_dir);
        return;
    }
    char *old = NULL;
    if (read_dev_secrets(path, &old, out) != 0)
        return;
    if (old) {
        char *lines = xstrdup(old);
        apply_env_text(m, lines, 0);
        free(lines);
    }
    generate_dev_secrets(m, path, old, out);
    free(old);
}

/* see host.h */
int host_vars_resolve(struct host_manifest *m, const char *env_file, const char *state_dir, int dev,
                      FILE *out)
{
    /* Precedence: environment > env file > dev secrets > manifest default. */
    if (env_file)
        load_env_file(m, env_file, 1);
    for (size_t i = 0; i < m->n_vars; i++) {
        char envname[256];
        snprintf(envname, sizeof envname, "BASTION_VAR_%s", m->vars[i].name);
        const char *e = getenv(envname);
        if (e) {
            free(m->vars[i].value);
            m->vars[i].value = xstrdup(e);
        }
    }
    if (dev)
        dev_secrets(m, state_dir, out);
    int missing = 0;
    for (size_t i = 0; i < m->n_vars; i++) {
        if (m->vars[i].required && !m->vars[i].value) {
            fprintf(out, "missing required variable: %s (set BASTION_VAR_%s)\n", m->vars[i].name,
                    m->vars[i].name);
            missing++;
        }
    }
    return missing;
}

/* see host.h */
const char *host_var_get(struct host_manifest *m, struct host_function *fn, const char *name)
{
    for (size_t i = 0; i < fn->n_vars; i++)
        if (strcmp(fn->vars[i], name) == 0) {
            struct host_var *v = find_var(m, name);
            return v ? v->value : NULL;
        }
    return NULL; /* not granted reads as unset */
}
