/*
 * bastion:edge/kv@0.1.0: get, set, add, increment, swap, delete, over the
 * kv backend (host.h), each store checked against the function's grant.
 */
#include <stdlib.h>

#include "imports/imports.h"
#include "rt/rt.h"

/* Common prologue of every kv call: grant check and budget. */
struct kv_args {
    char *store;
    const uint8_t *key;
    uint32_t klen;
    uint32_t budget;
};

static int kv_begin(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                    uint32_t timeout, struct kv_args *a, struct host_err *e)
{
    c->counters.kv++;
    a->key = guest_span(c, kp, kl);
    a->klen = kl;
    a->store = guest_cstr(c, sp, sl);
    return host_import_begin(c, a->store, c->fn->kv, c->fn->n_kv, "kv store", timeout, &a->budget,
                             e);
}

/* Each kv binding checks its return area first (it is written last), runs
 * the backend, then stores the whole result. */

/* see imports.h */
void host_import_kv_get(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_option_list r;
    GUEST_CHECK(c, ret, abi_result_option_list);
    void *val = NULL;
    size_t vlen = 0;
    int found = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_get(c->env->state, a.store, a.key, a.klen, a.budget, &val, &vlen, &found, &e) ==
            0) {
        r = (abi_result_option_list){.disc = ABI_OK};
        if (found) {
            host_call_own(c, val, free);
            r.u.ok.disc = ABI_SOME;
            r.u.ok.value = guest_put_bytes(c, val, vlen);
        }
    } else {
        r = (abi_result_option_list){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    }
    GUEST_STORE(c, ret, abi_result_option_list, &r);
}

/* see imports.h */
void host_import_kv_set(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_unit r;
    GUEST_CHECK(c, ret, abi_result_unit);
    const uint8_t *v = guest_span(c, vp, vl);
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_set(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &e) == 0)
        r = (abi_result_unit){.disc = ABI_OK};
    else
        r = (abi_result_unit){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    GUEST_STORE(c, ret, abi_result_unit, &r);
}

/* result<bool, error>, the answer of add, swap and delete */
static abi_result_bool bool_result(struct host_call *c, int rc, int flag, const struct host_err *e)
{
    if (rc != 0)
        return (abi_result_bool){.disc = ABI_ERR, .u.err = host_import_error(c, e)};
    return (abi_result_bool){.disc = ABI_OK, .u.ok = flag ? 1 : 0};
}

/* see imports.h */
void host_import_kv_add(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                        uint32_t vp, uint32_t vl, uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    GUEST_CHECK(c, ret, abi_result_bool);
    const uint8_t *v = guest_span(c, vp, vl);
    int added = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_add(c->env->state, a.store, a.key, a.klen, v, vl, ttl, a.budget, &added, &e);
    r = bool_result(c, rc, added, &e);
    GUEST_STORE(c, ret, abi_result_bool, &r);
}

/* see imports.h */
void host_import_kv_increment(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp,
                              uint32_t kl, uint64_t delta, uint64_t ttl, uint32_t timeout,
                              uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_s64 r;
    GUEST_CHECK(c, ret, abi_result_s64);
    int64_t out = 0;
    if (kv_begin(c, sp, sl, kp, kl, timeout, &a, &e) == 0 &&
        host_kv_increment(c->env->state, a.store, a.key, a.klen, (int64_t)delta, ttl, a.budget,
                          &out, &e) == 0)
        r = (abi_result_s64){.disc = ABI_OK, .u.ok = out};
    else
        r = (abi_result_s64){.disc = ABI_ERR, .u.err = host_import_error(c, &e)};
    GUEST_STORE(c, ret, abi_result_s64, &r);
}

/* `expected: option<list<u8>>` arrives flattened: its discriminant, then the
 * list (ABI-NOTES "Passing values"). */
void host_import_kv_swap(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                         uint32_t has_exp, uint32_t ep, uint32_t el, uint32_t vp, uint32_t vl,
                         uint64_t ttl, uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    GUEST_CHECK(c, ret, abi_result_bool);
    if (has_exp != ABI_NONE && has_exp != ABI_SOME)
        host_rt_trap(HOST_TRAP_ABI);
    const uint8_t *exp = has_exp ? guest_span(c, ep, el) : NULL;
    const uint8_t *v = guest_span(c, vp, vl);
    int swapped = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_swap(c->env->state, a.store, a.key, a.klen, exp, has_exp ? el : 0,
                          (int)has_exp, v, vl, ttl, a.budget, &swapped, &e);
    r = bool_result(c, rc, swapped, &e);
    GUEST_STORE(c, ret, abi_result_bool, &r);
}

/* see imports.h */
void host_import_kv_delete(struct host_call *c, uint32_t sp, uint32_t sl, uint32_t kp, uint32_t kl,
                           uint32_t timeout, uint32_t ret)
{
    struct kv_args a;
    struct host_err e;
    abi_result_bool r;
    GUEST_CHECK(c, ret, abi_result_bool);
    int deleted = 0;
    int rc = kv_begin(c, sp, sl, kp, kl, timeout, &a, &e);
    if (rc == 0)
        rc = host_kv_delete(c->env->state, a.store, a.key, a.klen, a.budget, &deleted, &e);
    r = bool_result(c, rc, deleted, &e);
    GUEST_STORE(c, ret, abi_result_bool, &r);
}
