/*
 * INTERNAL to the core: the canonical-ABI layout of every WIT value that
 * crosses the module boundary (wit/bastion.wit), on the guest's side. The
 * host keeps its own copy of these rules in host/instance/abi_layout.h;
 * tests/host/test_abi.py proves the two agree, field by field.
 *
 * Rules (Component Model CanonicalABI.md, "Alignment", "Element Size",
 * "Loading"; ../shared/ABI-NOTES.md "Sizes and alignment"): u8, bool and a
 * discriminant of at most 256 cases 1 / 1; u16 2 / 2; u32 4 / 4; u64, s64,
 * f64 8 / 8; string and list<T> (ptr: u32, len: u32) 8 / 4; a record's
 * fields in order, each at its own alignment, the size rounded up to the
 * largest; a variant's payload at the largest case alignment after the
 * discriminant.
 *
 * Two views, checked against each other:
 *   - cabi_wire_*: each type written with fixed-width members as wasm32 lays
 *     it out (guest pointers are uint32_t, u64 members _Alignas(8)). The
 *     asserts below check every size, alignment and offset of it against
 *     the number the rules give, on every target: the core is also compiled
 *     natively, for its unit tests, and the asserts run there too.
 *   - cabi_*: the structs the bindings (bindings.c, host.c) actually use,
 *     with real pointers and size_t, so a native build can run them against
 *     tests/unit/fake_host.c. On wasm32, where a pointer and a size_t are
 *     u32, each of them is asserted to have its wire twin's layout, field by
 *     field; every module build compiles those asserts.
 */
#ifndef BASTION_BINDINGS_LAYOUT_H
#define BASTION_BINDINGS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "bastion/core.h"
#include "bastion/host.h"

/* --- the wire view: wasm32's layout, on every target ---------------------- */

