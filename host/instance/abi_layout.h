/*
 * The canonical-ABI layout of every WIT value the host reads from or writes
 * into guest memory (wit/bastion.wit). This is the only place that knows a
 * size, an alignment or an offset: bindings and the request/response code
 * move whole values of these types in and out of guest memory (guest_load,
 * guest_store in guest_memory.h) and name fields, never bytes.
 *
 * Rules (Component Model CanonicalABI.md, "Alignment", "Element Size" and
 * "Loading"; ../shared/ABI-NOTES.md "Sizes and alignment"):
 *   - bool, u8 and a discriminant of at most 256 cases: 1 / 1; u16 2 / 2;
 *     u32 4 / 4; u64, s64, f64 8 / 8.
 *   - string and list<T>: (ptr: u32, len: u32), 8 / 4; the elements lie at
 *     T's size and alignment.
 *   - record and tuple: fields in order, each at its own alignment; align is
 *     the largest field's; the size is rounded up to it.
 *   - variant (option, result, enum): the discriminant, then the payload at
 *     the largest case alignment; the size is rounded up to the whole align.
 * Each type below is a C struct of fixed-width members that follows these
 * rules for wasm32 (guest pointers are uint32_t; u64 members are declared
 * _Alignas(8), which i386's C ABI would not give them), and the asserts at
 * the end check each size, alignment and field offset against the number
 * the rules give, on every target the host is built for. Guest memory is
 * little-endian, so a struct is copied as bytes; big-endian hosts are
 * refused at compile time.
 */
#ifndef HOST_ABI_LAYOUT_H
#define HOST_ABI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "guest memory is little-endian: structs are copied as bytes");

/* --- scalars and lists ------------------------------------------------- */

/* string, list<T>: 8 / 4. For a string, len is UTF-8 bytes. */
typedef struct {
    uint32_t ptr, len;
} abi_list;

/* types.header { name, value } and tuple<string, string>: 16 / 4 */
typedef struct {
    abi_list name, value;
} abi_pair;

/* Discriminants of option<T> and result<T, E>. */
enum { ABI_NONE = 0, ABI_SOME = 1 };
enum { ABI_OK = 0, ABI_ERR = 1 };

/* --- types --------------------------------------------------------------- */

/* types.error, in case order; guard's payload is the 1-based statement. */
enum {
    ABI_ERROR_TIMEOUT = 0,
    ABI_ERROR_UNAVAILABLE = 1,
    ABI_ERROR_CONFLICT = 2,
    ABI_ERROR_INVALID = 3,
    ABI_ERROR_DENIED = 4,
    ABI_ERROR_INTERNAL = 5,
    ABI_ERROR_GUARD = 6,
};

/* types.error: disc @0, payload @4 (a string, guard's u32, or nothing for
 * timeout); 12 / 4 */
typedef struct {
    uint8_t disc;
    union {
        abi_list text;
        uint32_t statement;
    } u;
} abi_error;

/* types.trigger */
enum { ABI_TRIGGER_HTTP = 0, ABI_TRIGGER_CRON = 1 };

/* types.request: 88 / 8 (deadline-ms makes it 8-aligned) */
typedef struct {
    uint8_t trigger;
    abi_list method, path, query, route;
    abi_list params;  /* list<tuple<string, string>>: abi_pair elements */
    abi_list headers; /* list<header>: abi_pair elements */
    abi_list body;
    abi_list client_ip, request_id;
    _Alignas(8) uint64_t deadline_ms;
} abi_request;

/* types.response: 20 / 4 */
typedef struct {
    uint16_t status;
    abi_list headers; /* abi_pair elements */
    abi_list body;
} abi_response;

/* --- kv ------------------------------------------------------------------ */

/* option<list<u8>>: 12 / 4 */
typedef struct {
    uint8_t disc;
    abi_list value;
} abi_option_list;

/* kv.get → result<option<list<u8>>, error>: payload @4; 16 / 4 */
typedef struct {
    uint8_t disc;
    union {
        abi_option_list ok;
        abi_error err;
    } u;
} abi_result_option_list;

/* kv.set → result<_, error>: 16 / 4 */
typedef struct {
    uint8_t disc;
    union {
        abi_error err;
    } u;
} abi_result_unit;

/* kv.add, kv.swap, kv.delete → result<bool, error>: 16 / 4 */
typedef struct {
    uint8_t disc;
    union {
        uint8_t ok; /* 0 or 1 */
        abi_error err;
    } u;
} abi_result_bool;

/* kv.increment → result<s64, error>: payload @8; 24 / 8 */
typedef struct {
    uint8_t disc;
    union {
        _Alignas(8) int64_t ok;
        abi_error err;
    } u;
} abi_result_s64;

/* --- sql ----------------------------------------------------------------- */

/* sql.value, in case order */
enum {
    ABI_VALUE_NULL = 0,
    ABI_VALUE_INTEGER = 1,
    ABI_VALUE_REAL = 2,
    ABI_VALUE_TEXT = 3,
    ABI_VALUE_BLOB = 4,
};

/* sql.value: disc @0, payload @8; 16 / 8 */
typedef struct {
    uint8_t disc;
    union {
        _Alignas(8) int64_t integer;
        double real;
        abi_list bytes; /* text (UTF-8) or blob */
    } u;
} abi_value;

/* sql.rows: 24 / 8 */
typedef struct {
    abi_list columns; /* list<string>: abi_list elements */
    abi_list rows;    /* list<list<value>>: abi_list elements of abi_value */
    _Alignas(8) uint64_t changes;
} abi_rows;

