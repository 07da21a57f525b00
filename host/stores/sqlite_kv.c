/*
 * kv on SQLite: <state>/kv.sqlite, one table for all stores, expiry as epoch
 * ms in a column, swept lazily (expired rows read as absent and are replaced
 * on write). Read-modify-write operations run in one BEGIN IMMEDIATE
 * transaction, which SQLite makes serializable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/rt.h"
#include "sqlite.h"

/* Far beyond any real TTL (~146 million years), as redis_kv.c caps it: a
 * larger one would wrap now + ttl into the past and expire the key at once. */
#define MAX_TTL_MS (UINT64_C(1) << 62)

/* Expiry as epoch ms, 0 = never. */
static int64_t expiry(uint64_t ttl_ms)
{
    return ttl_ms ? (int64_t)(host_wall_ms() + (ttl_ms < MAX_TTL_MS ? ttl_ms : MAX_TTL_MS)) : 0;
}

/* One of this file's statements, from the connection's cache (sqlite.h). */
static int kv_prepare(struct conn *c, const char *sql, sqlite3_stmt **s)
{
    const char *tail;
    return sqlite_stmt(c, sql, strlen(sql), s, &tail);
}

/* Reads a live value inside the current transaction (or autocommit). */
static int kv_read(struct conn *c, const char *store, const void *key, size_t klen, void **val,
                   size_t *vlen, int *found, struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = kv_prepare(c,
                        "SELECT value FROM kv WHERE store=?1 AND key=?2 AND "
                        "(expires_at=0 OR expires_at>?3)",
                        &s);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, err, "kv read");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)host_wall_ms());
    rc = sqlite3_step(s);
    *found = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        if (val) {
            size_t n = (size_t)sqlite3_column_bytes(s, 0);
            *val = malloc(n ? n : 1);
            if (!*val) {
                sqlite_stmt_done(c, s);
                return host_fail(err, HOST_E_INTERNAL, "out of memory");
            }
            if (n)
                memcpy(*val, sqlite3_column_blob(s, 0), n);
            *vlen = n;
        }
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) {
        int r = sqlite_fail(c, rc, err, "kv read");
        sqlite_stmt_done(c, s);
        return r;
    }
    sqlite_stmt_done(c, s);
    return 0;
}

/* Lazy sweep: every 64th write on a worker also deletes up to 256 expired
 * rows, so idempotency, dedup and rate-limit records cannot pile up. Reads
 * already treat expired rows as absent; this only reclaims space. */
static void kv_sweep(struct conn *c)
{
    static _Thread_local unsigned writes;
    if (++writes % 64)
        return;
    sqlite3_stmt *s = NULL;
    if (kv_prepare(c,
                   "DELETE FROM kv WHERE (store, key) IN (SELECT store, key FROM kv "
                   "WHERE expires_at <> 0 AND expires_at <= ?1 LIMIT 256)",
                   &s) != SQLITE_OK)
        return;
    sqlite3_bind_int64(s, 1, (int64_t)host_wall_ms());
    sqlite3_step(s); /* best effort: a failure leaves rows for the next sweep */
    sqlite_stmt_done(c, s);
}

static int kv_write(struct conn *c, const char *store, const void *key, size_t klen,
                    const void *val, size_t vlen, uint64_t ttl_ms, struct host_err *err)
{
    kv_sweep(c);
    sqlite3_stmt *s = NULL;
    int rc = kv_prepare(c,
                        "INSERT INTO kv(store,key,value,expires_at) VALUES(?1,?2,?3,?4) "
                        "ON CONFLICT(store,key) DO UPDATE SET value=excluded.value, "
                        "expires_at=excluded.expires_at",
                        &s);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, err, "kv write");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, vlen ? val : "", (int)vlen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, expiry(ttl_ms));
    rc = sqlite3_step(s);
    sqlite_stmt_done(c, s);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, rc, err, "kv write");
}

static int kv_remove(struct conn *c, const char *store, const void *key, size_t klen,
                     struct host_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = kv_prepare(c, "DELETE FROM kv WHERE store=?1 AND key=?2", &s);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, err, "kv delete");
    sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite_stmt_done(c, s);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c, rc, err, "kv delete");
}

static int kv_get(struct host_store *s, const char *store, const void *key, size_t klen,
                  uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c)
        return -1;
    return kv_read(c, store, key, klen, val, vlen, found, err);
}

static int kv_set(struct host_store *s, const char *store, const void *key, size_t klen,
                  const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
                  struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c)
        return -1;
    return kv_write(c, store, key, klen, val, vlen, ttl_ms, err);
}

