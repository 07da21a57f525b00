/*
 * The execution pool: the only threads that run guest code (DESIGN
 * "Execution model and containment", SAFE3).
 *
 * Connections are not executions. The front end hands a complete request to
 * host_exec_submit and goes back to its sockets; a pool thread runs it and
 * calls the job's `done` callback. A bounded queue sits in front of the pool;
 * a function runs on at most `max_concurrency` slots at once and holds at
 * most half the queue, so a hung dependency holds the slots of its own
 * function and never the whole host. A job that waits past its deadline is
 * answered 503 without running.
 */
#ifndef HOST_EXEC_H
#define HOST_EXEC_H

#include "host.h"

struct host_job {
    struct host_env *env;
    struct host_function *fn;
    struct host_request *req;  /* borrowed; MUST live until done() is called */
    uint64_t deadline_ns;      /* CLOCK_MONOTONIC; queueing time counts */
    struct host_response resp; /* filled before done() */
    struct host_counters counters;
    /* Called on the pool thread once resp is filled. The job belongs to the
     * submitter again from then on. */
    void (*done)(struct host_job *job);
    void *owner;           /* for done() */
    struct host_job *next; /* queue link, the pool's */
};

/* Starts `workers` threads with a queue of `queue` jobs. 0 on success. */
int host_exec_start(unsigned workers, unsigned queue);

/* Why a job was not taken. */
enum host_exec_refusal {
    HOST_EXEC_QUEUED = 0,
    HOST_EXEC_FULL,    /* every worker busy and the queue full */
    HOST_EXEC_FN_BUSY, /* the function's slots and its half of the queue are full */
    HOST_EXEC_STOPPING,
};

/* Queues a job. On refusal the job is untouched and done() is never called;
 * the caller answers 503 (host_exec_overloaded). Thread-safe. */
enum host_exec_refusal host_exec_submit(struct host_job *job);

/* Runs a job on the pool and waits for it (cron, invoke). Returns the
 * refusal, and on HOST_EXEC_QUEUED the job's resp is filled. */
enum host_exec_refusal host_exec_run(struct host_job *job);

/* The 503 problem for a refusal, with Retry-After (SAFE5). */
void host_exec_overloaded(struct host_response *resp, enum host_exec_refusal why);

/* Answers every queued job 503 (HOST_EXEC_STOPPING) without running it and
 * refuses new ones; running jobs go on. For a graceful stop. */
void host_exec_cancel_queued(void);

/* Jobs queued or running. */
unsigned host_exec_pending(void);

/* Stops taking jobs, lets queued and running ones finish, joins the
 * threads. */
void host_exec_stop(void);

#endif
