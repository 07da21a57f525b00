/*
 * bench/instantiate — native microbenchmarks of Bastion's per-request
 * instance lifecycle, linked against the host's own objects (everything in
 * host/ and its folders except main.c and server.c) and -rdynamic, so the
 * module .so resolves its imports to the real bindings.
 *
 * usage: instantiate --so MODULE.so --state DIR [--manifest FILE] [--label L]
 *                    [--iters N] [--invoke-iters N] [--post-iters N]
 *                    [--only LIST]     LIST: comma-separated case names
 *
 * Cases (each timed per iteration with CLOCK_MONOTONIC; sorted for median/p99):
 *   instantiate       instance buffer zeroed, then inside host_rt_run (with a
 *                     deadline, as host_invoke arms it): desc->instantiate +
 *                     desc->initialize + desc->free
 *   instantiate_nodl  the same with deadline 0 (no timer_settime): isolates
 *                     the deadline timer's cost
 *   phases            one loop of `instantiate`, each phase timed on its own
 *   get_count         host_invoke GET /api/waitlist/{product_id}/count
 *   post_join         host_invoke POST /api/waitlist (JSON body → rate limit
 *                     + SHA-256, JSON parse + validation, SQL insert); a
 *                     unique email per request
 *   syscalls          the kernel calls the lifecycle makes, alone
 *   verify            not a timing: checks that a fresh instance's memory is
 *                     byte-identical to the first one ever made, and grown
 *                     pages are zero, after requests dirtied the pool
 *
 * Output: one line per result,
 *   RESULT <label> <case> n=<N> median_us=… p99_us=… mean_us=… min_us=… minflt=…
 * where minflt is minor page faults per iteration on this thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "rt/rt.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_minflt;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *label = "default";

/* Sorts `ns` in place and prints one RESULT line. */
static void report(const char *name, uint64_t *ns, size_t n, long faults)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)ns[i];
    double median = n % 2 ? (double)ns[n / 2] : ((double)ns[n / 2 - 1] + (double)ns[n / 2]) / 2;
    size_t p99i = (size_t)((n * 99 + 99) / 100); /* ceil(0.99 n) */
    if (p99i > 0)
        p99i--;
    printf("RESULT %s %s n=%zu median_us=%.3f p99_us=%.3f mean_us=%.3f min_us=%.3f minflt=%.2f\n",
           label, name, n, median / 1e3, (double)ns[p99i] / 1e3, sum / (double)n / 1e3,
           (double)ns[0] / 1e3, (double)faults / (double)n);
    fflush(stdout);
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "instantiate: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* --- (a) instantiate + teardown ------------------------------------------- */

struct inst_arg {
    const struct host_module_desc *d;
    void *inst;
    struct host_call *call;
    uint64_t t[4]; /* phase stamps, used by the `phases` case only */
};

static void inst_run(void *p)
{
    struct inst_arg *a = p;
    a->d->instantiate(a->inst, a->call);
    a->call->mem = a->d->memory(a->inst);
    a->d->initialize(a->inst);
    a->d->free(a->inst);
}

static void inst_run_stamped(void *p)
{
    struct inst_arg *a = p;
    a->t[0] = now_ns();
    a->d->instantiate(a->inst, a->call);
    a->call->mem = a->d->memory(a->inst);
    a->t[1] = now_ns();
    a->d->initialize(a->inst);
    a->t[2] = now_ns();
    a->d->free(a->inst);
    a->t[3] = now_ns();
}

