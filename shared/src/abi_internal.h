/*
 * INTERNAL to the core: the canonical-ABI view of wit/bastion.wit
 * (../shared/ABI-NOTES.md). Layouts are asserted below; function modules
 * never include this header.
 */
#ifndef BASTION_ABI_INTERNAL_H
#define BASTION_ABI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bastion/core.h"
#include "bastion/host.h"

typedef struct { uint8_t *ptr; size_t len; } cabi_bytes;
typedef struct { bastion_header *ptr; size_t len; } cabi_headers;

/* types.error: disc @0, string @4; size 12 */
/* types.error: the case tag, then a string payload, or guard's u32 (the
 * same offset: the payload area is the string's 8 bytes on wasm32). */
typedef struct {
    uint8_t tag;
    union {
        bastion_str msg;
        uint32_t statement; /* case 6, guard */
    } u;
} cabi_error;

/* types.request: size 88, align 8 */
typedef struct {
    uint8_t trigger;
    bastion_str method, path, query, route;
    cabi_headers params;   /* list<tuple<string,string>> has the same layout */
    cabi_headers headers;
    cabi_bytes body;
    bastion_str client_ip, request_id;
    uint64_t deadline_ms;
} cabi_request;

/* types.response: size 20, align 4 */
typedef struct {
    uint16_t status;
    cabi_headers headers;
    cabi_bytes body;
} cabi_response;

/* result<option<list<u8>>, error>: size 16 */
typedef struct {
    uint8_t is_err;
    union {
        struct { uint8_t is_some; cabi_bytes val; } ok;
        cabi_error err;
    } u;
} cabi_ret_opt_bytes;

/* result<_, error> and result<bool, error>: size 16 */
typedef struct {
    uint8_t is_err;
    union { uint8_t ok; cabi_error err; } u;
} cabi_ret_bool;

/* result<s64, error>: size 24, payload @8 */
typedef struct {
    uint8_t is_err;
    union { int64_t ok; cabi_error err; } u;
} cabi_ret_s64;

/* sql.rows: size 24, align 8 */
typedef struct {
    struct { bastion_str *ptr; size_t len; } columns;
    struct { struct { bastion_sql_value *ptr; size_t len; } *ptr; size_t len; } rows;
    uint64_t changes;
} cabi_rows;

/* result<rows, error>: size 32, payload @8 */
typedef struct {
    uint8_t is_err;
    union { cabi_rows ok; cabi_error err; } u;
} cabi_ret_rows;

/* sql.statement: size 32, align 8 */
typedef struct {
    bastion_str sql;
    struct { const bastion_sql_value *ptr; size_t len; } params;
    uint8_t has_expect;
    uint64_t expect;
} cabi_statement;

/* result<list<rows>, error>: size 16 */
typedef struct {
    uint8_t is_err;
    union { struct { cabi_rows *ptr; size_t len; } ok; cabi_error err; } u;
} cabi_ret_rows_list;

/* option<string>: size 12 */
typedef struct { uint8_t is_some; bastion_str val; } cabi_opt_str;

#if defined(__wasm32__)
_Static_assert(sizeof(bastion_str) == 8, "string is (ptr, len)");
_Static_assert(offsetof(cabi_request, method) == 4, "request.method");
_Static_assert(offsetof(cabi_request, params) == 36, "request.params");
_Static_assert(offsetof(cabi_request, body) == 52, "request.body");
_Static_assert(offsetof(cabi_request, deadline_ms) == 80, "request.deadline-ms");
_Static_assert(sizeof(cabi_request) == 88, "request size");
_Static_assert(sizeof(cabi_response) == 20, "response size");
_Static_assert(sizeof(cabi_ret_opt_bytes) == 16 && offsetof(cabi_ret_opt_bytes, u) == 4, "");
_Static_assert(sizeof(cabi_ret_s64) == 24 && offsetof(cabi_ret_s64, u) == 8, "");
_Static_assert(sizeof(bastion_sql_value) == 16 && offsetof(bastion_sql_value, v) == 8, "");
_Static_assert(sizeof(cabi_rows) == 24 && offsetof(cabi_rows, changes) == 16, "");
_Static_assert(sizeof(cabi_ret_rows) == 32 && offsetof(cabi_ret_rows, u) == 8, "");
_Static_assert(sizeof(cabi_statement) == 32 && offsetof(cabi_statement, expect) == 24, "");
_Static_assert(sizeof(cabi_opt_str) == 12, "");
#define IMPORT(iface, fn) __attribute__((import_module("bastion:edge/" iface "@0.1.0"), import_name(fn)))
#define EXPORT(name) __attribute__((export_name(name)))
#else
/* Native builds (unit tests) link stand-ins for the imports. */
#define IMPORT(iface, fn)
#define EXPORT(name)
#endif

IMPORT("kv", "get") void cabi_kv_get(const char *, size_t, const char *, size_t, uint32_t, cabi_ret_opt_bytes *);
IMPORT("kv", "set") void cabi_kv_set(const char *, size_t, const char *, size_t, const char *, size_t, uint64_t, uint32_t, cabi_ret_bool *);
IMPORT("kv", "add") void cabi_kv_add(const char *, size_t, const char *, size_t, const char *, size_t, uint64_t, uint32_t, cabi_ret_bool *);
IMPORT("kv", "increment") void cabi_kv_increment(const char *, size_t, const char *, size_t, int64_t, uint64_t, uint32_t, cabi_ret_s64 *);
IMPORT("kv", "swap") void cabi_kv_swap(const char *, size_t, const char *, size_t, uint32_t, const char *, size_t, const char *, size_t, uint64_t, uint32_t, cabi_ret_bool *);
IMPORT("kv", "delete") void cabi_kv_delete(const char *, size_t, const char *, size_t, uint32_t, cabi_ret_bool *);
IMPORT("sql", "query") void cabi_sql_query(const char *, size_t, const char *, size_t, const bastion_sql_value *, size_t, uint32_t, cabi_ret_rows *);
IMPORT("sql", "transaction") void cabi_sql_transaction(const char *, size_t, const cabi_statement *, size_t, uint32_t, cabi_ret_rows_list *);
/* result<response, error>: size 24, payload @4 */
typedef struct {
    uint8_t is_err;
    union { cabi_response ok; cabi_error err; } u;
} cabi_ret_response;

IMPORT("http-out", "send") void cabi_http_send(const char *, size_t, const char *, size_t, const bastion_header *, size_t, const char *, size_t, uint32_t, cabi_ret_response *);
IMPORT("config", "get") void cabi_config_get(const char *, size_t, cabi_opt_str *);
IMPORT("log", "write") void cabi_log_write(uint32_t, const char *, size_t, const bastion_header *, size_t);

/* Set by the handle export before any handler runs. */
extern bastion_ctx *bastion__current;

#endif