/* option<u64>: 16 / 8 */
typedef struct {
    uint8_t disc;
    _Alignas(8) uint64_t value;
} abi_option_u64;

/* sql.statement: 32 / 8 */
typedef struct {
    abi_list sql;
    abi_list params; /* abi_value elements */
    abi_option_u64 expect_changes;
} abi_statement;

/* sql.query → result<rows, error>: payload @8; 32 / 8 */
typedef struct {
    uint8_t disc;
    union {
        abi_rows ok;
        abi_error err;
    } u;
} abi_result_rows;

/* sql.transaction → result<list<rows>, error>: payload @4; 16 / 4 */
typedef struct {
    uint8_t disc;
    union {
        abi_list ok; /* abi_rows elements */
        abi_error err;
    } u;
} abi_result_rows_list;

/* --- http-out, config, log ------------------------------------------------ */

/* http-out.send → result<response, error>: payload @4; 24 / 4 */
typedef struct {
    uint8_t disc;
    union {
        abi_response ok;
        abi_error err;
    } u;
} abi_result_response;

/* config.get → option<string>: 12 / 4 (abi_option_list) */

/* log.level, in case order */
enum { ABI_LOG_DEBUG = 0, ABI_LOG_INFO = 1, ABI_LOG_WARN = 2, ABI_LOG_ERROR = 3 };

/* --- WASI preview1 (witx, not the canonical ABI; same rules for these) ---- */

/* ciovec { buf: u32, buf_len: u32 }: 8 / 4 */
typedef struct {
    uint32_t buf, len;
} abi_wasi_iovec;

/* --- the numbers the rules give, on every target ---------------------------- */

#define ABI_LAYOUT(type, size, align)                                                              \
    _Static_assert(sizeof(type) == (size) && _Alignof(type) == (align), #type " size/align")
#define ABI_FIELD(type, field, offset)                                                             \
    _Static_assert(offsetof(type, field) == (offset), #type "." #field " offset")

ABI_LAYOUT(abi_list, 8, 4);
ABI_FIELD(abi_list, len, 4);
ABI_LAYOUT(abi_pair, 16, 4);
ABI_FIELD(abi_pair, value, 8);
ABI_LAYOUT(abi_error, 12, 4);
ABI_FIELD(abi_error, u.text, 4);
ABI_FIELD(abi_error, u.statement, 4);

ABI_LAYOUT(abi_request, 88, 8);
ABI_FIELD(abi_request, method, 4);
ABI_FIELD(abi_request, path, 12);
ABI_FIELD(abi_request, query, 20);
ABI_FIELD(abi_request, route, 28);
ABI_FIELD(abi_request, params, 36);
ABI_FIELD(abi_request, headers, 44);
ABI_FIELD(abi_request, body, 52);
ABI_FIELD(abi_request, client_ip, 60);
ABI_FIELD(abi_request, request_id, 68);
ABI_FIELD(abi_request, deadline_ms, 80);
ABI_LAYOUT(abi_response, 20, 4);
ABI_FIELD(abi_response, headers, 4);
ABI_FIELD(abi_response, body, 12);

ABI_LAYOUT(abi_option_list, 12, 4);
ABI_FIELD(abi_option_list, value, 4);
ABI_LAYOUT(abi_result_option_list, 16, 4);
ABI_FIELD(abi_result_option_list, u.ok.value, 8);
ABI_FIELD(abi_result_option_list, u.err, 4);
ABI_LAYOUT(abi_result_unit, 16, 4);
ABI_FIELD(abi_result_unit, u.err, 4);
ABI_LAYOUT(abi_result_bool, 16, 4);
ABI_FIELD(abi_result_bool, u.ok, 4);
ABI_FIELD(abi_result_bool, u.err, 4);
ABI_LAYOUT(abi_result_s64, 24, 8);
ABI_FIELD(abi_result_s64, u.ok, 8);
ABI_FIELD(abi_result_s64, u.err, 8);

ABI_LAYOUT(abi_value, 16, 8);
ABI_FIELD(abi_value, u.integer, 8);
ABI_FIELD(abi_value, u.real, 8);
ABI_FIELD(abi_value, u.bytes, 8);
ABI_LAYOUT(abi_rows, 24, 8);
ABI_FIELD(abi_rows, rows, 8);
ABI_FIELD(abi_rows, changes, 16);
ABI_LAYOUT(abi_option_u64, 16, 8);
ABI_FIELD(abi_option_u64, value, 8);
ABI_LAYOUT(abi_statement, 32, 8);
ABI_FIELD(abi_statement, params, 8);
ABI_FIELD(abi_statement, expect_changes.disc, 16);
ABI_FIELD(abi_statement, expect_changes.value, 24);
ABI_LAYOUT(abi_result_rows, 32, 8);
ABI_FIELD(abi_result_rows, u.ok, 8);
ABI_FIELD(abi_result_rows, u.err, 8);
ABI_LAYOUT(abi_result_rows_list, 16, 4);
ABI_FIELD(abi_result_rows_list, u.ok, 4);
ABI_FIELD(abi_result_rows_list, u.err, 4);

ABI_LAYOUT(abi_result_response, 24, 4);
ABI_FIELD(abi_result_response, u.ok.status, 4);
ABI_FIELD(abi_result_response, u.ok.headers, 8);
ABI_FIELD(abi_result_response, u.ok.body, 16);
ABI_FIELD(abi_result_response, u.err, 4);

ABI_LAYOUT(abi_wasi_iovec, 8, 4);
ABI_FIELD(abi_wasi_iovec, len, 4);

#undef ABI_LAYOUT
#undef ABI_FIELD

#endif
