/*
 * build/bastion — serve, invoke, migrate, backup, restore.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/backup.h"
#include "cron.h"
#include "host.h"
#include "rt/rt.h"
#include "server.h"

static const char USAGE[] =
    "usage:\n"
    "  bastion serve   [--listen ADDR:PORT] [--state DIR] [--manifest FILE] [--dev]\n"
    "                  [--workers N] [--env-file FILE] [--runtime-config FILE] [--no-cron]\n"
    "                  [--native]\n"
    "  bastion invoke  FUNCTION --method M --path P [--query Q] [--header 'k: v']...\n"
    "                  [--body B | --body-file F] [--state DIR] [--manifest FILE] [--dev]\n"
    "                  [--runtime-config FILE] [--trusted] [--native]\n"
    "  bastion invoke  --cron JOB [--state DIR] [--manifest FILE] [--runtime-config FILE]\n"
    "  bastion migrate [--state DIR] [--manifest FILE] [--allow-changed]\n"
    "                  [--runtime-config FILE]\n"
    "  bastion backup  --out FILE [--state DIR] [--force]\n"
    "                  [--manifest FILE --runtime-config FILE]\n"
    "  bastion restore --in FILE --state DIR\n";

struct opts {
    const char *listen, *state, *manifest, *env_file, *runtime_config;
    const char *method, *path, *query, *body, *body_file, *function, *cron;
    const char *out, *in; /* backup --out, restore --in */
    const char *headers[64];
    size_t n_headers;
    int dev, allow_changed, trusted, no_cron, force;
    int state_given, manifest_given; /* not the defaults: restore and backup ask */
    unsigned workers;
};

static int parse(int argc, char **argv, struct opts *o)
{
    o->listen = "127.0.0.1:8080";
    o->env_file = ".env";
    o->method = "GET";
    o->query = "";
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->workers = n > 0 ? (unsigned)n * 2 : 4;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field)                                                                           \
    if (strcmp(a, name) == 0) {                                                                    \
        if (!v)                                                                                    \
            goto missing;                                                                          \
        o->field = v;                                                                              \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("--listen", listen)
        OPT("--state", state)
        OPT("--manifest", manifest)
        OPT("--env-file", env_file)
        OPT("--runtime-config", runtime_config)
        OPT("--method", method)
        OPT("--path", path)
        OPT("--query", query)
        OPT("--body", body)
        OPT("--body-file", body_file)
        OPT("--cron", cron)
        OPT("--out", out)
        OPT("--in", in)
#undef OPT
        if (strcmp(a, "--header") == 0) {
            if (!v)
                goto missing;
            if (o->n_headers == 64) {
                fprintf(stderr, "too many --header\n");
                return -1;
            }
            o->headers[o->n_headers++] = v;
            i++;
            continue;
        }
        if (strcmp(a, "--workers") == 0) {
            if (!v)
                goto missing;
            o->workers = (unsigned)strtoul(v, NULL, 10);
            if (o->workers == 0 || o->workers > 256) {
                fprintf(stderr, "--workers: 1..256\n");
                return -1;
            }
            i++;
            continue;
        }
        if (strcmp(a, "--dev") == 0) {
            o->dev = 1;
            continue;
        }
        if (strcmp(a, "--allow-changed") == 0) {
            o->allow_changed = 1;
            continue;
        }
        if (strcmp(a, "--trusted") == 0) {
            o->trusted = 1;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            o->force = 1;
            continue;
        }
        if (strcmp(a, "--no-cron") == 0) {
            o->no_cron = 1;
            continue;
        }
        if (strcmp(a, "--native") == 0) { /* the benchmark baseline (native/native.c) */
            host_native_mode = 1;
            continue;
        }
        if (a[0] != '-' && !o->function) {
            o->function = a;
            continue;
        }
        fprintf(stderr, "unknown argument '%s'\n%s", a, USAGE);
        return -1;
    missing:
        fprintf(stderr, "%s needs a value\n", a);
        return -1;
    }
    o->state_given = o->state != NULL;
    o->manifest_given = o->manifest != NULL;
    if (!o->state)
        o->state = ".bastion";
    if (!o->manifest)
        o->manifest = "build/manifest.json";
    return 0;
}

static int setup(struct opts *o, struct host_manifest *m, struct host_state *st, int need_vars)
{
    if (host_manifest_load(m, o->manifest, NULL, stderr) != 0)
        return -1;
    if (mkdir(o->state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "state dir %s: %s\n", o->state, strerror(errno));
        goto fail;
    }
    const char *env_file = access(o->env_file, R_OK) == 0 ? o->env_file : NULL;
    int missing = host_vars_resolve(m, env_file, o->state, o->dev, stderr);
    if (missing && need_vars) {
        fprintf(stderr, "bastion: refusing to start: %d required variable%s missing\n", missing,
                missing == 1 ? " is" : "s are");
        goto fail;
    }
    if (host_state_open(st, o->state, o->runtime_config, m, stderr) != 0) {
        fprintf(stderr, "bastion: refusing to start: the runtime config %s is not valid\n",
                o->runtime_config);
        goto fail;
    }
    return 0;
fail:
    /* the callers return at once: nothing may be left for LeakSanitizer */
    host_manifest_free(m);
    return -1;
}

