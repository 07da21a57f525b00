/*
 * Typed reads of SQL result rows (REL1). A bastion_sql_value is a tagged
 * union; reading .v.i of a TEXT value, or .v.s of an INTEGER, is a silent
 * reinterpretation. These readers check the tag first, and a value of the
 * wrong type (or a row or column that is not there) fails the row, which
 * the handler turns into one 500 problem:
 *
 *     bastion_row row = bastion_row_at(&found, 0);
 *     bastion_str email = bastion_row_text(&row, 0);
 *     int64_t start = bastion_row_int(&row, 2);
 *     if (bastion_row_or_problem(cx, &row, "appointment lookup"))
 *         return;
 *
 * A failed read returns a harmless value (0, 0.0, false, an empty slice)
 * and only the first failure is remembered; the values MUST NOT be used
 * unless bastion_row_or_problem then returns BASTION_OK. Types are the
 * value's storage class as SQLite reports it, compared exactly: an INTEGER
 * is not a REAL and TEXT is not a BLOB (a column's schema type does not
 * change what a row holds; CHECKs and STRICT tables do).
 *
 * Memory: nothing allocates. Text and blob slices borrow the rows, which
 * live in the request arena until the response; they are NOT
 * NUL-terminated (core.h) and never NULL (an empty value is "", length 0).
 */
#ifndef BASTION_ROWS_H
#define BASTION_ROWS_H

#include "core.h"
#include "host.h"
#include "problem.h"

/* One row being read. Caller-allocated (by value); no release function. */
typedef struct {
    const bastion_rows *rows; /* borrowed; MUST outlive the reader */
    size_t index;             /* the row within rows */
    bool failed;              /* a read has failed; the fields below say which */
    size_t bad_column;
    int got, want; /* bastion_sql_type, or -1 for "no such row or column" */
} bastion_row;

/* A reader for rows->rows[r]. r past the last row is allowed: every read of
 * it fails, so "expected one row" needs no separate check. */
bastion_row bastion_row_at(const bastion_rows *rows, size_t r);

/* The value of column c, which MUST have the named type; NULL is a failure
 * too (use the _opt readers for nullable columns). */
int64_t bastion_row_int(bastion_row *row, size_t c);
double bastion_row_real(bastion_row *row, size_t c);
/* TEXT without NUL: text holding U+0000 fails (core.h: no slice a handler
 * sees holds one), so the value can become a C string with bastion_str_dup. */
bastion_str bastion_row_text(bastion_row *row, size_t c);
bastion_str bastion_row_blob(bastion_row *row, size_t c);
/* An INTEGER that is 0 or 1 (SQLite's booleans); anything else fails. */
bool bastion_row_bool(bastion_row *row, size_t c);

/* Nullable columns: false for SQL NULL (*out = 0 / BASTION_STR_NULL), true
 * with *out set for a value of the named type; any other type fails the
 * row (and returns false). */
bool bastion_row_int_opt(bastion_row *row, size_t c, int64_t *out);
bool bastion_row_real_opt(bastion_row *row, size_t c, double *out);
bool bastion_row_text_opt(bastion_row *row, size_t c, bastion_str *out);
bool bastion_row_blob_opt(bastion_row *row, size_t c, bastion_str *out);

/*
 * BASTION_OK when every read of `row` succeeded. Otherwise logs the first
 * failure (`what`, a constant naming the query; the column's name and the
 * types, never the value), writes a 500 problem (BASTION_E_INTERNAL: the
 * stored data broke the schema the module relies on) and returns its code.
 */
bastion_rc bastion_row_or_problem(bastion_ctx *cx, const bastion_row *row, const char *what);

#endif
