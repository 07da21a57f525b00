/*
 * kv on Redis (issue #9): the store a fleet of hosts shares (DESIGN.md,
 * "Scale"). Configured as `[kv.NAME] backend = "redis"` with
 * `url = "redis://[[user]:password@]host[:port][/db]"` (TCP only).
 *
 * Every key is `<key_prefix><store>:<key bytes>` (key_prefix defaults to
 * "bastion:"), sent binary-safe with its length, so the stores granted to
 * functions never meet on one Redis (store names are [a-z0-9_-], so no
 * store's prefix is another's) and deployments sharing one Redis differ by
 * key_prefix. Values are the raw bytes; counters are decimal ASCII, as
 * sqlite_kv.c stores them.
 *
 *   get        GET
 *   set        SET k v [PX ttl]           ttl 0 = no expiry, replaces any expiry
 *   add        SET k v NX [PX ttl]        CONC3: Redis decides the one winner
 *   increment  EVAL INCR_SCRIPT           CONC2: INCRBY, PEXPIRE on create only
 *   swap       SET NX (expected none) or EVAL SWAP_SCRIPT (compare-and-set)
 *   delete     DEL
 *
 * One connection per worker thread per store (the same as sqlite.c's
 * conns), made lazily, with AUTH and SELECT on each new one. Every wait is
 * bounded by the call's budget: the connect's timeout is the budget, and the
 * socket's send/receive timeouts are set to what is left of it before every
 * write and every read (not once per command: a reply trickling in would
 * then be bounded per read only). After an I/O error or a timeout the connection is freed, so the
 * next call reconnects (a reply may still be on its way on the old one).
 * Not bounded: resolving a host name (getaddrinfo); configure an address
 * where that matters.
 *
 * Messages in host_err never carry key or value bytes: only our own text,
 * hiredis's error text (errno strings) and the first word of a Redis error
 * reply, never the rest (an "unknown command" reply quotes its arguments).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "rt/rt.h"
#include "store.h"

#define URL_FORM "redis://[[user]:password@]host[:port][/db]"

/* What open() parsed from the URL: s->impl. */
struct redis_cfg {
    unsigned id; /* tells this store's connections from those of a freed one at the same address */
    char host[256];
    int port;
    int db;
    char user[128]; /* "" = the default user */
    char password[256];
    int has_password;
};

/* This thread's connections, one per store (keyed by redis_cfg.id). */
#define MAX_CONNS 16
struct rconn {
    unsigned id;
    redisContext *ctx;
};
static _Thread_local struct rconn conns[MAX_CONNS];

/* Far beyond any real TTL (~146 million years) and far below where Redis
 * refuses an expiry whose clock arithmetic would overflow. */
#define MAX_TTL_MS (UINT64_C(1) << 62)

/* --- URL ------------------------------------------------------------------ */

/* Copies [p, end) percent-decoded (RFC 3986 §2.1) into out[cap], so a
 * password may hold ':', '@' or '/'. NUL stays refused: AUTH would cut there. */
static int decode_part(const char *p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    for (; p < end; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = end - p > 2 ? host_hex_digit(p[1]) : -1,
                lo = hi >= 0 ? host_hex_digit(p[2]) : -1;
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            p += 2;
        }
        if (c == 0 || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return 0;
}

/* A decimal in [min, max] spanning exactly [p, end). */
static int parse_decimal(const char *p, const char *end, long min, long max, int *out)
{
    long v = 0;
    if (p == end || end - p > 9)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* userinfo is ":password" or "user:password" (Redis 6 ACL users). */
static const char *parse_userinfo(const char *p, const char *end, struct redis_cfg *cfg)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        return "the user info must be :password or user:password";
    if (decode_part(p, colon, cfg->user, sizeof cfg->user) != 0 ||
        decode_part(colon + 1, end, cfg->password, sizeof cfg->password) != 0)
        return "bad percent-encoding or too long a user or password";
    cfg->has_password = 1;
    return NULL;
}

/* host, [v6 literal], optional :port */
static const char *parse_hostport(const char *p, const char *end, struct redis_cfg *cfg)
{
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return "an unterminated [IPv6] host";
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        host_end = host_end ? host_end : end;
        p = host_end;
    }
    size_t n = (size_t)(host_end - host);
    if (n == 0 || n >= sizeof cfg->host)
        return "a missing or too long host";
    memcpy(cfg->host, host, n);
    cfg->host[n] = 0;
    cfg->port = 6379;
    if (p == end)
        return NULL;
    if (*p != ':' || parse_decimal(p + 1, end, 1, 65535, &cfg->port) != 0)
        return "a bad port (1-65535)";
    return NULL;
}

