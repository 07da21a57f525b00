/*
 * Outbound HTTP over libcurl, gated by the function's allow-list and, under
 * it, SAFE4's wall of addresses (outbound_wall.c), judged in curl's
 * open-socket callback: the address actually connected, after resolution.
 * The budget is curl's whole-transfer timeout; redirects are not followed (a
 * redirect could leave the allow-list) and no proxy is used (the wall must
 * see the real destination, not a proxy's address).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "host.h"

/* Splits "scheme://host[:port]/..." into parts; 0 on success. */
static int split_origin(const char *url, char *scheme, size_t ns, char *host, size_t nh, char *port,
                        size_t np)
{
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= ns)
        return -1;
    memcpy(scheme, url, (size_t)(sep - url));
    scheme[sep - url] = 0;
    const char *h = sep + 3;
    size_t hl = strcspn(h, ":/?#");
    if (hl == 0 || hl >= nh || memchr(h, '@', strcspn(h, "/?#")))
        return -1; /* no userinfo: "http://allowed@evil" must not pass */
    memcpy(host, h, hl);
    host[hl] = 0;
    const char *p = h + hl;
    if (*p == ':') {
        size_t pl = strcspn(p + 1, "/?#");
        if (pl == 0 || pl >= np)
            return -1;
        memcpy(port, p + 1, pl);
        port[pl] = 0;
    } else {
        snprintf(port, np, "%s", strcasecmp(scheme, "https") == 0 ? "443" : "80");
    }
    return 0;
}

/* see host.h */
int host_http_allowed(const struct host_function *fn, const char *url)
{
    char us[16], uh[256], up[16];
    if (split_origin(url, us, sizeof us, uh, sizeof uh, up, sizeof up) != 0)
        return 0;
    if (strcasecmp(us, "http") != 0 && strcasecmp(us, "https") != 0)
        return 0;
    for (size_t i = 0; i < fn->n_outbound; i++) {
        char as[16], ah[256], ap[16];
        if (split_origin(fn->outbound[i], as, sizeof as, ah, sizeof ah, ap, sizeof ap) != 0)
            continue;
        if (strcasecmp(as, us) == 0 && strcasecmp(ah, uh) == 0 &&
            (strcmp(ap, "*") == 0 || strcmp(ap, up) == 0))
            return 1;
    }
    return 0;
}

/* BASTION_OUTBOUND_CA_FILE (the environment's own string, which nothing
 * changes), or NULL for the system's bundle. Set once before any thread. */
static const char *outbound_ca_file;

/* see host.h */
int host_outbound_init(FILE *errs)
{
    const char *path = getenv("BASTION_OUTBOUND_CA_FILE");
    if (!path || !*path)
        return 0;
    char *pem = host_read_file(path, NULL);
    if (!pem) {
        fprintf(errs, "BASTION_OUTBOUND_CA_FILE=%s: cannot read: %s\n", path, strerror(errno));
        return -1;
    }
    /* RFC 7468 §5: what curl's CAINFO reads; a file without one trusts nothing */
    int has_cert = strstr(pem, "-----BEGIN CERTIFICATE-----") != NULL;
    free(pem);
    if (!has_cert) {
        fprintf(errs, "BASTION_OUTBOUND_CA_FILE=%s: no PEM certificate in it\n", path);
        return -1;
    }
    outbound_ca_file = path;
    static const char MSG[] =
        "BASTION_OUTBOUND_CA_FILE is set: outbound TLS trusts its certificates, not the system's";
    const char *kv[] = {"path", path};
    host_log_line("info", NULL, NULL, MSG, sizeof MSG - 1, kv, NULL, 1);
    return 0;
}

struct sink {
    char *p;
    size_t len;
    size_t limit; /* the function's outbound_body_limit */
    int over;     /* the body went past it */
    int no_memory;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t add = size * n;
    if (add > s->limit - s->len) {
        s->over = 1;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR): nothing more is read */
    }
    char *grown = realloc(s->p, s->len + add + 1);
    if (!grown) {
        s->no_memory = 1;
        return 0;
    }
    memcpy(grown + s->len, data, add);
    s->p = grown;
    s->len += add;
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct host_http_resp *r = arg;
    size_t len = size * n;
    const char *colon = memchr(data, ':', len);
    if (!colon || r->n_headers >= 128)
        return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    struct host_header *grown = realloc(r->headers, (r->n_headers + 1) * sizeof *grown);
    if (!grown)
        return 0;
    r->headers = grown;
    struct host_header *h = &r->headers[r->n_headers];
    h->name = strndup(data, nl);
    h->value = strndup(v, vl);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return 0;
    }
    for (size_t i = 0; i < nl; i++)
        h->name[i] =
            (char)((h->name[i] >= 'A' && h->name[i] <= 'Z') ? h->name[i] + 32 : h->name[i]);
    h->name_len = nl;
    h->value_len = vl;
    r->n_headers++;
    return len;
}

