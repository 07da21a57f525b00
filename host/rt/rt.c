/*
 * Bastion's wasm2c runtime. See wasm-rt.h for why it exists and rt.h for the
 * host-facing API.
 *
 * Memory: each thread owns one 8 GiB PROT_NONE reservation (4 GiB of
 * addressable space plus 4 GiB so that any 32-bit address plus a 32-bit offset
 * lands in it). An instance's memory is [0, size) made read-write. Freeing
 * zeroes it with MADV_DONTNEED, which gives the pages back, so RSS stays flat
 * and the next instance starts from zero pages. Nothing is ever unmapped.
 */
#include "rt.h"
#include "wasm-rt.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES      65536ull
#define RESERVE_BYTES   (8ull << 30)
#define DEADLINE_SIGNAL SIGUSR2

_Thread_local uint32_t wasm_rt_call_stack_depth;

struct exec {
    sigjmp_buf jmp;
    volatile sig_atomic_t running;  /* inside host_rt_run */
    volatile sig_atomic_t in_guest; /* guest code on the stack, not a binding */
    volatile sig_atomic_t expired;
    uint32_t max_pages;
    uint8_t *reserve; /* the pooled reservation, or NULL before first use */
    size_t rw_bytes;  /* bytes of the reservation currently read-write */
    size_t hw_bytes;  /* >= rw_bytes; no page at or past it is resident */
    int reserve_busy;
    int timer_ok;
    timer_t timer;
    uint64_t deadline_ns;       /* this run's deadline, 0 = none */
    volatile uint64_t armed_ns; /* what the timer is armed for, 0 = disarmed */
    uint8_t *stack_lo;          /* lowest usable address of this thread's stack */
    int stack_ok;               /* stack_lo known and the alternate signal stack set */
    void *altstack;
    stack_t prev_altstack; /* restored when the thread is done */
};

static _Thread_local struct exec tls;

const char *host_rt_trap_name(int code)
{
    switch (code) {
    case HOST_TRAP_NONE: return "none";
    case WASM_RT_TRAP_OOB: return "out-of-bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "invalid call_indirect";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
    case HOST_TRAP_DEADLINE: return "deadline exceeded";
    case HOST_TRAP_ABI: return "invalid canonical ABI value from guest";
    case HOST_TRAP_EXIT: return "proc_exit called";
    case HOST_TRAP_MEMORY_LIMIT: return "memory limit exceeded";
    default: return "unknown trap";
    }
}

uint64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t host_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static int64_t guest_clock_offset_ms; /* set once, before any other thread */
static uint64_t guest_clock_fixed_ms; /* 0: the real clock */
static uint64_t test_random_seed;
static int test_random_on;
static atomic_uint_fast64_t test_random_instances;

int64_t host_guest_clock_offset_ms(void)
{
    return guest_clock_offset_ms;
}

uint64_t host_guest_wall_ns(void)
{
    uint64_t ns;
    if (guest_clock_fixed_ms) {
        ns = guest_clock_fixed_ms * 1000000ull;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    return (uint64_t)((int64_t)ns + guest_clock_offset_ms * 1000000);
}

uint64_t host_guest_wall_ms(void)
{
    return host_guest_wall_ns() / 1000000ull;
}

/* A test variable's integer in [lo, hi]: 1 (and a warning line saying `what`),
 * 0 when unset, -1 (logged) when it is not such an integer. */
static int read_test_int(const char *name, const char *what, long long lo, long long hi,
                         long long *out)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n > hi || n < lo) {
        fprintf(stderr, "%s=%s is not an integer in [%lld, %lld]; ignored\n", name, v, lo, hi);
        return -1;
    }
    *out = n;
    fprintf(stderr,
            "{\"level\":\"warn\",\"msg\":\"%s is set: the modules' %s (tests only)\","
            "\"value\":\"%lld\"}\n",
            name, what, n);
    return 1;
}

/* BASTION_TEST_CLOCK_OFFSET_MS: at most ±10 years; BASTION_TEST_CLOCK_MS: a
 * Unix time in ms in 2000–2100; BASTION_TEST_RANDOM_SEED: a non-negative
 * integer. */
static void read_test_settings(void)
{
    long long n;
    if (read_test_int("BASTION_TEST_CLOCK_OFFSET_MS", "clock is moved", -315576000000LL,
                      315576000000LL, &n) > 0)
        guest_clock_offset_ms = n;
    if (read_test_int("BASTION_TEST_CLOCK_MS", "clock stands still", 946684800000LL,
                      4102444800000LL, &n) > 0)
        guest_clock_fixed_ms = (uint64_t)n;
    if (read_test_int("BASTION_TEST_RANDOM_SEED", "randomness is a fixed stream", 0, LLONG_MAX,
                      &n) > 0) {
        test_random_seed = (uint64_t)n;
        test_random_on = 1;
    }
}