/* Returns NULL when `url` is a redis:// URL, else what is wrong with it. */
static const char *parse_url(const char *url, struct redis_cfg *cfg)
{
    static const char scheme[] = "redis://";
    if (!url)
        return "no url";
    if (strncasecmp(url, "rediss://", 9) == 0)
        return "TLS (rediss://) is not supported";
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        return "not a redis:// URL (only TCP is supported)";
    const char *p = url + sizeof scheme - 1;
    if (strpbrk(p, "?# \t\r\n"))
        return "a query, fragment or space";
    const char *path = strchr(p, '/');
    const char *end = path ? path : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        at = *q == '@' ? q : at; /* the last '@': the host never holds one */
    const char *why = at ? parse_userinfo(p, at, cfg) : NULL;
    if (!why)
        why = parse_hostport(at ? at + 1 : p, end, cfg);
    if (!why && path && path[1] &&
        parse_decimal(path + 1, path + strlen(path), 0, 1000000, &cfg->db))
        why = "a bad database number";
    return why;
}

/* --- one call ------------------------------------------------------------ */

/* A kv call in progress: its budget, its connection and its namespaced key. */
struct call {
    struct host_store *s;
    struct rconn *conn;
    uint64_t deadline_ns;
    const char *what; /* "kv get", for messages */
    char *key;        /* <key_prefix><store>:<key bytes>, malloc'd; NULL for health */
    size_t klen;
    struct host_err *err;
};

/* An argument vector for redisCommandArgv; every slice borrowed. (hiredis
 * 0.14 takes it as non-const, though it only reads it.) */
struct args {
    int n;
    const char *v[8];
    size_t len[8];
};

static void arg(struct args *a, const void *p, size_t n)
{
    a->v[a->n] = n ? p : ""; /* a NULL slice of length 0 is still an argument */
    a->len[a->n++] = n;
}

static void arg_str(struct args *a, const char *s)
{
    arg(a, s, strlen(s));
}

static void drop(struct call *c)
{
    if (c->conn && c->conn->ctx) {
        redisFree(c->conn->ctx);
        c->conn->ctx = NULL;
    }
}

/* What is left of the budget as a socket timeout; fails with timeout below
 * 1 ms, because a zero timeval means "wait forever" to the kernel. */
static int budget_left(struct call *c, struct timeval *tv)
{
    uint64_t now = host_now_ns();
    if (now + 1000000 > c->deadline_ns)
        return host_fail(c->err, HOST_E_TIMEOUT, "%s: budget exhausted", c->what);
    uint64_t us = (c->deadline_ns - now) / 1000;
    tv->tv_sec = (time_t)(us / 1000000);
    tv->tv_usec = (suseconds_t)(us % 1000000);
    return 0;
}

/* Maps a failed connect or command (ctx->err set). The caller then frees
 * the connection: its stream may be mid-reply, so nothing after could trust
 * it. errno is the one the failing read, write or poll left. */
static int io_fail(struct call *c, const redisContext *ctx, int saved_errno)
{
    int late = host_now_ns() >= c->deadline_ns;
    if (late || (ctx->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == ETIMEDOUT)))
        host_fail(c->err, HOST_E_TIMEOUT, "%s: redis: budget exhausted", c->what);
    else if (ctx->err == REDIS_ERR_PROTOCOL || ctx->err == REDIS_ERR_OOM)
        /* a protocol error's text quotes a byte of the stream: not copied */
        host_fail(c->err, HOST_E_INTERNAL, "%s: redis: %s", c->what,
                  ctx->err == REDIS_ERR_OOM ? "out of memory" : "protocol error");
    else
        host_fail(c->err, HOST_E_UNAVAILABLE, "%s: redis: %s", c->what, ctx->errstr);
    return -1;
}

/* Error reply codes that mean the server cannot serve now (loading, a
 * replica, failing over, out of memory, a script hogging it, our login
 * refused): retryable, so `unavailable`, as sqlite_fail maps a full disk. */