static void bench_instantiate(struct host_function *fn, void *inst, size_t iters, size_t warm,
                              int with_deadline)
{
    const struct host_module_desc *d = fn->desc;
    struct host_call call = {0};
    call.fn = fn;
    call.instance = inst;
    struct inst_arg a = {d, inst, &call, {0}};
    uint64_t *ns = malloc(iters * sizeof *ns);
    if (!ns)
        die("%s", "out of memory");
    long f0 = 0;
    for (size_t i = 0; i < warm + iters; i++) {
        if (i == warm)
            f0 = minflt();
        uint64_t t0 = now_ns();
        memset(inst, 0, d->instance_size);
        uint64_t dl = with_deadline ? t0 + (uint64_t)fn->timeout_ms * 1000000ull : 0;
        call.deadline_ns = dl;
        int trap = host_rt_run(inst_run, &a, dl, fn->memory_mb * 16);
        uint64_t t1 = now_ns();
        if (trap != HOST_TRAP_NONE)
            die("instantiate trapped: %s", host_rt_trap_name(trap));
        if (i >= warm)
            ns[i - warm] = t1 - t0;
    }
    report(with_deadline ? "instantiate" : "instantiate_nodl", ns, iters, minflt() - f0);
    free(ns);
}

/* The same loop with every phase stamped: where one iteration's time goes. */
static void bench_phases(struct host_function *fn, void *inst, size_t iters, size_t warm)
{
    const struct host_module_desc *d = fn->desc;
    struct host_call call = {0};
    call.fn = fn;
    call.instance = inst;
    struct inst_arg a = {d, inst, &call, {0}};
    enum { ZERO, ENTER, INSTANTIATE, INITIALIZE, FREE, LEAVE, NPH };
    static const char *names[NPH] = {"phase_memset",     "phase_run_enter", "phase_instantiate",
                                     "phase_initialize", "phase_free",      "phase_run_leave"};
    uint64_t *ns[NPH];
    for (int p = 0; p < NPH; p++)
        if (!(ns[p] = malloc(iters * sizeof *ns[p])))
            die("%s", "out of memory");
    for (size_t i = 0; i < warm + iters; i++) {
        uint64_t t0 = now_ns();
        memset(inst, 0, d->instance_size);
        uint64_t t1 = now_ns();
        uint64_t dl = t1 + (uint64_t)fn->timeout_ms * 1000000ull;
        call.deadline_ns = dl;
        int trap = host_rt_run(inst_run_stamped, &a, dl, fn->memory_mb * 16);
        uint64_t t2 = now_ns();
        if (trap != HOST_TRAP_NONE)
            die("instantiate trapped: %s", host_rt_trap_name(trap));
        if (i < warm)
            continue;
        size_t k = i - warm;
        ns[ZERO][k] = t1 - t0;
        ns[ENTER][k] = a.t[0] - t1; /* sigsetjmp, deadline check, timer_settime */
        ns[INSTANTIATE][k] = a.t[1] - a.t[0];
        ns[INITIALIZE][k] = a.t[2] - a.t[1];
        ns[FREE][k] = a.t[3] - a.t[2];
        ns[LEAVE][k] = t2 - a.t[3]; /* timer_settime(disarm) */
    }
    for (int p = 0; p < NPH; p++) {
        report(names[p], ns[p], iters, 0);
        free(ns[p]);
    }
}

/* The lifecycle's kernel calls on their own, on a private mapping shaped like
 * rt.c's reservation (so the numbers are comparable, not rt.c's state). */
