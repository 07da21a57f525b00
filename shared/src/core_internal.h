/*
 * INTERNAL to the core and its native tests; function modules never call this.
 */
#ifndef BASTION_CORE_INTERNAL_H
#define BASTION_CORE_INTERNAL_H

/* Frees every arena chunk. Only for native tests and fuzzers, which run many
 * requests in one process; a module's instance is discarded instead. Every
 * pointer bastion_alloc returned becomes invalid. */
void bastion__arena_reset(void);

#endif
