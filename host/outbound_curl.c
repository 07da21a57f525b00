/*
 * Outbound HTTP over libcurl, gated by the function's allow-list. The budget
 * is curl's whole-transfer timeout; redirects are not followed (a redirect
 * could leave the allow-list).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

struct sink {
    char *p;
    size_t len;
    size_t limit;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t add = size * n;
    if (s->len + add > s->limit)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    char *grown = realloc(s->p, s->len + add + 1);
    if (!grown)
        return 0;
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
int host_http_send(const char *method, const char *url, const struct host_header *h, size_t nh,
                   const void *body, size_t blen, uint32_t budget_ms, struct host_http_resp *out,
                   struct host_err *err)
{
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
    struct sink sink = {NULL, 0, 16u << 20};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)budget_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)budget_ms);
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
    } else {
        free(sink.p);
        host_http_resp_free(out);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = host_fail(err, HOST_E_TIMEOUT, "outbound: %s", curl_easy_strerror(cc));
        else
            rc = host_fail(err, HOST_E_UNAVAILABLE, "outbound: %s", curl_easy_strerror(cc));
    }
done:
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}
