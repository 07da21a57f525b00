/*
 * INTERNAL to the core: the module's side of the boundary with the host
 * (wit/bastion.wit under the canonical ABI, ../shared/ABI-NOTES.md). It
 * declares each import with its flat signature (strings and lists as
 * (ptr, len), a trailing return area for results of more than one flat
 * value) and the export attributes; the layouts of the values behind those
 * pointers are bindings_layout.h's. bindings.c holds the exports (handle,
 * its post-return, cabi_realloc), host.c the wrappers the public API
 * (bastion/host.h) offers over the imports. Function modules never include
 * this header.
 */
#ifndef BASTION_BINDINGS_INTERNAL_H
#define BASTION_BINDINGS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bastion/core.h"
#include "bastion/host.h"
#include "bindings_layout.h"

#if defined(__wasm32__)
#define IMPORT(iface, fn)                                                                          \
    __attribute__((import_module("bastion:edge/" iface "@0.1.0"), import_name(fn)))
#define EXPORT(name) __attribute__((export_name(name)))
#else
/* Native builds (unit tests) link stand-ins for the imports. */
#define IMPORT(iface, fn)
#define EXPORT(name)
#endif

/* bastion:edge/kv@0.1.0 */
/* get(store, key, timeout-ms) -> result<option<list<u8>>, error> */
IMPORT("kv", "get")
void cabi_kv_get(const char *store, size_t store_len, const char *key, size_t key_len,
                 uint32_t timeout_ms, cabi_ret_opt_bytes *ret);
/* set(store, key, value, ttl-ms, timeout-ms) -> result<_, error> */
IMPORT("kv", "set")
void cabi_kv_set(const char *store, size_t store_len, const char *key, size_t key_len,
                 const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                 cabi_ret_bool *ret);
/* add(store, key, value, ttl-ms, timeout-ms) -> result<bool, error> */
IMPORT("kv", "add")
void cabi_kv_add(const char *store, size_t store_len, const char *key, size_t key_len,
                 const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                 cabi_ret_bool *ret);
/* increment(store, key, delta, ttl-ms, timeout-ms) -> result<s64, error> */
IMPORT("kv", "increment")
void cabi_kv_increment(const char *store, size_t store_len, const char *key, size_t key_len,
                       int64_t delta, uint64_t ttl_ms, uint32_t timeout_ms, cabi_ret_s64 *ret);
/* swap(store, key, expected: option<list<u8>>, value, ttl-ms, timeout-ms)
 * -> result<bool, error>; the option flattens to its disc, then the list */
IMPORT("kv", "swap")
void cabi_kv_swap(const char *store, size_t store_len, const char *key, size_t key_len,
                  uint32_t has_expected, const char *expected, size_t expected_len,
                  const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                  cabi_ret_bool *ret);
/* delete(store, key, timeout-ms) -> result<bool, error> */
IMPORT("kv", "delete")
void cabi_kv_delete(const char *store, size_t store_len, const char *key, size_t key_len,
                    uint32_t timeout_ms, cabi_ret_bool *ret);

/* bastion:edge/sql@0.1.0 */
/* query(db, sql, params: list<value>, timeout-ms) -> result<rows, error> */
IMPORT("sql", "query")
void cabi_sql_query(const char *db, size_t db_len, const char *sql, size_t sql_len,
                    const bastion_sql_value *params, size_t n_params, uint32_t timeout_ms,
                    cabi_ret_rows *ret);
/* transaction(db, statements: list<statement>, timeout-ms) -> result<list<rows>, error> */
IMPORT("sql", "transaction")
void cabi_sql_transaction(const char *db, size_t db_len, const cabi_statement *stmts, size_t n,
                          uint32_t timeout_ms, cabi_ret_rows_list *ret);

/* bastion:edge/http-out@0.1.0 */
/* send(method, url, headers: list<header>, body, timeout-ms) -> result<response, error> */
IMPORT("http-out", "send")
void cabi_http_send(const char *method, size_t method_len, const char *url, size_t url_len,
                    const bastion_header *headers, size_t n_headers, const char *body,
                    size_t body_len, uint32_t timeout_ms, cabi_ret_response *ret);

/* bastion:edge/config@0.1.0: get(name) -> option<string> */
IMPORT("config", "get")
void cabi_config_get(const char *name, size_t name_len, cabi_opt_str *ret);

/* bastion:edge/log@0.1.0: write(level, message, fields: list<tuple<string, string>>) */
IMPORT("log", "write")
void cabi_log_write(uint32_t level, const char *msg, size_t msg_len, const bastion_header *fields,
                    size_t n_fields);

/* Set by the handle export before any handler runs. */
extern bastion_ctx *bastion__current;

#endif
