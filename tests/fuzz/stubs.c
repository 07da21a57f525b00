#pragma GCC diagnostic ignored "-Wunused-parameter"
/* Fuzz targets link the whole core natively; the host imports must never be
 * reached from the parsers under test, so each stub aborts loudly. */
#include <stdlib.h>

#include "../../shared/src/bindings_internal.h"
#include "../../shared/src/core_internal.h"
#include "bastion/http.h"

/* cJSON allocates from the arena (core.h's memory rule), as in a module, so
 * each target's bastion__arena_reset releases its trees too. */
__attribute__((constructor)) static void adopt_json(void)
{
    bastion__arena_adopt_json();
}

#define STUB(name, ...)                                                                            \
    void name(__VA_ARGS__)                                                                         \
    {                                                                                              \
        abort();                                                                                   \
    }
STUB(cabi_kv_get, const char *a, size_t b, const char *c, size_t d, uint32_t e,
     cabi_ret_opt_bytes *f)
STUB(cabi_kv_set, const char *a, size_t b, const char *c, size_t d, const char *e, size_t f,
     uint64_t g, uint32_t h, cabi_ret_bool *i)
STUB(cabi_kv_add, const char *a, size_t b, const char *c, size_t d, const char *e, size_t f,
     uint64_t g, uint32_t h, cabi_ret_bool *i)
STUB(cabi_kv_increment, const char *a, size_t b, const char *c, size_t d, int64_t e, uint64_t f,
     uint32_t g, cabi_ret_s64 *h)
STUB(cabi_kv_swap, const char *a, size_t b, const char *c, size_t d, uint32_t e, const char *f,
     size_t g, const char *h, size_t i, uint64_t j, uint32_t k, cabi_ret_bool *l)
STUB(cabi_kv_delete, const char *a, size_t b, const char *c, size_t d, uint32_t e, cabi_ret_bool *f)
STUB(cabi_sql_query, const char *a, size_t b, const char *c, size_t d, const bastion_sql_value *e,
     size_t f, uint32_t g, cabi_ret_rows *h)
STUB(cabi_sql_transaction, const char *a, size_t b, const cabi_statement *c, size_t d, uint32_t e,
     cabi_ret_rows_list *f)
STUB(cabi_http_send, const char *a, size_t b, const char *c, size_t d, const bastion_header *e,
     size_t f, const char *g, size_t h, uint32_t i, cabi_ret_response *j)
STUB(cabi_config_get, const char *a, size_t b, cabi_opt_str *c)
STUB(cabi_log_write, uint32_t a, const char *b, size_t c, const bastion_header *d, size_t e)

/* The router's table, which bindings.c expects from a module. */
const bastion_route *const bastion_app_routes = NULL;
const size_t bastion_app_n_routes = 0;