static int kv_add(struct host_store *s, const char *store, const void *key, size_t klen,
                  const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
                  struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c || sqlite_begin(c, err) != 0)
        return -1;
    int found = 0;
    *added = 0;
    if (kv_read(c, store, key, klen, NULL, NULL, &found, err) != 0)
        goto fail;
    if (!found) {
        if (kv_write(c, store, key, klen, val, vlen, ttl_ms, err) != 0)
            goto fail;
        *added = 1;
    }
    if (sqlite_commit(c, err) != 0) {
        *added = 0;
        return -1;
    }
    return 0;
fail:
    sqlite_rollback(c);
    return -1;
}

static int kv_increment(struct host_store *s, const char *store, const void *key, size_t klen,
                        int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                        struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c || sqlite_begin(c, err) != 0)
        return -1;
    void *old = NULL;
    size_t olen = 0;
    int found = 0;
    int64_t cur = 0;
    if (kv_read(c, store, key, klen, &old, &olen, &found, err) != 0)
        goto fail;
    if (found && host_kv_parse_counter(old, olen, &cur) != 0) {
        host_fail(err, HOST_E_INVALID, "kv increment: value is not an integer");
        goto fail;
    }
    if (__builtin_add_overflow(cur, delta, out)) {
        host_fail(err, HOST_E_INVALID, "kv increment: overflow");
        goto fail;
    }
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", (long long)*out);
    if (found) {
        /* keep the existing expiry: TTL is set on create only */
        sqlite3_stmt *s = NULL;
        int rc = kv_prepare(c, "UPDATE kv SET value=?3 WHERE store=?1 AND key=?2", &s);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, store, -1, SQLITE_STATIC);
            sqlite3_bind_blob(s, 2, key, (int)klen, SQLITE_STATIC);
            sqlite3_bind_blob(s, 3, text, n, SQLITE_STATIC);
            rc = sqlite3_step(s);
            sqlite_stmt_done(c, s);
        }
        if (rc != SQLITE_DONE) {
            sqlite_fail(c, rc, err, "kv increment");
            goto fail;
        }
    } else if (kv_write(c, store, key, klen, text, (size_t)n, ttl_ms, err) != 0) {
        goto fail;
    }
    free(old);
    return sqlite_commit(c, err);
fail:
    free(old);
    sqlite_rollback(c);
    return -1;
}

static int kv_swap(struct host_store *s, const char *store, const void *key, size_t klen,
                   const void *expected, size_t elen, int has_expected, const void *val,
                   size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *swapped,
                   struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c || sqlite_begin(c, err) != 0)
        return -1;
    void *old = NULL;
    size_t olen = 0;
    int found = 0;
    *swapped = 0;
    if (kv_read(c, store, key, klen, &old, &olen, &found, err) != 0)
        goto fail;
    int match = has_expected ? (found && olen == elen && memcmp(old, expected, elen) == 0) : !found;
    if (match) {
        if (kv_write(c, store, key, klen, val, vlen, ttl_ms, err) != 0)
            goto fail;
    }
    free(old);
    if (sqlite_commit(c, err) != 0)
        return -1;
    *swapped = match;
    return 0;
fail:
    free(old);
    sqlite_rollback(c);
    return -1;
}

static int kv_del(struct host_store *s, const char *store, const void *key, size_t klen,
                  uint32_t budget_ms, int *deleted, struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c || sqlite_begin(c, err) != 0)
        return -1;
    int found = 0;
    if (kv_read(c, store, key, klen, NULL, NULL, &found, err) != 0 ||
        kv_remove(c, store, key, klen, err) != 0) {
        sqlite_rollback(c);
        return -1;
    }
    if (sqlite_commit(c, err) != 0)
        return -1;
    *deleted = found;
    return 0;
}

static int kv_health(struct host_store *s, uint32_t budget_ms, struct host_err *err)
{
    struct conn *c = sqlite_kv_conn(s->state, budget_ms, err);
    if (!c)
        return -1;
    int rc = sqlite3_exec(c->db, "SELECT count(*) FROM kv WHERE 0", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_fail(c, rc, err, "kv health");
}

const struct host_kv_ops host_sqlite_kv_ops = {
    .backend = "sqlite",
    .open = sqlite_store_open,
    .close = sqlite_store_close,
    .health = kv_health,
    .thread_close = sqlite_thread_close,
    .get = kv_get,
    .set = kv_set,
    .add = kv_add,
    .increment = kv_increment,
    .swap = kv_swap,
    .del = kv_del,
};
