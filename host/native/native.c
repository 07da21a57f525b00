/*
 * The native-handler build (`bastion serve --native`): the same function
 * sources and core compiled natively into build/native/<name>.so and run by
 * the same front end, execution pool and stores. It is the benchmark's
 * physical limit (bench/RESULTS.md), not a production mode: a native handler
 * has no deadline unwinding, no memory cap and no trap isolation — a crash
 * takes the process down.
 *
 * What stays the same as a module: every request sees fresh globals (each
 * copy's writable data segment is restored from a snapshot and its arena
 * emptied, as instantiating a module copies its data segments) and the
 * imports below are the WIT functions with the core's native view of their
 * values (shared/src/bindings_layout.h), over the bindings' own grant,
 * budget, log-cap and outbound rules (imports/imports.h). What differs:
 * strings and lists are read in place (no copy into a linear memory) and no
 * guest value is validated, since there is no sandbox to guard.
 *
 * Globals are per copy, so one copy serves one request at a time: each
 * function keeps a free list of copies, loaded on demand (one per request
 * running at once) from an in-memory image through memfd_create, since
 * ld.so hands back the copy it has for a path or file already loaded.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bindings_internal.h" /* the core's native view of every value */
#include "imports/imports.h"
#include "rt/rt.h"

struct native_copy {
    struct native_copy *next;
    void *dl;
    int fd; /* its memfd, open while loaded: ld.so knows a copy by its path */
    cabi_response *(*handle)(cabi_request *);
    void *(*realloc)(void *, size_t, size_t, size_t);
    void (*arena_reset)(void);
    uint8_t *data; /* the writable segment past RELRO: .data, .bss */
    size_t data_len;
    uint8_t *snapshot; /* its bytes right after loading */
};

struct host_native {
    char *path;
    uint8_t *image; /* the .so's bytes, for more copies */
    size_t image_len;
    pthread_mutex_t lock;
    struct native_copy *free;
};

int host_native_mode;

/* The request running on this thread, for the imports. */
static _Thread_local struct host_call *cur;
static _Thread_local struct native_copy *cur_copy;

/* --- loading ------------------------------------------------------------- */

struct find_data {
    uintptr_t base;
    uintptr_t start, end; /* the writable segment, RELRO cut off */
};

static int find_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct find_data *f = arg;
    if (info->dlpi_addr != f->base)
        return 0;
    uintptr_t relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = f->base + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            f->start = lo;
            f->end = hi;
        } else if (ph->p_type == PT_GNU_RELRO) {
            relro_end = hi & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1); /* as ld.so protects it */
        }
    }
    if (relro_end > f->start && relro_end <= f->end)
        f->start = relro_end;
    return 1;
}

