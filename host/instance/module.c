/*
 * Loading function modules and running one request through a fresh instance.
 *
 * A request's life: instance struct zeroed → instantiate (memory from this
 * thread's pool, data segments) → _initialize → the request record written
 * through cabi_realloc → handle → the response read back, every pointer
 * checked → post-return → free (memory zeroed with madvise). Any trap or the
 * deadline unwinds to host_rt_run and becomes a 500 or 504 problem.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "instance/guest_memory.h"
#include "rt/rt.h"

/* The binding for an import, from the one list in imports/imports.c; NULL when the
 * host does not provide it (and the module is refused). */
static host_import_fn provided(const struct host_import_name *imp)
{
    for (size_t i = 0; i < host_n_bindings; i++)
        if (strcmp(host_bindings[i].module, imp->module) == 0 &&
            strcmp(host_bindings[i].name, imp->name) == 0)
            return host_bindings[i].fn;
    return NULL;
}

/* see host.h */
int host_module_load(struct host_function *fn, FILE *errs)
{
    if (host_native_mode)
        return host_native_load(fn, errs);
    /* Modules are linked -z now: every symbol binds here, never in guest
     * code. Imports are not symbols: they are slots filled below. */
    void *dl = dlopen(fn->so_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(errs, "function '%s': cannot load %s: %s\n", fn->name, fn->so_path, dlerror());
        return -1;
    }
    const struct host_module_desc *d = dlsym(dl, "bastion_module");
    if (!d || d->abi != HOST_MODULE_ABI) {
        fprintf(errs, "function '%s': %s is not a Bastion module (no bastion_module v%d)\n",
                fn->name, fn->so_path, HOST_MODULE_ABI);
        dlclose(dl);
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < d->n_imports; i++) {
        d->slots[i] = provided(&d->imports[i]);
        if (!d->slots[i]) {
            fprintf(errs, "function '%s': refused: unknown import '%s' '%s'\n", fn->name,
                    d->imports[i].module, d->imports[i].name);
            bad = 1;
        }
    }
    if (bad) {
        dlclose(dl);
        return -1;
    }
    d->slots[d->n_imports] = host_import_prologue;
    d->slots[d->n_imports + 1] = host_import_epilogue;
    d->init_module();
    fn->desc = d;
    fn->dl = dl;
    return 0;
}

void host_request_id(char out[40])
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        memset(b, 0, sizeof b);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = 0;
}

