/*
 * The HTTP/1.1 front end (SAFE1, SAFE2, SAFE5) on libmicrohttpd.
 *
 * Connection threads only ever parse, check and answer; guest code runs on
 * the execution pool (exec.c). A request's life:
 *   accept ─ per-IP and total caps (libmicrohttpd) ─ head deadline (watchdog)
 *   → head complete: the deadline starts; strict framing checks; route
 *   → body, at a minimum rate (watchdog), up to the route's limit
 *   → connection suspended, job queued → pool runs a fresh instance
 *   → connection resumed, response queued, one access line (OBS2).
 * Everything the front end answers itself is problem+json, including the
 * errors libmicrohttpd makes on its own (see MHD_queue_response below).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cron.h"
#include "exec.h"
#include "host.h"
#include "rt/rt.h"
#include "server.h"

static struct host_env *g_env;
static const struct host_limits *g_limits;
static atomic_int stopping;
static atomic_int active;   /* requests whose head arrived and whose answer is not sent */
static atomic_int dog_stop; /* the watchdog runs through the drain, until the very end */

/* --- connection watchdog (SAFE1) ------------------------------------------
 * libmicrohttpd's idle timeout restarts with every byte, so a client that
 * sends one byte a second holds a connection for ever. The watchdog holds
 * the deadline of each connection's current phase and shuts the socket down
 * when it passes; libmicrohttpd then sees the error and closes it itself.
 * The socket is closed only after the CLOSED notification has removed it
 * from this list (under the same lock), so a shutdown never hits a reused
 * descriptor. */

enum phase { PHASE_HEAD, PHASE_BODY, PHASE_BUSY };

struct conn {
    int fd;
    _Atomic int phase;
    _Atomic uint64_t since_ns;   /* when the phase began */
    _Atomic uint64_t body_bytes; /* received in PHASE_BODY */
    int cut;                     /* shut down already */
    struct conn *prev, *next;
};

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static unsigned n_conns;

static void set_phase(struct conn *t, enum phase ph)
{
    if (!t)
        return;
    atomic_store(&t->since_ns, host_now_ns());
    atomic_store(&t->body_bytes, 0);
    atomic_store(&t->phase, ph);
}

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *t = calloc(1, sizeof *t);
        if (!t || !ci) {
            free(t);
            *socket_context = NULL;
            return;
        }
        t->fd = ci->connect_fd;
        set_phase(t, PHASE_HEAD);
        pthread_mutex_lock(&conns_lock);
        t->next = conns;
        if (conns)
            conns->prev = t;
        conns = t;
        /* Past the total cap a connection is accepted and closed at once,
         * not left waiting in the backlog (libmicrohttpd's own limit, set a
         * little higher, only stops accepting). */
        if (++n_conns > g_limits->max_connections) {
            shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
        }
        pthread_mutex_unlock(&conns_lock);
        *socket_context = t;
        return;
    }
    struct conn *t = *socket_context;
    if (!t)
        return;
    pthread_mutex_lock(&conns_lock);
    n_conns--;
    if (t->prev)
        t->prev->next = t->next;
    else
        conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&conns_lock);
    free(t);
    *socket_context = NULL;
}

static struct conn *conn_of(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

#define BODY_GRACE_NS 2000000000ull

/* Whether a connection's current phase has overstayed. */
static int overdue(struct conn *t, uint64_t now)
{
    uint64_t since = atomic_load(&t->since_ns);
    uint64_t age = now > since ? now - since : 0;
    switch (atomic_load(&t->phase)) {
    case PHASE_HEAD: return age > (uint64_t)g_limits->head_timeout_ms * 1000000ull;
    case PHASE_BODY: {
        uint64_t rate = g_limits->body_min_bytes_per_s;
        if (!rate || age <= BODY_GRACE_NS)
            return 0;
        return atomic_load(&t->body_bytes) * 1000000000ull < (age - BODY_GRACE_NS) * rate;
    }
    default: return 0; /* running, or sending: libmicrohttpd's idle timeout */
    }
}

static void *watchdog(void *unused)
{
    (void)unused;
    while (!atomic_load(&dog_stop)) {
        usleep(100000);
        uint64_t now = host_now_ns();
        pthread_mutex_lock(&conns_lock);
        for (struct conn *t = conns; t; t = t->next) {
            if (!t->cut && overdue(t, now)) {
                shutdown(t->fd, SHUT_RDWR);
                t->cut = 1;
            }
        }
        pthread_mutex_unlock(&conns_lock);
    }
    return NULL;
}

/* --- responses -------------------------------------------------------------- */

typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
static queue_fn real_queue;

static struct MHD_Response *to_mhd(struct host_response *r, int close)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return NULL;
    r->body = NULL;
    r->body_len = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    if (close)
        MHD_add_response_header(resp, "Connection", "close");
    return resp;
}

