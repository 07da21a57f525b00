/*
 * INTERNAL to host/imports/: the host's side of every import a module may
 * make, one file per WIT interface (kv.c, sql.c, http_out.c, config.c,
 * log.c) plus the WASI preview1 subset (wasi.c). imports.c holds
 * host_bindings, the one list of what the host provides (host.h), and the
 * helpers below.
 *
 * Each binding's parameters are its import's flat canonical-ABI signature
 * (../shared/ABI-NOTES.md "Passing values"): a string or list is (ptr, len),
 * an option its discriminant then its payload, and `ret` the guest's return
 * area for a result with more than one flat value. `c` is the request's
 * struct host_call (the instance's host context). Every binding MUST read and
 * check all guest arguments before it calls a backend, and write into the
 * guest only after the backend returned (see imports.c).
 */
#ifndef HOST_IMPORTS_H
#define HOST_IMPORTS_H

#include "host.h"
#include "instance/guest_memory.h"

/* --- bastion:edge/kv@0.1.0 (kv.c) --------------------------------------- */
/* get(store, key, timeout-ms) -> result<option<list<u8>>, error> */
void host_import_kv_get(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t timeout, uint32_t ret);
/* set(store, key, value, ttl-ms, timeout-ms) -> result<_, error> */
void host_import_kv_set(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret);
/* add(store, key, value, ttl-ms, timeout-ms) -> result<bool, error> */
void host_import_kv_add(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret);
/* increment(store, key, delta: s64, ttl-ms, timeout-ms) -> result<s64, error> */
void host_import_kv_increment(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp,
                              uint32_t kl, uint64_t delta, uint64_t ttl, uint32_t timeout,
                              uint32_t ret);
/* swap(store, key, expected: option<list<u8>>, value, ttl-ms, timeout-ms)
 * -> result<bool, error> */
void host_import_kv_swap(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                         uint32_t has_exp, uint32_t ep, uint32_t el, uint32_t vp, uint32_t vl,
                         uint64_t ttl, uint32_t timeout, uint32_t ret);
/* delete(store, key, timeout-ms) -> result<bool, error> */
void host_import_kv_delete(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                           uint32_t timeout, uint32_t ret);

/* --- bastion:edge/sql@0.1.0 (sql.c) ------------------------------------- */
/* query(db, sql, params: list<value>, timeout-ms) -> result<rows, error> */
void host_import_sql_query(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t qp, uint32_t ql,
                           uint32_t pp, uint32_t pl, uint32_t timeout, uint32_t ret);
/* transaction(db, statements: list<statement>, timeout-ms) -> result<list<rows>, error> */
void host_import_sql_transaction(struct host_call *c, uint32_t dp, uint32_t dl, uint32_t stp,
                                 uint32_t stl, uint32_t timeout, uint32_t ret);

/* --- bastion:edge/http-out@0.1.0 (http_out.c) --------------------------- */
/* send(method, url, headers: list<header>, body, timeout-ms) -> result<response, error> */
void host_import_http_send(struct host_call *c, uint32_t mp, uint32_t ml, uint32_t up, uint32_t ul,
                           uint32_t hp, uint32_t hl, uint32_t bp, uint32_t bl, uint32_t timeout,
                           uint32_t ret);

/* --- bastion:edge/config@0.1.0 (config.c) ------------------------------- */
/* get(name) -> option<string> */
void host_import_config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret);

/* --- bastion:edge/log@0.1.0 (log.c) ------------------------------------- */
/* write(level, message, fields: list<tuple<string, string>>) */
void host_import_log_write(struct host_call *c, uint32_t level, uint32_t mp, uint32_t ml,
                           uint32_t fp, uint32_t fl);

/* --- wasi_snapshot_preview1 (wasi.c); each returns a WASI errno ---------- */
uint32_t host_import_wasi_clock_time_get(struct host_call *c, uint32_t id, uint64_t precision,
                                         uint32_t out);
uint32_t host_import_wasi_random_get(struct host_call *c, uint32_t buf, uint32_t len);
uint32_t host_import_wasi_fd_write(struct host_call *c, uint32_t fd, uint32_t iovs, uint32_t n,
                                   uint32_t nwritten);
uint32_t host_import_wasi_fd_close(struct host_call *c, uint32_t fd);
uint32_t host_import_wasi_fd_seek(struct host_call *c, uint32_t fd, uint64_t offset,
                                  uint32_t whence, uint32_t out);
void host_import_wasi_proc_exit(struct host_call *c, uint32_t code);

/* --- shared by the bindings (imports.c) --------------------------------- */

/* The `error` value for e, its string (if any) copied into the guest. */
abi_error host_import_error(struct host_call *c, const struct host_err *e);

/* The prologue of every store call once its name is read: the grant (a
 * name not on `list` is a denied error naming it), then the budget (`timeout` capped by the
 * deadline; 0 left is a timeout error). */
int host_import_begin(struct host_call *c, const char *name, char **list, size_t n,
                      const char *what, uint32_t timeout, uint32_t *budget, struct host_err *e);

/* What config.get answers for `name` (NULL: none): the function's variable,
 * or the host's own report for "bastion:backends" (owned by the call). */
const char *host_import_config_value(struct host_call *c, const char *name);

/* Writes one guest log line at `level` (a log.level case) with `n` field
 * pairs (at most 64), within the guest log cap. */
void host_import_log_emit(struct host_call *c, uint32_t level, const char *msg, size_t ml,
                          const char *const *kv, const size_t *lens, size_t n);

/* http-out.send once its arguments are host values: the allow-list, the
 * budget, then the request (host_http_send: the address wall, the body
 * limit); `resp` filled on 0. */
int host_import_http_do(struct host_call *c, const char *method, const char *url,
                        const struct host_header *hs, size_t nh, const void *body, size_t bl,
                        uint32_t timeout, struct host_http_resp *resp, struct host_err *e);

/* The guest log cap ([server] guest_log_bytes, SAFE3): how many of `len`
 * bytes a line with `framing` bytes of its own may still write, counted at
 * their worst case (each escaped as \u00XX). */
#define HOST_LOG_FRAMING 256 /* ts, level, fn, request id and keys of one line */
size_t host_import_log_fits(const struct host_call *c, size_t framing, size_t len);

#endif