static int unavailable_code(const char *code)
{
    static const char *const codes[] = {
        "LOADING",   "MASTERDOWN", "READONLY", "BUSY",        "OOM",        "NOAUTH",
        "WRONGPASS", "NOPERM",     "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS",
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (strcmp(code, codes[i]) == 0)
            return 1;
    return 0;
}

/* Maps an error reply by its code, the first word (the protocol's machine
 * readable part). Our scripts answer "INVALID <our text>". */
static int reply_fail(struct call *c, const redisReply *r)
{
    char code[24];
    size_t n = 0;
    for (; n + 1 < sizeof code && n < r->len; n++) {
        if (!((r->str[n] >= 'A' && r->str[n] <= 'Z') || r->str[n] == '_'))
            break;
        code[n] = r->str[n];
    }
    code[n] = 0;
    if (strcmp(code, "INVALID") == 0)
        return host_fail(c->err, HOST_E_INVALID, "%s: %s", c->what, r->str + n + (n < r->len));
    /* a server at maxclients says so with a plain ERR, the one such text */
    static const char full[] = "ERR max number of clients reached";
    int at_max = r->len >= sizeof full - 1 && memcmp(r->str, full, sizeof full - 1) == 0;
    if (unavailable_code(code) || at_max) {
        drop(c); /* after a failover, a new connection may reach the new primary */
        return host_fail(c->err, HOST_E_UNAVAILABLE, "%s: redis %s", c->what,
                         at_max ? "max clients" : code);
    }
    return host_fail(c->err, HOST_E_INTERNAL, "%s: redis error %s", c->what, code[0] ? code : "?");
}

/* Arms the socket's send/receive timeouts with what is left of the budget,
 * before each write or read: hiredis's own blocking loop (redisCommandArgv)
 * reads again and again with one timeout set once, so a reply trickling in
 * a byte at a time could hold the call far past its budget. */
static int arm(struct call *c)
{
    struct timeval tv;
    if (budget_left(c, &tv) != 0)
        return -1;
    if (redisSetTimeout(c->conn->ctx, tv) != REDIS_OK)
        return io_fail(c, c->conn->ctx, errno);
    errno = 0;
    return 0;
}

/* Sends one command within the budget. Returns its reply (the caller frees
 * it), or NULL with c->err filled; an error reply is a failure too. */
static redisReply *command(struct call *c, struct args *a)
{
    redisContext *ctx = c->conn->ctx;
    if (arm(c) != 0) {
        drop(c);
        return NULL;
    }
    if (redisAppendCommandArgv(ctx, a->n, a->v, a->len) != REDIS_OK) {
        io_fail(c, ctx, errno);
        drop(c);
        return NULL;
    }
    /* Once appended, any failure leaves the stream mid-command or mid-reply:
     * the connection goes (drop), so nothing of it reaches the next call. */
    void *reply = NULL;
    for (int done = 0; !done;) {
        if (arm(c) != 0)
            goto fail;
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            goto io;
    }
    for (;;) {
        if (redisGetReplyFromReader(ctx, &reply) != REDIS_OK)
            goto io;
        if (reply)
            break;
        if (arm(c) != 0)
            goto fail;
        if (redisBufferRead(ctx) != REDIS_OK)
            goto io;
    }
    redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        reply_fail(c, r);
        freeReplyObject(r);
        return NULL;
    }
    return r;
io:
    io_fail(c, ctx, errno);
fail:
    drop(c);
    return NULL;
}

/* A reply of a type the command never answers: our bug or a strange server. */
static int unexpected(struct call *c, redisReply *r)
{
    freeReplyObject(r);
    return host_fail(c->err, HOST_E_INTERNAL, "%s: redis: unexpected reply", c->what);
}

/* Sends a command whose reply must be an integer. */
static int command_int(struct call *c, struct args *a, long long *out)
{
    redisReply *r = command(c, a);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER)
        return unexpected(c, r);
    *out = r->integer;
    freeReplyObject(r);
    return 0;
}

/* One step of login(). A connection that cannot log in or select its
 * database serves no call, so any failure here is `unavailable` (or
 * `timeout`) whatever Redis called it, and the connection goes. */
static int login_step(struct call *c, struct args *a, const char *what)
{
    const char *call_what = c->what;
    c->what = what; /* the message says which step was refused */
    redisReply *r = command(c, a);
    c->what = call_what;
    if (r) {
        freeReplyObject(r);
        return 0;
    }
    drop(c);
    if (c->err->kind != HOST_E_TIMEOUT)
        c->err->kind = HOST_E_UNAVAILABLE;
    return -1;
}