static void bench_syscalls(size_t iters)
{
    uint64_t *ns = malloc(iters * sizeof *ns);
    if (!ns)
        die("%s", "out of memory");
    size_t len = 5 * 65536; /* waitlist's initial memory: 5 wasm pages */
    uint8_t *m =
        mmap(NULL, 1ull << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED || mprotect(m, len, PROT_READ | PROT_WRITE) != 0)
        die("mmap: %s", strerror(errno));

    /* timer_settime arm + disarm, as host_rt_run does per run */
    timer_t t;
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_NONE;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0)
        die("timer_create: %s", strerror(errno));
    for (size_t i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        struct itimerspec its = {0};
        uint64_t dl = t0 + 5000000000ull;
        its.it_value.tv_sec = (time_t)(dl / 1000000000ull);
        its.it_value.tv_nsec = (long)(dl % 1000000000ull);
        timer_settime(t, TIMER_ABSTIME, &its, NULL);
        its.it_value.tv_sec = 0;
        its.it_value.tv_nsec = 0;
        timer_settime(t, TIMER_ABSTIME, &its, NULL);
        ns[i] = now_ns() - t0;
    }
    timer_delete(t);
    report("sys_timer_arm_disarm", ns, iters, 0);

    /* madvise(DONTNEED) over 5 pages with N 4 KiB pages touched, then the
     * N zero-fill faults of touching them again: what free + the next
     * instantiate pay */
    static const int touched[] = {0, 2, 4, 8};
    for (size_t k = 0; k < sizeof touched / sizeof touched[0]; k++) {
        long f0 = minflt();
        for (size_t i = 0; i < iters; i++) {
            uint64_t t0 = now_ns();
            for (int p = 0; p < touched[k]; p++)
                m[262144 + (size_t)p * 4096] = 1;
            madvise(m, len, MADV_DONTNEED);
            ns[i] = now_ns() - t0;
        }
        char name[64];
        snprintf(name, sizeof name, "sys_touch%d_madvise_dontneed", touched[k]);
        report(name, ns, iters, minflt() - f0);
    }

    /* mprotect RW→NONE→RW of one 64 KiB page (a grown memory shrinking back) */
    for (size_t i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        mprotect(m + len, 65536, PROT_READ | PROT_WRITE);
        mprotect(m + len, 65536, PROT_NONE);
        ns[i] = now_ns() - t0;
    }
    report("sys_mprotect_pair", ns, iters, 0);

    /* the same with the 64 KiB resident (touched once, never released): what
     * a grow + shrink costs when pages are kept across instances */
    mprotect(m + len, 65536, PROT_READ | PROT_WRITE);
    memset(m + len, 1, 65536);
    mprotect(m + len, 65536, PROT_NONE);
    for (size_t i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        mprotect(m + len, 65536, PROT_READ | PROT_WRITE);
        mprotect(m + len, 65536, PROT_NONE);
        ns[i] = now_ns() - t0;
    }
    report("sys_mprotect_pair_resident", ns, iters, 0);

    /* mincore over 16 wasm pages: the proposed reset's one syscall */
    {
        static unsigned char vec[256];
        for (size_t i = 0; i < iters; i++) {
            uint64_t t0 = now_ns();
            mincore(m, 16 * 65536, vec);
            ns[i] = now_ns() - t0;
        }
        report("sys_mincore_1mib", ns, iters, 0);
    }

    for (size_t i = 0; i < iters; i++) {
        uint64_t t0 = now_ns();
        uint64_t t1 = now_ns();
        ns[i] = t1 - t0;
    }
    report("clock_gettime_pair", ns, iters, 0);
    munmap(m, 1ull << 30);
    free(ns);
}

/* --- (b), (c) full host_invoke ------------------------------------------- */

static void bench_invoke(const char *name, struct host_env *env, struct host_function *fn,
                         const char *method, const char *path, const char *body_fmt, size_t iters,
                         size_t warm, int expect_lo, int expect_hi)
{
    struct host_request req = {0};
    req.method = method;
    req.path = path;
    req.query = "";
    req.client_ip = "127.0.0.1";
    char **params = NULL;
    size_t np = 0;
    struct host_route *r = host_route_match(env->manifest, path, &params, &np);
    if (!r || r->fn != fn)
        die("no route to the module for %s", path);
    req.route = r->path;
    req.params = params;
    req.n_params = np;
    struct host_header hs[2] = {
        {"content-type", 12, "application/json", 16},
        {"user-agent", 10, "bastion-bench", 13},
    };
    req.headers = hs;
    req.n_headers = 2;
    char body[512];
    uint64_t *ns = malloc(iters * sizeof *ns);
    if (!ns)
        die("%s", "out of memory");
    long f0 = 0;
    for (size_t i = 0; i < warm + iters; i++) {
        if (i == warm)
            f0 = minflt();
        if (body_fmt) {
            int bl = snprintf(body, sizeof body, body_fmt, i, (int)getpid());
            req.body = (const uint8_t *)body;
            req.body_len = (size_t)bl;
        }
        host_request_id(req.request_id);
        struct host_response resp;
        uint64_t t0 = now_ns();
        req.arrival_ns = t0;
        host_invoke(env, fn, &req, &resp, NULL);
        uint64_t t1 = now_ns();
        if (resp.status < expect_lo || resp.status > expect_hi) {
            fprintf(stderr, "instantiate: %s: status %u (iteration %zu): %.*s\n", name, resp.status,
                    i, (int)resp.body_len, (const char *)resp.body);
            exit(1);
        }
        host_response_free(&resp);
        if (i >= warm)
            ns[i - warm] = t1 - t0;
    }
    report(name, ns, iters, minflt() - f0);
    free(ns);
    host_params_free(params, np);
}

