/*
 * Typed reads of SQL result rows: the tag is checked before the union is.
 */
#include <string.h>

#include "bastion/log.h"
#include "bastion/rows.h"

/* see rows.h */
bastion_row bastion_row_at(const bastion_rows *rows, size_t r)
{
    return (bastion_row){.rows = rows, .index = r};
}

/* The value at column c when it has type `want`, else NULL with the row
 * failed (the first failure only is kept, for the log). */
static const bastion_sql_value *value(bastion_row *row, size_t c, int want, bool null_ok)
{
    const bastion_rows *rs = row->rows;
    const bastion_sql_value *v = NULL;
    int got = -1;
    if (rs && row->index < rs->n_rows && c < rs->n_columns && rs->rows[row->index]) {
        v = &rs->rows[row->index][c];
        got = v->type;
    }
    if (v && (got == want || (null_ok && got == BASTION_SQL_NULL)))
        return v;
    if (!row->failed) {
        row->failed = true;
        row->bad_column = c;
        row->got = got;
        row->want = want;
    }
    return NULL;
}

/* The canonical ABI writes an empty list as (0, 0); a present value is
 * never BASTION_STR_NULL. */
static bastion_str bytes(const bastion_sql_value *v)
{
    return v->v.s.len ? v->v.s : (bastion_str){"", 0};
}

/* see rows.h */
int64_t bastion_row_int(bastion_row *row, size_t c)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_INTEGER, false);
    return v ? v->v.i : 0;
}

/* see rows.h */
double bastion_row_real(bastion_row *row, size_t c)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_REAL, false);
    return v ? v->v.r : 0.0;
}

/* see rows.h */
bool bastion_row_text_opt(bastion_row *row, size_t c, bastion_str *out)
{
    *out = BASTION_STR_NULL;
    const bastion_sql_value *v = value(row, c, BASTION_SQL_TEXT, true);
    if (!v || v->type == BASTION_SQL_NULL)
        return false;
    bastion_str s = bytes(v);
    if (memchr(s.ptr, 0, s.len)) {
        /* stored text the front doors would have refused: the table was
         * written by something else, and a C string of it would be cut */
        if (!row->failed) {
            row->failed = true;
            row->bad_column = c;
            row->got = row->want = BASTION_SQL_TEXT;
        }
        return false;
    }
    *out = s;
    return true;
}

/* see rows.h */
bastion_str bastion_row_text(bastion_row *row, size_t c)
{
    bastion_str s;
    if (bastion_row_text_opt(row, c, &s))
        return s;
    if (!row->failed) /* it was NULL */
        (void)value(row, c, BASTION_SQL_TEXT, false);
    return (bastion_str){"", 0};
}

/* see rows.h */
bastion_str bastion_row_blob(bastion_row *row, size_t c)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_BLOB, false);
    return v ? bytes(v) : (bastion_str){"", 0};
}

/* see rows.h */
bool bastion_row_bool(bastion_row *row, size_t c)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_INTEGER, false);
    if (v && (v->v.i == 0 || v->v.i == 1))
        return v->v.i == 1;
    if (v && !row->failed) {
        row->failed = true;
        row->bad_column = c;
        row->got = row->want = BASTION_SQL_INTEGER;
    }
    return false;
}

/* see rows.h */
bool bastion_row_int_opt(bastion_row *row, size_t c, int64_t *out)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_INTEGER, true);
    *out = v && v->type == BASTION_SQL_INTEGER ? v->v.i : 0;
    return v && v->type == BASTION_SQL_INTEGER;
}

/* see rows.h */
bool bastion_row_real_opt(bastion_row *row, size_t c, double *out)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_REAL, true);
    *out = v && v->type == BASTION_SQL_REAL ? v->v.r : 0.0;
    return v && v->type == BASTION_SQL_REAL;
}

/* see rows.h */
bool bastion_row_blob_opt(bastion_row *row, size_t c, bastion_str *out)
{
    const bastion_sql_value *v = value(row, c, BASTION_SQL_BLOB, true);
    bool some = v && v->type == BASTION_SQL_BLOB;
    *out = some ? bytes(v) : BASTION_STR_NULL;
    return some;
}

static bastion_str type_name(int t)
{
    static const char *const names[] = {"null", "integer", "real", "text", "blob"};
    return t >= 0 && (size_t)t < BASTION_COUNTOF(names) ? bastion_cstr(names[t])
                                                        : BASTION_LIT("missing");
}

/* see rows.h */
bastion_rc bastion_row_or_problem(bastion_ctx *cx, const bastion_row *row, const char *what)
{
    if (!row->failed)
        return BASTION_OK;
    const bastion_rows *rs = row->rows;
    bastion_str column = rs && row->bad_column < rs->n_columns ? rs->columns[row->bad_column]
                                                               : bastion_u64_str(row->bad_column);
    bool nul = row->got == row->want; /* the right type, but text with a NUL or a bad bool */
    bastion_header f[] = {
        {BASTION_LIT("op"), bastion_cstr(what)},
        {BASTION_LIT("column"), column},
        {BASTION_LIT("want"), type_name(row->want)},
        {BASTION_LIT("got"), nul ? BASTION_LIT("an out-of-contract value") : type_name(row->got)},
    };
    bastion_log_safe(BASTION_LOG_ERROR, "stored row breaks the schema", f, BASTION_COUNTOF(f));
    return bastion_problem(cx, BASTION_E_INTERNAL, "Stored data could not be read.");
}
