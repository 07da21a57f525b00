/*
 * RFC 9457 problem details made by the host itself (SAFE5): the front end's
 * refusals, overload, deadlines and traps. The `type` URIs, titles and
 * classes are the guest core's (shared/src/problem.c) for every status both
 * make, so a client sees one scheme whoever answered;
 * tests/host/test_host.py compares the two tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define TYPE_BASE "https://bastion.dev/problems/"

static const struct {
    uint16_t status;
    const char *slug, *title, *cls;
    int retryable;
} TABLE[] = {
    {400, "bad-request", "Bad Request", "validation", 0},
    {404, "not-found", "Not Found", "validation", 0},
    {405, "method-not-allowed", "Method Not Allowed", "validation", 0},
    {413, "content-too-large", "Content Too Large", "validation", 0},
    {414, "uri-too-long", "URI Too Long", "validation", 0},
    {431, "header-fields-too-large", "Request Header Fields Too Large", "validation", 0},
    {500, "internal", "Internal Server Error", "internal", 0},
    {501, "not-implemented", "Not Implemented", "validation", 0},
    {503, "unavailable", "Service Unavailable", "infrastructure", 1},
    {504, "timeout", "Gateway Timeout", "transient", 1},
};

/* The table row for a status; one the table lacks keeps its code and gets
 * the generic kind (bad-request for 4xx, internal for 5xx). */
static size_t row(uint16_t status)
{
    size_t k = 0;
    while (k < sizeof TABLE / sizeof TABLE[0] && TABLE[k].status != status)
        k++;
    return k < sizeof TABLE / sizeof TABLE[0] ? k : status >= 500 ? 6 : 0;
}

/* see host.h */
const char *host_problem_title(uint16_t status)
{
    return TABLE[row(status)].title;
}

/* see host.h */
void host_problem(struct host_response *r, uint16_t status, const char *detail,
                  uint32_t retry_after_s)
{
    size_t k = row(status);
    memset(r, 0, sizeof *r);
    r->status = status;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        fprintf(f, "{\"type\":\"" TYPE_BASE "%s\",\"title\":\"%s\",\"status\":%u,\"detail\":\"",
                TABLE[k].slug, TABLE[k].title, status);
        host_json_escape(f, detail, strlen(detail));
        fprintf(f, "\",\"class\":\"%s\",\"retryable\":%s}", TABLE[k].cls,
                TABLE[k].retryable ? "true" : "false");
        fclose(f);
    }
    r->body = (uint8_t *)buf;
    r->body_len = buf ? len : 0;
    size_t nh = retry_after_s ? 2 : 1;
    r->headers = calloc(nh, sizeof *r->headers);
    if (!r->headers)
        return;
    r->headers[0].name = strdup("content-type");
    r->headers[0].value = strdup("application/problem+json");
    r->n_headers = 1;
    if (retry_after_s) {
        char v[16];
        snprintf(v, sizeof v, "%u", retry_after_s);
        r->headers[1].name = strdup("retry-after");
        r->headers[1].value = strdup(v);
        r->n_headers = 2;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        r->headers[i].name_len = r->headers[i].name ? strlen(r->headers[i].name) : 0;
        r->headers[i].value_len = r->headers[i].value ? strlen(r->headers[i].value) : 0;
    }
}
