/*
 * The [[cron]] runner's one run of a job (cron.h): lease, run, release, log.
 *
 * The lease is one kv add of "lease:<job>" in HOST_CRON_STORE with a TTL of
 * the job's timeout plus LEASE_MARGIN_MS: the run is unwound at its
 * deadline, so a lease outlives its run even when the host dies mid-way,
 * and then frees itself. Its value names the holder (host, pid, request id);
 * the release is a compare-and-swap on that value, so a run never frees a
 * lease another run took after its own expired.
 */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cron.h"
#include "exec.h"
#include "rt/rt.h"

#define LEASE_MARGIN_MS   1000u
#define LEASE_BUDGET_MS   1000u /* each kv call of the lease */
#define MAX_RESULT_FIELDS 16
#define MAX_RESULT_VALUE  200

static size_t lease_key(const struct host_cron *job, char *key, size_t cap)
{
    int n = snprintf(key, cap, "lease:%s", job->name);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t lease_value(const char *request_id, char *v, size_t cap)
{
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    int n = snprintf(v, cap, "%s/%ld/%s", host, (long)getpid(), request_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
}

static void run_job(struct host_env *env, struct host_cron *job, enum host_cron_exec how,
                    struct host_request *req, struct host_cron_result *out)
{
    if (how == HOST_CRON_HERE) {
        host_invoke(env, job->fn, req, &out->resp, &out->counters);
        return;
    }
    struct host_job j = {.env = env, .fn = job->fn, .req = req};
    j.deadline_ns = req->arrival_ns + (uint64_t)job->timeout_ms * 1000000ull;
    enum host_exec_refusal why = host_exec_run(&j);
    if (why != HOST_EXEC_QUEUED)
        host_exec_overloaded(&j.resp, why);
    out->resp = j.resp;
    out->counters = j.counters;
}

/* The answer's top-level scalars as result.<name> fields (names and values
 * into `names`/`values`, pointers into kv from *n on). */
static void result_fields(const struct host_response *r, cJSON **doc, const char **kv, size_t *n,
                          char names[][72], char values[][MAX_RESULT_VALUE + 1])
{
    *doc = r->body_len ? cJSON_ParseWithLength((const char *)r->body, r->body_len) : NULL;
    if (!cJSON_IsObject(*doc))
        return;
    size_t k = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, *doc)
    {
        if (k == MAX_RESULT_FIELDS)
            break;
        if (cJSON_IsNumber(m))
            snprintf(values[k], MAX_RESULT_VALUE + 1, "%.17g", m->valuedouble);
        else if (cJSON_IsString(m))
            snprintf(values[k], MAX_RESULT_VALUE + 1, "%s", m->valuestring);
        else if (cJSON_IsBool(m))
            snprintf(values[k], MAX_RESULT_VALUE + 1, "%s", cJSON_IsTrue(m) ? "true" : "false");
        else
            continue; /* objects, arrays and nulls stay in the answer */
        snprintf(names[k], 72, "result.%s", m->string);
        kv[2 * *n] = names[k];
        kv[2 * *n + 1] = values[k];
        (*n)++;
        k++;
    }
}

static void log_run(const struct host_cron *job, const struct host_cron_result *r)
{
    char nums[10][24];
    const char *kv[2 * (14 + MAX_RESULT_FIELDS)] = {"type", "cron", "job", job->name};
    size_t n = 2;
#define FIELD(name, fmt, value)                                                                    \
    do {                                                                                           \
        snprintf(nums[n - 2], sizeof nums[0], fmt, value);                                         \
        kv[2 * n] = name;                                                                          \
        kv[2 * n + 1] = nums[n - 2];                                                               \
        n++;                                                                                       \
    } while (0)
    FIELD("status", "%u", (unsigned)r->resp.status);
    FIELD("duration_us", "%llu", (unsigned long long)r->duration_us);
    FIELD("instance_us", "%llu", (unsigned long long)r->counters.instance_us);
    FIELD("kv_calls", "%u", r->counters.kv);
    FIELD("sql_calls", "%u", r->counters.sql);
    FIELD("http_calls", "%u", r->counters.http);
    FIELD("memory_pages", "%u", r->counters.memory_pages);
    FIELD("runs_total", "%llu", (unsigned long long)atomic_load(&job->runs));
    FIELD("failed_total", "%llu", (unsigned long long)atomic_load(&job->failed));
    FIELD("skipped_total", "%llu", (unsigned long long)atomic_load(&job->skipped));
#undef FIELD
    cJSON *doc = NULL;
    char names[MAX_RESULT_FIELDS][72], values[MAX_RESULT_FIELDS][MAX_RESULT_VALUE + 1];
    result_fields(&r->resp, &doc, kv, &n, names, values);
    int ok = r->resp.status >= 200 && r->resp.status < 300;
    host_log_line(ok ? "info" : "error", job->fn->name, r->request_id, "cron run", 8, kv, NULL, n);
    cJSON_Delete(doc);
}

static void log_not_run(const struct host_cron *job, const struct host_cron_result *r)
{
    char skipped[24];
    snprintf(skipped, sizeof skipped, "%llu", (unsigned long long)atomic_load(&job->skipped));
    int held = r->outcome == HOST_CRON_SKIPPED;
    const char *kv[] = {
        "type",          "cron",
        "job",           job->name,
        "outcome",       held ? "skipped" : "no_lease",
        "skipped_total", skipped,
        "reason",        held ? "another run holds the lease" : r->lease_error,
    };
    const char *msg = held ? "cron skipped" : "cron lease failed";
    host_log_line(held ? "info" : "error", job->fn->name, r->request_id, msg, strlen(msg), kv, NULL,
                  sizeof kv / sizeof *kv / 2);
}

/* see cron.h */
void host_cron_run(struct host_env *env, struct host_cron *job, enum host_cron_exec how,
                   struct host_cron_result *out)
{
    memset(out, 0, sizeof *out);
    struct host_request req = {
        .trigger = 1,
        .method = "POST",
        .path = job->name,
        .query = "",
        .route = "",
        .client_ip = "",
        .timeout_ms = job->timeout_ms,
    };
    host_request_id(req.request_id);
    memcpy(out->request_id, req.request_id, sizeof out->request_id);
    char key[96], val[160];
    size_t klen = lease_key(job, key, sizeof key),
           vlen = lease_value(req.request_id, val, sizeof val);
    struct host_err err = {0};
    int added = 0;
    if (host_kv_add(env->state, HOST_CRON_STORE, key, klen, val, vlen,
                    (uint64_t)job->timeout_ms + LEASE_MARGIN_MS, LEASE_BUDGET_MS, &added,
                    &err) != 0) {
        out->outcome = HOST_CRON_NO_LEASE;
        snprintf(out->lease_error, sizeof out->lease_error, "%s", err.msg);
        host_problem(&out->resp, 503, "The job's lease could not be taken.", 1);
        atomic_fetch_add(&job->failed, 1);
        log_not_run(job, out);
        return;
    }
    if (!added) {
        out->outcome = HOST_CRON_SKIPPED;
        atomic_fetch_add(&job->skipped, 1);
        log_not_run(job, out);
        return;
    }
    out->outcome = HOST_CRON_RAN;
    uint64_t t0 = host_now_ns();
    req.arrival_ns = t0;
    run_job(env, job, how, &req, out);
    out->duration_us = (host_now_ns() - t0) / 1000;
    atomic_fetch_add(&job->runs, 1);
    if (out->resp.status < 200 || out->resp.status >= 300)
        atomic_fetch_add(&job->failed, 1);
    log_run(job, out);
    /* given back at once; left to its TTL only when this fails */
    int swapped = 0;
    if (host_kv_swap(env->state, HOST_CRON_STORE, key, klen, val, vlen, 1, "", 0, 1,
                     LEASE_BUDGET_MS, &swapped, &err) != 0) {
        const char *kv[] = {"type", "cron", "job", job->name, "error", err.msg};
        host_log_line("warn", job->fn->name, out->request_id, "cron lease not released", 23, kv,
                      NULL, 3);
    }
}

/* see cron.h */
void host_cron_result_free(struct host_cron_result *r)
{
    host_response_free(&r->resp);
}

/* see cron.h */
uint64_t host_cron_interval_ns(const struct host_cron *job)
{
    uint64_t ns = (uint64_t)job->every_s * 1000000000ull;
    if (job->jitter_s) {
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            rnd = host_now_ns();
        ns += rnd % ((uint64_t)job->jitter_s * 1000000000ull + 1);
    }
    return ns;
}
