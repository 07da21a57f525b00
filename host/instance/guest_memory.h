/*
 * Guest-memory access for the bindings (host/imports/) and the request and
 * response records (module.c): bounds, alignment, UTF-8, allocation through
 * the guest's cabi_realloc, and ownership of host memory across traps
 * (canonical ABI, ../shared/ABI-NOTES.md; the layouts are abi_layout.h's).
 * Every (ptr, len) from a module is checked against its memory before use;
 * a bad one traps the instance with HOST_TRAP_ABI. Nothing here trusts guest
 * bytes, and nothing returns a pointer that outlives the current call.
 */
#ifndef HOST_GUEST_MEMORY_H
#define HOST_GUEST_MEMORY_H

#include <string.h>

#include "host.h"
#include "instance/abi_layout.h"

/* Pointer to [ptr, ptr+len) in guest memory, or a trap. */
uint8_t *guest_span(struct host_call *c, uint32_t ptr, uint64_t len);
/* Like guest_span, also checks `ptr` is aligned to `align`. */
uint8_t *guest_span_aligned(struct host_call *c, uint32_t ptr, uint64_t len, uint32_t align);
/* A guest string: checked for bounds and UTF-8 (traps otherwise). */
const char *guest_str(struct host_call *c, uint32_t ptr, uint32_t len);
/* A NUL-terminated copy of a guest string (traps on NUL inside), owned by
 * the call: freed by host_call_release. */
char *guest_cstr(struct host_call *c, uint32_t ptr, uint32_t len);
/* Allocates in the guest through cabi_realloc; traps when it fails. */
uint32_t guest_alloc(struct host_call *c, uint32_t align, uint32_t size);
/* Room for n elements of size/align (an abi_layout.h type); traps past 4 GiB. */
uint32_t guest_alloc_array(struct host_call *c, size_t n, size_t size, size_t align);
/* Copies bytes into a fresh guest allocation and returns the list (ptr, len)
 * that names it. The guest owns the copy. */
abi_list guest_put_bytes(struct host_call *c, const void *src, size_t len);

/*
 * Whole values in and out of guest memory. `size` and `align` are those of
 * an abi_layout.h type (use the macros): the span is bounds- and
 * alignment-checked, then copied, so nothing is read from guest memory twice
 * and no host pointer into it outlives the statement.
 */
void guest_load(struct host_call *c, uint32_t ptr, void *out, size_t size, size_t align);
void guest_store(struct host_call *c, uint32_t ptr, const void *v, size_t size, size_t align);
/* Checks that a value of `type` fits at ptr (a return area, checked before
 * the backend runs and written after it). */
#define GUEST_CHECK(c, ptr, type)                                                                  \
    ((void)guest_span_aligned((c), (ptr), sizeof(type), _Alignof(type)))
#define GUEST_LOAD(c, ptr, type, out) guest_load((c), (ptr), (out), sizeof(type), _Alignof(type))
#define GUEST_STORE(c, ptr, type, v)  guest_store((c), (ptr), (v), sizeof(type), _Alignof(type))
/* The elements of a guest list of `type`, checked as a whole; read each
 * with GUEST_ELEM. */
#define GUEST_ARRAY(c, list, type)                                                                 \
    ((const uint8_t *)guest_span_aligned((c), (list).ptr, (uint64_t)(list).len * sizeof(type),     \
                                         _Alignof(type)))
#define GUEST_ELEM(array, i, type, out)                                                            \
    memcpy((out), (array) + (size_t)(i) * sizeof(type), sizeof(type))
/* Element i of a guest array of `type` at `base` (from GUEST_ALLOC_ARRAY). */
#define GUEST_STORE_ELEM(c, base, i, type, v)                                                      \
    guest_store((c), (base) + (uint32_t)((size_t)(i) * sizeof(type)), (v), sizeof(type),           \
                _Alignof(type))
#define GUEST_ALLOC_ARRAY(c, n, type) guest_alloc_array((c), (n), sizeof(type), _Alignof(type))

/*
 * Any binding step may trap (a bad guest pointer, or cabi_realloc failing),
 * and a trap unwinds past the binding's own cleanup. So every host allocation
 * a binding makes is registered here first; host_call_release frees them at the end
 * of the binding, and host_invoke frees whatever a trap left behind.
 * Returns p. Traps (freeing p) when p is NULL or the registry cannot grow.
 */
void *host_call_own(struct host_call *c, void *p, void (*destroy)(void *));
void host_call_release(struct host_call *c);

#endif
