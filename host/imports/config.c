/*
 * bastion:edge/config@0.1.0: get, the function's granted variables.
 */
#include <string.h>

#include "imports/imports.h"

/* see imports.h */
void host_import_config_get(struct host_call *c, uint32_t np, uint32_t nl, uint32_t ret)
{
    GUEST_CHECK(c, ret, abi_option_list);
    char *name = guest_cstr(c, np, nl);
    const char *v = host_var_get(c->env->manifest, c->fn, name);
    abi_option_list r = {.disc = v ? ABI_SOME : ABI_NONE};
    if (v)
        r.value = guest_put_bytes(c, v, strlen(v));
    GUEST_STORE(c, ret, abi_option_list, &r);
}
