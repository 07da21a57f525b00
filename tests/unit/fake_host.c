/*
 * Scripted host imports for native unit tests; see fake_host.h.
 */
#include <stdio.h>
#include <string.h>

#include "../../shared/src/core_internal.h"
#include "fake_host.h"

struct fake_host fake;

/* core.h's memory rule holds in the unit build too: cJSON allocates from the
 * arena, as the handle export arranges in a module. Installed before main(),
 * so no test can make a cJSON value under another allocator. */
__attribute__((constructor)) static void adopt_json(void)
{
    bastion__arena_adopt_json();
}

/* see fake_host.h */
void fake_reset(void)
{
    memset(&fake, 0, sizeof fake);
    fake.error_tag = -1;
}

/* see fake_host.h */
size_t fake_count(enum fake_fn fn)
{
    size_t n = 0;
    for (size_t i = 0; i < fake.n_calls; i++)
        n += fake.calls[i].fn == fn;
    return n;
}

/* see fake_host.h */
const fake_call *fake_last(void)
{
    return fake.n_calls ? &fake.calls[fake.n_calls - 1] : NULL;
}

/* Reads every byte of (ptr, len), as the real host does when it copies a
 * guest slice, so that AddressSanitizer sees a slice that overruns. */
static void touch(const char *ptr, size_t len)
{
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < len; i++)
        sink ^= (unsigned char)ptr[i];
    (void)sink;
}

static void copy_bounded(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

static fake_call *record(enum fake_fn fn, const char *store, size_t store_len, const char *key,
                         size_t key_len, uint32_t timeout_ms)
{
    touch(store, store_len);
    touch(key, key_len);
    /* a runaway loop in the code under test reuses the last slot */
    fake_call *c = &fake.calls[fake.n_calls < FAKE_MAX_CALLS ? fake.n_calls++ : FAKE_MAX_CALLS - 1];
    memset(c, 0, sizeof *c);
    c->fn = fn;
    copy_bounded(c->store, sizeof c->store, store, store_len);
    copy_bounded(c->key, sizeof c->key, key, key_len);
    c->key_len = key_len;
    c->timeout_ms = timeout_ms;
    return c;
}

static void set_value(fake_call *c, const char *v, size_t n)
{
    touch(v, n);
    copy_bounded(c->value, sizeof c->value, v, n);
    c->value_len = n;
}

/* Fills `err` from the script; true when this call of `fn` is scripted to fail. */
static bool scripted_error(enum fake_fn fn, cabi_error *err)
{
    if (fake.error_tag < 0 || (fake.error_on_call && fake.error_on_call != fake.n_calls) ||
        (fake.error_fns && !(fake.error_fns & FAKE_FN_BIT(fn))))
        return false;
    err->tag = (uint8_t)fake.error_tag;
    /* case 0 (timeout) has no payload; case 6 (guard) a statement index */
    if (fake.error_tag == 6)
        err->u.statement = fake.guard_statement;
    else
        err->u.msg = fake.error_tag == 0
                         ? BASTION_STR_NULL
                         : bastion_cstr(fake.error_msg ? fake.error_msg : "fake failure");
    return true;
}

void cabi_kv_get(const char *store, size_t store_len, const char *key, size_t key_len,
                 uint32_t timeout_ms, cabi_ret_opt_bytes *ret)
{
    record(FAKE_KV_GET, store, store_len, key, key_len, timeout_ms);
    memset(ret, 0xA5, sizeof *ret); /* the host writes every field it defines */
    ret->is_err = scripted_error(FAKE_KV_GET, &ret->u.err);
    if (ret->is_err)
        return;
    ret->u.ok.is_some = fake.get_some;
    ret->u.ok.val.ptr = (uint8_t *)fake.get_value;
    ret->u.ok.val.len = fake.get_value_len;
}

void cabi_kv_set(const char *store, size_t store_len, const char *key, size_t key_len,
                 const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                 cabi_ret_bool *ret)
{
    fake_call *c = record(FAKE_KV_SET, store, store_len, key, key_len, timeout_ms);
    set_value(c, value, value_len);
    c->ttl_ms = ttl_ms;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_KV_SET, &ret->u.err);
}

void cabi_kv_add(const char *store, size_t store_len, const char *key, size_t key_len,
                 const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                 cabi_ret_bool *ret)
{
    fake_call *c = record(FAKE_KV_ADD, store, store_len, key, key_len, timeout_ms);
    set_value(c, value, value_len);
    c->ttl_ms = ttl_ms;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_KV_ADD, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.ok_bool;
}

void cabi_kv_increment(const char *store, size_t store_len, const char *key, size_t key_len,
                       int64_t delta, uint64_t ttl_ms, uint32_t timeout_ms, cabi_ret_s64 *ret)
{
    fake_call *c = record(FAKE_KV_INCREMENT, store, store_len, key, key_len, timeout_ms);
    c->delta = delta;
    c->ttl_ms = ttl_ms;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_KV_INCREMENT, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.ok_s64;
}