/* --- correctness of the memory reset ---------------------------------------- */

struct verify_arg {
    const struct host_module_desc *d;
    void *inst;
    struct host_call *call;
    uint8_t *snap; /* NULL: take the snapshot */
    size_t snap_len;
    int bad;
};

static void verify_run(void *p)
{
    struct verify_arg *a = p;
    a->d->instantiate(a->inst, a->call);
    wasm_rt_memory_t *mem = a->d->memory(a->inst);
    a->d->initialize(a->inst);
    if (!a->snap) {
        a->snap_len = mem->size;
        a->snap = malloc(a->snap_len);
        memcpy(a->snap, mem->data, a->snap_len);
    } else if (mem->size != a->snap_len || memcmp(mem->data, a->snap, a->snap_len) != 0) {
        a->bad = 1;
    }
    uint32_t old = wasm_rt_grow_memory(mem, 8);
    if (old == UINT32_MAX) {
        a->bad = 2;
    } else {
        for (size_t i = (size_t)old * 65536; i < mem->size; i++)
            if (mem->data[i]) {
                a->bad = 3;
                break;
            }
        /* dirty the grown pages too, for the next check */
        memset(mem->data + (size_t)old * 65536, 0xa5, (size_t)8 * 65536);
    }
    a->d->free(a->inst);
}

static int verify(struct host_env *env, struct host_function *fn, void *inst, size_t rounds)
{
    struct host_call call = {0};
    call.fn = fn;
    call.instance = inst;
    struct verify_arg a = {fn->desc, inst, &call, NULL, 0, 0};
    struct host_request req = {0};
    req.method = "GET";
    req.path = "/api/waitlist/bench-product/count";
    req.query = "";
    req.client_ip = "127.0.0.1";
    char **params = NULL;
    size_t np = 0;
    struct host_route *r = host_route_match(env->manifest, req.path, &params, &np);
    if (!r)
        die("no route for %s", req.path);
    req.route = r->path;
    req.params = params;
    req.n_params = np;
    for (size_t i = 0; i <= rounds; i++) {
        memset(inst, 0, fn->desc->instance_size);
        int trap = host_rt_run(verify_run, &a, 0, fn->memory_mb * 16);
        if (trap != HOST_TRAP_NONE || a.bad) {
            printf("VERIFY %s FAIL round=%zu trap=%s reason=%d\n", label, i,
                   host_rt_trap_name(trap), a.bad);
            return 1;
        }
        struct host_response resp;
        req.arrival_ns = now_ns();
        host_invoke(env, fn, &req, &resp, NULL);
        host_response_free(&resp);
    }
    printf("VERIFY %s ok rounds=%zu\n", label, rounds);
    free(a.snap);
    host_params_free(params, np);
    return 0;
}

/* --- main ------------------------------------------------------------------ */