static int migrate_all(struct host_manifest *m, struct host_state *st, int allow_changed)
{
    int rc = 0;
    for (size_t i = 0; i < m->n_fns; i++)
        if (host_migrate(st, &m->fns[i], allow_changed, stderr) != 0)
            rc = -1;
    return rc;
}

static int cmd_serve(struct opts *o)
{
    struct host_manifest m;
    struct host_state st;
    if (setup(o, &m, &st, 1) != 0)
        return 2;
    if (migrate_all(&m, &st, o->allow_changed) != 0)
        return 2;
    int bad = 0;
    for (size_t i = 0; i < m.n_fns; i++)
        if (host_module_load(&m.fns[i], stderr) != 0)
            bad = 1;
    if (bad)
        return 2;
    host_store_thread_close();
    char addr[64];
    snprintf(addr, sizeof addr, "%s", o->listen);
    char *colon = strrchr(addr, ':');
    if (!colon) {
        fprintf(stderr, "--listen wants ADDR:PORT\n");
        return 2;
    }
    *colon = 0;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535) {
        fprintf(stderr, "--listen: bad port\n");
        return 2;
    }
    struct host_env env = {&m, &st};
    size_t n_crons = m.n_crons;
    if (o->no_cron) /* this host answers requests only; jobs run elsewhere */
        m.n_crons = 0;
    int rc = host_serve(&env, addr, (uint16_t)port, o->workers);
    m.n_crons = n_crons;
    host_manifest_free(&m);
    host_state_close(&st);
    return rc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = g;
        }
        size_t n = fread(buf + *len, 1, 65536, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

static void print_response(const struct host_response *resp)
{
    printf("%u\n", resp->status);
    for (size_t i = 0; i < resp->n_headers; i++)
        printf("%s: %s\n", resp->headers[i].name, resp->headers[i].value);
    printf("\n");
    fwrite(resp->body, 1, resp->body_len, stdout);
    if (resp->body_len && resp->body[resp->body_len - 1] != '\n')
        printf("\n");
}

/* One run of a [[cron]] job, under its lease like the scheduled runs (the
 * "cron run" line goes to stderr with the other logs). Prints the answer as
 * invoke does, or "skipped" when another run holds the lease. Exit 0 for a
 * 2xx answer, 1 for any other or a lease failure, 3 skipped. */
static int cmd_invoke_cron(struct opts *o)
{
    struct host_manifest m;
    struct host_state st;
    if (setup(o, &m, &st, 0) != 0)
        return 2;
    struct host_cron *job = NULL;
    for (size_t i = 0; i < m.n_crons; i++)
        if (strcmp(m.crons[i].name, o->cron) == 0)
            job = &m.crons[i];
    if (!job || host_module_load(job->fn, stderr) != 0) {
        if (!job)
            fprintf(stderr, "invoke: no cron job '%s' in %s\n", o->cron, o->manifest);
        host_manifest_free(&m);
        host_state_close(&st);
        return 2;
    }
    struct host_env env = {&m, &st};
    struct host_cron_result r;
    host_cron_run(&env, job, HOST_CRON_HERE, &r);
    int rc = 3;
    if (r.outcome == HOST_CRON_SKIPPED) {
        printf("skipped\n");
    } else {
        print_response(&r.resp);
        rc = r.outcome == HOST_CRON_RAN && r.resp.status >= 200 && r.resp.status < 300 ? 0 : 1;
    }
    host_cron_result_free(&r);
    host_thread_done();
    host_manifest_free(&m);
    host_state_close(&st);
    return rc;
}

static int cmd_invoke(struct opts *o)
{
    if (o->cron)
        return cmd_invoke_cron(o);
    if (!o->function || !o->path) {
        fprintf(stderr, "invoke needs FUNCTION and --path\n%s", USAGE);
        return 2;
    }
    struct host_manifest m;
    struct host_state st;
    if (setup(o, &m, &st, 0) != 0)
        return 2;
    struct host_function *fn = host_manifest_fn(&m, o->function);
    if (!fn) {
        fprintf(stderr, "invoke: no function '%s' in %s\n", o->function, o->manifest);
        return 2;
    }
    if (host_module_load(fn, stderr) != 0)
        return 2;
    struct host_request req = {0};
    req.method = o->method;
    req.path = o->path;
    req.query = o->query;
    req.route = "";
    req.client_ip = "127.0.0.1";
    host_request_id(req.request_id);
    for (size_t i = 0; i < m.n_routes; i++) {
        char **params = NULL;
        size_t np = 0;
        struct host_route *r = host_route_match(&m, o->path, &params, &np);
        if (r && r->fn == fn) {
            req.route = r->path;
            req.params = params;
            req.n_params = np;
        } else {
            host_params_free(params, np);
        }
        break;
    }
    struct host_header hs[65];
    for (size_t i = 0; i < o->n_headers; i++) {
        const char *colon = strchr(o->headers[i], ':');
        if (!colon) {
            fprintf(stderr, "--header wants 'name: value'\n");
            return 2;
        }
        hs[i].name = strndup(o->headers[i], (size_t)(colon - o->headers[i]));
        for (char *p = hs[i].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        if (strncmp(hs[i].name, HOST_OWNED_PREFIX, strlen(HOST_OWNED_PREFIX)) == 0) {
            fprintf(stderr, "--header %s: x-bastion-* headers belong to the host (see --trusted)\n",
                    hs[i].name);
            return 2;
        }
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        hs[i].value = strdup(v);
        hs[i].name_len = strlen(hs[i].name);
        hs[i].value_len = strlen(hs[i].value);
    }
    size_t n_headers = o->n_headers;
    if (o->trusted) /* an operator at the command line: no client can send this (server.c) */
        hs[n_headers++] =
            (struct host_header){strdup(HOST_TRUSTED_HEADER), strlen(HOST_TRUSTED_HEADER),
                                 strdup("operator"), strlen("operator")};
    req.headers = hs;
    req.n_headers = n_headers;
    char *body = NULL;
    size_t blen = 0;
    if (o->body_file) {
        body = slurp(o->body_file, &blen);
        if (!body) {
            fprintf(stderr, "--body-file %s: %s\n", o->body_file, strerror(errno));
            return 2;
        }
    } else if (o->body) {
        body = strdup(o->body);
        blen = strlen(body);
    }
    req.body = (const uint8_t *)body;
    req.body_len = blen;
    req.arrival_ns = host_now_ns();
    struct host_env env = {&m, &st};
    struct host_response resp;
    struct host_counters counters;
    host_invoke(&env, fn, &req, &resp, &counters);
    print_response(&resp);
    host_response_free(&resp);
    host_params_free(req.params, req.n_params);
    for (size_t i = 0; i < n_headers; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(body);
    host_thread_done();
    host_manifest_free(&m);
    host_state_close(&st);
    return 0;
}

static int cmd_migrate(struct opts *o)
{
    struct host_manifest m;
    struct host_state st;
    if (setup(o, &m, &st, 0) != 0)
        return 2;
    int rc = migrate_all(&m, &st, o->allow_changed);
    host_store_thread_close();
    host_manifest_free(&m);
    host_state_close(&st);
    return rc == 0 ? 0 : 1;
}

/* The state directory's SQLite databases in one file, while serve runs on it
 * (backup/backup.c). The manifest is read only to learn, from the runtime
 * config, which stores are elsewhere. Exit 0, or 1 when nothing was written. */
static int cmd_backup(struct opts *o)
{
    if (!o->out) {
        fprintf(stderr, "backup needs --out FILE\n%s", USAGE);
        return 2;
    }
    struct host_backup_opts b = {
        .state = o->state,
        .out = o->out,
        .manifest = o->manifest_given || o->runtime_config ? o->manifest : NULL,
        .runtime_config = o->runtime_config,
        .force = o->force,
    };
    return host_backup(&b, stdout, stderr) == 0 ? 0 : 1;
}

/* A backup into an empty or absent state directory, verified first
 * (backup/restore.c). Exit 0, or 1 with nothing restored. */
static int cmd_restore(struct opts *o)
{
    if (!o->in || !o->state_given) {
        fprintf(stderr, "restore needs --in FILE and --state DIR\n%s", USAGE);
        return 2;
    }
    return host_restore(o->in, o->state, stdout, stderr) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    host_rt_global_init();
    host_log_init(stderr);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (host_outbound_init(stderr) != 0) { /* REL8: a bad setting stops the start, named */
        fputs("bastion: refusing to start: BASTION_OUTBOUND_CA_FILE is not usable\n", stderr);
        return 2;
    }
    struct opts o = {0};
    if (parse(argc, argv, &o) != 0)
        return 2;
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(&o);
    if (strcmp(argv[1], "invoke") == 0)
        return cmd_invoke(&o);
    if (strcmp(argv[1], "migrate") == 0)
        return cmd_migrate(&o);
    if (strcmp(argv[1], "backup") == 0)
        return cmd_backup(&o);
    if (strcmp(argv[1], "restore") == 0)
        return cmd_restore(&o);
    fputs(USAGE, stderr);
    return 2;
}