/* AUTH (Redis 6 ACL user or the default one) and SELECT on a new connection. */
static int login(struct call *c)
{
    const struct redis_cfg *cfg = c->s->impl;
    struct args auth = {0}, pick_db = {0};
    arg_str(&auth, "AUTH");
    if (cfg->user[0])
        arg_str(&auth, cfg->user);
    arg_str(&auth, cfg->password);
    char db[12];
    snprintf(db, sizeof db, "%d", cfg->db);
    arg_str(&pick_db, "SELECT");
    arg_str(&pick_db, db);
    if (cfg->has_password && login_step(c, &auth, "kv login (AUTH)") != 0)
        return -1;
    if (cfg->db && login_step(c, &pick_db, "kv login (SELECT)") != 0)
        return -1;
    return 0;
}

/* An idle connection has nothing to read: Redis speaks only when asked.
 * Readable means the server closed it (a restart, its idle `timeout`): a
 * command sent there would fail, so it is replaced before use instead of
 * failing the first call each worker makes after Redis comes back. */
static int closed_by_server(const redisContext *ctx)
{
    struct pollfd p = {.fd = ctx->fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) != 0;
}

/* This thread's connection to the call's store, connected within the
 * budget when there is none (the first call, or after a failure). */
static int connect_store(struct call *c)
{
    const struct redis_cfg *cfg = c->s->impl;
    struct rconn *free_slot = NULL;
    for (int i = 0; i < MAX_CONNS && !c->conn; i++) {
        if (conns[i].ctx && conns[i].id == cfg->id)
            c->conn = &conns[i];
        else if (!conns[i].ctx && !free_slot)
            free_slot = &conns[i];
    }
    if (c->conn && !closed_by_server(c->conn->ctx))
        return 0;
    if (c->conn) {
        drop(c);
        free_slot = c->conn;
        c->conn = NULL;
    }
    if (!free_slot)
        return host_fail(c->err, HOST_E_INTERNAL, "%s: too many redis stores on one worker",
                         c->what);
    struct timeval tv;
    if (budget_left(c, &tv) != 0)
        return -1;
    errno = 0;
    redisContext *ctx = redisConnectWithTimeout(cfg->host, cfg->port, tv);
    int saved_errno = errno;
    if (!ctx)
        return host_fail(c->err, HOST_E_INTERNAL, "%s: redis: out of memory", c->what);
    if (ctx->err) {
        io_fail(c, ctx, saved_errno);
        redisFree(ctx);
        return -1;
    }
    free_slot->id = cfg->id;
    free_slot->ctx = ctx;
    c->conn = free_slot;
    return login(c);
}

/* Starts a call: its deadline, its key (unless `store` is NULL: a health
 * check) and its connection. call_end releases what this took, also after
 * a failure. */
static int call_begin(struct call *c, struct host_store *s, const char *store, const void *key,
                      size_t klen, uint32_t budget_ms, const char *what, struct host_err *err)
{
    *c = (struct call){.s = s, .what = what, .err = err};
    c->deadline_ns = host_now_ns() + (uint64_t)budget_ms * 1000000u;
    if (store) {
        const char *prefix = s->key_prefix ? s->key_prefix : "bastion:";
        size_t plen = strlen(prefix) + strlen(store) + 1;
        c->key = malloc(plen + klen + 1);
        if (!c->key)
            return host_fail(err, HOST_E_INTERNAL, "%s: out of memory", what);
        snprintf(c->key, plen + 1, "%s%s:", prefix, store);
        if (klen)
            memcpy(c->key + plen, key, klen);
        c->klen = plen + klen;
    }
    return connect_store(c);
}

static void call_end(struct call *c)
{
    free(c->key);
}

/* --- scripts --------------------------------------------------------------- */

/* Sent with EVAL every time: Redis caches the compiled script by its SHA1
 * either way, and EVAL needs no SHA-1 in the host nor a NOSCRIPT retry after
 * a restart, failover or SCRIPT FLUSH. */

/* CONC2. KEYS[1] the counter; ARGV[1] the delta; ARGV[2] the TTL in ms, 0 =
 * none, set only when this call creates the key. An existing value counts
 * exactly as store.c's host_kv_parse_counter takes it (under 24
 * bytes, optional space and sign, digits); INCRBY wants the canonical form,
 * so another spelling is rewritten first (keeping its expiry) and put back
 * if INCRBY then refuses. The result goes back as the stored text: INCRBY's
 * integer reaches Lua as a double, exact only up to 2^53. */