/* string, list<T> */
typedef struct {
    uint32_t ptr, len;
} cabi_wire_list;
/* header, tuple<string,string> */
typedef struct {
    cabi_wire_list name, value;
} cabi_wire_pair;
/* types.error */
typedef struct {
    uint8_t disc;
    union {
        cabi_wire_list text;
        uint32_t statement;
    } u;
} cabi_wire_error;
/* types.request */
typedef struct {
    uint8_t trigger;
    cabi_wire_list method, path, query, route, params, headers, body, client_ip, request_id;
    _Alignas(8) uint64_t deadline_ms;
} cabi_wire_request;
/* types.response */
typedef struct {
    uint16_t status;
    cabi_wire_list headers, body;
} cabi_wire_response;
/* option<list<u8>>, option<string> */
typedef struct {
    uint8_t disc;
    cabi_wire_list value;
} cabi_wire_option_list;
/* result<option<list<u8>>, error> */
typedef struct {
    uint8_t disc;
    union {
        cabi_wire_option_list ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_option_list;
/* result<_, error>, result<bool, error> */
typedef struct {
    uint8_t disc;
    union {
        uint8_t ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_bool;
/* result<s64, error> */
typedef struct {
    uint8_t disc;
    union {
        _Alignas(8) int64_t ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_s64;
/* sql.value */
typedef struct {
    uint8_t disc;
    union {
        _Alignas(8) int64_t integer;
        double real;
        cabi_wire_list bytes;
    } u;
} cabi_wire_value;
/* sql.rows */
typedef struct {
    cabi_wire_list columns, rows;
    _Alignas(8) uint64_t changes;
} cabi_wire_rows;
/* sql.statement */
typedef struct {
    cabi_wire_list sql, params;
    struct {
        uint8_t disc;
        _Alignas(8) uint64_t value;
    } expect_changes; /* option<u64> */
} cabi_wire_statement;
/* result<rows, error> */
typedef struct {
    uint8_t disc;
    union {
        cabi_wire_rows ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_rows;
/* result<list<rows>, error> */
typedef struct {
    uint8_t disc;
    union {
        cabi_wire_list ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_rows_list;
/* result<response, error> */
typedef struct {
    uint8_t disc;
    union {
        cabi_wire_response ok;
        cabi_wire_error err;
    } u;
} cabi_wire_result_response;

#define CABI_LAYOUT(type, size, align)                                                             \
    _Static_assert(sizeof(type) == (size) && _Alignof(type) == (align), #type " size/align")
#define CABI_FIELD(type, field, offset)                                                            \
    _Static_assert(offsetof(type, field) == (offset), #type "." #field " offset")

CABI_LAYOUT(cabi_wire_list, 8, 4);
CABI_FIELD(cabi_wire_list, len, 4);
CABI_LAYOUT(cabi_wire_pair, 16, 4);
CABI_FIELD(cabi_wire_pair, value, 8);
CABI_LAYOUT(cabi_wire_error, 12, 4);
CABI_FIELD(cabi_wire_error, u.text, 4);
CABI_FIELD(cabi_wire_error, u.statement, 4);
CABI_LAYOUT(cabi_wire_request, 88, 8);
CABI_FIELD(cabi_wire_request, method, 4);
CABI_FIELD(cabi_wire_request, path, 12);
CABI_FIELD(cabi_wire_request, query, 20);
CABI_FIELD(cabi_wire_request, route, 28);
CABI_FIELD(cabi_wire_request, params, 36);
CABI_FIELD(cabi_wire_request, headers, 44);
CABI_FIELD(cabi_wire_request, body, 52);
CABI_FIELD(cabi_wire_request, client_ip, 60);
CABI_FIELD(cabi_wire_request, request_id, 68);
CABI_FIELD(cabi_wire_request, deadline_ms, 80);
CABI_LAYOUT(cabi_wire_response, 20, 4);
CABI_FIELD(cabi_wire_response, headers, 4);
CABI_FIELD(cabi_wire_response, body, 12);
CABI_LAYOUT(cabi_wire_option_list, 12, 4);
CABI_FIELD(cabi_wire_option_list, value, 4);
CABI_LAYOUT(cabi_wire_result_option_list, 16, 4);
CABI_FIELD(cabi_wire_result_option_list, u.ok.value, 8);
CABI_FIELD(cabi_wire_result_option_list, u.err, 4);
CABI_LAYOUT(cabi_wire_result_bool, 16, 4);
CABI_FIELD(cabi_wire_result_bool, u.ok, 4);
CABI_FIELD(cabi_wire_result_bool, u.err, 4);
CABI_LAYOUT(cabi_wire_result_s64, 24, 8);
CABI_FIELD(cabi_wire_result_s64, u.ok, 8);
CABI_FIELD(cabi_wire_result_s64, u.err, 8);
CABI_LAYOUT(cabi_wire_value, 16, 8);
CABI_FIELD(cabi_wire_value, u.integer, 8);
CABI_FIELD(cabi_wire_value, u.bytes, 8);
CABI_LAYOUT(cabi_wire_rows, 24, 8);
CABI_FIELD(cabi_wire_rows, rows, 8);
CABI_FIELD(cabi_wire_rows, changes, 16);
CABI_LAYOUT(cabi_wire_statement, 32, 8);
CABI_FIELD(cabi_wire_statement, params, 8);
CABI_FIELD(cabi_wire_statement, expect_changes.disc, 16);
CABI_FIELD(cabi_wire_statement, expect_changes.value, 24);
CABI_LAYOUT(cabi_wire_result_rows, 32, 8);
CABI_FIELD(cabi_wire_result_rows, u.ok, 8);
CABI_FIELD(cabi_wire_result_rows, u.err, 8);
CABI_LAYOUT(cabi_wire_result_rows_list, 16, 4);
CABI_FIELD(cabi_wire_result_rows_list, u.ok, 4);
CABI_FIELD(cabi_wire_result_rows_list, u.err, 4);
CABI_LAYOUT(cabi_wire_result_response, 24, 4);
CABI_FIELD(cabi_wire_result_response, u.ok.headers, 8);
CABI_FIELD(cabi_wire_result_response, u.ok.body, 16);
CABI_FIELD(cabi_wire_result_response, u.err, 4);

/* Case orders: types.error (bastion_host_rc is the case + 1), sql.value
 * (bastion_sql_type), types.trigger (bastion_trigger), log.level. */
enum {
    CABI_ERROR_TIMEOUT = 0, /* no payload */
    CABI_ERROR_UNAVAILABLE = 1,
    CABI_ERROR_CONFLICT = 2,
    CABI_ERROR_INVALID = 3,
    CABI_ERROR_DENIED = 4,
    CABI_ERROR_INTERNAL = 5,
    CABI_ERROR_GUARD = 6, /* u32 payload; every other case a string */
};
_Static_assert(BASTION_HOST_TIMEOUT == CABI_ERROR_TIMEOUT + 1 &&
                   BASTION_HOST_UNAVAILABLE == CABI_ERROR_UNAVAILABLE + 1 &&
                   BASTION_HOST_CONFLICT == CABI_ERROR_CONFLICT + 1 &&
                   BASTION_HOST_INVALID == CABI_ERROR_INVALID + 1 &&
                   BASTION_HOST_DENIED == CABI_ERROR_DENIED + 1 &&
                   BASTION_HOST_INTERNAL == CABI_ERROR_INTERNAL + 1 &&
                   BASTION_HOST_GUARD == CABI_ERROR_GUARD + 1,
               "bastion_host_rc is types.error's case + 1");
_Static_assert(BASTION_SQL_NULL == 0 && BASTION_SQL_INTEGER == 1 && BASTION_SQL_REAL == 2 &&
                   BASTION_SQL_TEXT == 3 && BASTION_SQL_BLOB == 4,
               "bastion_sql_type is sql.value's case order");
_Static_assert(BASTION_TRIGGER_HTTP == 0 && BASTION_TRIGGER_CRON == 1, "types.trigger");
_Static_assert(BASTION_LOG_DEBUG == 0 && BASTION_LOG_INFO == 1 && BASTION_LOG_WARN == 2 &&
                   BASTION_LOG_ERROR == 3,
               "log.level");

/* --- the bindings' view: real pointers ------------------------------------ */

/* list<u8> */
typedef struct {
    uint8_t *ptr;
    size_t len;
} cabi_bytes;
/* list<header> */
typedef struct {
    bastion_header *ptr;
    size_t len;
} cabi_headers;
/* list<string> */
typedef struct {
    bastion_str *ptr;
    size_t len;
} cabi_strings;
/* list<value> */
typedef struct {
    bastion_sql_value *ptr;
    size_t len;
} cabi_values;
/* list<value>, in */
typedef struct {
    const bastion_sql_value *ptr;
    size_t len;
} cabi_params;

/* types.error: `tag` is the case; a string payload, or guard's statement */
typedef struct {
    uint8_t tag;
    union {
        bastion_str msg;
        uint32_t statement;
    } u;
} cabi_error;

/* types.request; params is list<tuple<string, string>>, laid out as headers */
typedef struct {
    uint8_t trigger;
    bastion_str method, path, query, route;
    cabi_headers params;
    cabi_headers headers;
    cabi_bytes body;
    bastion_str client_ip, request_id;
    uint64_t deadline_ms;
} cabi_request;

/* types.response */
typedef struct {
    uint16_t status;
    cabi_headers headers;
    cabi_bytes body;
} cabi_response;

/* option<list<u8>> */
typedef struct {
    uint8_t is_some;
    cabi_bytes val;
} cabi_opt_bytes;

/* kv.get → result<option<list<u8>>, error> */
typedef struct {
    uint8_t is_err;
    union {
        cabi_opt_bytes ok;
        cabi_error err;
    } u;
} cabi_ret_opt_bytes;

/* kv.set → result<_, error>; kv.add, swap, delete → result<bool, error> */
typedef struct {
    uint8_t is_err;
    union {
        uint8_t ok;
        cabi_error err;
    } u;
} cabi_ret_bool;

/* kv.increment → result<s64, error> */
typedef struct {
    uint8_t is_err;
    union {
        int64_t ok;
        cabi_error err;
    } u;
} cabi_ret_s64;

/* sql.rows: columns, then rows (a list of list<value>), then changes */
typedef struct {
    cabi_strings columns;
    struct {
        cabi_values *ptr;
        size_t len;
    } rows;
    uint64_t changes;
} cabi_rows;

/* sql.query → result<rows, error> */
typedef struct {
    uint8_t is_err;
    union {
        cabi_rows ok;
        cabi_error err;
    } u;
} cabi_ret_rows;

/* sql.statement; has_expect and expect are option<u64>'s disc and payload */
typedef struct {
    bastion_str sql;
    cabi_params params;
    uint8_t has_expect;
    uint64_t expect;
} cabi_statement;

/* sql.transaction → result<list<rows>, error> */
typedef struct {
    uint8_t is_err;
    union {
        struct {
            cabi_rows *ptr;
            size_t len;
        } ok;
        cabi_error err;
    } u;
} cabi_ret_rows_list;

/* http-out.send → result<response, error> */
typedef struct {
    uint8_t is_err;
    union {
        cabi_response ok;
        cabi_error err;
    } u;
} cabi_ret_response;

/* config.get → option<string> */
typedef struct {
    uint8_t is_some;
    bastion_str val;
} cabi_opt_str;

/* --- on wasm32 the bindings' view is the wire view ------------------------ */

#if defined(__wasm32__)
#define CABI_SAME(type, wire)                                                                      \
    _Static_assert(sizeof(type) == sizeof(wire) && _Alignof(type) == _Alignof(wire),               \
                   #type " is " #wire)
#define CABI_AT(type, field, wire, wfield)                                                         \
    _Static_assert(offsetof(type, field) == offsetof(wire, wfield), #type "." #field)

CABI_SAME(bastion_str, cabi_wire_list);
CABI_AT(bastion_str, len, cabi_wire_list, len);
CABI_SAME(cabi_bytes, cabi_wire_list);
CABI_SAME(cabi_headers, cabi_wire_list);
CABI_SAME(cabi_strings, cabi_wire_list);
CABI_SAME(cabi_values, cabi_wire_list);
CABI_SAME(cabi_params, cabi_wire_list);
CABI_SAME(bastion_header, cabi_wire_pair);
CABI_AT(bastion_header, value, cabi_wire_pair, value);

CABI_SAME(cabi_error, cabi_wire_error);
CABI_AT(cabi_error, u.msg, cabi_wire_error, u.text);
CABI_AT(cabi_error, u.statement, cabi_wire_error, u.statement);

CABI_SAME(cabi_request, cabi_wire_request);
CABI_AT(cabi_request, method, cabi_wire_request, method);
CABI_AT(cabi_request, path, cabi_wire_request, path);
CABI_AT(cabi_request, query, cabi_wire_request, query);
CABI_AT(cabi_request, route, cabi_wire_request, route);
CABI_AT(cabi_request, params, cabi_wire_request, params);
CABI_AT(cabi_request, headers, cabi_wire_request, headers);
CABI_AT(cabi_request, body, cabi_wire_request, body);
CABI_AT(cabi_request, client_ip, cabi_wire_request, client_ip);
CABI_AT(cabi_request, request_id, cabi_wire_request, request_id);
CABI_AT(cabi_request, deadline_ms, cabi_wire_request, deadline_ms);
CABI_SAME(cabi_response, cabi_wire_response);
CABI_AT(cabi_response, headers, cabi_wire_response, headers);
CABI_AT(cabi_response, body, cabi_wire_response, body);

CABI_SAME(cabi_ret_opt_bytes, cabi_wire_result_option_list);
CABI_AT(cabi_ret_opt_bytes, u.ok.val, cabi_wire_result_option_list, u.ok.value);
CABI_AT(cabi_ret_opt_bytes, u.err, cabi_wire_result_option_list, u.err);
CABI_SAME(cabi_ret_bool, cabi_wire_result_bool);
CABI_AT(cabi_ret_bool, u.ok, cabi_wire_result_bool, u.ok);
CABI_AT(cabi_ret_bool, u.err, cabi_wire_result_bool, u.err);
CABI_SAME(cabi_ret_s64, cabi_wire_result_s64);
CABI_AT(cabi_ret_s64, u.ok, cabi_wire_result_s64, u.ok);
CABI_AT(cabi_ret_s64, u.err, cabi_wire_result_s64, u.err);

CABI_SAME(bastion_sql_value, cabi_wire_value);
CABI_AT(bastion_sql_value, v.i, cabi_wire_value, u.integer);
CABI_AT(bastion_sql_value, v.r, cabi_wire_value, u.real);
CABI_AT(bastion_sql_value, v.s, cabi_wire_value, u.bytes);
CABI_SAME(cabi_rows, cabi_wire_rows);
CABI_AT(cabi_rows, rows, cabi_wire_rows, rows);
CABI_AT(cabi_rows, changes, cabi_wire_rows, changes);
CABI_SAME(cabi_ret_rows, cabi_wire_result_rows);
CABI_AT(cabi_ret_rows, u.ok, cabi_wire_result_rows, u.ok);
CABI_AT(cabi_ret_rows, u.err, cabi_wire_result_rows, u.err);
CABI_SAME(cabi_statement, cabi_wire_statement);
CABI_AT(cabi_statement, params, cabi_wire_statement, params);
CABI_AT(cabi_statement, has_expect, cabi_wire_statement, expect_changes.disc);
CABI_AT(cabi_statement, expect, cabi_wire_statement, expect_changes.value);
CABI_SAME(cabi_ret_rows_list, cabi_wire_result_rows_list);
CABI_AT(cabi_ret_rows_list, u.ok, cabi_wire_result_rows_list, u.ok);
CABI_AT(cabi_ret_rows_list, u.err, cabi_wire_result_rows_list, u.err);
CABI_SAME(cabi_ret_response, cabi_wire_result_response);
CABI_AT(cabi_ret_response, u.ok.status, cabi_wire_result_response, u.ok.status);
CABI_AT(cabi_ret_response, u.ok.headers, cabi_wire_result_response, u.ok.headers);
CABI_AT(cabi_ret_response, u.ok.body, cabi_wire_result_response, u.ok.body);
CABI_AT(cabi_ret_response, u.err, cabi_wire_result_response, u.err);
CABI_SAME(cabi_opt_str, cabi_wire_option_list);
CABI_AT(cabi_opt_str, val, cabi_wire_option_list, value);

#undef CABI_SAME
#undef CABI_AT
#endif

#undef CABI_LAYOUT
#undef CABI_FIELD

#endif
