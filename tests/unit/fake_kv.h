/*
 * A kv store with the host's semantics for unit tests of core modules whose
 * behaviour spans requests (idempotency, breaker): add is set-if-absent,
 * increment sets its TTL on create only, swap compares, values expire, and
 * the clock is the test's. Include it after unit.h, then #include the .c under test: the
 * bastion_kv_* calls and bastion_now_ms are renamed to this model (the
 * scripted fake_host.c models none of that; host.c itself is tested in
 * host_test.c).
 */
#ifndef UNIT_FAKE_KV_H
#define UNIT_FAKE_KV_H

/* --- a kv store with real semantics ---------------------------------------- */

enum tkv_op { TKV_GET, TKV_SET, TKV_ADD, TKV_INCREMENT, TKV_SWAP, TKV_DELETE };

typedef struct {
    enum tkv_op op;
    char key[128];
    uint64_t ttl_ms;
    size_t value_len;
} tkv_call;

typedef struct {
    bool used;
    char store[32];
    char key[128];
    char *val;
    size_t len;
    uint64_t expires; /* 0 = never */
} tkv_entry;

static struct {
    uint64_t now;
    tkv_entry e[32];
    tkv_call calls[128];
    size_t n_calls;
    unsigned fail_mask;      /* 1 << op: that op fails with fail_rc */
    bastion_host_rc fail_rc; /* UNAVAILABLE unless a test says otherwise */
} tkv;

static void tkv_reset(void)
{
    for (size_t i = 0; i < 32; i++)
        free(tkv.e[i].val);
    memset(&tkv, 0, sizeof tkv);
    tkv.now = 1700000000000ull;
    tkv.fail_rc = BASTION_HOST_UNAVAILABLE;
}

static bool tkv_live(const tkv_entry *e)
{
    return e->used && (e->expires == 0 || tkv.now < e->expires);
}

static tkv_entry *tkv_find(const char *store, bastion_str key)
{
    for (size_t i = 0; i < 32; i++) {
        tkv_entry *e = &tkv.e[i];
        if (tkv_live(e) && strcmp(e->store, store) == 0 && strlen(e->key) == key.len &&
            memcmp(e->key, key.ptr, key.len) == 0)
            return e;
    }
    return NULL;
}

static void tkv_write(const char *store, bastion_str key, const void *v, size_t n, uint64_t ttl)
{
    tkv_entry *e = tkv_find(store, key);
    for (size_t i = 0; !e && i < 32; i++)
        if (!tkv_live(&tkv.e[i]))
            e = &tkv.e[i];
    assert_non_null(e);
    assert_true(key.len < sizeof e->key && strlen(store) < sizeof e->store);
    free(e->val);
    e->used = true;
    snprintf(e->store, sizeof e->store, "%s", store);
    memcpy(e->key, key.ptr, key.len);
    e->key[key.len] = 0;
    e->val = malloc(n ? n : 1);
    if (n)
        memcpy(e->val, v, n);
    e->len = n;
    e->expires = ttl ? tkv.now + ttl : 0;
}

/* Records the call; true when it is scripted to fail. */
static bool tkv_record(enum tkv_op op, bastion_str key, uint64_t ttl, size_t value_len)
{
    assert_true(tkv.n_calls < 128);
    tkv_call *c = &tkv.calls[tkv.n_calls++];
    c->op = op;
    snprintf(c->key, sizeof c->key, "%.*s", (int)key.len, key.ptr);
    c->ttl_ms = ttl;
    c->value_len = value_len;
    return (tkv.fail_mask >> op) & 1;
}

static size_t tkv_count(enum tkv_op op)
{
    size_t n = 0;
    for (size_t i = 0; i < tkv.n_calls; i++)
        n += tkv.calls[i].op == op;
    return n;
}

static const tkv_call *tkv_last(enum tkv_op op)
{
    for (size_t i = tkv.n_calls; i-- > 0;)
        if (tkv.calls[i].op == op)
            return &tkv.calls[i];
    return NULL;
}

static bastion_host_rc tkv_get(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str *value, bool *found)
{
    (void)cx;
    *found = false;
    if (tkv_record(TKV_GET, key, 0, 0))
        return tkv.fail_rc;
    tkv_entry *e = tkv_find(store, key);
    *found = e != NULL;
    if (value) /* copied into the arena, as host.c does */
        *value = e ? (bastion_str){bastion_str_dup((bastion_str){e->val, e->len}), e->len}
                   : BASTION_STR_NULL;
    return BASTION_HOST_OK;
}

static bastion_host_rc tkv_set(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms)
{
    (void)cx;
    if (tkv_record(TKV_SET, key, ttl_ms, value.len))
        return tkv.fail_rc;
    tkv_write(store, key, value.ptr, value.len, ttl_ms);
    return BASTION_HOST_OK;
}

static bastion_host_rc tkv_add(bastion_ctx *cx, const char *store, bastion_str key,
                               bastion_str value, uint64_t ttl_ms, bool *added)
{
    (void)cx;
    *added = false;
    if (tkv_record(TKV_ADD, key, ttl_ms, value.len))
        return tkv.fail_rc;
    if (tkv_find(store, key))
        return BASTION_HOST_OK;
    tkv_write(store, key, value.ptr, value.len, ttl_ms);
    *added = true;
    return BASTION_HOST_OK;
}