static const char INCR_SCRIPT[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then\n"
    "  redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "  if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "  return redis.call('GET', KEYS[1])\n"
    "end\n"
    "local sign, digits\n"
    "if #v < 24 then sign, digits = string.match(v, '^%s*([+-]?)(%d+)$') end\n"
    "if not digits then return redis.error_reply('INVALID value is not an integer') end\n"
    "digits = string.match(digits, '^0*(%d.*)$')\n"
    "local canon = (sign == '-' and digits ~= '0') and '-' .. digits or digits\n"
    "if canon ~= v then redis.call('SET', KEYS[1], canon, 'KEEPTTL') end\n"
    "local r = redis.pcall('INCRBY', KEYS[1], ARGV[1])\n"
    "if type(r) ~= 'table' or not r.err then return redis.call('GET', KEYS[1]) end\n"
    "if canon ~= v then redis.call('SET', KEYS[1], v, 'KEEPTTL') end\n"
    "if string.sub(r.err, 1, 4) == 'ERR ' then\n"
    "  return redis.error_reply('INVALID value is not an integer or the result overflows')\n"
    "end\n"
    "return r\n";

/* KEYS[1]; ARGV[1] the expected value; ARGV[2] the new one; ARGV[3] the TTL
 * in ms, 0 = none. Like sqlite_kv.c's kv_write, the SET replaces the expiry. */
static const char SWAP_SCRIPT[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                                  "if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2])\n"
                                  "else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end\n"
                                  "return 1\n";

static void arg_script(struct args *a, const struct call *c, const char *script)
{
    arg_str(a, "EVAL");
    arg_str(a, script);
    arg_str(a, "1");
    arg(a, c->key, c->klen);
}

/* --- operations ------------------------------------------------------------ */

static void ttl_text(char out[24], uint64_t ttl_ms)
{
    snprintf(out, 24, "%llu", (unsigned long long)(ttl_ms < MAX_TTL_MS ? ttl_ms : MAX_TTL_MS));
}

/* SET [NX] [PX ttl]: *done = 1 when written (always, without NX). */
static int set_key(struct call *c, const void *val, size_t vlen, uint64_t ttl_ms, int nx, int *done)
{
    char ttl[24];
    ttl_text(ttl, ttl_ms);
    struct args a = {0};
    arg_str(&a, "SET");
    arg(&a, c->key, c->klen);
    arg(&a, val, vlen);
    if (nx)
        arg_str(&a, "NX");
    if (ttl_ms) {
        arg_str(&a, "PX");
        arg_str(&a, ttl);
    }
    redisReply *r = command(c, &a);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_STATUS && !(nx && r->type == REDIS_REPLY_NIL))
        return unexpected(c, r);
    *done = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return 0;
}

/* see store.h */
static int redis_open(struct host_store *s, FILE *errs)
{
    static atomic_uint next_id = 1;
    const char *where = s->source ? s->source : s->name; /* "runtime.toml:3 [kv.default]" */
    struct redis_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        fprintf(errs, "%s: out of memory\n", where);
        return -1;
    }
    /* the URL holds the password: the message names only what is wrong */
    const char *why = parse_url(s->url, cfg);
    if (why) {
        fprintf(errs, "%s: url: %s; expected %s\n", where, why, URL_FORM);
        free(cfg);
        return -1;
    }
    cfg->id = atomic_fetch_add(&next_id, 1);
    s->impl = cfg;
    return 0;
}

/* see store.h */
static void redis_close(struct host_store *s)
{
    free(s->impl);
    s->impl = NULL;
}

/* see store.h */
static int redis_health(struct host_store *s, uint32_t budget_ms, struct host_err *err)
{
    struct call c;
    struct args a = {0};
    arg_str(&a, "PING");
    redisReply *r = NULL;
    if (call_begin(&c, s, NULL, NULL, 0, budget_ms, "kv health", err) == 0)
        r = command(&c, &a);
    int rc = r ? 0 : -1;
    if (r && r->type != REDIS_REPLY_STATUS)
        rc = unexpected(&c, r);
    else
        freeReplyObject(r);
    call_end(&c);
    return rc;
}

/* see store.h */
static void redis_thread_close(void)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].ctx)
            redisFree(conns[i].ctx);
        conns[i].ctx = NULL;
    }
}