static int wants(const char *only, const char *name)
{
    if (!only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *so = NULL, *manifest_path = "build/manifest.json", *state = NULL, *only = NULL;
    size_t iters = 100000, invoke_iters = 20000, post_iters = 20000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("%s needs a value", a);
        if (strcmp(a, "--so") == 0)
            so = v;
        else if (strcmp(a, "--manifest") == 0)
            manifest_path = v;
        else if (strcmp(a, "--state") == 0)
            state = v;
        else if (strcmp(a, "--label") == 0)
            label = v;
        else if (strcmp(a, "--only") == 0)
            only = v;
        else if (strcmp(a, "--iters") == 0)
            iters = strtoull(v, NULL, 10);
        else if (strcmp(a, "--invoke-iters") == 0)
            invoke_iters = strtoull(v, NULL, 10);
        else if (strcmp(a, "--post-iters") == 0)
            post_iters = strtoull(v, NULL, 10);
        else
            die("unknown argument '%s'", a);
        i++;
    }
    if (!so)
        die("%s", "--so MODULE.so is required");
    if (!iters || !invoke_iters || !post_iters)
        die("%s", "iteration counts must be > 0");

    host_rt_global_init();
    host_log_init(stderr);

    /* (a) needs only the module: a bare host_function, as the brief's host
     * would fill it from the manifest (waitlist: 32 MiB, 5000 ms). */
    struct host_function fn = {0};
    fn.name = "waitlist";
    fn.so_path = (char *)so;
    fn.timeout_ms = 5000;
    fn.memory_mb = 32;
    fn.body_limit = 4096;
    if (host_module_load(&fn, stderr) != 0)
        return 1;
    const struct host_module_desc *d = fn.desc;
    void *inst = aligned_alloc(64, (d->instance_size + 63) & ~(size_t)63);
    if (!inst)
        die("%s", "out of memory");
    printf("INFO %s module=%s instance_size=%zu\n", label, so, d->instance_size);

    size_t warm = iters / 10 < 10000 ? iters / 10 : 10000;
    if (wants(only, "instantiate"))
        bench_instantiate(&fn, inst, iters, warm, 1);
    if (wants(only, "instantiate_nodl"))
        bench_instantiate(&fn, inst, iters, warm, 0);
    if (wants(only, "phases"))
        bench_phases(&fn, inst, iters, warm);
    if (wants(only, "syscalls"))
        bench_syscalls(iters);

    int need_env = wants(only, "get_count") || wants(only, "post_join") || wants(only, "verify");
    if (need_env) {
        if (!state)
            die("%s", "--state DIR is required for get_count/post_join");
        /* The join limit is per client IP per minute; lift it so every
         * request takes the full join path instead of a 429. */
        setenv("BASTION_VAR_waitlist_joins_per_minute", "1000000", 1);
        struct host_manifest m;
        if (host_manifest_load(&m, manifest_path, NULL, stderr) != 0)
            return 1;
        if (mkdir(state, 0700) != 0 && errno != EEXIST)
            die("state dir: %s", strerror(errno));
        if (host_vars_resolve(&m, NULL, state, 1, stderr) != 0)
            return 1;
        /* no runtime config: every store on SQLite in the state directory */
        struct host_state st;
        if (host_state_open(&st, state, NULL, &m, stderr) != 0)
            die("cannot open the stores in %s", state);
        struct host_function *wf = host_manifest_fn(&m, "waitlist");
        if (!wf)
            die("no function 'waitlist' in %s", manifest_path);
        for (size_t i = 0; i < m.n_fns; i++)
            if (host_migrate(&st, &m.fns[i], 0, stderr) != 0)
                die("migrate failed in %s", state);
        /* Run the module under test, already loaded above. */
        wf->desc = fn.desc;
        wf->dl = fn.dl;
        struct host_env env = {&m, &st};
        size_t iw = invoke_iters / 10 < 1000 ? invoke_iters / 10 : 1000;
        size_t pw = post_iters / 10 < 1000 ? post_iters / 10 : 1000;
        if (wants(only, "verify") && verify(&env, wf, inst, 200) != 0)
            return 1;
        if (wants(only, "get_count"))
            bench_invoke("get_count", &env, wf, "GET", "/api/waitlist/bench-product/count", NULL,
                         invoke_iters, iw, 200, 200);
        if (wants(only, "post_join"))
            bench_invoke("post_join", &env, wf, "POST", "/api/waitlist",
                         "{\"email\":\"bench%zu.%d@example.com\",\"product_id\":\"bench-product\"}",
                         post_iters, pw, 201, 201);
        host_thread_done();
        host_state_close(&st);
    }
    free(inst);
    return 0;
}