/* What the open-socket callback saw of one transfer. */
struct wall {
    const char *url_host; /* the URL's host as written, NUL-terminated */
    int opened;           /* a socket was opened: some address passed */
    const char *why;      /* the first refusal, for the error: its reason */
    char refused[INET6_ADDRSTRLEN];
};

/* CURLOPT_OPENSOCKETFUNCTION: curl calls it for every address it tries, after
 * resolution, so this is where a name that resolves (or rebinds) to an
 * internal address is caught. Refusing returns no socket; curl goes on to
 * its next address, and the transfer fails when none is left. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct wall *w = arg;
    const char *why = purpose == CURLSOCKTYPE_IPCXN
                          ? host_outbound_refusal(&a->addr, a->addrlen, w->url_host)
                          : "not a connection of ours";
    if (!why) {
        w->opened = 1;
        return socket(a->family, a->socktype, a->protocol);
    }
    if (!w->why) {
        struct sockaddr_storage ss;
        memcpy(&ss, &a->addr, a->addrlen < sizeof ss ? a->addrlen : sizeof ss);
        const void *ip = ss.ss_family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        if (!inet_ntop(ss.ss_family, ip, w->refused, sizeof w->refused))
            snprintf(w->refused, sizeof w->refused, "an address of family %d", ss.ss_family);
        w->why = why;
    }
    return CURL_SOCKET_BAD;
}

void host_http_resp_free(struct host_http_resp *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* see host.h */
int host_http_send(const struct host_function *fn, const char *method, const char *url,
                   const struct host_header *h, size_t nh, const void *body, size_t blen,
                   uint32_t budget_ms, struct host_http_resp *out, struct host_err *err)
{
    char scheme[16], host[256], port[16];
    if (split_origin(url, scheme, sizeof scheme, host, sizeof host, port, sizeof port) != 0)
        return host_fail(err, HOST_E_INVALID, "outbound URL has no scheme://host");
    CURL *curl = curl_easy_init();
    if (!curl)
        return host_fail(err, HOST_E_INTERNAL, "curl init failed");
    struct curl_slist *list = NULL;
    int rc = 0;
    for (size_t i = 0; i < nh; i++) {
        char *line = malloc(h[i].name_len + h[i].value_len + 3);
        if (!line) {
            rc = host_fail(err, HOST_E_INTERNAL, "out of memory");
            goto done;
        }
        memcpy(line, h[i].name, h[i].name_len);
        memcpy(line + h[i].name_len, ": ", 2);
        memcpy(line + h[i].name_len + 2, h[i].value, h[i].value_len);
        line[h[i].name_len + 2 + h[i].value_len] = 0;
        if (strpbrk(line, "\r\n")) {
            free(line);
            rc = host_fail(err, HOST_E_INVALID, "header contains CR or LF");
            goto done;
        }
        struct curl_slist *next = curl_slist_append(list, line);
        free(line);
        if (!next) {
            rc = host_fail(err, HOST_E_INTERNAL, "out of memory");
            goto done;
        }
        list = next;
    }
    struct sink sink = {.limit = fn->outbound_body_limit};
    struct wall wall = {.url_host = host};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never one from http_proxy and the like */
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &wall);
    if (outbound_ca_file) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, outbound_ca_file);
        curl_easy_setopt(curl, CURLOPT_CAPATH, NULL); /* the file alone, no system directory */
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)budget_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)budget_ms);
    /* a Content-Length over the limit is refused before any of the body */
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink.limit);
    if (blen || strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, blen ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    CURLcode cc = curl_easy_perform(curl);
    if (cc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        out->status = (uint16_t)status;
        out->body = sink.p;
        out->body_len = sink.len;
        goto done;
    }
    free(sink.p);
    host_http_resp_free(out);
    if (wall.why && !wall.opened) /* SAFE4: refused, not down; nothing was connected */
        rc = host_fail(err, HOST_E_DENIED,
                       "outbound to %s refused: %s, which the allow-list of '%s' does not name",
                       wall.refused, wall.why, fn->name);
    else if (sink.over || cc == CURLE_FILESIZE_EXCEEDED)
        rc = host_fail(err, HOST_E_INVALID,
                       "outbound response body over the function's outbound_body_limit of "
                       "%zu bytes",
                       sink.limit);
    else if (sink.no_memory)
        rc = host_fail(err, HOST_E_INTERNAL, "out of memory");
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = host_fail(err, HOST_E_TIMEOUT, "outbound: %s", curl_easy_strerror(cc));
    else
        rc = host_fail(err, HOST_E_UNAVAILABLE, "outbound: %s", curl_easy_strerror(cc));
done:
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}
