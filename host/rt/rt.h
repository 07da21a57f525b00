/*
 * The host's side of its wasm2c runtime: run guest code on this thread with a
 * deadline and a memory cap, and get back a trap code instead of a crash.
 *
 * Threading: every function here acts on the calling thread's state only.
 * host_rt_global_init() MUST be called once before any other thread starts.
 */
#ifndef HOST_RT_H
#define HOST_RT_H

#include <stddef.h>
#include <stdint.h>

/* Trap codes: 0 = none, 1..8 = wasm_rt_trap_t, then the host's own. */
enum {
    HOST_TRAP_NONE = 0,
    HOST_TRAP_DEADLINE = 100, /* the request deadline passed while guest code ran */
    HOST_TRAP_ABI,            /* the guest handed the host a bad pointer, length or string */
    HOST_TRAP_EXIT,           /* the guest called proc_exit */
    HOST_TRAP_MEMORY_LIMIT,   /* the module's initial memory exceeds the cap */
};

const char *host_rt_trap_name(int code);

/* Installs the SIGSEGV/SIGBUS and deadline signal handlers. */
void host_rt_global_init(void);

/*
 * Runs fn(arg) on this thread with the deadline armed. fn starts in host
 * mode (instantiation is host work) and enters guest code with
 * host_rt_enter_guest. Any trap raised by guest
 * code or by a binding (host_rt_trap) unwinds back here.
 *   deadline_ns      CLOCK_MONOTONIC time after which guest code is unwound
 *                    (0 = no deadline)
 *   max_pages        cap on every linear memory allocated during the run
 * Returns HOST_TRAP_NONE or the trap code. Not re-entrant.
 */
int host_rt_run(void (*fn)(void *), void *arg, uint64_t deadline_ns, uint32_t max_pages);

/* Unwinds the current run with `code`. Only valid inside host_rt_run. */
_Noreturn void host_rt_trap(int code);

/*
 * Brackets a binding call: while in the host, the deadline signal only marks
 * the run as expired; host_rt_leave_host() then traps with HOST_TRAP_DEADLINE.
 */
void host_rt_enter_host(void);
void host_rt_leave_host(void);

/*
 * The prologue of every import (generated per module by host/tools/glue.py,
 * so no binding can forget it): leaves guest mode before the binding's
 * first libc call, and traps with "call stack exhausted" when less than
 * HOST_STACK_RESERVE bytes of native stack are left for the binding.
 */
#define HOST_STACK_RESERVE (256u << 10)
void host_rt_enter_import(void);

/* Calls back into the guest from inside a binding (e.g. cabi_realloc). */
void host_rt_enter_guest(void);

/* Releases this thread's deadline timer (call when a worker thread ends). */
void host_rt_thread_done(void);

/* True when this thread's run has passed its deadline. */
int host_rt_expired(void);

uint64_t host_now_ns(void);  /* CLOCK_MONOTONIC */
uint64_t host_wall_ms(void); /* CLOCK_REALTIME, Unix epoch ms */
/*
 * The wall clock modules see (WASI's realtime clock, a request's deadline_ms):
 * host_wall_ms() plus BASTION_TEST_CLOCK_OFFSET_MS from the host's own
 * environment, read once by host_rt_global_init. Tests move a job's "now"
 * forward with it (e.g. a campaign without progress for 15 min); no request
 * can set it, and the host logs a warning at start when it is set. The
 * stores' TTLs keep the real clock.
 */
int64_t host_guest_clock_offset_ms(void);
uint64_t host_guest_wall_ms(void);
uint64_t host_guest_wall_ns(void);
/*
 * Reproducible runs for the conformance tests (tests/conformance), from the
 * host's own environment only, read once at start and logged as a warning:
 * BASTION_TEST_CLOCK_MS stops the modules' wall clock at that Unix time (the
 * offset above still applies), and BASTION_TEST_RANDOM_SEED=S replaces WASI
 * random_get with a fixed stream: the k-th instance this process creates
 * (k from 1) reads the bytes of splitmix64 seeded with S + k × 0xD1B54A32D192ED03,
 * each output word low byte first. tests/wasmtime/host.py makes the same.
 */
struct host_rng {
    uint64_t state, word;
    unsigned left;
    int on;
};
void host_rng_begin(struct host_rng *r);
/* Fills p from the stream and returns 1, or returns 0 when no seed is set. */
int host_rng_fill(struct host_rng *r, uint8_t *p, size_t n);

#endif
