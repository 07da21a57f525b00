/*
 * What a compiled function module (.so) tells the host about itself.
 * build.sh generates one glue file per module (host/tools/glue.py) that fills
 * this in from wasm2c's header and exports it as `bastion_module`.
 */
#ifndef HOST_MODULE_DESC_H
#define HOST_MODULE_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "wasm-rt.h"

#define HOST_MODULE_ABI 2

struct host_import_name {
    const char *module;
    const char *name;
};

typedef void (*host_import_fn)(void);

struct host_module_desc {
    uint32_t abi; /* HOST_MODULE_ABI */
    const char *name;
    size_t instance_size; /* bytes for one wasm2c instance struct */
    const struct host_import_name *imports;
    size_t n_imports;
    /* n_imports + 2 slots the host fills at load (host_module_load): the
     * binding of each import, in `imports` order, then the import prologue
     * and epilogue that every generated trampoline calls around it. */
    host_import_fn *slots;
    void (*init_module)(void);                           /* once per process */
    void (*instantiate)(void *instance, void *host_ctx); /* host_ctx goes to every import */
    void (*free)(void *instance);
    wasm_rt_memory_t *(*memory)(void *instance);
    void (*initialize)(void *instance); /* the reactor's `_initialize` */
    uint32_t (*handle)(void *instance, uint32_t request_ptr);
    void (*post_return)(void *instance, uint32_t response_ptr);
    uint32_t (*cabi_realloc)(void *instance, uint32_t old, uint32_t old_size, uint32_t align,
                             uint32_t new_size);
};

#endif
