/*
 * The execution pool (see exec.h). One mutex guards the FIFO queue; workers
 * sleep on a condition variable. Everything a request costs is bounded: the
 * queue by `exec_queue` (and half of it per function), the slots a function
 * runs on by its `max_concurrency`, the wait by the request's own deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "exec.h"
#include "rt/rt.h"

/* Guest code may use the native stack down to its guard page; rt.c turns
 * running off it into a trap. 8 MiB matches the main thread's usual limit. */
#define WORKER_STACK_BYTES (8u << 20)
#define WORKER_GUARD_BYTES (64u << 10)
/* How often a waiting worker looks for queued jobs whose deadline passed. */
#define REAP_INTERVAL_NS 50000000ull

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct host_job *head, *tail;
    unsigned queued, queue_cap;
    unsigned running;
    int stopping;
    pthread_t *threads;
    unsigned n_threads;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void unlink_job(struct host_job *prev, struct host_job *job)
{
    if (prev)
        prev->next = job->next;
    else
        pool.head = job->next;
    if (pool.tail == job)
        pool.tail = prev;
    pool.queued--;
    job->fn->queued--;
}

/* The first queued job that may run now, or one that waited out its
 * deadline (which is answered 503 without running). Called locked. */
static struct host_job *take(int *expired)
{
    uint64_t now = host_now_ns();
    struct host_job *prev = NULL;
    for (struct host_job *job = pool.head; job; prev = job, job = job->next) {
        *expired = now >= job->deadline_ns;
        if (*expired || job->fn->running < job->fn->max_concurrency) {
            unlink_job(prev, job);
            if (!*expired)
                job->fn->running++;
            return job;
        }
    }
    return NULL;
}

static void wait_for_work(void)
{
    if (!pool.head) {
        pthread_cond_wait(&pool.wake, &pool.lock);
        return;
    }
    /* Jobs are queued but none may run (their functions are at their cap):
     * wake up now and then to answer the ones whose deadline passes. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + REAP_INTERVAL_NS;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_cond_timedwait(&pool.wake, &pool.lock, &ts);
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        int expired = 0;
        struct host_job *job = take(&expired);
        if (!job) {
            if (pool.stopping && !pool.head)
                break;
            wait_for_work();
            continue;
        }
        pool.running++;
        pthread_mutex_unlock(&pool.lock);
        if (expired)
            host_exec_overloaded(&job->resp, HOST_EXEC_QUEUED);
        else
            host_invoke(job->env, job->fn, job->req, &job->resp, &job->counters);
        struct host_function *fn = job->fn;
        job->done(job); /* the job is the submitter's from here on */
        pthread_mutex_lock(&pool.lock);
        pool.running--;
        if (!expired) {
            fn->running--;
            pthread_cond_signal(&pool.wake); /* a job of fn may be runnable now */
        }
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
    struct host_function *fn = job->fn;
    pthread_mutex_lock(&pool.lock);
    enum host_exec_refusal why = HOST_EXEC_QUEUED;
    unsigned idle = pool.n_threads - pool.running;
    if (pool.stopping)
        why = HOST_EXEC_STOPPING;
    else if (fn->running + fn->queued >= fn->max_concurrency &&
             fn->queued >= (pool.queue_cap + 1) / 2)
        why = HOST_EXEC_FN_BUSY; /* one function never fills the whole queue */
    else if (pool.queued >= idle + pool.queue_cap)
        why = HOST_EXEC_FULL;
    if (why == HOST_EXEC_QUEUED) {
        job->next = NULL;
        if (pool.tail)
            pool.tail->next = job;
        else
            pool.head = job;
        pool.tail = job;
        pool.queued++;
        fn->queued++;
        pthread_cond_signal(&pool.wake);
    }
    pthread_mutex_unlock(&pool.lock);
    return why;
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
        [HOST_EXEC_FN_BUSY] = "This function has as many requests running and waiting as it may.",
        [HOST_EXEC_STOPPING] = "The server is shutting down.",
    };
    host_problem(resp, 503, detail[why], 1);
}

/* see exec.h */
void host_exec_cancel_queued(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1; /* submit refuses from now on */
    struct host_job *list = pool.head;
    for (struct host_job *j = list; j; j = j->next)
        j->fn->queued--;
    pool.head = pool.tail = NULL;
    pool.queued = 0;
    pthread_mutex_unlock(&pool.lock);
    while (list) {
        struct host_job *next = list->next;
        host_exec_overloaded(&list->resp, HOST_EXEC_STOPPING);
        list->done(list);
        list = next;
    }
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
