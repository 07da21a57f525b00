/*
 * Declarations shared by the host's parts. The host never includes the guest
 * core's headers; its only contract with modules is wit/bastion.wit.
 */
#ifndef HOST_H
#define HOST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rt/module_desc.h"
#include "rt/rt.h"

/* --- errors: the WIT `error` variant, same case order ------------------ */
typedef enum {
    HOST_OK = -1,
    HOST_E_TIMEOUT = 0,
    HOST_E_UNAVAILABLE = 1,
    HOST_E_CONFLICT = 2,
    HOST_E_INVALID = 3,
    HOST_E_DENIED = 4,
    HOST_E_INTERNAL = 5,
    HOST_E_GUARD = 6, /* payload: the 1-based statement index, not a message */
} host_err_kind;

struct host_err {
    host_err_kind kind;
    char msg[160];      /* for logs; guests MUST NOT forward it to clients */
    uint32_t statement; /* HOST_E_GUARD: which expect-changes did not hold */
};

int host_fail(struct host_err *err, host_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- manifest ----------------------------------------------------------- */
/* outbound_body_limit when the manifest sets none (host/tools/manifest.py's
 * default too) */
#define HOST_OUTBOUND_BODY_LIMIT_DEFAULT (16u << 20)

struct host_var {
    char *name;
    char *value; /* resolved at start-up; NULL when unset */
    int required, secret;
};

struct host_function {
    char *name;
    char *so_path;
    char *schema_path; /* NULL when the function has no schema.sql */
    uint32_t timeout_ms;
    uint32_t memory_mb;
    size_t body_limit;
    char **kv;
    size_t n_kv;
    char **sql;
    size_t n_sql;
    char **vars;
    size_t n_vars;
    char **outbound;
    size_t n_outbound;                   /* "scheme://host[:port|:*]" */
    size_t outbound_body_limit;          /* bytes of an outbound response body, at most */
    uint32_t max_concurrency;            /* requests running at once (SAFE3) */
    const struct host_module_desc *desc; /* set by host_module_load */
    void *dl;
    struct host_native *native; /* set instead under --native (native/native.c) */
    unsigned running, queued;   /* now; guarded by exec.c's pool lock */
};

struct host_route {
    char *path; /* pattern with {name} segments */
    struct host_function *fn;
};

/* A [[cron]] job (cron.c runs it). */
struct host_cron {
    char *name;
    struct host_function *fn;
    uint32_t every_s, jitter_s; /* runs every every_s + [0, jitter_s] seconds */
    uint32_t timeout_ms;        /* its deadline, and how long its lease lives */
    _Atomic uint64_t runs, skipped, failed;
};

/* [server] limits (SAFE1, SAFE3); defaults and meaning in docs/SECURITY.md. */
struct host_limits {
    uint32_t max_connections, max_connections_per_ip;
    uint32_t head_timeout_ms, body_min_bytes_per_s;
    uint32_t max_target_bytes, max_header_bytes;
    uint32_t exec_workers, exec_queue;
    uint32_t drain_timeout_ms;
    uint32_t guest_log_bytes;
};

struct host_manifest {
    struct host_limits limits;
    struct host_function *fns;
    size_t n_fns;
    struct host_route *routes;
    size_t n_routes;
    struct host_var *vars;
    size_t n_vars;
    struct host_cron *crons;
    size_t n_crons;
    char **trusted_proxies;
    size_t n_trusted;
};

int host_manifest_load(struct host_manifest *m, const char *path, const char *build_dir,
                       FILE *errs);
void host_manifest_free(struct host_manifest *m); /* modules stay loaded */
/* The value of a hex digit, or -1. */
int host_hex_digit(char c);
/* A whole file, NUL-terminated (len may be NULL); NULL when unreadable. */
char *host_read_file(const char *path, size_t *len);
struct host_function *host_manifest_fn(struct host_manifest *m, const char *name);
/* Matches `path` against the routes; fills params (pairs of malloc'd strings). */
struct host_route *host_route_match(struct host_manifest *m, const char *path, char ***params,
                                    size_t *n_params);
void host_params_free(char **params, size_t n);
/* Resolves every variable from env / env file / defaults / dev secrets.
 * Returns the number of missing required variables (names written to errs). */
int host_vars_resolve(struct host_manifest *m, const char *env_file, const char *state_dir, int dev,
                      FILE *out);
const char *host_var_get(struct host_manifest *m, struct host_function *fn, const char *name);

/* --- stores (host/stores/store.h has the backend interface) ------------- */
struct host_store;
struct host_state {
    char *dir;                 /* the state directory: SQLite's files */
    struct host_store *stores; /* the runtime config's, then the SQLite defaults */
    size_t n_stores, opened;   /* the first `opened` have been opened */
};

/* Sets up the stores for `m`: the runtime config at `runtime_config` (NULL:
 * none, everything on SQLite in `dir`). Errors name the file, line, key and
 * what was expected (written to errs). */
int host_state_open(struct host_state *st, const char *dir, const char *runtime_config,
                    const struct host_manifest *m, FILE *errs);
void host_state_close(struct host_state *st);
/* Is `name` (NUL-terminated) a database SQLite keeps as <state>/sql/<name>.sqlite:
 * 1 to 64 of [a-z0-9_-]? The one rule for sqlite.c's paths and a backup's
 * member names (host/backup/). */
int host_sqlite_db_name_ok(const char *name);
/* Checks every backend the manifest uses within budget_ms, writing one JSON
 * object member per backend ("kv.default": {"backend": "redis", "status":
 * "ok"}) to `out`. Returns the number that are down. */
int host_stores_health(struct host_state *st, uint32_t budget_ms, FILE *out);

struct host_value {
    int type; /* 0 null, 1 integer, 2 real, 3 text, 4 blob: the WIT case order */
    int64_t i;
    double r;
    char *p; /* text/blob bytes, malloc'd */
    size_t len;
};

struct host_rows {
    size_t n_cols, n_rows;
    char **cols;             /* NUL-terminated names */
    struct host_value *vals; /* n_rows * n_cols */
    uint64_t changes;
};

void host_rows_free(struct host_rows *r);

struct host_stmt {
    const char *sql;
    size_t sql_len;
    struct host_value *params;
    size_t n_params;
    int has_expect;
    uint64_t expect;
};

int host_kv_get(struct host_state *st, const char *store, const void *key, size_t klen,
                uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err);
int host_kv_set(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
                struct host_err *err);
int host_kv_add(struct host_state *st, const char *store, const void *key, size_t klen,
                const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
                struct host_err *err);
int host_kv_increment(struct host_state *st, const char *store, const void *key, size_t klen,
                      int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                      struct host_err *err);
int host_kv_swap(struct host_state *st, const char *store, const void *key, size_t klen,
                 const void *expected, size_t elen, int has_expected, const void *val, size_t vlen,
                 uint64_t ttl_ms, uint32_t budget_ms, int *swapped, struct host_err *err);
int host_kv_delete(struct host_state *st, const char *store, const void *key, size_t klen,
                   uint32_t budget_ms, int *deleted, struct host_err *err);

int host_sql_query(struct host_state *st, const char *db, const struct host_stmt *s,
                   uint32_t budget_ms, struct host_rows *out, struct host_err *err);
int host_sql_transaction(struct host_state *st, const char *db, const struct host_stmt *s, size_t n,
                         uint32_t budget_ms, struct host_rows *out, struct host_err *err);
/* Applies fn's schema.sql to its first database once per checksum. */
int host_migrate(struct host_state *st, struct host_function *fn, int allow_changed, FILE *out);
void host_store_thread_close(void);

/* --- outbound (outbound_curl.c) ------------------------------------------ */
/* Request headers named x-bastion-* belong to the host: server.c drops any
 * a client sends, so a module can trust them. `bastion invoke --trusted`
 * (an operator at the command line) sets HOST_TRUSTED_HEADER: "operator". */
#define HOST_OWNED_PREFIX   "x-bastion-"
#define HOST_TRUSTED_HEADER "x-bastion-trusted"

struct host_header {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};
struct host_http_resp {
    uint16_t status;
    struct host_header *headers;
    size_t n_headers;
    char *body;
    size_t body_len;
};
/* 1 when `url` (NUL-terminated) is http(s) and its scheme, host and port
 * match one of fn's allow-list entries; the text only, before any lookup. */
int host_http_allowed(const struct host_function *fn, const char *url);
/* Sends one request for `fn` (its outbound_body_limit; its name in messages)
 * to `url`, which MUST have passed host_http_allowed, within `budget_ms`;
 * the headers and body are borrowed for the call. Beyond the allow-list's
 * text, the call is refused with HOST_E_DENIED naming the address when every
 * address it would connect to is one host_outbound_refusal refuses, and a
 * response body over the limit ends it with HOST_E_INVALID. Proxy variables
 * are ignored and redirects are not followed. On success `out` owns its
 * headers and body (host_http_resp_free); on failure it is left empty. */
int host_http_send(const struct host_function *fn, const char *method, const char *url,
                   const struct host_header *h, size_t nh, const void *body, size_t blen,
                   uint32_t budget_ms, struct host_http_resp *out, struct host_err *err);
void host_http_resp_free(struct host_http_resp *r);
/* Reads BASTION_OUTBOUND_CA_FILE once at start-up, before any thread sends:
 * when set, outbound TLS trusts the PEM certificates in that file instead of
 * the system's bundle, and one line says so. -1 (the reason written to errs)
 * when it is set but unreadable or holds no PEM certificate. */
int host_outbound_init(FILE *errs);

/* SAFE4 (outbound_wall.c): why the host refuses to connect to `sa` (`len`
 * bytes; neither AF_INET nor AF_INET6 is always refused) as a phrase naming
 * its range, such as "a loopback address (127.0.0.0/8)", or NULL when the
 * address is globally reachable or `url_host` names it. `url_host`, the
 * request URL's host as written (NUL-terminated; NULL for none), names it
 * when it is a dotted-quad IPv4 literal equal to the address, also connected
 * as ::ffff:a.b.c.d. The phrase is static; no release function. */
struct sockaddr;
const char *host_outbound_refusal(const struct sockaddr *sa, size_t len, const char *url_host);

/* --- logging (log_sink.c) ------------------------------------------------- */
struct host_log;
void host_log_init(FILE *sink);
/* Writes one JSON line; fields are name/value pairs, all strings. Returns
 * the bytes written. */
size_t host_log_line(const char *level, const char *fn, const char *request_id, const char *msg,
                     size_t msg_len, const char *const *kv, const size_t *kv_lens, size_t n_kv);
void host_json_escape(FILE *f, const char *s, size_t len);
/* 1 when s[0, len) is well-formed UTF-8 (no overlongs, surrogates or values
 * past U+10FFFF): what a WIT string must be. */
int host_utf8_valid(const void *s, size_t len);

/* --- requests ----------------------------------------------------------- */
struct host_request {
    int trigger;         /* 0 http, 1 cron */
    uint32_t timeout_ms; /* the deadline after arrival; 0: the function's timeout_ms */
    const char *method, *path, *query, *route;
    char **params;
    size_t n_params; /* name, value, name, value… */
    struct host_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *client_ip;
    char request_id[40];
    uint64_t arrival_ns; /* CLOCK_MONOTONIC */
};

struct host_response {
    uint16_t status;
    struct host_header *headers;
    size_t n_headers;
    uint8_t *body;
    size_t body_len;
};
void host_response_free(struct host_response *r);
/* A problem+json (RFC 9457) response made by the host itself (problem.c):
 * type, title and class follow the status, in the core's scheme. */
void host_problem(struct host_response *r, uint16_t status, const char *detail,
                  uint32_t retry_after_s);
/* The title host_problem gives a status (also the reason phrase on the wire). */
const char *host_problem_title(uint16_t status);

struct host_counters {
    uint32_t kv, sql, http;
    uint32_t
        memory_pages; /* the instance's linear memory at its end: its peak (it never shrinks) */
    uint64_t instance_us, log_dropped;
};

struct host_env {
    struct host_manifest *manifest;
    struct host_state *state;
};

/* Host memory a binding holds while it may still trap (see host_call_own). */
struct host_owned {
    void *p;
    void (*destroy)(void *);
};

/* The per-call context every import receives as its instance pointer. */
struct host_call {
    struct host_env *env;
    struct host_function *fn;
    const struct host_request *req;
    void *instance;
    wasm_rt_memory_t *mem;
    uint64_t deadline_ns;
    struct host_counters counters;
    struct host_owned *owned; /* released by host_call_release, or after a trap */
    size_t n_owned, cap_owned;
    size_t log_bytes;    /* guest log output so far (guest_log_bytes) */
    struct host_rng rng; /* BASTION_TEST_RANDOM_SEED's stream (rt.h), when set */
};

/* The imports the host provides (host/imports/imports.c), and the
 * prologue/epilogue every module trampoline runs around them (module_desc.h
 * `slots`). */
struct host_binding {
    const char *module, *name;
    host_import_fn fn;
};
extern const struct host_binding host_bindings[];
extern const size_t host_n_bindings;
extern const host_import_fn host_import_prologue, host_import_epilogue;

/* Loading modules and running requests (instance/module.c). */
int host_module_load(struct host_function *fn, FILE *errs);
/* Runs one request through a fresh instance. Always fills `resp`. */
void host_invoke(struct host_env *env, struct host_function *fn, const struct host_request *req,
                 struct host_response *resp, struct host_counters *counters);
void host_request_id(char out[40]);
/* A request's deadline on the monotonic clock: arrival + its timeout (or the
 * function's); and the same deadline as the guest sees it, Unix epoch ms on
 * the modules' wall clock (rt.h), for the request record's deadline_ms. */
uint64_t host_call_deadline_ns(const struct host_function *fn, const struct host_request *req);
uint64_t host_guest_deadline_ms(uint64_t deadline_ns);
/* Replaces `resp` with the answer to a trap (rt.h HOST_TRAP_*): 504 at the
 * deadline, else 500, each logged with the trap's name. */
void host_trap_answer(const struct host_function *fn, const struct host_request *req, int trap,
                      struct host_response *resp);
/* 1 when a header a guest answers with may go on the wire (RFC 9110 §5.1
 * token name; no CR, LF or NUL in the value). */
int host_header_ok(const char *name, size_t nl, const char *value, size_t vl);

/* The native-handler build (native/native.c), a benchmark baseline: with
 * host_native_mode set (serve/invoke --native), host_module_load loads
 * build/native/<name>.so instead of the module and host_invoke runs it. */
extern int host_native_mode;
int host_native_load(struct host_function *fn, FILE *errs);
void host_native_invoke(struct host_env *env, struct host_function *fn,
                        const struct host_request *req, struct host_response *resp,
                        struct host_counters *counters);
/* Releases this thread's instance buffer and connections (also done
 * automatically when a thread that ran requests exits). */
void host_thread_done(void);

/* A binding's budget: `requested`, capped by what is left of the deadline
 * (imports/imports.c). */
uint32_t host_budget_ms(const struct host_call *c, uint32_t requested);

#endif