void host_response_free(struct host_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* --- request and response marshalling ------------------------------------ */

static abi_list put_str(struct host_call *c, const char *s)
{
    return guest_put_bytes(c, s, s ? strlen(s) : 0);
}

/* Writes the `request` record and returns its address, which handle takes
 * as its one parameter (the record flattens past 16 values: ABI-NOTES). */
static uint32_t write_request(struct host_call *c, const struct host_request *q)
{
    uint32_t p = guest_alloc(c, _Alignof(abi_request), sizeof(abi_request));
    abi_request r = {.trigger = (uint8_t)q->trigger};
    r.method = put_str(c, q->method);
    r.path = put_str(c, q->path);
    r.query = put_str(c, q->query);
    r.route = put_str(c, q->route);
    size_t np = q->n_params / 2;
    r.params = (abi_list){GUEST_ALLOC_ARRAY(c, np, abi_pair), (uint32_t)np};
    for (size_t i = 0; i < np; i++) {
        abi_pair pr = {put_str(c, q->params[2 * i]), put_str(c, q->params[2 * i + 1])};
        GUEST_STORE_ELEM(c, r.params.ptr, i, abi_pair, &pr);
    }
    r.headers = (abi_list){GUEST_ALLOC_ARRAY(c, q->n_headers, abi_pair), (uint32_t)q->n_headers};
    for (size_t i = 0; i < q->n_headers; i++) {
        abi_pair h = {guest_put_bytes(c, q->headers[i].name, q->headers[i].name_len),
                      guest_put_bytes(c, q->headers[i].value, q->headers[i].value_len)};
        GUEST_STORE_ELEM(c, r.headers.ptr, i, abi_pair, &h);
    }
    r.body = guest_put_bytes(c, q->body, q->body_len);
    r.client_ip = put_str(c, q->client_ip);
    r.request_id = put_str(c, q->request_id);
    r.deadline_ms = host_guest_deadline_ms(c->deadline_ns);
    GUEST_STORE(c, p, abi_request, &r);
    return p;
}

static char *copy_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* see host.h */
int host_header_ok(const char *name, size_t nl, const char *value, size_t vl)
{
    if (nl == 0)
        return 0;
    for (size_t i = 0; i < nl; i++)
        if (!strchr("!#$%&'*+-.^_`|~", name[i]) &&
            !((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z')))
            return 0;
    for (size_t i = 0; i < vl; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == 0)
            return 0;
    return 1;
}

/* Reads the `response` record that handle returned into host memory. */
static void read_response(struct host_call *c, uint32_t p, struct host_response *out)
{
    abi_response r;
    GUEST_LOAD(c, p, abi_response, &r);
    out->status = r.status;
    if (out->status < 100 || out->status > 599)
        host_rt_trap(HOST_TRAP_ABI);
    const uint8_t *h = GUEST_ARRAY(c, r.headers, abi_pair);
    if (r.headers.len > 256)
        host_rt_trap(HOST_TRAP_ABI);
    out->headers = calloc(r.headers.len ? r.headers.len : 1, sizeof *out->headers);
    if (!out->headers)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    for (uint32_t i = 0; i < r.headers.len; i++) {
        abi_pair hd;
        GUEST_ELEM(h, i, abi_pair, &hd);
        const char *n = guest_str(c, hd.name.ptr, hd.name.len);
        const char *v = guest_str(c, hd.value.ptr, hd.value.len);
        if (!host_header_ok(n, hd.name.len, v, hd.value.len))
            host_rt_trap(HOST_TRAP_ABI);
        out->headers[i].name = copy_bytes(n, hd.name.len);
        out->headers[i].name_len = hd.name.len;
        out->headers[i].value = copy_bytes(v, hd.value.len);
        out->headers[i].value_len = hd.value.len;
        out->n_headers = i + 1;
    }
    out->body = (uint8_t *)copy_bytes(guest_span(c, r.body.ptr, r.body.len), r.body.len);
    out->body_len = r.body.len;
}

struct run {
    struct host_call call;
    struct host_response *resp;
};

static void run_request(void *arg)
{
    struct run *run = arg;
    struct host_call *c = &run->call;
    const struct host_module_desc *d = c->fn->desc;
    /* host mode: memory from the pool, data segments (glue.py refuses a
     * start function, so no guest code runs here) */
    d->instantiate(c->instance, c);
    c->mem = d->memory(c->instance);
    host_rt_enter_guest();
    d->initialize(c->instance);
    host_rt_enter_host();
    uint32_t req = write_request(c, c->req);
    host_rt_enter_guest();
    uint32_t resp = d->handle(c->instance, req);
    host_rt_enter_host();
    read_response(c, resp, run->resp);
    host_rt_enter_guest();
    d->post_return(c->instance, resp);
    host_rt_enter_host();
}

/* see host.h */
uint64_t host_call_deadline_ns(const struct host_function *fn, const struct host_request *req)
{
    uint32_t timeout_ms = req->timeout_ms ? req->timeout_ms : fn->timeout_ms;
    return req->arrival_ns + (uint64_t)timeout_ms * 1000000ull;
}

/* see host.h */
uint64_t host_guest_deadline_ms(uint64_t deadline_ns)
{
    uint64_t now = host_now_ns();
    return host_guest_wall_ms() + (deadline_ns > now ? (deadline_ns - now) / 1000000 : 0);
}

/* see host.h */
void host_trap_answer(const struct host_function *fn, const struct host_request *req, int trap,
                      struct host_response *resp)
{
    host_response_free(resp);
    char detail[128];
    const char *vals[2] = {"trap", host_rt_trap_name(trap)};
    size_t lens[2] = {4, strlen(vals[1])};
    if (trap == HOST_TRAP_DEADLINE) {
        host_log_line("error", fn->name, req->request_id, "deadline exceeded", 17, vals, lens, 1);
        snprintf(detail, sizeof detail, "The function did not answer within %u ms.",
                 fn->timeout_ms);
        host_problem(resp, 504, detail, 0);
    } else {
        host_log_line("error", fn->name, req->request_id, "guest trapped", 13, vals, lens, 1);
        host_problem(resp, 500, "The function failed while handling the request.", 0);
    }
}

/* Per-thread instance buffer, grown to the largest module seen. */
static _Thread_local void *inst_buf;
static _Thread_local size_t inst_cap;

/* Worker threads own an instance buffer and database connections; release
 * both when the thread ends (the server's pool is stopped at shutdown). */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static _Thread_local int thread_registered;

static void thread_exit(void *unused)
{
    (void)unused;
    free(inst_buf);
    inst_buf = NULL;
    inst_cap = 0;
    host_store_thread_close();
    host_rt_thread_done();
}

static void make_thread_key(void)
{
    pthread_key_create(&thread_key, thread_exit);
}

void host_thread_done(void)
{
    thread_exit(NULL);
}

/* see host.h */
void host_invoke(struct host_env *env, struct host_function *fn, const struct host_request *req,
                 struct host_response *resp, struct host_counters *counters)
{
    memset(resp, 0, sizeof *resp);
    const struct host_module_desc *d = fn->desc;
    if (!thread_registered) {
        pthread_once(&thread_key_once, make_thread_key);
        pthread_setspecific(thread_key, (void *)1);
        thread_registered = 1;
    }
    if (fn->native) {
        host_native_invoke(env, fn, req, resp, counters);
        return;
    }
    if (inst_cap < d->instance_size) {
        free(inst_buf);
        inst_buf = aligned_alloc(64, (d->instance_size + 63) & ~(size_t)63);
        inst_cap = inst_buf ? d->instance_size : 0;
        if (!inst_buf) {
            host_problem(resp, 503, "The host is out of memory.", 1);
            return;
        }
    }
    memset(inst_buf, 0, d->instance_size);
    struct run run = {0};
    run.call.env = env;
    run.call.fn = fn;
    run.call.req = req;
    run.call.instance = inst_buf;
    host_rng_begin(&run.call.rng);
    run.call.deadline_ns = host_call_deadline_ns(fn, req);
    run.resp = resp;
    uint64_t t0 = host_now_ns();
    int trap = host_rt_run(run_request, &run, run.call.deadline_ns, fn->memory_mb * 16);
    host_call_release(&run.call); /* whatever a trap unwound past */
    free(run.call.owned);
    run.call.counters.memory_pages = run.call.mem ? run.call.mem->pages : 0;
    d->free(inst_buf);
    run.call.counters.instance_us = (host_now_ns() - t0) / 1000;
    if (counters)
        *counters = run.call.counters;
    if (trap != HOST_TRAP_NONE)
        host_trap_answer(fn, req, trap, resp);
}