/* splitmix64 (Steele, Lea, Flood 2014): one 64-bit step of the stream. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void host_rng_begin(struct host_rng *r)
{
    memset(r, 0, sizeof *r);
    if (!test_random_on)
        return;
    uint64_t k = atomic_fetch_add(&test_random_instances, 1) + 1;
    r->on = 1;
    r->state = test_random_seed + k * 0xD1B54A32D192ED03ull;
}

int host_rng_fill(struct host_rng *r, uint8_t *p, size_t n)
{
    if (!r->on)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (r->left == 0) {
            r->word = splitmix64(&r->state);
            r->left = 8;
        }
        p[i] = (uint8_t)r->word; /* little-endian: low byte first */
        r->word >>= 8;
        r->left--;
    }
    return 1;
}

/* --- signals ----------------------------------------------------------- */

static struct sigaction prev_segv, prev_bus;

/* A fault this far below the lowest usable stack address or this far into
 * the stack still counts as running off its end (the guard gap of the main
 * thread is up to 1 MiB; a big frame can skip past the first guard page). */
#define STACK_FAULT_BELOW (2u << 20)
#define STACK_FAULT_ABOVE (64u << 10)

/* Runs on the alternate signal stack (SA_ONSTACK), so it still works when
 * the fault is the thread's own stack running out. */
static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    uint8_t *addr = info->si_addr;
    if (tls.running && tls.reserve && addr >= tls.reserve && addr < tls.reserve + RESERVE_BYTES)
        siglongjmp(tls.jmp, WASM_RT_TRAP_OOB);
    /* Guest code ran off the native stack. Only guest code may be unwound:
     * host code there could hold a lock, and host_rt_enter_import keeps a
     * reserve so that bindings never get this deep. */
    if (tls.running && tls.in_guest && tls.stack_ok && addr + STACK_FAULT_BELOW >= tls.stack_lo &&
        addr < tls.stack_lo + STACK_FAULT_ABOVE)
        siglongjmp(tls.jmp, WASM_RT_TRAP_EXHAUSTION);
    /* Not a guest access: a host bug. Restore the previous disposition and
     * return, so the fault repeats and the process dies with a core. */
    sigaction(sig, sig == SIGSEGV ? &prev_segv : &prev_bus, NULL);
    (void)uctx;
}

static void arm_timer(uint64_t deadline_ns);

static void on_deadline(int sig)
{
    (void)sig;
    tls.armed_ns = 0; /* the one-shot timer has fired */
    if (!tls.running || !tls.deadline_ns)
        return; /* left armed by an earlier run: nothing to enforce */
    if (host_now_ns() < tls.deadline_ns) {
        /* armed for an earlier run's (earlier) deadline: move it to ours */
        int saved = errno;
        arm_timer(tls.deadline_ns);
        errno = saved;
        return;
    }
    tls.expired = 1;
    if (tls.in_guest)
        siglongjmp(tls.jmp, HOST_TRAP_DEADLINE);
}

/* When swap is active, a page of an earlier instance may sit in swap, which
 * mincore reports as not resident; reset_memory then also drops the
 * non-resident runs (MADV_DONTNEED discards swap entries too), so old bytes
 * can never fault back in. */
static int swap_possible = 1;

void host_rt_global_init(void)
{
    read_test_settings();
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    /* SA_NODEFER: siglongjmp out of the handler leaves the mask unchanged, so
     * sigsetjmp need not save it (that would cost a syscall per request). */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);

    struct sigaction sd = {0};
    sd.sa_handler = on_deadline;
    sd.sa_flags = SA_NODEFER | SA_RESTART;
    sigemptyset(&sd.sa_mask);
    sigaction(DEADLINE_SIGNAL, &sd, NULL);

    /* mincore reports a swapped-out page as not resident; see reset_memory. */
    FILE *f = fopen("/proc/swaps", "r");
    if (f) {
        char line[256];
        int lines = 0;
        while (fgets(line, sizeof line, f))
            lines++;
        fclose(f);
        swap_possible = lines > 1; /* the first line is the header */
    } else {
        swap_possible = 1; /* cannot tell: assume the worst */
    }
}

