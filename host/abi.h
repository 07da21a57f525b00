/*
 * Guest-memory access for bindings (canonical ABI, ../shared/ABI-NOTES.md).
 * Every (ptr, len) from a module is checked against its memory before use;
 * a bad one traps the instance with HOST_TRAP_ABI. Nothing here trusts guest
 * bytes, and nothing returns a pointer that outlives the current call.
 */
#ifndef HOST_ABI_H
#define HOST_ABI_H

#include "host.h"

/* Pointer to [ptr, ptr+len) in guest memory, or a trap. */
uint8_t *abi_span(struct host_call *c, uint32_t ptr, uint64_t len);
/* Like abi_span, also checks `ptr` is aligned to `align`. */
uint8_t *abi_span_aligned(struct host_call *c, uint32_t ptr, uint64_t len, uint32_t align);
/* A guest string: checked for bounds and UTF-8 (traps otherwise). */
const char *abi_str(struct host_call *c, uint32_t ptr, uint32_t len);
/* A NUL-terminated copy of a guest string (traps on NUL inside), owned by
 * the call: freed by abi_release. */
char *abi_cstr(struct host_call *c, uint32_t ptr, uint32_t len);
/* Allocates in the guest through cabi_realloc; traps when it fails. */
uint32_t abi_alloc(struct host_call *c, uint32_t align, uint32_t size);
/* Copies bytes into a fresh guest allocation; writes (ptr, len) at `at`. */
void abi_put_bytes(struct host_call *c, uint8_t *at, const void *src, size_t len);

static inline void abi_w8(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void abi_w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void abi_w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void abi_w64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t abi_r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t abi_r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint16_t abi_r16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

int abi_utf8_valid(const uint8_t *s, size_t len);

/*
 * Any binding step may trap (a bad guest pointer, or cabi_realloc failing),
 * and a trap unwinds past the binding's own cleanup. So every host allocation
 * a binding makes is registered here first; abi_release frees them at the end
 * of the binding, and host_invoke frees whatever a trap left behind.
 * Returns p. Traps (freeing p) when p is NULL or the registry cannot grow.
 */
void *abi_own(struct host_call *c, void *p, void (*destroy)(void *));
void abi_release(struct host_call *c);

#endif