/* see store.h */
static int redis_get(struct host_store *s, const char *name, const void *key, size_t klen,
                     uint32_t budget_ms, void **val, size_t *vlen, int *found, struct host_err *err)
{
    struct call c;
    struct args a = {0};
    redisReply *r = NULL;
    int rc = -1;
    *found = 0;
    if (call_begin(&c, s, name, key, klen, budget_ms, "kv get", err) != 0)
        goto done;
    arg_str(&a, "GET");
    arg(&a, c.key, c.klen);
    if (!(r = command(&c, &a)))
        goto done;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
        rc = unexpected(&c, r);
        r = NULL;
        goto done;
    }
    if (r->type == REDIS_REPLY_STRING) {
        *val = malloc(r->len ? r->len : 1);
        if (!*val) {
            host_fail(err, HOST_E_INTERNAL, "kv get: out of memory");
            goto done;
        }
        memcpy(*val, r->str, r->len);
        *vlen = r->len;
        *found = 1;
    }
    rc = 0;
done:
    freeReplyObject(r);
    call_end(&c);
    return rc;
}

/* see store.h */
static int redis_set(struct host_store *s, const char *name, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms,
                     struct host_err *err)
{
    struct call c;
    int done = 0;
    int rc = call_begin(&c, s, name, key, klen, budget_ms, "kv set", err);
    if (rc == 0)
        rc = set_key(&c, val, vlen, ttl_ms, 0, &done);
    call_end(&c);
    return rc;
}

/* see store.h */
static int redis_add(struct host_store *s, const char *name, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *added,
                     struct host_err *err)
{
    struct call c;
    *added = 0;
    int rc = call_begin(&c, s, name, key, klen, budget_ms, "kv add", err);
    if (rc == 0)
        rc = set_key(&c, val, vlen, ttl_ms, 1, added);
    call_end(&c);
    return rc;
}

/* see store.h */
static int redis_increment(struct host_store *s, const char *name, const void *key, size_t klen,
                           int64_t delta, uint64_t ttl_ms, uint32_t budget_ms, int64_t *out,
                           struct host_err *err)
{
    struct call c;
    char d[24], ttl[24];
    snprintf(d, sizeof d, "%lld", (long long)delta);
    ttl_text(ttl, ttl_ms);
    redisReply *r = NULL;
    int rc = call_begin(&c, s, name, key, klen, budget_ms, "kv increment", err);
    if (rc == 0) {
        struct args a = {0};
        arg_script(&a, &c, INCR_SCRIPT);
        arg_str(&a, d);
        arg_str(&a, ttl);
        r = command(&c, &a);
        rc = r ? 0 : -1;
    }
    if (r && (r->type != REDIS_REPLY_STRING || host_kv_parse_counter(r->str, r->len, out) != 0)) {
        rc = unexpected(&c, r);
        r = NULL;
    }
    freeReplyObject(r);
    call_end(&c);
    return rc;
}

/* see store.h */
static int redis_swap(struct host_store *s, const char *name, const void *key, size_t klen,
                      const void *expected, size_t elen, int has_expected, const void *val,
                      size_t vlen, uint64_t ttl_ms, uint32_t budget_ms, int *swapped,
                      struct host_err *err)
{
    struct call c;
    *swapped = 0;
    int rc = call_begin(&c, s, name, key, klen, budget_ms, "kv swap", err);
    if (rc == 0 && !has_expected) {
        rc = set_key(&c, val, vlen, ttl_ms, 1, swapped); /* absent expected: set-if-absent */
    } else if (rc == 0) {
        char ttl[24];
        ttl_text(ttl, ttl_ms);
        struct args a = {0};
        arg_script(&a, &c, SWAP_SCRIPT);
        arg(&a, expected, elen);
        arg(&a, val, vlen);
        arg_str(&a, ttl);
        long long n = 0;
        rc = command_int(&c, &a, &n);
        *swapped = rc == 0 && n == 1;
    }
    call_end(&c);
    return rc;
}

/* see store.h */
static int redis_del(struct host_store *s, const char *name, const void *key, size_t klen,
                     uint32_t budget_ms, int *deleted, struct host_err *err)
{
    struct call c;
    long long n = 0;
    *deleted = 0;
    int rc = call_begin(&c, s, name, key, klen, budget_ms, "kv delete", err);
    if (rc == 0) {
        struct args a = {0};
        arg_str(&a, "DEL");
        arg(&a, c.key, c.klen);
        rc = command_int(&c, &a, &n);
    }
    *deleted = rc == 0 && n > 0;
    call_end(&c);
    return rc;
}

const struct host_kv_ops host_redis_kv_ops = {
    .backend = "redis",
    .open = redis_open,
    .close = redis_close,
    .health = redis_health,
    .thread_close = redis_thread_close,
    .get = redis_get,
    .set = redis_set,
    .add = redis_add,
    .increment = redis_increment,
    .swap = redis_swap,
    .del = redis_del,
};