static void arm_timer(uint64_t deadline_ns)
{
    if (!tls.timer_ok) {
        struct sigevent sev = {0};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = DEADLINE_SIGNAL;
        sev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &sev, &tls.timer) != 0)
            return; /* without a timer only host calls enforce the deadline */
        tls.timer_ok = 1;
    }
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ull);
    if (deadline_ns == 0)
        its.it_value.tv_nsec = 0; /* disarm */
    tls.armed_ns = deadline_ns;
    timer_settime(tls.timer, TIMER_ABSTIME, &its, NULL);
}

/* --- runs -------------------------------------------------------------- */

#define ALTSTACK_BYTES (64u << 10)

/* Learns where this thread's stack ends and gives the thread an alternate
 * signal stack, so that a guest running off the stack traps instead of
 * killing the process (DESIGN "Execution model and containment"). */
static void thread_init(void)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int ok = pthread_attr_getstack(&attr, &lo, &size) == 0;
    pthread_attr_destroy(&attr);
    if (!ok)
        return;
    stack_t ss = {0};
    ss.ss_sp = malloc(ALTSTACK_BYTES);
    ss.ss_size = ALTSTACK_BYTES;
    if (!ss.ss_sp || sigaltstack(&ss, &tls.prev_altstack) != 0) {
        free(ss.ss_sp);
        return;
    }
    tls.altstack = ss.ss_sp;
    tls.stack_lo = lo;
    tls.stack_ok = 1;
}

/* see rt.h */
void host_rt_enter_import(void)
{
    tls.in_guest = 0;
    /* The guest may have used the stack down to just above its end; a
     * binding then calls into libc, curl or SQLite, which must never fault
     * there (their locks would stay held). Refuse before any of that. */
    uint8_t *sp = __builtin_frame_address(0);
    if (tls.stack_ok && sp < tls.stack_lo + HOST_STACK_RESERVE)
        host_rt_trap(WASM_RT_TRAP_EXHAUSTION);
}

int host_rt_run(void (*fn)(void *), void *arg, uint64_t deadline_ns, uint32_t max_pages)
{
    if (!tls.stack_ok && !tls.altstack)
        thread_init();
    tls.max_pages = max_pages;
    tls.expired = 0;
    tls.deadline_ns = deadline_ns;
    wasm_rt_call_stack_depth = 0;
    int code = sigsetjmp(tls.jmp, 0);
    if (code == 0) {
        tls.running = 1;
        tls.in_guest = 0; /* fn enters guest code itself (host_rt_enter_guest) */
        if (deadline_ns) {
            if (host_now_ns() >= deadline_ns)
                host_rt_trap(HOST_TRAP_DEADLINE);
            /* The timer is left armed between runs. A timer armed for an
             * earlier deadline is kept: when it fires, on_deadline moves it
             * to this run's deadline. So a busy thread pays about one
             * timer_settime per timeout period, not two per run. */
            uint64_t armed = tls.armed_ns;
            if (armed == 0 || armed > deadline_ns)
                arm_timer(deadline_ns);
        }
        fn(arg);
    }
    tls.in_guest = 0;
    tls.running = 0;
    return code;
}

_Noreturn void host_rt_trap(int code)
{
    siglongjmp(tls.jmp, code);
}

void wasm_rt_trap(wasm_rt_trap_t code)
{
    host_rt_trap((int)code);
}

void host_rt_enter_host(void)
{
    tls.in_guest = 0;
}

void host_rt_enter_guest(void)
{
    tls.in_guest = 1;
    if (tls.expired)
        host_rt_trap(HOST_TRAP_DEADLINE);
}

void host_rt_leave_host(void)
{
    host_rt_enter_guest();
}

void host_rt_thread_done(void)
{
    if (tls.altstack) {
        sigaltstack(&tls.prev_altstack, NULL); /* e.g. the sanitizer's own */
        free(tls.altstack);
        tls.altstack = NULL;
        tls.stack_ok = 0;
    }
    if (tls.timer_ok) {
        timer_delete(tls.timer);
        tls.timer_ok = 0;
        tls.armed_ns = 0;
    }
}

int host_rt_expired(void)
{
    return tls.expired;
}

/* --- wasm-rt.h --------------------------------------------------------- */

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void)
{
    return true;
}
void wasm_rt_free(void) {}

const char *wasm_rt_strerror(wasm_rt_trap_t trap)
{
    return host_rt_trap_name((int)trap);
}

/* Function types are interned process-wide: equal signatures get equal ids,
 * which call_indirect compares. Registration happens at module load only. */