static bastion_host_rc tkv_increment(bastion_ctx *cx, const char *store, bastion_str key,
                                     int64_t delta, uint64_t ttl_ms, int64_t *value)
{
    (void)cx;
    if (tkv_record(TKV_INCREMENT, key, ttl_ms, 0))
        return tkv.fail_rc;
    tkv_entry *e = tkv_find(store, key);
    int64_t v = 0;
    uint64_t ttl = ttl_ms; /* TTL on create only */
    if (e) {
        char buf[32];
        if (e->len == 0 || e->len >= sizeof buf)
            return BASTION_HOST_INVALID;
        memcpy(buf, e->val, e->len);
        buf[e->len] = 0;
        char *end;
        v = strtoll(buf, &end, 10);
        if (*end)
            return BASTION_HOST_INVALID;
        ttl = e->expires ? e->expires - tkv.now : 0;
    }
    v += delta;
    char out[32];
    int n = snprintf(out, sizeof out, "%lld", (long long)v);
    tkv_write(store, key, out, (size_t)n, ttl);
    *value = v;
    return BASTION_HOST_OK;
}

static bastion_host_rc tkv_swap(bastion_ctx *cx, const char *store, bastion_str key,
                                bastion_str expected, bastion_str value, uint64_t ttl_ms,
                                bool *swapped)
{
    (void)cx;
    *swapped = false;
    if (tkv_record(TKV_SWAP, key, ttl_ms, value.len))
        return tkv.fail_rc;
    tkv_entry *e = tkv_find(store, key);
    if (expected.ptr == NULL
            ? e != NULL
            : !e || e->len != expected.len || memcmp(e->val, expected.ptr, expected.len) != 0)
        return BASTION_HOST_OK;
    tkv_write(store, key, value.ptr, value.len, ttl_ms);
    *swapped = true;
    return BASTION_HOST_OK;
}

static bastion_host_rc tkv_delete(bastion_ctx *cx, const char *store, bastion_str key,
                                  bool *deleted)
{
    (void)cx;
    *deleted = false;
    if (tkv_record(TKV_DELETE, key, 0, 0))
        return tkv.fail_rc;
    tkv_entry *e = tkv_find(store, key);
    if (e) {
        e->used = false;
        *deleted = true;
    }
    return BASTION_HOST_OK;
}

static uint64_t tkv_now_ms(void)
{
    return tkv.now;
}

/* The single live entry whose key starts with `prefix`, or NULL. */
static tkv_entry *tkv_only(const char *prefix)
{
    tkv_entry *hit = NULL;
    for (size_t i = 0; i < 32; i++) {
        if (tkv_live(&tkv.e[i]) && strncmp(tkv.e[i].key, prefix, strlen(prefix)) == 0) {
            assert_null(hit);
            hit = &tkv.e[i];
        }
    }
    return hit;
}

/* The model itself, against the host's contract (tests/host/test_bindings.py):
 * the tests below mean nothing if the store they run on is wrong. */
static void test_kv_model_matches_host_semantics(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_str k = BASTION_LIT("k"), v;
    bool ok, found;
    int64_t n;
    assert_int_equal(tkv_add(&cx, "s", k, BASTION_LIT("first"), 0, &ok), BASTION_HOST_OK);
    assert_true(ok);
    tkv_add(&cx, "s", k, BASTION_LIT("second"), 0, &ok);
    assert_false(ok);
    tkv_get(&cx, "other", k, &v, &found);
    assert_false(found); /* stores are separate namespaces */
    tkv_swap(&cx, "s", k, BASTION_STR_NULL, BASTION_LIT("x"), 0, &ok);
    assert_false(ok); /* expected none: must be absent */
    tkv_swap(&cx, "s", k, BASTION_LIT("zzz"), BASTION_LIT("x"), 0, &ok);
    assert_false(ok);
    tkv_swap(&cx, "s", k, BASTION_LIT("first"), BASTION_LIT("b"), 300, &ok);
    assert_true(ok);
    tkv_get(&cx, "s", k, &v, &found);
    assert_true(found && unit_str_is(v, "b"));
    tkv.now += 300; /* expired counts as absent for get, add and swap */
    tkv_get(&cx, "s", k, &v, &found);
    assert_false(found);
    tkv_swap(&cx, "s", k, BASTION_STR_NULL, BASTION_LIT("c"), 0, &ok);
    assert_true(ok);
    tkv_delete(&cx, "s", k, &ok);
    assert_true(ok);
    tkv_delete(&cx, "s", k, &ok);
    assert_false(ok);
    /* increment: TTL on create only */
    tkv_increment(&cx, "s", BASTION_LIT("c"), 5, 400, &n);
    assert_int_equal(n, 5);
    tkv.now += 200;
    tkv_increment(&cx, "s", BASTION_LIT("c"), 1, 60000, &n);
    assert_int_equal(n, 6);
    tkv.now += 200;
    tkv_increment(&cx, "s", BASTION_LIT("c"), 1, 60000, &n);
    assert_int_equal(n, 1);
    tkv_set(&cx, "s", k, BASTION_LIT("abc"), 0);
    assert_int_equal(tkv_increment(&cx, "s", k, 1, 0, &n), BASTION_HOST_INVALID);
    tkv.fail_mask = 1u << TKV_GET;
    tkv.fail_rc = BASTION_HOST_TIMEOUT;
    assert_int_equal(tkv_get(&cx, "s", k, &v, &found), BASTION_HOST_TIMEOUT);
    assert_false(found);
}

#define bastion_kv_get       tkv_get
#define bastion_kv_set       tkv_set
#define bastion_kv_add       tkv_add
#define bastion_kv_increment tkv_increment
#define bastion_kv_swap      tkv_swap
#define bastion_kv_delete    tkv_delete
#define bastion_now_ms       tkv_now_ms
#endif
