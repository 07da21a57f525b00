/*
 * bastion:edge/config@0.1.0: get, the function's granted variables, and one
 * name the host answers itself: "bastion:backends", the health of every
 * store backend the manifest uses, as a JSON object (host_stores_health). A
 * manifest variable cannot be named so (names are [a-z0-9_]).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imports/imports.h"
#include "rt/rt.h"

#define BACKENDS_NAME "bastion:backends"

/* Backend health, measured at most once a second however often it is asked,
 * so no client can turn /health into load on Redis or PostgreSQL. One caller
 * measures, outside the lock; the others meanwhile get the last report, or,
 * before there is any, wait for the first within their own budget. Nobody
 * queues behind a measurement a hung backend makes slow. */
static char *backends_report(struct host_call *c)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t measured = PTHREAD_COND_INITIALIZER;
    static char *cached;
    static uint64_t cached_at; /* when the measurement ended */
    static int measuring;
    uint32_t budget_ms = host_budget_ms(c, 1000);
    pthread_mutex_lock(&lock);
    uint64_t now = host_now_ns();
    if ((!cached || now - cached_at > 1000000000ull) && !measuring) {
        measuring = 1;
        pthread_mutex_unlock(&lock);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            host_stores_health(c->env->state, budget_ms, f);
            fclose(f);
        }
        pthread_mutex_lock(&lock);
        if (f) {
            free(cached);
            cached = text;
            cached_at = host_now_ns();
        }
        measuring = 0;
        pthread_cond_broadcast(&measured);
    } else if (!cached) {
        uint64_t deadline = now + (uint64_t)budget_ms * 1000000u;
        struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        while (measuring && !cached)
            if (pthread_cond_clockwait(&measured, &lock, CLOCK_MONOTONIC, &ts) != 0)
                break;
    }
    char *copy = cached ? strdup(cached) : NULL;
    pthread_mutex_unlock(&lock);
    return copy;
}

/* see imports.h */
const char *host_import_config_value(struct host_call *c, const char *name)
{
    if (strcmp(name, BACKENDS_NAME) == 0)
        return host_call_own(c, backends_report(c), free);
    return host_var_get(c->env->manifest, c->fn, name);
}

/* see imports.h */
void host_import_config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret)
{
    GUEST_CHECK(c, ret, abi_option_list);
    const char *v = host_import_config_value(c, guest_cstr(c, np, nl));
    abi_option_list r = {.disc = v ? ABI_SOME : ABI_NONE};
    if (v)
        r.value = guest_put_bytes(c, v, strlen(v));
    GUEST_STORE(c, ret, abi_option_list, &r);
}