struct func_type {
    uint32_t params, results;
    wasm_rt_type_t *types;
};
static struct func_type *func_types;
static uint32_t func_type_count;
static pthread_mutex_t func_type_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...)
{
    uint32_t n = params + results;
    wasm_rt_type_t *types = calloc(n ? n : 1, sizeof *types);
    if (!types)
        abort();
    va_list ap;
    va_start(ap, results);
    for (uint32_t i = 0; i < n; i++)
        types[i] = (wasm_rt_type_t)va_arg(ap, int);
    va_end(ap);

    pthread_mutex_lock(&func_type_lock);
    for (uint32_t i = 0; i < func_type_count; i++) {
        struct func_type *t = &func_types[i];
        if (t->params == params && t->results == results &&
            memcmp(t->types, types, n * sizeof *types) == 0) {
            pthread_mutex_unlock(&func_type_lock);
            free(types);
            return i;
        }
    }
    struct func_type *grown = realloc(func_types, (func_type_count + 1) * sizeof *grown);
    if (!grown)
        abort();
    func_types = grown;
    func_types[func_type_count] = (struct func_type){params, results, types};
    uint32_t id = func_type_count++;
    pthread_mutex_unlock(&func_type_lock);
    return id;
}

/* Bastion's modules are built without the exception-handling proposal. */
uint32_t wasm_rt_register_tag(uint32_t size)
{
    (void)size;
    return 0;
}
void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void *values)
{
    (void)tag;
    (void)size;
    (void)values;
}
void wasm_rt_throw(void)
{
    wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}
WASM_RT_UNWIND_TARGET *wasm_rt_get_unwind_target(void)
{
    return &tls.jmp;
}
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET *target)
{
    (void)target;
}
uint32_t wasm_rt_exception_tag(void)
{
    return 0;
}
uint32_t wasm_rt_exception_size(void)
{
    return 0;
}
void *wasm_rt_exception(void)
{
    return NULL;
}

/* Makes exactly [0, bytes) of the reservation read-write. */
static int set_rw(uint8_t *base, size_t *rw, size_t bytes)
{
    if (bytes > *rw) {
        if (mprotect(base + *rw, bytes - *rw, PROT_READ | PROT_WRITE) != 0)
            return -1;
    } else if (bytes < *rw) {
        if (mprotect(base + bytes, *rw - bytes, PROT_NONE) != 0)
            return -1;
    }
    *rw = bytes;
    if (bytes > tls.hw_bytes)
        tls.hw_bytes = bytes;
    return 0;
}

static uint8_t *reserve(void)
{
    void *p =
        mmap(NULL, RESERVE_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint32_t initial, uint32_t max)
{
    if (tls.max_pages && max > tls.max_pages)
        max = tls.max_pages;
    if (max > 65535)
        max = 65535; /* mem->size is a u32: 4 GiB itself is not representable */
    if (initial > max)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    /* A module has at most one memory; a second one in the same run would
     * need its own reservation. Refuse rather than share. */
    if (tls.reserve_busy)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    if (!tls.reserve) {
        tls.reserve = reserve();
        if (!tls.reserve)
            host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
        tls.rw_bytes = 0;
    }
    size_t bytes = (size_t)initial * PAGE_BYTES;
    if (set_rw(tls.reserve, &tls.rw_bytes, bytes) != 0)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    tls.reserve_busy = 1;
    mem->data = tls.reserve;
    mem->pages = initial;
    mem->max_pages = max;
    mem->size = (uint32_t)bytes;
}

/* Guest code calls the two grow functions directly (memory.grow and
 * table.grow); they run as host code so the deadline never unwinds them
 * halfway through mprotect or realloc. */
static int host_section_begin(void)
{
    int was = tls.in_guest;
    tls.in_guest = 0;
    return was;
}

static void host_section_end(int was)
{
    tls.in_guest = was;
    if (was && tls.expired)
        host_rt_trap(HOST_TRAP_DEADLINE);
}

static uint32_t grow_memory(wasm_rt_memory_t *mem, uint32_t delta);

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint32_t delta)
{
    int was = host_section_begin();
    uint32_t old = grow_memory(mem, delta);
    host_section_end(was);
    return old;
}

static uint32_t grow_memory(wasm_rt_memory_t *mem, uint32_t delta)
{
    uint32_t old = mem->pages;
    if (delta == 0)
        return old;
    uint64_t pages = (uint64_t)old + delta;
    if (pages > mem->max_pages)
        return UINT32_MAX;
    size_t bytes = (size_t)pages * PAGE_BYTES;
    if (bytes > tls.rw_bytes && set_rw(mem->data, &tls.rw_bytes, bytes) != 0)
        return UINT32_MAX;
    mem->pages = (uint32_t)pages;
    mem->size = (uint32_t)bytes;
    return old;
}

/* Resident bytes a thread keeps (zeroed) across instances instead of handing
 * them back. Zeroing a few touched pages in place is far cheaper than
 * MADV_DONTNEED plus a zero-fill fault per page on the next instance. */
