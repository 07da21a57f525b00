/*
 * HTTP/1.1 front end on libmicrohttpd's thread pool. Each worker thread runs
 * requests to completion: match the route, read the body up to the
 * function's limit, run a fresh instance, send the response, log one access
 * line (OBS2).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "host.h"
#include "rt/rt.h"
#include "server.h"

struct pending {
    char *uri;          /* raw request target as received */
    uint8_t *body;
    size_t body_len, body_cap;
    int too_large;
    uint64_t arrival_ns;
    int seen;           /* the first call only announces the headers */
    char *path;
    struct host_route *route;
    char **params;
    size_t n_params;
};

static struct host_env *g_env;
static atomic_int in_flight;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct pending *p = calloc(1, sizeof *p);
    if (p) {
        p->uri = strdup(uri);
        p->arrival_ns = host_now_ns();
    }
    atomic_fetch_add(&in_flight, 1);
    return p;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    struct pending *p = *con_cls;
    if (p) {
        free(p->uri);
        free(p->body);
        free(p->path);
        host_params_free(p->params, p->n_params);
        free(p);
    }
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

/* Leaves the URL raw: route parameters are percent-decoded per segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

struct header_list {
    struct host_header *h;
    size_t n, cap;
    const char *xff;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct header_list *l = cls;
    size_t kl = strlen(key);
    char *name = malloc(kl + 1);
    if (!name)
        return MHD_NO;
    for (size_t i = 0; i <= kl; i++)
        name[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    /* The host owns x-bastion-*: a client can never set them. */
    if (strncmp(name, "x-bastion-", 10) == 0) {
        free(name);
        return MHD_YES;
    }
    if (strcmp(name, "x-forwarded-for") == 0)
        l->xff = value;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        struct host_header *grown = realloc(l->h, l->cap * sizeof *grown);
        if (!grown) {
            free(name);
            return MHD_NO;
        }
        l->h = grown;
    }
    const char *v = value ? value : "";
    l->h[l->n].name = name;
    l->h[l->n].name_len = kl;
    l->h[l->n].value = strdup(v);
    l->h[l->n].value_len = strlen(v);
    l->n++;
    return MHD_YES;
}

static int trusted(const char *ip)
{
    struct host_manifest *m = g_env->manifest;
    for (size_t i = 0; i < m->n_trusted; i++)
        if (strcmp(m->trusted_proxies[i], ip) == 0)
            return 1;
    return 0;
}

/* The client is the socket peer, or — only behind a trusted proxy — the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. */
static void client_ip(struct MHD_Connection *con, const char *xff, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "unknown");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
    }
    if (!xff || !trusted(out))
        return;
    char *copy = strdup(xff);
    if (!copy)
        return;
    for (;;) {
        char *comma = strrchr(copy, ',');
        char *item = comma ? comma + 1 : copy;
        while (*item == ' ')
            item++;
        char *end = item + strlen(item);
        while (end > item && end[-1] == ' ')
            *--end = 0;
        if (*item && !trusted(item)) {
            struct in6_addr a6;
            struct in_addr a4;
            if (inet_pton(AF_INET, item, &a4) == 1 || inet_pton(AF_INET6, item, &a6) == 1)
                snprintf(out, n, "%s", item);
            break;
        }
        if (!comma)
            break;
        *comma = 0;
    }
    free(copy);
}

