/*
 * Circuit breakers in kv (REL3); the state machine is described in breaker.h.
 * open_until holds Unix epoch milliseconds as decimal text.
 */
#include <string.h>

#include "bastion/breaker.h"
#include "bastion/host.h"

/* "cb:<name>:<what>", in the arena. */
static bastion_str state_key(const bastion_breaker *b, const char *what)
{
    size_t nl = strlen(b->name), wl = strlen(what);
    char *k = bastion_alloc(3 + nl + 1 + wl + 1);
    memcpy(k, "cb:", 3);
    memcpy(k + 3, b->name, nl);
    k[3 + nl] = ':';
    memcpy(k + 4 + nl, what, wl);
    k[4 + nl + wl] = 0;
    return (bastion_str){k, 4 + nl + wl};
}

static bool parse_ms(bastion_str v, uint64_t *out)
{
    uint64_t n = 0;
    if (!v.ptr || v.len == 0 || v.len > 19) /* 19 digits cannot overflow */
        return false;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    *out = n;
    return true;
}

static void log_breaker(bastion_log_level level, const char *msg, const bastion_breaker *b,
                        bool with_host_error)
{
    bastion_header f[] = {
        {BASTION_LIT("breaker"), bastion_cstr(b->name)},
        {BASTION_LIT("detail"), bastion_host_error_text()},
    };
    bastion_log(level, msg, f, with_host_error ? BASTION_COUNTOF(f) : 1);
}

static bastion_rc open_problem(bastion_ctx *cx, uint64_t left_ms)
{
    uint64_t s = (left_ms + 999) / 1000;
    return bastion_problem_ex(cx, BASTION_E_UNAVAILABLE,
                              "A service this request depends on is unavailable; try again later.",
                              NULL,
                              s == 0           ? 1
                              : s > UINT32_MAX ? UINT32_MAX
                                               : (uint32_t)s);
}

/* see breaker.h */
bool bastion_breaker_allow(bastion_ctx *cx, const bastion_breaker *b, bastion_breaker_ticket *t,
                           uint64_t *retry_ms)
{
    t->probe = false;
    *retry_ms = 0;
    bastion_str v;
    bool found;
    bastion_host_rc hrc = bastion_kv_get(cx, b->store, state_key(b, "open_until"), &v, &found);
    if (hrc != BASTION_HOST_OK) {
        log_breaker(BASTION_LOG_WARN, "breaker state unreadable; allowing the call", b, true);
        return true;
    }
    if (!found)
        return true; /* closed */
    uint64_t until;
    if (!parse_ms(v, &until)) {
        log_breaker(BASTION_LOG_WARN, "breaker state malformed; allowing the call", b, false);
        return true;
    }
    uint64_t now = bastion_now_ms();
    if (now < until) {
        *retry_ms = until - now;
        return false;
    }

    /* Half-open: kv add elects exactly one prober. Its slot lapses when the
     * prober's own deadline has passed, so a prober that dies does not wedge
     * the breaker open. */
    uint64_t probe_ttl = (uint64_t)bastion_remaining_ms(cx) + 1000;
    bastion_str holder = cx->request_id.len ? cx->request_id : BASTION_LIT("1");
    bool won;
    hrc = bastion_kv_add(cx, b->store, state_key(b, "probe"), holder, probe_ttl, &won);
    if (hrc != BASTION_HOST_OK) {
        log_breaker(BASTION_LOG_WARN, "breaker probe slot unavailable; allowing the call", b, true);
        return true;
    }
    if (!won) {
        *retry_ms = 1000;
        return false;
    }
    t->probe = true;
    log_breaker(BASTION_LOG_INFO, "breaker half-open: probing", b, false);
    return true;
}

/* see breaker.h */
bastion_rc bastion_breaker_allow_or_problem(bastion_ctx *cx, const bastion_breaker *b,
                                            bastion_breaker_ticket *t)
{
    uint64_t retry_ms;
    return bastion_breaker_allow(cx, b, t, &retry_ms) ? BASTION_OK : open_problem(cx, retry_ms);
}

static void del(bastion_ctx *cx, const bastion_breaker *b, const char *what)
{
    bool deleted;
    if (bastion_kv_delete(cx, b->store, state_key(b, what), &deleted) != BASTION_HOST_OK)
        log_breaker(BASTION_LOG_WARN, "breaker state not cleared", b, true);
}

/* see breaker.h */
void bastion_breaker_record(bastion_ctx *cx, const bastion_breaker *b,
                            const bastion_breaker_ticket *t, bool success)
{
    if (success) {
        /* Only a success since the last failure makes them non-consecutive. */
        del(cx, b, "failures");
        if (t->probe) {
            del(cx, b, "open_until");
            del(cx, b, "probe");
            log_breaker(BASTION_LOG_INFO, "breaker closed", b, false);
        }
        return;
    }

    uint32_t n_open = b->failures_to_open ? b->failures_to_open : 1;
    uint32_t window =
        b->failure_window_ms ? b->failure_window_ms : BASTION_BREAKER_DEFAULT_WINDOW_MS;
    int64_t failures = 0;
    bastion_host_rc hrc =
        bastion_kv_increment(cx, b->store, state_key(b, "failures"), 1, window, &failures);
    if (hrc != BASTION_HOST_OK)
        log_breaker(BASTION_LOG_WARN, "breaker failure not counted", b, true);
    /* A failed probe re-opens whatever the counter says (it may have decayed). */
    if (!t->probe && (hrc != BASTION_HOST_OK || failures < (int64_t)n_open))
        return;

    /* The state outlives open_ms so that its end is seen as half-open, not as
     * closed; after the linger with no caller it decays to closed. */
    uint64_t until = bastion_now_ms() + b->open_ms;
    hrc = bastion_kv_set(cx, b->store, state_key(b, "open_until"), bastion_u64_str(until),
                         (uint64_t)b->open_ms + BASTION_BREAKER_LINGER_MS);
    if (hrc != BASTION_HOST_OK)
        log_breaker(BASTION_LOG_ERROR, "breaker could not open", b, true);
    else
        log_breaker(BASTION_LOG_WARN,
                    t->probe ? "breaker re-opened: probe failed" : "breaker opened", b, false);
    if (t->probe)
        del(cx, b, "probe");
}
