/*
 * Keyset pagination (DATA4): `?limit` and an opaque `?cursor`, never OFFSET.
 *
 * A list is ordered by (key, id): an integer sort key (e.g. created_at) and
 * a text tie-breaker unique within the list (the row id), so the order is
 * total and stable under inserts. A page asks for rows strictly after the
 * cursor's (key, id), as one row-value comparison (BASTION_PAGE_AFTER):
 *
 *     … WHERE tenant = $1 AND $2 >= 0 AND (key, id) > ($3, $4)
 *       ORDER BY key, id LIMIT $5          ($5 = bastion_page_fetch(&pg))
 *
 * which SQLite and PostgreSQL both answer as a range of an index on
 * (tenant, key, id): page 1,000 starts where its cursor points instead of
 * walking the 999 pages before it (an OR of the two cases would bound only
 * the tenant, an offset scan in disguise). Page 1 is the same statement from
 * (INT64_MIN, ""), before every row; $2 (1 after a cursor, else 0) stays for
 * the statements' parameter numbering.
 *
 * and bastion_page_respond trims the one extra row that tells whether a
 * next page exists. Rows inserted between pages land before or after the
 * cursor and are seen at most once; none is skipped that existed when the
 * walk began and still exists.
 *
 * Cursors are base64url of (key, id) with a 128-bit HMAC-SHA256 tag under a
 * key derived from the variable auth_jwt_secret (every list function has it)
 * and bound to the list's scope — its name and the caller's tenant — so a
 * cursor made for another list or tenant, or changed in any bit, is a 400.
 */
#ifndef BASTION_PAGE_H
#define BASTION_PAGE_H

#include <cjson/cJSON.h>

#include "core.h"
#include "host.h"
#include "problem.h"

#define BASTION_PAGE_DEFAULT 20
#define BASTION_PAGE_MAX     100
#define BASTION_PAGE_ID_MAX  128 /* longest tie-breaker a cursor carries */

typedef struct {
    bastion_str scope; /* the list's name and tenant, e.g. "contacts\nacme" */
    uint32_t limit;    /* 1..BASTION_PAGE_MAX */
    bool after;        /* a cursor was given */
    int64_t key;       /* its position, when `after` */
    bastion_str id;
} bastion_page;

/* Reads ?limit (default 20; not an integer in 1..100 → 422 "/limit") and
 * ?cursor (one this list issued → *pg positioned after it; else 400). The
 * scope is copied. 500 when auth_jwt_secret is unusable. */
bastion_rc bastion_page_or_problem(bastion_ctx *cx, bastion_str scope, bastion_page *pg);

/* The LIMIT to query with: one more row than the page shows. */
int64_t bastion_page_fetch(const bastion_page *pg);

/* The position test above over the list's `key` and `id` columns, with the
 * parameters $2..$4 of bastion_page_params. */
#define BASTION_PAGE_AFTER(key, id) "$2 >= 0 AND (" key ", " id ") > ($3, $4)"

/* SQL parameters for the position test: (after ? 1 : 0, key, id), from
 * (INT64_MIN, "") without a cursor. */
void bastion_page_params(const bastion_page *pg, bastion_sql_value out[3]);

/*
 * Responds 200 {"items":[…],"next_cursor":…|null}. `items` holds up to
 * bastion_page_fetch rows built by the caller; `keys`/`ids` are each row's
 * (key, id) in the same order. When there are more rows than the limit the
 * extra one is dropped and next_cursor points after the last one shown.
 */
void bastion_page_respond(bastion_ctx *cx, const bastion_page *pg, cJSON *items,
                          const int64_t *keys, const bastion_str *ids);

#endif