static enum MHD_Result send_response(struct MHD_Connection *con, struct host_response *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    r->body = NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(con, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void access_log(const char *rid, const char *method, const char *path, const char *route,
                       const char *fn, unsigned status, uint64_t dur_us,
                       const struct host_counters *c)
{
    char nums[6][24];
    snprintf(nums[0], 24, "%u", status);
    snprintf(nums[1], 24, "%llu", (unsigned long long)dur_us);
    snprintf(nums[2], 24, "%llu", (unsigned long long)(c ? c->instance_us : 0));
    snprintf(nums[3], 24, "%u", c ? c->kv : 0);
    snprintf(nums[4], 24, "%u", c ? c->sql : 0);
    snprintf(nums[5], 24, "%u", c ? c->http : 0);
    const char *kv[] = {"type", "access", "method", method, "path", path, "route", route,
                        "status", nums[0], "duration_us", nums[1], "instance_us", nums[2],
                        "kv_calls", nums[3], "sql_calls", nums[4], "http_calls", nums[5]};
    host_log_line("info", fn, rid, "request", 7, kv, NULL, sizeof kv / sizeof kv[0] / 2);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)url;
    struct pending *p = *con_cls;
    if (!p)
        return MHD_NO;
    if (!p->seen) {
        p->seen = 1;
        p->path = strndup(p->uri, strcspn(p->uri, "?"));
        if (!p->path)
            return MHD_NO;
        p->route = host_route_match(g_env->manifest, p->path, &p->params, &p->n_params);
        return MHD_YES;
    }
    struct host_route *route = p->route;
    const char *path = p->path;

    if (*upload_size) {
        size_t limit = route ? route->fn->body_limit : 0;
        if (!p->too_large && p->body_len + *upload_size <= limit) {
            if (p->body_len + *upload_size > p->body_cap) {
                size_t cap = p->body_cap ? p->body_cap : 4096;
                while (cap < p->body_len + *upload_size)
                    cap *= 2;
                uint8_t *grown = realloc(p->body, cap);
                if (!grown)
                    return MHD_NO;
                p->body = grown;
                p->body_cap = cap;
            }
            memcpy(p->body + p->body_len, upload_data, *upload_size);
            p->body_len += *upload_size;
        } else {
            p->too_large = 1; /* keep reading and discarding; answer 413 at the end */
        }
        *upload_size = 0;
        return MHD_YES;
    }

    struct host_request req = {0};
    host_request_id(req.request_id);
    struct header_list hl = {0};
    MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &hl);
    char ip[64];
    client_ip(con, hl.xff, ip, sizeof ip);
    struct host_response resp;
    struct host_counters counters = {0};
    const char *q = strchr(p->uri, '?');
    if (!route) {
        host_problem(&resp, 404, "Not Found", "No route matches this path.", "validation", 0, 0);
    } else if (p->too_large) {
        char detail[96];
        snprintf(detail, sizeof detail, "The body exceeds this route's limit of %zu bytes.",
                 route->fn->body_limit);
        host_problem(&resp, 413, "Content Too Large", detail, "validation", 0, 0);
    } else {
        req.trigger = 0;
        req.method = method;
        req.path = path;
        req.query = q ? q + 1 : "";
        req.route = route->path;
        req.params = p->params;
        req.n_params = p->n_params;
        req.headers = hl.h;
        req.n_headers = hl.n;
        req.body = p->body;
        req.body_len = p->body_len;
        req.client_ip = ip;
        req.arrival_ns = p->arrival_ns;
        host_invoke(g_env, route->fn, &req, &resp, &counters);
    }
    /* every response carries its request id, for support and for logs */
    struct host_header *grown = realloc(resp.headers, (resp.n_headers + 1) * sizeof *grown);
    if (grown) {
        resp.headers = grown;
        resp.headers[resp.n_headers].name = strdup("x-request-id");
        resp.headers[resp.n_headers].value = strdup(req.request_id);
        resp.headers[resp.n_headers].name_len = 12;
        resp.headers[resp.n_headers].value_len = 32;
        resp.n_headers++;
    }
    unsigned status = resp.status;
    enum MHD_Result ok = send_response(con, &resp);
    access_log(req.request_id, method, path, route ? route->path : "", route ? route->fn->name : NULL,
               status, (host_now_ns() - p->arrival_ns) / 1000, route ? &counters : NULL);
    host_response_free(&resp);
    for (size_t i = 0; i < hl.n; i++) {
        free(hl.h[i].name);
        free(hl.h[i].value);
    }
    free(hl.h);
    return ok;
}

/* --- cron ---------------------------------------------------------------- */

static volatile int stopping;

static void *cron_loop(void *arg)
{
    struct host_cron *job = arg;
    uint64_t next = host_now_ns() + (uint64_t)job->every_s * 1000000000ull;
    while (!stopping) {
        usleep(100000);
        if (host_now_ns() < next)
            continue;
        /* One run at a time per job: this thread is the job's only runner. */
        struct host_request req = {0};
        req.trigger = 1;
        req.method = "POST";
        req.path = job->name;
        req.query = "";
        req.route = "";
        req.client_ip = "";
        host_request_id(req.request_id);
        req.arrival_ns = host_now_ns();
        struct host_response resp;
        struct host_counters counters = {0};
        host_invoke(g_env, job->fn, &req, &resp, &counters);
        access_log(req.request_id, "CRON", job->name, "", job->fn->name, resp.status,
                   (host_now_ns() - req.arrival_ns) / 1000, &counters);
        host_response_free(&resp);
        next = host_now_ns() + (uint64_t)job->every_s * 1000000000ull;
    }
    host_store_thread_close();
    return NULL;
}

/* see server.h */
int host_serve(struct host_env *env, const char *addr, uint16_t port, unsigned workers)
{
    g_env = env;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "serve: bad listen address '%s'\n", addr);
        return 2;
    }
    /* Workers inherit this mask: only the main thread takes SIGINT/SIGTERM. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, NULL, NULL,
        on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, workers, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(16u << 20), MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
        no_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        1u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "serve: cannot listen on %s:%u\n", addr, port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "bastion: serving %zu routes on http://%s:%u with %u workers\n",
            env->manifest->n_routes, addr, info ? info->port : port, workers);
    fflush(stderr);

    pthread_t *crons = calloc(env->manifest->n_crons + 1, sizeof *crons);
    for (size_t i = 0; crons && i < env->manifest->n_crons; i++)
        pthread_create(&crons[i], NULL, cron_loop, &env->manifest->crons[i]);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "bastion: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stopping = 1;
    MHD_quiesce_daemon(d); /* stop accepting; in-flight requests go on */
    uint64_t until = host_now_ns() + 30000000000ull;
    while (atomic_load(&in_flight) > 0 && host_now_ns() < until)
        usleep(10000);
    MHD_stop_daemon(d);
    for (size_t i = 0; crons && i < env->manifest->n_crons; i++)
        pthread_join(crons[i], NULL);
    free(crons);
    fprintf(stderr, "bastion: stopped\n");
    return 0;
}
