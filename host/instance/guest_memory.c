#include "instance/guest_memory.h"

#include <stdlib.h>
#include <string.h>

#include "rt/rt.h"

/* see guest_memory.h */
uint8_t *guest_span(struct host_call *c, uint32_t ptr, uint64_t len)
{
    if ((uint64_t)ptr + len > c->mem->size)
        host_rt_trap(HOST_TRAP_ABI);
    return c->mem->data + ptr;
}

/* see guest_memory.h */
uint8_t *guest_span_aligned(struct host_call *c, uint32_t ptr, uint64_t len, uint32_t align)
{
    if (ptr & (align - 1))
        host_rt_trap(HOST_TRAP_ABI);
    return guest_span(c, ptr, len);
}

/* see guest_memory.h */
const char *guest_str(struct host_call *c, uint32_t ptr, uint32_t len)
{
    const uint8_t *s = guest_span(c, ptr, len);
    if (!host_utf8_valid(s, len))
        host_rt_trap(HOST_TRAP_ABI);
    return (const char *)s;
}

/* see guest_memory.h (the copy is owned by the call: see host_call_own) */
char *guest_cstr(struct host_call *c, uint32_t ptr, uint32_t len)
{
    const char *s = guest_str(c, ptr, len);
    if (memchr(s, 0, len))
        host_rt_trap(HOST_TRAP_ABI);
    char *copy = host_call_own(c, malloc((size_t)len + 1), free);
    memcpy(copy, s, len);
    copy[len] = 0;
    return copy;
}

/* see guest_memory.h */
uint32_t guest_alloc(struct host_call *c, uint32_t align, uint32_t size)
{
    /* cabi_realloc is guest code: let the deadline interrupt it. Callers hold
     * no host resources here (see imports/imports.c), so unwinding is safe. */
    host_rt_enter_guest();
    uint32_t p = c->fn->desc->cabi_realloc(c->instance, 0, 0, align, size);
    host_rt_enter_host();
    if (p == 0 && size != 0)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    guest_span_aligned(c, p, size, align);
    return p;
}

/* see guest_memory.h */
uint32_t guest_alloc_array(struct host_call *c, size_t n, size_t size, size_t align)
{
    if (n > UINT32_MAX / size)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    return guest_alloc(c, (uint32_t)align, (uint32_t)(n * size));
}

/* see guest_memory.h */
abi_list guest_put_bytes(struct host_call *c, const void *src, size_t len)
{
    if (len > UINT32_MAX)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    uint32_t p = len ? guest_alloc(c, 1, (uint32_t)len) : 0;
    if (len)
        memcpy(c->mem->data + p, src, len);
    return (abi_list){p, (uint32_t)len};
}

/* see guest_memory.h */
void guest_load(struct host_call *c, uint32_t ptr, void *out, size_t size, size_t align)
{
    memcpy(out, guest_span_aligned(c, ptr, size, (uint32_t)align), size);
}

/* see guest_memory.h */
void guest_store(struct host_call *c, uint32_t ptr, const void *v, size_t size, size_t align)
{
    /* The span is computed now, after any allocation that built `v`: growing
     * never moves c->mem->data anyway (rt.c reserves 8 GiB up front). */
    memcpy(guest_span_aligned(c, ptr, size, (uint32_t)align), v, size);
}

/* see guest_memory.h */
void *host_call_own(struct host_call *c, void *p, void (*destroy)(void *))
{
    if (!p)
        host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? c->cap_owned * 2 : 16;
        struct host_owned *grown = realloc(c->owned, cap * sizeof *grown);
        if (!grown) {
            destroy(p);
            host_rt_trap(HOST_TRAP_MEMORY_LIMIT);
        }
        c->owned = grown;
        c->cap_owned = cap;
    }
    c->owned[c->n_owned++] = (struct host_owned){p, destroy};
    return p;
}

/* see guest_memory.h */
void host_call_release(struct host_call *c)
{
    while (c->n_owned) {
        struct host_owned *o = &c->owned[--c->n_owned];
        o->destroy(o->p);
    }
}
