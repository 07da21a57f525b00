/*
 * INTERNAL to the core and its native tests; function modules never call this.
 */
#ifndef BASTION_CORE_INTERNAL_H
#define BASTION_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Points cJSON's allocator at the request arena (core.h's memory rule):
 * cJSON_InitHooks with malloc_fn = bastion_alloc and a free_fn that does
 * nothing. The handle export calls it before anything else, every request;
 * native tests and fuzzers call it once at start-up (tests/unit/fake_host.c,
 * tests/fuzz/stubs.c). It MUST run before the first cJSON allocation and the
 * hooks MUST NOT change afterwards: a tree made under one allocator and freed
 * under another is a leak or a bad free. Cheap and idempotent.
 */
void bastion__arena_adopt_json(void);

/* bastion_alloc aligned to `align` (a power of two; ≤ 8 is bastion_alloc
 * itself), for the canonical ABI's cabi_realloc. Never NULL. */
void *bastion__alloc_aligned(size_t n, size_t align);

/* Bytes bastion_alloc has handed out since the last reset (after rounding). */
size_t bastion__arena_used(void);

/* True when `p` points into one of the arena's chunks. */
bool bastion__arena_contains(const void *p);

/* Frees every arena chunk. Only for native tests and fuzzers, which run many
 * requests in one process; a module's instance is discarded instead. Every
 * pointer bastion_alloc returned becomes invalid — every cJSON value too. */
void bastion__arena_reset(void);

/*
 * auth.c. A 401 for a presented bearer credential that is not valid (a token
 * that fails, was revoked, or a link token): `detail` and the RFC 6750 §3.1
 * challenge "Bearer error="invalid_token"" (RFC 9110 §15.5.2: a 401 carries
 * one). Returns BASTION_E_UNAUTHORIZED. The one place that spells it.
 */
#include "bastion/problem.h"
bastion_rc bastion__invalid_token(bastion_ctx *cx, const char *detail);

#endif