static struct native_copy *load_copy(struct host_native *n, const char *name, FILE *errs)
{
    struct native_copy *k = calloc(1, sizeof *k);
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (!k || fd < 0 || write(fd, n->image, n->image_len) != (ssize_t)n->image_len) {
        fprintf(errs, "function '%s': native copy: out of memory\n", name);
        goto fail;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    k->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    k->fd = fd;
    if (!k->dl) {
        fprintf(errs, "function '%s': cannot load %s: %s\n", name, n->path, dlerror());
        goto fail;
    }
    k->handle = (cabi_response * (*)(cabi_request *)) dlsym(k->dl, "bastion__handle");
    k->realloc = (void *(*)(void *, size_t, size_t, size_t))dlsym(k->dl, "cabi_realloc");
    k->arena_reset = (void (*)(void))dlsym(k->dl, "bastion__arena_reset");
    struct link_map *lm = NULL;
    struct find_data f = {0};
    if (dlinfo(k->dl, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
        f.base = lm->l_addr;
        dl_iterate_phdr(find_segment, &f);
    }
    if (!k->handle || !k->realloc || !k->arena_reset || f.end <= f.start) {
        fprintf(errs, "function '%s': %s is not a native Bastion build\n", name, n->path);
        goto fail;
    }
    k->data = (uint8_t *)f.start;
    k->data_len = f.end - f.start;
    k->snapshot = malloc(k->data_len);
    if (!k->snapshot)
        goto fail;
    memcpy(k->snapshot, k->data, k->data_len);
    return k;
fail:
    if (fd >= 0)
        close(fd);
    if (k && k->dl)
        dlclose(k->dl);
    free(k);
    return NULL;
}

/* see host.h */
int host_native_load(struct host_function *fn, FILE *errs)
{
    /* build/functions/<name>.so → build/native/<name>.so */
    const char *slash = strrchr(fn->so_path, '/');
    size_t dir = slash ? (size_t)(slash - fn->so_path) : 0;
    while (dir > 0 && fn->so_path[dir - 1] != '/')
        dir--;
    struct host_native *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    size_t len = dir + strlen("native/") + strlen(fn->name) + 4;
    n->path = malloc(len);
    if (n->path)
        snprintf(n->path, len, "%.*snative/%s.so", (int)dir, fn->so_path, fn->name);
    n->image = n->path ? (uint8_t *)host_read_file(n->path, &n->image_len) : NULL;
    if (!n->image) {
        fprintf(errs, "function '%s': cannot read %s (./build.sh native builds it)\n", fn->name,
                n->path ? n->path : "its native build");
        goto fail;
    }
    pthread_mutex_init(&n->lock, NULL);
    n->free = load_copy(n, fn->name, errs); /* proves the build loads */
    if (!n->free)
        goto fail;
    fn->native = n;
    return 0;
fail:
    free(n->image);
    free(n->path);
    free(n);
    return -1;
}

static struct native_copy *take(struct host_function *fn)
{
    struct host_native *n = fn->native;
    pthread_mutex_lock(&n->lock);
    struct native_copy *k = n->free;
    if (k)
        n->free = k->next;
    pthread_mutex_unlock(&n->lock);
    return k ? k : load_copy(n, fn->name, stderr);
}

static void give(struct host_function *fn, struct native_copy *k)
{
    struct host_native *n = fn->native;
    pthread_mutex_lock(&n->lock);
    k->next = n->free;
    n->free = k;
    pthread_mutex_unlock(&n->lock);
}

/* --- values into the copy's arena ------------------------------------------ */

static void *arena(size_t n, size_t align)
{
    return cur_copy->realloc(NULL, 0, align, n);
}

static bastion_str put(const void *p, size_t n)
{
    char *d = arena(n, 1);
    if (n)
        memcpy(d, p, n);
    return (bastion_str){d, n};
}

static cabi_error error_value(const struct host_err *e)
{
    cabi_error v = {.tag = (uint8_t)e->kind};
    if (e->kind == HOST_E_GUARD)
        v.u.statement = e->statement;
    else if (e->kind != HOST_E_TIMEOUT)
        v.u.msg = put(e->msg, strlen(e->msg));
    return v;
}

/* A name as a C string owned by the call. */
static const char *name_of(const char *p, size_t n)
{
    char *s = host_call_own(cur, strndup(p, n), free);
    if (!s)
        abort(); /* no sandbox to unwind: out of memory ends the baseline */
    return s;
}

/* --- bastion:edge/kv ------------------------------------------------------ */

static const char *kv_begin(const char *sp, size_t sl, uint32_t timeout, uint32_t *budget,
                            struct host_err *e)
{
    cur->counters.kv++;
    const char *s = name_of(sp, sl);
    return host_import_begin(cur, s, cur->fn->kv, cur->fn->n_kv, "kv store", timeout, budget, e) ==
                   0
               ? s
               : NULL;
}

static void bool_result(int rc, int flag, const struct host_err *e, cabi_ret_bool *ret)
{
    *ret = rc == 0 ? (cabi_ret_bool){.u.ok = flag ? 1 : 0}
                   : (cabi_ret_bool){.is_err = 1, .u.err = error_value(e)};
    host_call_release(cur);
}

void cabi_kv_get(const char *sp, size_t sl, const char *key, size_t kl, uint32_t timeout,
                 cabi_ret_opt_bytes *ret)
{
    struct host_err e;
    uint32_t budget;
    void *val = NULL;
    size_t vlen = 0;
    int found = 0;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    if (s && host_kv_get(cur->env->state, s, key, kl, budget, &val, &vlen, &found, &e) == 0) {
        *ret = (cabi_ret_opt_bytes){.u.ok.is_some = (uint8_t)(found != 0)};
        if (found) {
            bastion_str v = put(val, vlen);
            ret->u.ok.val = (cabi_bytes){(uint8_t *)v.ptr, v.len};
        }
        free(val);
    } else {
        *ret = (cabi_ret_opt_bytes){.is_err = 1, .u.err = error_value(&e)};
    }
    host_call_release(cur);
}

void cabi_kv_set(const char *sp, size_t sl, const char *key, size_t kl, const char *v, size_t vl,
                 uint64_t ttl, uint32_t timeout, cabi_ret_bool *ret)
{
    struct host_err e;
    uint32_t budget;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    int rc = s ? host_kv_set(cur->env->state, s, key, kl, v, vl, ttl, budget, &e) : -1;
    bool_result(rc, 0, &e, ret);
}

void cabi_kv_add(const char *sp, size_t sl, const char *key, size_t kl, const char *v, size_t vl,
                 uint64_t ttl, uint32_t timeout, cabi_ret_bool *ret)
{
    struct host_err e;
    uint32_t budget;
    int added = 0;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    int rc = s ? host_kv_add(cur->env->state, s, key, kl, v, vl, ttl, budget, &added, &e) : -1;
    bool_result(rc, added, &e, ret);
}

void cabi_kv_increment(const char *sp, size_t sl, const char *key, size_t kl, int64_t delta,
                       uint64_t ttl, uint32_t timeout, cabi_ret_s64 *ret)
{
    struct host_err e;
    uint32_t budget;
    int64_t out = 0;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    if (s && host_kv_increment(cur->env->state, s, key, kl, delta, ttl, budget, &out, &e) == 0)
        *ret = (cabi_ret_s64){.u.ok = out};
    else
        *ret = (cabi_ret_s64){.is_err = 1, .u.err = error_value(&e)};
    host_call_release(cur);
}

void cabi_kv_swap(const char *sp, size_t sl, const char *key, size_t kl, uint32_t has_expected,
                  const char *expected, size_t el, const char *v, size_t vl, uint64_t ttl,
                  uint32_t timeout, cabi_ret_bool *ret)
{
    struct host_err e;
    uint32_t budget;
    int swapped = 0;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    int rc =
        s ? host_kv_swap(cur->env->state, s, key, kl, has_expected ? expected : NULL,
                         has_expected ? el : 0, has_expected != 0, v, vl, ttl, budget, &swapped, &e)
          : -1;
    bool_result(rc, swapped, &e, ret);
}

void cabi_kv_delete(const char *sp, size_t sl, const char *key, size_t kl, uint32_t timeout,
                    cabi_ret_bool *ret)
{
    struct host_err e;
    uint32_t budget;
    int deleted = 0;
    const char *s = kv_begin(sp, sl, timeout, &budget, &e);
    int rc = s ? host_kv_delete(cur->env->state, s, key, kl, budget, &deleted, &e) : -1;
    bool_result(rc, deleted, &e, ret);
}

/* --- bastion:edge/sql ------------------------------------------------------ */

_Static_assert(BASTION_SQL_NULL == 0 && BASTION_SQL_INTEGER == 1 && BASTION_SQL_REAL == 2 &&
                   BASTION_SQL_TEXT == 3 && BASTION_SQL_BLOB == 4,
               "bastion_sql_type is struct host_value's type");

static struct host_value *values_in(const bastion_sql_value *p, size_t n)
{
    struct host_value *v = host_call_own(cur, calloc(n ? n : 1, sizeof *v), free);
    if (!v)
        abort();
    for (size_t i = 0; i < n; i++) {
        v[i].type = p[i].type;
        v[i].i = p[i].v.i;
        v[i].r = p[i].v.r;
        if (p[i].type == BASTION_SQL_TEXT || p[i].type == BASTION_SQL_BLOB) {
            v[i].p = (char *)p[i].v.s.ptr;
            v[i].len = p[i].v.s.len;
        }
    }
    return v;
}

static cabi_rows rows_out(const struct host_rows *rows)
{
    cabi_rows out = {.changes = rows->changes};
    out.columns.ptr = arena(rows->n_cols * sizeof(bastion_str), _Alignof(bastion_str));
    out.columns.len = rows->n_cols;
    for (size_t i = 0; i < rows->n_cols; i++)
        out.columns.ptr[i] = put(rows->cols[i], strlen(rows->cols[i]));
    out.rows.ptr = arena(rows->n_rows * sizeof(cabi_values), _Alignof(cabi_values));
    out.rows.len = rows->n_rows;
    for (size_t r = 0; r < rows->n_rows; r++) {
        bastion_sql_value *row = arena(rows->n_cols * sizeof *row, _Alignof(bastion_sql_value));
        for (size_t k = 0; k < rows->n_cols; k++) {
            const struct host_value *v = &rows->vals[r * rows->n_cols + k];
            row[k] = (bastion_sql_value){.type = (uint8_t)v->type};
            if (v->type == BASTION_SQL_INTEGER)
                row[k].v.i = v->i;
            else if (v->type == BASTION_SQL_REAL)
                row[k].v.r = v->r;
            else if (v->type == BASTION_SQL_TEXT || v->type == BASTION_SQL_BLOB)
                row[k].v.s = put(v->p, v->len);
        }
        out.rows.ptr[r] = (cabi_values){row, rows->n_cols};
    }
    return out;
}

static const char *sql_begin(const char *dp, size_t dl, uint32_t timeout, uint32_t *budget,
                             struct host_err *e)
{
    cur->counters.sql++;
    const char *db = name_of(dp, dl);
    return host_import_begin(cur, db, cur->fn->sql, cur->fn->n_sql, "database", timeout, budget,
                             e) == 0
               ? db
               : NULL;
}

void cabi_sql_query(const char *dp, size_t dl, const char *sql, size_t sql_len,
                    const bastion_sql_value *params, size_t n_params, uint32_t timeout,
                    cabi_ret_rows *ret)
{
    struct host_err e;
    uint32_t budget;
    struct host_stmt s = {.sql = sql, .sql_len = sql_len, .n_params = n_params};
    s.params = values_in(params, n_params);
    struct host_rows rows = {0};
    const char *db = sql_begin(dp, dl, timeout, &budget, &e);
    if (db && host_sql_query(cur->env->state, db, &s, budget, &rows, &e) == 0)
        *ret = (cabi_ret_rows){.u.ok = rows_out(&rows)};
    else
        *ret = (cabi_ret_rows){.is_err = 1, .u.err = error_value(&e)};
    host_rows_free(&rows);
    host_call_release(cur);
}

void cabi_sql_transaction(const char *dp, size_t dl, const cabi_statement *stmts, size_t n,
                          uint32_t timeout, cabi_ret_rows_list *ret)
{
    struct host_err e;
    uint32_t budget;
    struct host_stmt *st = host_call_own(cur, calloc(n ? n : 1, sizeof *st), free);
    struct host_rows *rows = host_call_own(cur, calloc(n ? n : 1, sizeof *rows), free);
    if (!st || !rows)
        abort();
    for (size_t i = 0; i < n; i++) {
        st[i] = (struct host_stmt){.sql = stmts[i].sql.ptr,
                                   .sql_len = stmts[i].sql.len,
                                   .params = values_in(stmts[i].params.ptr, stmts[i].params.len),
                                   .n_params = stmts[i].params.len,
                                   .has_expect = stmts[i].has_expect != 0,
                                   .expect = stmts[i].expect};
    }
    const char *db = sql_begin(dp, dl, timeout, &budget, &e);
    if (db && host_sql_transaction(cur->env->state, db, st, n, budget, rows, &e) == 0) {
        *ret = (cabi_ret_rows_list){.u.ok.len = n};
        ret->u.ok.ptr = arena(n * sizeof(cabi_rows), _Alignof(cabi_rows));
        for (size_t i = 0; i < n; i++)
            ret->u.ok.ptr[i] = rows_out(&rows[i]);
    } else {
        *ret = (cabi_ret_rows_list){.is_err = 1, .u.err = error_value(&e)};
    }
    for (size_t i = 0; i < n; i++)
        host_rows_free(&rows[i]);
    host_call_release(cur);
}

/* --- bastion:edge/http-out, config, log --------------------------------------- */

void cabi_http_send(const char *mp, size_t ml, const char *up, size_t ul,
                    const bastion_header *headers, size_t nh, const char *body, size_t bl,
                    uint32_t timeout, cabi_ret_response *ret)
{
    struct host_err e;
    struct host_header *hs = host_call_own(cur, calloc(nh ? nh : 1, sizeof *hs), free);
    if (!hs)
        abort();
    for (size_t i = 0; i < nh; i++)
        hs[i] = (struct host_header){(char *)headers[i].name.ptr, headers[i].name.len,
                                     (char *)headers[i].value.ptr, headers[i].value.len};
    struct host_http_resp resp = {0};
    if (host_import_http_do(cur, name_of(mp, ml), name_of(up, ul), hs, nh, body, bl, timeout, &resp,
                            &e) == 0) {
        *ret = (cabi_ret_response){.u.ok.status = resp.status};
        bastion_header *h = arena(resp.n_headers * sizeof *h, _Alignof(bastion_header));
        for (size_t i = 0; i < resp.n_headers; i++)
            h[i] = (bastion_header){put(resp.headers[i].name, resp.headers[i].name_len),
                                    put(resp.headers[i].value, resp.headers[i].value_len)};
        ret->u.ok.headers = (cabi_headers){h, resp.n_headers};
        bastion_str b = put(resp.body, resp.body_len);
        ret->u.ok.body = (cabi_bytes){(uint8_t *)b.ptr, b.len};
    } else {
        *ret = (cabi_ret_response){.is_err = 1, .u.err = error_value(&e)};
    }
    host_http_resp_free(&resp);
    host_call_release(cur);
}

void cabi_config_get(const char *np, size_t nl, cabi_opt_str *ret)
{
    const char *v = host_import_config_value(cur, name_of(np, nl));
    *ret = v ? (cabi_opt_str){.is_some = 1, .val = put(v, strlen(v))} : (cabi_opt_str){0};
    host_call_release(cur);
}

void cabi_log_write(uint32_t level, const char *msg, size_t ml, const bastion_header *fields,
                    size_t n)
{
    if (level > BASTION_LOG_ERROR)
        abort();
    if (n > 64)
        n = 64; /* as log.c: a log line is not a bulk channel */
    const char *kv[128];
    size_t lens[128];
    for (size_t i = 0; i < n; i++) {
        kv[2 * i] = fields[i].name.ptr;
        lens[2 * i] = fields[i].name.len;
        kv[2 * i + 1] = fields[i].value.ptr;
        lens[2 * i + 1] = fields[i].value.len;
    }
    host_import_log_emit(cur, level, msg, ml, kv, lens, n);
}

/* --- what WASI gives a module: the modules' wall clock and randomness --------
 * The native build links with --wrap=clock_gettime,--wrap=getentropy, so the
 * core's calls reach these (BASTION_TEST_CLOCK_* and _RANDOM_SEED hold). */

int __wrap_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    if (id != CLOCK_REALTIME)
        return clock_gettime(id, ts);
    uint64_t ns = host_guest_wall_ns();
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
    return 0;
}

int __wrap_getentropy(void *buf, size_t n);
int __wrap_getentropy(void *buf, size_t n)
{
    if (cur && host_rng_fill(&cur->rng, buf, n))
        return 0;
    return getentropy(buf, n);
}

/* --- one request ---------------------------------------------------------- */

static bastion_str in_str(const char *s)
{
    return (bastion_str){s ? s : "", s ? strlen(s) : 0};
}

static int copy_response(const cabi_response *r, struct host_response *out)
{
    if (r->status < 100 || r->status > 599 || r->headers.len > 256)
        return -1;
    out->status = r->status;
    out->headers = calloc(r->headers.len ? r->headers.len : 1, sizeof *out->headers);
    out->body = malloc(r->body.len + 1);
    if (!out->headers || !out->body)
        return -1;
    for (size_t i = 0; i < r->headers.len; i++) {
        const bastion_header *h = &r->headers.ptr[i];
        if (!host_header_ok(h->name.ptr, h->name.len, h->value.ptr, h->value.len))
            return -1;
        struct host_header *o = &out->headers[i];
        o->name = strndup(h->name.ptr, h->name.len);
        o->value = strndup(h->value.ptr, h->value.len);
        if (!o->name || !o->value)
            return -1;
        o->name_len = h->name.len;
        o->value_len = h->value.len;
        out->n_headers = i + 1;
    }
    memcpy(out->body, r->body.ptr, r->body.len);
    out->body[r->body.len] = 0;
    out->body_len = r->body.len;
    return 0;
}

/* see host.h */
void host_native_invoke(struct host_env *env, struct host_function *fn,
                        const struct host_request *req, struct host_response *resp,
                        struct host_counters *counters)
{
    memset(resp, 0, sizeof *resp);
    uint64_t t0 = host_now_ns();
    struct native_copy *k = take(fn);
    if (!k) {
        host_problem(resp, 503, "The host is out of memory.", 1);
        return;
    }
    /* a fresh instance: empty arena, globals as loaded */
    k->arena_reset();
    memcpy(k->data, k->snapshot, k->data_len);

