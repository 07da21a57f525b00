/*
 * bastion:edge/config@0.1.0: get, the function's granted variables, and one
 * name the host answers itself: "bastion:backends", the health of every
 * store backend the manifest uses, as a JSON object (host_stores_health). A
 * manifest variable cannot be named so (names are [a-z0-9_]).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "imports/imports.h"
#include "rt/rt.h"

#define BACKENDS_NAME "bastion:backends"

/* Backend health, measured at most once a second however often it is asked,
 * so no client can turn /health into load on Redis or PostgreSQL. */
static char *backends_report(struct host_call *c)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char *cached;
    static uint64_t cached_at;
    pthread_mutex_lock(&lock);
    uint64_t now = host_now_ns();
    if (!cached || now - cached_at > 1000000000ull) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            host_stores_health(c->env->state, host_budget_ms(c, 1000), f);
            fclose(f);
            free(cached);
            cached = text;
            cached_at = now;
        }
    }
    char *copy = cached ? strdup(cached) : NULL;
    pthread_mutex_unlock(&lock);
    return copy;
}

/* see imports.h */
void host_import_config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret)
{
    GUEST_CHECK(c, ret, abi_option_list);
    char *name = guest_cstr(c, np, nl);
    const char *v = NULL;
    if (strcmp(name, BACKENDS_NAME) == 0)
        v = host_call_own(c, backends_report(c), free);
    else
        v = host_var_get(c->env->manifest, c->fn, name);
    abi_option_list r = {.disc = v ? ABI_SOME : ABI_NONE};
    if (v)
        r.value = guest_put_bytes(c, v, strlen(v));
    GUEST_STORE(c, ret, abi_option_list, &r);
}
