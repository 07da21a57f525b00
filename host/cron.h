/*
 * The [[cron]] runner: one run of a job at a time across every host that
 * shares the kv store the lease lives in (cron.c).
 */
#ifndef BASTION_CRON_H
#define BASTION_CRON_H

#include "host.h"

/* The kv store of the runner's leases: a name no function can be granted
 * (manifest.py's store names have no ':'), so it falls to [kv.default] —
 * per state directory on SQLite, cluster-wide on Redis. */
#define HOST_CRON_STORE "bastion:cron"

enum host_cron_outcome {
    HOST_CRON_RAN,     /* the job ran under its lease; resp is its answer */
    HOST_CRON_SKIPPED, /* another run (here or on another host) holds the lease */
    HOST_CRON_NO_LEASE /* the lease store failed: not run, resp is a 503 */
};

struct host_cron_result {
    enum host_cron_outcome outcome;
    struct host_response resp;
    struct host_counters counters;
    uint64_t duration_us;
    char request_id[40];
    char lease_error[160];
};

/* How a run is executed: on the execution pool (serve) or on this thread
 * (invoke). Both get the job's deadline from req->timeout_ms. */
enum host_cron_exec { HOST_CRON_ON_POOL, HOST_CRON_HERE };

/*
 * Takes the job's lease (kv add, TTL the job's timeout plus a margin),
 * runs the job once with trigger = cron, gives the lease back, and logs the
 * run: one "cron run" line with its status, duration, counters and the
 * answer's top-level members (`result.<name>`), at level error when the
 * answer is not 2xx (a trap is a 500); a skip or a lease failure is a line
 * of its own. Counts into job->runs, ->skipped, ->failed. `out` is filled
 * either way; free it with host_cron_result_free.
 */
void host_cron_run(struct host_env *env, struct host_cron *job, enum host_cron_exec how,
                   struct host_cron_result *out);
void host_cron_result_free(struct host_cron_result *r);

/* The wait before the job's next run: every_s plus a random part of
 * jitter_s, in ns. */
uint64_t host_cron_interval_ns(const struct host_cron *job);

#endif