void cabi_kv_swap(const char *store, size_t store_len, const char *key, size_t key_len,
                  uint32_t has_expected, const char *expected, size_t expected_len,
                  const char *value, size_t value_len, uint64_t ttl_ms, uint32_t timeout_ms,
                  cabi_ret_bool *ret)
{
    fake_call *c = record(FAKE_KV_SWAP, store, store_len, key, key_len, timeout_ms);
    c->has_expected = has_expected != 0;
    if (has_expected) {
        touch(expected, expected_len);
        copy_bounded(c->expected, sizeof c->expected, expected, expected_len);
        c->expected_len = expected_len;
    }
    set_value(c, value, value_len);
    c->ttl_ms = ttl_ms;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_KV_SWAP, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.ok_bool;
}

void cabi_kv_delete(const char *store, size_t store_len, const char *key, size_t key_len,
                    uint32_t timeout_ms, cabi_ret_bool *ret)
{
    record(FAKE_KV_DELETE, store, store_len, key, key_len, timeout_ms);
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_KV_DELETE, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.ok_bool;
}

void cabi_sql_query(const char *db, size_t db_len, const char *sql, size_t sql_len,
                    const bastion_sql_value *params, size_t n_params, uint32_t timeout_ms,
                    cabi_ret_rows *ret)
{
    fake_call *c = record(FAKE_SQL_QUERY, db, db_len, sql, sql_len, timeout_ms);
    if (n_params)
        memcpy(c->params_kept, params,
               (n_params < FAKE_PARAMS_KEPT ? n_params : FAKE_PARAMS_KEPT) * sizeof *params);
    c->params = c->params_kept;
    c->params_from = params;
    c->n_params = n_params;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_SQL_QUERY, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.rows;
}

void cabi_sql_transaction(const char *db, size_t db_len, const cabi_statement *stmts, size_t n,
                          uint32_t timeout_ms, cabi_ret_rows_list *ret)
{
    fake_call *c = record(FAKE_SQL_TRANSACTION, db, db_len, "", 0, timeout_ms);
    for (size_t i = 0; i < n; i++)
        touch(stmts[i].sql.ptr, stmts[i].sql.len);
    c->stmts = stmts;
    c->n_stmts = n;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_SQL_TRANSACTION, &ret->u.err);
    if (!ret->is_err) {
        ret->u.ok.ptr = fake.rows_list;
        ret->u.ok.len = fake.n_rows_list;
    }
}

void cabi_http_send(const char *method, size_t method_len, const char *url, size_t url_len,
                    const bastion_header *headers, size_t n_headers, const char *body,
                    size_t body_len, uint32_t timeout_ms, cabi_ret_response *ret)
{
    fake_call *c = record(FAKE_HTTP_SEND, method, method_len, url, url_len, timeout_ms);
    for (size_t i = 0; i < n_headers; i++) {
        touch(headers[i].name.ptr, headers[i].name.len);
        touch(headers[i].value.ptr, headers[i].value.len);
    }
    c->headers = headers;
    c->n_headers = n_headers;
    set_value(c, body, body_len);
    memset(ret, 0xA5, sizeof *ret);
    ret->is_err = scripted_error(FAKE_HTTP_SEND, &ret->u.err);
    if (!ret->is_err)
        ret->u.ok = fake.http_response;
}

void cabi_config_get(const char *name, size_t name_len, cabi_opt_str *ret)
{
    touch(name, name_len);
    fake.n_config_gets++;
    memset(ret, 0xA5, sizeof *ret);
    ret->is_some = 0;
    for (size_t i = 0; i < 8 && fake.config_names[i]; i++) {
        if (strlen(fake.config_names[i]) == name_len &&
            memcmp(fake.config_names[i], name, name_len) == 0) {
            ret->is_some = 1;
            ret->val = bastion_cstr(fake.config_values[i]);
            return;
        }
    }
}

void cabi_log_write(uint32_t level, const char *msg, size_t msg_len, const bastion_header *fields,
                    size_t n)
{
    touch(msg, msg_len);
    if (fake.n_logs >= FAKE_MAX_LOGS)
        return;
    fake_log *l = &fake.logs[fake.n_logs++];
    l->level = level;
    copy_bounded(l->msg, sizeof l->msg, msg, msg_len);
    size_t o = 0;
    l->fields[0] = 0;
    for (size_t i = 0; i < n; i++) {
        touch(fields[i].name.ptr, fields[i].name.len);
        touch(fields[i].value.ptr, fields[i].value.len);
        int w = snprintf(l->fields + o, sizeof l->fields - o, "%.*s=%.*s;", (int)fields[i].name.len,
                         fields[i].name.ptr ? fields[i].name.ptr : "", (int)fields[i].value.len,
                         fields[i].value.ptr ? fields[i].value.ptr : "");
        if (w < 0 || (size_t)w >= sizeof l->fields - o)
            break;
        o += (size_t)w;
    }
}
