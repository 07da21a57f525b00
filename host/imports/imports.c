/*
 * The module imports, as a whole: host_bindings at the end is the one list of
 * what the host provides (bastion:edge/{kv,sql,http-out,config,log}@0.1.0,
 * one file each in this folder, and the WASI preview1 subset in wasi.c).
 * host_module_load (instance/module.c) refuses any other import and fills
 * each module's trampoline slots from it; tests/functions/test_modules.py
 * reads the same list. Each binding receives the request's struct host_call
 * as `c`.
 *
 * Every binding runs in host mode from its first statement: the module's
 * generated trampoline (host/tools/glue.py) calls host_import_enter before
 * it and host_import_done after it. So the deadline never unwinds a binding;
 * it takes effect when the binding returns (SAFE3).
 *
 * Discipline (so a trap can never leak a host resource): a binding first reads
 * and checks every guest argument, then calls the backend, which releases its
 * own resources before returning, and only then writes results back into the
 * guest, which may call cabi_realloc and so may trap. Host memory a binding
 * holds meanwhile is registered with host_call_own.
 *
 * Each parameter list is the import's flat canonical-ABI signature, and each
 * value read or written in guest memory is a type of instance/abi_layout.h,
 * moved whole (GUEST_LOAD/GUEST_STORE, instance/guest_memory.h): no binding
 * knows an offset.
 */
#include <string.h>

#include "imports/imports.h"
#include "rt/rt.h"

/* see rt.h: the prologue of every import */
static void host_import_enter(void)
{
    host_rt_enter_import();
}

/* The epilogue: frees what the call owned, then back to guest mode, which
 * traps when the deadline passed meanwhile. */
static void host_import_done(struct host_call *c)
{
    host_call_release(c);
    host_rt_leave_host();
}

uint32_t host_budget_ms(const struct host_call *c, uint32_t requested)
{
    if (!c->deadline_ns)
        return requested;
    uint64_t now = host_now_ns();
    if (now >= c->deadline_ns)
        return 0;
    uint64_t left = (c->deadline_ns - now) / 1000000ull;
    return left < requested ? (uint32_t)left : requested;
}

/* The `error` value for e, its string (if any) copied into the guest. The
 * host's kinds are the WIT cases, in order. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(HOST_E_TIMEOUT, ABI_ERROR_TIMEOUT) &&
                   SAME(HOST_E_UNAVAILABLE, ABI_ERROR_UNAVAILABLE) &&
                   SAME(HOST_E_CONFLICT, ABI_ERROR_CONFLICT) &&
                   SAME(HOST_E_INVALID, ABI_ERROR_INVALID) &&
                   SAME(HOST_E_DENIED, ABI_ERROR_DENIED) &&
                   SAME(HOST_E_INTERNAL, ABI_ERROR_INTERNAL) && SAME(HOST_E_GUARD, ABI_ERROR_GUARD),
               "host_err_kind is types.error's case order");

/* see imports.h */
abi_error host_import_error(struct host_call *c, const struct host_err *e)
{
    abi_error v = {.disc = (uint8_t)e->kind};
    if (e->kind == HOST_E_GUARD)
        v.u.statement = e->statement;
    else if (e->kind != HOST_E_TIMEOUT)
        v.u.text = guest_put_bytes(c, e->msg, strlen(e->msg));
    return v;
}

/* see imports.h: store names are checked against the manifest grant before
 * any backend call */
int host_import_begin(struct host_call *c, const char *name, char **list, size_t n,
                      const char *what, uint32_t timeout, uint32_t *budget, struct host_err *e)
{
    size_t i = 0;
    while (i < n && strcmp(list[i], name) != 0)
        i++;
    if (i == n)
        return host_fail(e, HOST_E_DENIED, "%s '%s' is not granted to function '%s'", what, name,
                         c->fn->name);
    *budget = host_budget_ms(c, timeout);
    return *budget ? 0 : host_fail(e, HOST_E_TIMEOUT, "budget exhausted");
}

/* A request's log output is capped at [server] guest_log_bytes (SAFE3): a
 * module must not fill the disk or hold the log sink. The cap counts what
 * reaches the sink, framing included: each line is charged what it wrote,
 * and admitted only while its worst case (every byte escaped as \u00XX, six
 * bytes, plus the framing) still fits. What does not fit is dropped and
 * counted; the access line reports the count. */
size_t host_import_log_fits(const struct host_call *c, size_t framing, size_t len)
{
    size_t cap = c->env->manifest->limits.guest_log_bytes;
    if (c->log_bytes + framing >= cap)
        return 0;
    size_t room = (cap - c->log_bytes - framing) / 6;
    return len < room ? len : room;
}

/* --- what the host provides ---------------------------------------------- */

#define BIND(module, name, fn) {module, name, (host_import_fn)(fn)}

/* see host.h: the one list of imports; nothing else is linked to a module */
const struct host_binding host_bindings[] = {
    BIND("bastion:edge/kv@0.1.0", "get", host_import_kv_get),
    BIND("bastion:edge/kv@0.1.0", "set", host_import_kv_set),
    BIND("bastion:edge/kv@0.1.0", "add", host_import_kv_add),
    BIND("bastion:edge/kv@0.1.0", "increment", host_import_kv_increment),
    BIND("bastion:edge/kv@0.1.0", "swap", host_import_kv_swap),
    BIND("bastion:edge/kv@0.1.0", "delete", host_import_kv_delete),
    BIND("bastion:edge/sql@0.1.0", "query", host_import_sql_query),
    BIND("bastion:edge/sql@0.1.0", "transaction", host_import_sql_transaction),
    BIND("bastion:edge/http-out@0.1.0", "send", host_import_http_send),
    BIND("bastion:edge/config@0.1.0", "get", host_import_config_get),
    BIND("bastion:edge/log@0.1.0", "write", host_import_log_write),
    BIND("wasi_snapshot_preview1", "clock_time_get", host_import_wasi_clock_time_get),
    BIND("wasi_snapshot_preview1", "random_get", host_import_wasi_random_get),
    BIND("wasi_snapshot_preview1", "fd_write", host_import_wasi_fd_write),
    BIND("wasi_snapshot_preview1", "fd_close", host_import_wasi_fd_close),
    BIND("wasi_snapshot_preview1", "fd_seek", host_import_wasi_fd_seek),
    BIND("wasi_snapshot_preview1", "proc_exit", host_import_wasi_proc_exit),
};
const size_t host_n_bindings = sizeof host_bindings / sizeof host_bindings[0];
const host_import_fn host_import_prologue = (host_import_fn)host_import_enter;
const host_import_fn host_import_epilogue = (host_import_fn)host_import_done;
