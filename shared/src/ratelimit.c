/*
 * Fixed-window rate limiting (CONC2), with the RateLimit and RateLimit-Policy
 * header fields of draft-ietf-httpapi-ratelimit-headers (-08 §3, §4).
 */
#include <stdio.h>
#include <string.h>

#include "bastion/config.h"
#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/ratelimit.h"

/* Subjects are often personal data (IP, email): only a hash reaches the store. */
static void subject_hash(bastion_str subject, char out[33])
{
    uint8_t d[BASTION_SHA256_LEN];
    bastion_sha256(d, subject.ptr, subject.len);
    bastion_hex_encode(out, d, 16); /* 128 bits: ample for a bucket name */
    out[32] = 0;
}

/* see ratelimit.h */
bastion_rc bastion_rate_limit_or_problem(bastion_ctx *cx, const bastion_rate_policy *p,
                                         bastion_str subject, bastion_rate_result *out)
{
    out->allowed = false; /* fail closed if anything below returns early */
    out->remaining = 0;
    out->reset_s = 0;
    uint64_t now_s = bastion_now_ms() / 1000;
    uint64_t window = now_s / p->window_s;
    uint32_t reset = (uint32_t)((window + 1) * p->window_s - now_s);
    char hash[33], key[128];
    subject_hash(subject, hash);
    int kl = snprintf(key, sizeof key, "rl:%s:%llu:%s", p->name, (unsigned long long)window, hash);
    if (kl < 0 || (size_t)kl >= sizeof key || strlen(p->name) > BASTION_RATE_NAME_MAX)
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "A rate-limit policy name is too long.");
    int64_t count = 0;
    /* TTL on create covers the rest of the window plus a margin for clock skew. */
    bastion_host_rc rc = bastion_kv_increment(cx, p->store, (bastion_str){key, (size_t)kl}, 1,
                                              ((uint64_t)reset + 5) * 1000, &count);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "rate limit");
    out->allowed = count <= (int64_t)p->limit;
    out->remaining = out->allowed ? p->limit - (uint32_t)count : 0;
    out->reset_s = reset;
    char policy[96], state[96];
    int pl = snprintf(policy, sizeof policy, "\"%s\";q=%u;w=%u", p->name, p->limit, p->window_s);
    int sl = snprintf(state, sizeof state, "\"%s\";r=%u;t=%u", p->name, out->remaining, reset);
    if (!out->allowed)
        bastion_problem_ex(cx, BASTION_E_RATE_LIMITED, "Too many requests; try again later.", NULL,
                           reset);
    bastion_set_header(cx, BASTION_LIT("ratelimit-policy"), (bastion_str){policy, (size_t)pl});
    bastion_set_header(cx, BASTION_LIT("ratelimit"), (bastion_str){state, (size_t)sl});
    return out->allowed ? BASTION_OK : BASTION_E_RATE_LIMITED;
}

/* see ratelimit.h */
bastion_rc bastion_tenant_writes_or_problem(bastion_ctx *cx, const char *store, bastion_str tenant)
{
    int64_t limit;
    bastion_rc rc = bastion_config_int_or_problem(
        cx, "tenant_writes_per_minute", BASTION_TENANT_WRITES_DEFAULT, 1, 1000000, &limit);
    if (rc)
        return rc;
    bastion_rate_policy p = {"tenant-writes", store, (uint32_t)limit, 60};
    bastion_rate_result r;
    return bastion_rate_limit_or_problem(cx, &p, tenant, &r);
}