    struct host_call c = {.env = env, .fn = fn, .req = req};
    host_rng_begin(&c.rng);
    c.deadline_ns = host_call_deadline_ns(fn, req);
    cur = &c;
    cur_copy = k;

    cabi_request q = {.trigger = (uint8_t)req->trigger};
    q.method = in_str(req->method);
    q.path = in_str(req->path);
    q.query = in_str(req->query);
    q.route = in_str(req->route);
    size_t np = req->n_params / 2;
    bastion_header *params = arena(np * sizeof *params, _Alignof(bastion_header));
    for (size_t i = 0; i < np; i++)
        params[i] = (bastion_header){in_str(req->params[2 * i]), in_str(req->params[2 * i + 1])};
    q.params = (cabi_headers){params, np};
    bastion_header *hs = arena(req->n_headers * sizeof *hs, _Alignof(bastion_header));
    for (size_t i = 0; i < req->n_headers; i++)
        hs[i] = (bastion_header){{req->headers[i].name, req->headers[i].name_len},
                                 {req->headers[i].value, req->headers[i].value_len}};
    q.headers = (cabi_headers){hs, req->n_headers};
    q.body = (cabi_bytes){(uint8_t *)(req->body ? req->body : (const uint8_t *)""), req->body_len};
    q.client_ip = in_str(req->client_ip);
    q.request_id = in_str(req->request_id);
    q.deadline_ms = host_guest_deadline_ms(c.deadline_ns);

    const cabi_response *r = k->handle(&q);
    if (copy_response(r, resp) != 0)
        host_trap_answer(fn, req, HOST_TRAP_ABI, resp); /* as a module's bad answer is */
    host_call_release(&c);
    free(c.owned);
    cur = NULL;
    cur_copy = NULL;
    give(fn, k);
    c.counters.instance_us = (host_now_ns() - t0) / 1000;
    if (counters)
        *counters = c.counters;
}
