/*
 * A scripted stand-in for the host imports declared in
 * shared/src/bindings_internal.h, for native unit tests.
 *
 * Every store and outbound call (kv, sql, http-out) is recorded in
 * `fake.calls` in order, so a test can prove what was called first and with
 * which timeout. config.get and log.write are not store calls: they are
 * counted in `n_config_gets` and captured in `logs`. Results come from the script
 * fields: `error_tag` >= 0 makes every kv/sql call fail with that WIT
 * `types.error` case (0 timeout … 5 internal), or only the calls named in
 * `error_fns` when that mask is not 0; otherwise each call succeeds with the
 * value its script field holds. Results use the exact canonical-ABI
 * structs of bindings_layout.h, as the real host writes them.
 *
 * Strings the fake returns (values, error text, config) are borrowed from
 * the script and must outlive the call; the core copies what it keeps.
 */
#ifndef BASTION_FAKE_HOST_H
#define BASTION_FAKE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../shared/src/bindings_internal.h"

enum fake_fn {
    FAKE_KV_GET,
    FAKE_KV_SET,
    FAKE_KV_ADD,
    FAKE_KV_INCREMENT,
    FAKE_KV_SWAP,
    FAKE_KV_DELETE,
    FAKE_SQL_QUERY,
    FAKE_SQL_TRANSACTION,
    FAKE_HTTP_SEND,
};

#define FAKE_MAX_CALLS   64
#define FAKE_FN_BIT(fn)  (1u << (fn))
#define FAKE_MAX_LOGS    16
#define FAKE_PARAMS_KEPT 16

typedef struct {
    enum fake_fn fn;
    char store[64];  /* store, db or http method */
    char key[256];   /* key, SQL text for sql.query, URL for http-out */
    size_t key_len;  /* the full length passed, even when longer than key[] */
    char value[256]; /* kv value or http-out body */
    size_t value_len;
    bool has_expected; /* swap: option<list<u8>> is some */
    char expected[64];
    size_t expected_len;
    int64_t delta;
    uint64_t ttl_ms;
    uint32_t timeout_ms;
    /* sql.query: a copy of the first FAKE_PARAMS_KEPT parameters (their text
     * still borrowed), since callers' arrays live on frames that are gone by
     * the time a test looks */
    const bastion_sql_value *params;
    bastion_sql_value params_kept[FAKE_PARAMS_KEPT];
    const bastion_sql_value *params_from; /* the caller's array itself */
    size_t n_params;
    const cabi_statement *stmts; /* borrowed from the caller */
    size_t n_stmts;
    const bastion_header *headers; /* http-out: borrowed from the caller */
    size_t n_headers;
} fake_call;

typedef struct {
    uint32_t level;
    char msg[128];
    char fields[1024]; /* "name=value;" for each field */
} fake_log;

struct fake_host {
    /* recorded */
    fake_call calls[FAKE_MAX_CALLS];
    size_t n_calls;
    fake_log logs[FAKE_MAX_LOGS];
    size_t n_logs;
    size_t n_config_gets;

    /* script */
    int error_tag;            /* -1: succeed; 0..6: fail with that error case */
    size_t error_on_call;     /* with error_tag: 0 every call fails, N only the Nth in calls[] */
    unsigned error_fns;       /* with error_tag >= 0: 0 = every call fails, else only the
                                 calls whose bit FAKE_FN_BIT(fn) is set */
    const char *error_msg;    /* payload of cases 1..5 */
    uint32_t guard_statement; /* payload of case 6, guard */
    bool get_some;            /* kv.get: option is some */
    const char *get_value;
    size_t get_value_len;
    bool ok_bool;         /* kv.add / kv.swap / kv.delete result */
    int64_t ok_s64;       /* kv.increment result */
    cabi_rows rows;       /* sql.query result */
    cabi_rows *rows_list; /* sql.transaction result */
    size_t n_rows_list;
    cabi_response http_response; /* http-out.send result */
    const char *config_names[8];
    const char *config_values[8];
};

extern struct fake_host fake;

/* Forgets every call and resets the script to "all calls succeed". */
void fake_reset(void);
/* Number of recorded calls of `fn`. */
size_t fake_count(enum fake_fn fn);
/* The last recorded call, or NULL. */
const fake_call *fake_last(void);

#endif