#define RECYCLE_MAX (1u << 20)

/* Zeroes the reservation. Pages nothing touched since the last MADV_DONTNEED
 * are not resident and read as zero; mincore finds the others, up to
 * hw_bytes (the largest memory since). Past RECYCLE_MAX resident bytes, the
 * rest is released with MADV_DONTNEED. Afterwards every resident page of the
 * reservation is zero and the resident set is at most RECYCLE_MAX.
 * Runs with the instance's memory still read-write: [0, rw_bytes). */
static void reset_memory(void)
{
    static _Thread_local unsigned char vec[4096];
    const size_t page = 4096; /* x86-64/arm64 base page; mincore's unit */
    size_t kept = 0, end = 0, hw = tls.hw_bytes;
    for (size_t off = 0; off < hw; off += sizeof vec * page) {
        size_t len = hw - off;
        if (len > sizeof vec * page)
            len = sizeof vec * page;
        size_t n = (len + page - 1) / page;
        if (mincore(tls.reserve + off, len, vec) != 0) {
            madvise(tls.reserve + off, hw - off, MADV_DONTNEED);
            tls.hw_bytes = off > tls.rw_bytes ? off : tls.rw_bytes;
            return;
        }
        for (size_t i = 0; i < n;) {
            if (!(vec[i] & 1)) {
                size_t j = i;
                while (j < n && !(vec[j] & 1))
                    j++;
                if (swap_possible)
                    madvise(tls.reserve + off + i * page, (j - i) * page, MADV_DONTNEED);
                i = j;
                continue;
            }
            size_t j = i;
            while (j < n && (vec[j] & 1))
                j++;
            size_t at = off + i * page, run = (j - i) * page;
            if (kept + run > RECYCLE_MAX) {
                madvise(tls.reserve + at, hw - at, MADV_DONTNEED);
                tls.hw_bytes = at > tls.rw_bytes ? at : tls.rw_bytes;
                return;
            }
            /* Pages past rw_bytes are PROT_NONE and were zeroed when an
             * earlier, larger memory was freed: count them, don't touch. */
            if (at < tls.rw_bytes)
                memset(tls.reserve + at, 0, at + run <= tls.rw_bytes ? run : tls.rw_bytes - at);
            kept += run;
            end = at + run;
            i = j;
        }
    }
    tls.hw_bytes = end > tls.rw_bytes ? end : tls.rw_bytes;
}

void wasm_rt_free_memory(wasm_rt_memory_t *mem)
{
    if (!mem->data)
        return;
    if (mem->data == tls.reserve) {
        /* Zero what this instance touched; keep the mapping. */
        reset_memory();
        tls.reserve_busy = 0;
    }
    mem->data = NULL;
    mem->size = 0;
    mem->pages = 0;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements,
                                    uint32_t max_elements)
{
    table->data = calloc(elements ? elements : 1, sizeof *table->data);
    if (!table->data)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    table->size = elements;
    table->max_size = max_elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table)
{
    free(table->data);
    table->data = NULL;
    table->size = 0;
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *table, uint32_t elements,
                                      uint32_t max_elements)
{
    table->data = calloc(elements ? elements : 1, sizeof *table->data);
    if (!table->data)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    table->size = elements;
    table->max_size = max_elements;
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t *table)
{
    free(table->data);
    table->data = NULL;
    table->size = 0;
}

static uint32_t grow_table(void **data, uint32_t *size, uint32_t max, uint32_t delta, size_t elem)
{
    uint32_t old = *size;
    uint64_t n = (uint64_t)old + delta;
    if (n > max)
        return UINT32_MAX;
    void *grown = realloc(*data, (size_t)n * elem);
    if (!grown && n)
        return UINT32_MAX;
    *data = grown;
    *size = (uint32_t)n;
    return old;
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                    wasm_rt_funcref_t init)
{
    int was = host_section_begin();
    uint32_t old = grow_table((void **)&table->data, &table->size, table->max_size, delta,
                              sizeof *table->data);
    if (old != UINT32_MAX)
        for (uint32_t i = old; i < table->size; i++)
            table->data[i] = init;
    host_section_end(was);
    return old;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *table, uint32_t delta,
                                      wasm_rt_externref_t init)
{
    int was = host_section_begin();
    uint32_t old = grow_table((void **)&table->data, &table->size, table->max_size, delta,
                              sizeof *table->data);
    if (old != UINT32_MAX)
        for (uint32_t i = old; i < table->size; i++)
            table->data[i] = init;
    host_section_end(was);
    return old;
}