/*
 * libmicrohttpd answers some malformed requests itself (a bad chunk size, a
 * malformed Content-Length, a request line or header section past its
 * buffer) with a built-in HTML page, and offers no hook to change it. Its
 * own calls to MHD_queue_response go through its PLT, so this definition in
 * the executable (linked -rdynamic) receives them: each becomes the same
 * problem+json the host makes everywhere else (SAFE5), still followed by a
 * close. The host's own responses go straight to the library's function.
 * tests/host/test_frontend.py fails if this stops working.
 */
static struct conn *conn_of(struct MHD_Connection *con);

/* libmicrohttpd 0.9.75 refuses a malformed Content-Length while parsing the
 * head, and then its state machine builds the response head a second time
 * (connection.c, MHD_CONNECTION_HEADERS_RECEIVED). Such a request gets its
 * problem written here, once, and the connection is closed. */
static int bad_content_length(struct MHD_Connection *con)
{
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
    if (!cl || MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Transfer-Encoding"))
        return 0;
    size_t n = strlen(cl);
    return n == 0 || n > 19 || strspn(cl, "0123456789") != n;
}

static void write_and_close(struct MHD_Connection *con, unsigned status,
                            const struct host_response *r)
{
    struct conn *t = conn_of(con);
    if (!t)
        return;
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %u %s\r\nContent-Type: application/problem+json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, host_problem_title((uint16_t)status), r->body_len);
    struct iovec iov[2] = {{head, (size_t)hl}, {r->body, r->body_len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    (void)sendmsg(t->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(t->fd, SHUT_WR); /* the answer first, then the close */
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *con, unsigned int status,
                                   struct MHD_Response *response)
{
    if (!real_queue)
        return MHD_NO;
    struct host_response r;
    char detail[96];
    snprintf(detail, sizeof detail, "The HTTP parser refused the request (status %u).", status);
    host_problem(&r, (uint16_t)status, detail, 0);
    const char *kv[] = {"type", "framing", "status", "?"};
    char st[8];
    snprintf(st, sizeof st, "%u", status);
    kv[3] = st;
    host_log_line("warn", NULL, NULL, "request refused by the HTTP parser", 34, kv, NULL, 2);
    if (bad_content_length(con)) {
        write_and_close(con, status, &r);
        host_response_free(&r);
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    struct MHD_Response *mine = to_mhd(&r, 1);
    host_response_free(&r);
    enum MHD_Result rc = real_queue(con, status, mine ? mine : response);
    if (mine)
        MHD_destroy_response(mine);
    return rc;
}

/* --- requests ----------------------------------------------------------------- */

struct header_list {
    struct host_header *h;
    size_t n, cap;
    const char *xff;
    /* framing facts (SAFE2) */
    unsigned content_length, transfer_encoding, host;
    const char *te, *cl;
    size_t bytes;
    int bad_name;  /* a field name that is not an RFC 9110 token */
    int bad_value; /* a field value that is not UTF-8: no WIT string can carry it */
};

enum stage { STAGE_NEW, STAGE_BODY, STAGE_RUNNING, STAGE_DONE, STAGE_ANSWERED };

struct pending {
    char *target; /* the request target as first seen, to any NUL in it */
    enum stage stage;
    uint64_t head_ns; /* when the head was complete: the deadline counts from here */
    char *path;
    struct host_route *route;
    char **params;
    size_t n_params;
    uint8_t *body;
    size_t body_len, body_cap;
    int too_large;    /* a chunked body went past the limit */
    size_t discarded; /* bytes of it dropped since */
    struct header_list hl;
    char ip[64];
    struct host_request req;
    struct host_job job;
    struct MHD_Connection *con;
    int counted;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct pending *p = calloc(1, sizeof *p);
    if (p)
        p->target = strdup(uri);
    return p;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    struct pending *p = *con_cls;
    if (p) {
        if (p->counted)
            atomic_fetch_sub(&active, 1);
        free(p->target);
        free(p->body);
        free(p->path);
        host_params_free(p->params, p->n_params);
        for (size_t i = 0; i < p->hl.n; i++) {
            free(p->hl.h[i].name);
            free(p->hl.h[i].value);
        }
        free(p->hl.h);
        host_response_free(&p->job.resp);
        free(p);
    }
    *con_cls = NULL;
    set_phase(conn_of(con), PHASE_HEAD); /* keep-alive: the next head is due */
}

/* Leaves the URL raw: route parameters are percent-decoded per segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct header_list *l = cls;
    size_t kl = strlen(key);
    const char *v = value ? value : "";
    l->bytes += kl + strlen(v) + 4;
    /* RFC 9112 §5.1: no whitespace between a field name and its colon, so
     * "Transfer-Encoding : chunked" is refused, never read as another name */
    if (kl == 0 || strspn(key, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != kl)
        l->bad_name = 1;
    if (!host_utf8_valid(v, strlen(v)))
        l->bad_value = 1;
    if (strcasecmp(key, "content-length") == 0) {
        l->content_length++;
        l->cl = v;
    } else if (strcasecmp(key, "transfer-encoding") == 0) {
        l->transfer_encoding++;
        l->te = v;
    } else if (strcasecmp(key, "host") == 0) {
        l->host++;
    }
    char *name = malloc(kl + 1);
    if (!name)
        return MHD_NO;
    for (size_t i = 0; i <= kl; i++)
        name[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    /* The host owns x-bastion-*: a client can never set them. */
    if (strncmp(name, HOST_OWNED_PREFIX, strlen(HOST_OWNED_PREFIX)) == 0) {
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

/* A route parameter as the access log shows it: its first two bytes (when
 * they are printable ASCII) and its length. Tokens and emails travel in
 * paths; the log must never hold them (SAFE-logs, OBS2). */
static void mask(const char *v, char *out, size_t n)
{
    size_t len = strlen(v);
    char head[3] = {0};
    for (size_t i = 0; i < 2 && i < len && v[i] > 0x20 && v[i] < 0x7f && v[i] != '%'; i++)
        head[i] = v[i];
    snprintf(out, n, "%s\xe2\x80\xa6(%zu)", head, len);
}

#define MAX_LOGGED_PARAMS 8

static void access_log(struct pending *p, const char *method, unsigned status,
                       const struct host_counters *c)
{
    char nums[8][24];
    snprintf(nums[0], 24, "%u", status);
    snprintf(nums[1], 24, "%llu", (unsigned long long)((host_now_ns() - p->head_ns) / 1000));
    snprintf(nums[2], 24, "%llu", (unsigned long long)(c ? c->instance_us : 0));
    snprintf(nums[3], 24, "%u", c ? c->kv : 0);
    snprintf(nums[4], 24, "%u", c ? c->sql : 0);
    snprintf(nums[5], 24, "%u", c ? c->http : 0);
    snprintf(nums[6], 24, "%llu", (unsigned long long)(c ? c->log_dropped : 0));
    snprintf(nums[7], 24, "%u", c ? c->memory_pages : 0);
    const char *kv[2 * (10 + MAX_LOGGED_PARAMS)] = {
        "type",         "access",      "method",
        method,         "route",       p->route ? p->route->path : "",
        "status",       nums[0],       "duration_us",
        nums[1],        "instance_us", nums[2],
        "kv_calls",     nums[3],       "sql_calls",
        nums[4],        "http_calls",  nums[5],
        "memory_pages", nums[7],
    };
    size_t n = 10;
    if (c && c->log_dropped) {
        kv[2 * n] = "log_dropped_bytes";
        kv[2 * n + 1] = nums[6];
        n++;
    }
    char names[MAX_LOGGED_PARAMS][72], masked[MAX_LOGGED_PARAMS][40];
    for (size_t i = 0; i < p->n_params / 2 && i < MAX_LOGGED_PARAMS; i++) {
        snprintf(names[i], sizeof names[i], "param_%s", p->params[2 * i]);
        mask(p->params[2 * i + 1], masked[i], sizeof masked[i]);
        kv[2 * n] = names[i];
        kv[2 * n + 1] = masked[i];
        n++;
    }
    host_log_line("info", p->route ? p->route->fn->name : NULL, p->req.request_id, "request", 7, kv,
                  NULL, n);
}

/* Queues `r` (consumed) with the request id and, when `close`, a close. */
static enum MHD_Result answer(struct MHD_Connection *con, struct pending *p,
                              struct host_response *r, int close, const char *method,
                              const struct host_counters *c)
{
    if (atomic_load(&stopping))
        close = 1;
    unsigned status = r->status;
    struct MHD_Response *resp = to_mhd(r, close);
    if (!resp) {
        host_response_free(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "x-request-id", p->req.request_id);
    host_response_free(r);
    enum MHD_Result ok = real_queue(con, status, resp);
    MHD_destroy_response(resp);
    p->stage = STAGE_ANSWERED;
    set_phase(conn_of(con), PHASE_BUSY);
    access_log(p, method, status, c);
    return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *con, struct pending *p, uint16_t status,
                              const char *detail, const char *method)
{
    struct host_response r;
    host_problem(&r, status, detail, status == 503 ? 1 : 0);
    return answer(con, p, &r, 1, method, NULL);
}

/* 413, whether Content-Length announced the body or a chunked one ran past. */
static enum MHD_Result refuse_too_large(struct MHD_Connection *con, struct pending *p,
                                        const char *method)
{
    char detail[96];
    snprintf(detail, sizeof detail, "The body exceeds this route's limit of %zu bytes.",
             p->route->fn->body_limit);
    return refuse(con, p, 413, detail, method);
}

/* RFC 9112 §2.2, §3, §6: what a request head must be before anything acts
 * on it. Returns the status to refuse it with, or 0. Any refusal closes the
 * connection, so no byte after it is ever read as a request (SAFE2). */
static uint16_t check_head(struct pending *p, const char *url, const char *version,
                           const char **why)
{
    if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
        *why = "Only HTTP/1.0 and HTTP/1.1 are served.";
        return 400;
    }
    /* libmicrohttpd ends the target at the NUL before the version; a
     * shorter string means a NUL inside the target itself. */
    size_t raw = (size_t)(version - 1 - url);
    size_t len = strlen(p->target);
    if (version <= url || raw > (1u << 20) || len != raw) {
        *why = "The request target contains a NUL byte.";
        return 400;
    }
    if (len > g_limits->max_target_bytes) {
        *why = "The request target is longer than this server accepts.";
        return 414;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p->target[i];
        if (ch <= 0x20 || ch == 0x7f) {
            *why = "The request target contains a control byte or a space.";
            return 400;
        }
    }
    if (p->target[0] != '/') {
        *why = "The request target must be an absolute path.";
        return 400;
    }
    if (!host_utf8_valid(p->target, len)) { /* the module's path and query are WIT strings */
        *why = "The request target is not UTF-8.";
        return 400;
    }
    const struct header_list *h = &p->hl;
    if (h->bad_name) {
        *why = "A header field name is not a token (RFC 9112 §5.1).";
        return 400;
    }
    if (h->bad_value) {
        *why = "A header field value is not UTF-8.";
        return 400;
    }
    if (h->bytes > g_limits->max_header_bytes) {
        *why = "The request's header section is larger than this server accepts.";
        return 431;
    }
    if (h->transfer_encoding && h->content_length) {
        *why = "Content-Length and Transfer-Encoding together are refused.";
        return 400;
    }
    if (h->content_length > 1) {
        *why = "More than one Content-Length is refused.";
        return 400;
    }
    if (h->content_length && (!*h->cl || strspn(h->cl, "0123456789") != strlen(h->cl))) {
        *why = "Content-Length must be a decimal number.";
        return 400;
    }
    if (h->transfer_encoding > 1) {
        *why = "More than one Transfer-Encoding field is refused.";
        return 400;
    }
    if (h->transfer_encoding && strcasecmp(h->te, "chunked") != 0) {
        *why = "Only the chunked transfer coding is supported.";
        return 501;
    }
    if (strcmp(version, "HTTP/1.1") == 0 && h->host != 1) {
        *why = "An HTTP/1.1 request needs exactly one Host field.";
        return 400;
    }
    return 0;
}

static void job_done(struct host_job *job)
{
    struct pending *p = job->owner;
    p->stage = STAGE_DONE;
    MHD_resume_connection(p->con); /* its thread calls on_request again */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    struct pending *p = *con_cls;
    if (!p)
        return MHD_NO;
    switch (p->stage) {
    case STAGE_NEW: {
        if (!p->target)
            return MHD_NO;
        p->stage = STAGE_BODY;
        p->head_ns = host_now_ns();
        p->con = con;
        p->counted = 1;
        atomic_fetch_add(&active, 1);
        set_phase(conn_of(con), PHASE_BODY);
        host_request_id(p->req.request_id);
        MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &p->hl);
        const char *why = NULL;
        uint16_t status = check_head(p, url, version, &why);
        if (status)
            return refuse(con, p, status, why, method);
        if (atomic_load(&stopping))
            return refuse(con, p, 503, "The server is shutting down.", method);
        p->path = strndup(p->target, strcspn(p->target, "?"));
        if (!p->path)
            return MHD_NO;
        p->route = host_route_match(g_env->manifest, p->path, &p->params, &p->n_params);
        if (!p->route)
            return refuse(con, p, 404, "No route matches this path.", method);
        if (p->hl.cl && strtoull(p->hl.cl, NULL, 10) > p->route->fn->body_limit)
            return refuse_too_large(con, p, method);
        return MHD_YES;
    }
    case STAGE_BODY: break;
    case STAGE_RUNNING: return MHD_YES; /* not reached: the connection is suspended */
    case STAGE_DONE: {
        struct host_counters c = p->job.counters;
        return answer(con, p, &p->job.resp, 0, method, &c);
    }
    case STAGE_ANSWERED:
        *upload_size = 0; /* discarding what follows an early answer */
        return MHD_YES;
    }

    struct conn *t = conn_of(con);
    if (*upload_size) {
        size_t limit = p->route->fn->body_limit;
        if (t)
            atomic_fetch_add(&t->body_bytes, *upload_size);
        if (p->too_large || p->body_len + *upload_size > limit) {
            /* A chunked body past the limit. libmicrohttpd cannot answer in
             * the middle of a body, so the rest is read and dropped, and 413
             * comes at its end; a body that goes on past limit + 1 MiB (or
             * too slowly: the watchdog) has the connection closed. */
            p->too_large = 1;
            p->discarded += *upload_size;
            *upload_size = 0;
            return p->discarded > limit + (1u << 20) ? MHD_NO : MHD_YES;
        }
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
        *upload_size = 0;
        return MHD_YES;
    }

    if (p->too_large)
        return refuse_too_large(con, p, method);

    /* The whole request is here: hand it to the execution pool. */
    client_ip(con, p->hl.xff, p->ip, sizeof p->ip);
    const char *q = strchr(p->target, '?');
    struct host_request *req = &p->req;
    req->trigger = 0;
    req->method = method;
    req->path = p->path;
    req->query = q ? q + 1 : "";
    req->route = p->route->path;
    req->params = p->params;
    req->n_params = p->n_params;
    req->headers = p->hl.h;
    req->n_headers = p->hl.n;
    req->body = p->body;
    req->body_len = p->body_len;
    req->client_ip = p->ip;
    req->arrival_ns = p->head_ns;
    p->job.env = g_env;
    p->job.fn = p->route->fn;
    p->job.req = req;
    p->job.deadline_ns = p->head_ns + (uint64_t)p->route->fn->timeout_ms * 1000000ull;
    p->job.done = job_done;
    p->job.owner = p;
    set_phase(t, PHASE_BUSY);
    p->stage = STAGE_RUNNING;
    MHD_suspend_connection(con);
    enum host_exec_refusal why = host_exec_submit(&p->job);
    if (why != HOST_EXEC_QUEUED) {
        host_exec_overloaded(&p->job.resp, why);
        p->stage = STAGE_DONE;
        MHD_resume_connection(con);
    }
    return MHD_YES;
}

/* --- cron ---------------------------------------------------------------- */

/* One thread per job: it sleeps out the interval, then runs the job on the
 * pool and waits for it, so a job never overlaps itself on this host; the
 * lease (cron.c) keeps other hosts and `bastion invoke --cron` out. */
static void *cron_loop(void *arg)
{
    struct host_cron *job = arg;
    uint64_t next = host_now_ns() + host_cron_interval_ns(job);
    while (!atomic_load(&stopping)) {
        usleep(100000);
        if (host_now_ns() < next)
            continue;
        struct host_cron_result r;
        host_cron_run(g_env, job, HOST_CRON_ON_POOL, &r);
        host_cron_result_free(&r);
        next = host_now_ns() + host_cron_interval_ns(job);
    }
    host_store_thread_close(); /* the lease's kv connection, this thread's own */
    return NULL;
}

/* --- serve ---------------------------------------------------------------- */

/* A cap on connections is only real if the process may open that many. */
static void raise_fd_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)want + 256; /* databases, logs, outbound sockets */
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* see server.h */
int host_serve(struct host_env *env, const char *addr, uint16_t port, unsigned workers)
{
    g_env = env;
    g_limits = &env->manifest->limits;
    real_queue = (queue_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
    if (!real_queue) {
        fprintf(stderr, "serve: cannot find libmicrohttpd's MHD_queue_response\n");
        return 1;
    }
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "serve: bad listen address '%s'\n", addr);
        return 2;
    }
    /* Threads inherit this mask: only the main thread takes SIGINT/SIGTERM. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(g_limits->max_connections);

    if (host_exec_start(g_limits->exec_workers, g_limits->exec_queue) != 0) {
        fprintf(stderr, "serve: cannot start %u execution threads\n", g_limits->exec_workers);
        return 1;
    }
    /* Room for the largest head this server accepts; past it libmicrohttpd
     * answers 414/431 itself (as problem+json, see MHD_queue_response). */
    size_t pool_bytes = g_limits->max_target_bytes + g_limits->max_header_bytes + 16384;
    /* libmicrohttpd's idle timer only has to catch a client that stops
     * reading a response; the watchdog owns the head and body deadlines, so
     * this one must never fire before them. */
    unsigned idle_s = (g_limits->head_timeout_ms + 999) / 1000;
    if (idle_s < BODY_GRACE_NS / 1000000000ull + 1)
        idle_s = BODY_GRACE_NS / 1000000000ull + 1;
    idle_s++;
    unsigned mhd_cap = g_limits->max_connections + 4 * workers;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, workers, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_LIMIT, mhd_cap,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)g_limits->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_bytes, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "serve: cannot listen on %s:%u\n", addr, port);
        host_exec_stop();
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr,
            "bastion: serving %zu routes on http://%s:%u with %u connection threads and %u "
            "execution threads\n",
            env->manifest->n_routes, addr, info ? info->port : port, workers,
            g_limits->exec_workers);
    fflush(stderr);

    pthread_t dog;
    int have_dog = pthread_create(&dog, NULL, watchdog, NULL) == 0;
    pthread_t *crons = calloc(env->manifest->n_crons + 1, sizeof *crons);
    for (size_t i = 0; crons && i < env->manifest->n_crons; i++)
        pthread_create(&crons[i], NULL, cron_loop, &env->manifest->crons[i]);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "bastion: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&stopping, 1);
    /* Stop accepting at once: close the listening socket. Requests already
     * on a connection either finish or are told 503 + close. */
    MHD_socket lsock = MHD_quiesce_daemon(d);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    host_exec_cancel_queued(); /* not started yet: 503 + close */
    uint64_t until = host_now_ns() + (uint64_t)g_limits->drain_timeout_ms * 1000000ull;
    while ((atomic_load(&active) > 0 || host_exec_pending() > 0) && host_now_ns() < until)
        usleep(10000);
    int left = atomic_load(&active);
    if (host_exec_pending() > 0) {
        /* A job still runs past the drain bound (its deadline is longer):
         * its connection cannot be resumed once the daemon is gone. */
        fprintf(stderr, "bastion: drain timeout: %u requests still running, exiting\n",
                host_exec_pending());
        fflush(stderr);
        _exit(0);
    }
    for (size_t i = 0; crons && i < env->manifest->n_crons; i++)
        pthread_join(crons[i], NULL);
    free(crons);
    host_exec_stop();
    atomic_store(&dog_stop, 1);
    if (have_dog)
        pthread_join(dog, NULL);
    MHD_stop_daemon(d);
    fprintf(stderr, "bastion: stopped%s\n", left > 0 ? " (unanswered requests dropped)" : "");
    return 0;
}
