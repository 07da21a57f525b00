/*
 * The execution pool (see exec.h). One mutex guards the FIFO queue; workers
 * sleep on a condition variable. Everything a request costs is bounded: the
 * queue by `exec_queue`, a function's share by its `max_concurrency`, the
 * wait by the request's own deadline.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "exec.h"
#include "rt/rt.h"

/* Guest code may use the native stack down to its guard page; rt.c turns
 * running off it into a trap. 8 MiB matches the main thread's usual limit. */
#define WORKER_STACK_BYTES (8u << 20)
#define WORKER_GUARD_BYTES (64u << 10)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct host_job *head, *tail;
    unsigned queued, queue_cap;
    unsigned running, idle;
    int stopping;
    pthread_t *threads;
    unsigned n_threads;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void run_job(struct host_job *job)
{
    if (host_now_ns() >= job->deadline_ns) {
        /* It waited out its whole deadline in the queue: it never ran. */
        host_exec_overloaded(&job->resp, HOST_EXEC_QUEUED);
    } else {
        host_invoke(job->env, job->fn, job->req, &job->resp, &job->counters);
    }
    atomic_fetch_sub(&job->fn->busy, 1);
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (!pool.head && !pool.stopping) {
            pool.idle++;
            pthread_cond_wait(&pool.wake, &pool.lock);
            pool.idle--;
        }
        if (!pool.head)
            break; /* stopping and nothing left */
        struct host_job *job = pool.head;
        pool.head = job->next;
        if (!pool.head)
            pool.tail = NULL;
        pool.queued--;
        pool.running++;
        pthread_mutex_unlock(&pool.lock);
        run_job(job);
        job->done(job); /* the job is the submitter's from here on */
        pthread_mutex_lock(&pool.lock);
        pool.running--;
    }
    pthread_mutex_unlock(&pool.lock);
    host_thread_done();
    return NULL;
}

/* see exec.h */
int host_exec_start(unsigned workers, unsigned queue)
{
    pool.threads = calloc(workers, sizeof *pool.threads);
    if (!pool.threads)
        return -1;
    pool.queue_cap = queue;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    pthread_attr_setguardsize(&attr, WORKER_GUARD_BYTES);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&pool.threads[i], &attr, worker, NULL) != 0)
            break;
        pool.n_threads++;
    }
    pthread_attr_destroy(&attr);
    return pool.n_threads == workers ? 0 : -1;
}

/* see exec.h */
enum host_exec_refusal host_exec_submit(struct host_job *job)
{
    /* A function's share first, so one function's hung dependency can
     * never take the slots of all the others (SAFE3). */
    int busy = atomic_fetch_add(&job->fn->busy, 1);
    if ((uint32_t)busy >= job->fn->max_concurrency) {
        atomic_fetch_sub(&job->fn->busy, 1);
        return HOST_EXEC_FN_BUSY;
    }
    pthread_mutex_lock(&pool.lock);
    enum host_exec_refusal why = HOST_EXEC_QUEUED;
    if (pool.stopping)
        why = HOST_EXEC_STOPPING;
    else if (pool.queued >= pool.idle + pool.queue_cap)
        why = HOST_EXEC_FULL; /* idle workers take queued jobs at once */
    if (why != HOST_EXEC_QUEUED) {
        pthread_mutex_unlock(&pool.lock);
        atomic_fetch_sub(&job->fn->busy, 1);
        return why;
    }
    job->next = NULL;
    if (pool.tail)
        pool.tail->next = job;
    else
        pool.head = job;
    pool.tail = job;
    pool.queued++;
    pthread_cond_signal(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return HOST_EXEC_QUEUED;
}

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
};

static void wake_waiter(struct host_job *job)
{
    struct waiter *w = job->owner;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* see exec.h */
enum host_exec_refusal host_exec_run(struct host_job *job)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    job->done = wake_waiter;
    job->owner = &w;
    enum host_exec_refusal why = host_exec_submit(job);
    if (why == HOST_EXEC_QUEUED) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
    }
    return why;
}

/* see exec.h */
void host_exec_overloaded(struct host_response *resp, enum host_exec_refusal why)
{
    static const char *const detail[] = {
        [HOST_EXEC_QUEUED] = "The request waited for an execution slot past its deadline.",
        [HOST_EXEC_FULL] = "Every execution slot is busy and the queue is full.",
        [HOST_EXEC_FN_BUSY] = "This function is running as many requests as it may.",
        [HOST_EXEC_STOPPING] = "The server is shutting down.",
    };
    host_problem(resp, 503, "Service Unavailable", detail[why], "transient", 1, 1);
}

/* see exec.h */
unsigned host_exec_pending(void)
{
    pthread_mutex_lock(&pool.lock);
    unsigned n = pool.queued + pool.running;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

/* see exec.h */
void host_exec_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < pool.n_threads; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    pool.n_threads = 0;
}
