/*
 * Unit tests for shared/src/rows.c: typed reads of SQL rows (REL1). Every
 * reader refuses a value of another storage class instead of reading the
 * wrong member of bastion_sql_value's union, and the row then answers 500.
 */
#include "../../shared/src/rows.c"

#include "fake_host.h"
#include "unit.h"

static const bastion_str COLUMNS[] = {
    BASTION_LIT("id"),   BASTION_LIT("n"),    BASTION_LIT("ratio"), BASTION_LIT("data"),
    BASTION_LIT("note"), BASTION_LIT("flag"), BASTION_LIT("empty"),
};

/* One row as the host writes it: an empty text is (NULL, 0) on the wire. */
static const bastion_sql_value ROW[] = {
    {BASTION_SQL_TEXT, {.s = {"abc", 3}}}, {BASTION_SQL_INTEGER, {.i = -42}},
    {BASTION_SQL_REAL, {.r = 0.5}},        {BASTION_SQL_BLOB, {.s = {"\x00\x01", 2}}},
    {BASTION_SQL_NULL, {.i = 0}},          {BASTION_SQL_INTEGER, {.i = 1}},
    {BASTION_SQL_TEXT, {.s = {NULL, 0}}},
};
static const bastion_sql_value *const ROWS[] = {ROW};
static const bastion_rows RS = {COLUMNS, BASTION_COUNTOF(COLUMNS), ROWS, 1, 0};

static void test_rows_each_type_reads_its_own_column(void **state)
{
    (void)state;
    bastion_row row = bastion_row_at(&RS, 0);
    assert_true(unit_str_is(bastion_row_text(&row, 0), "abc"));
    assert_int_equal(bastion_row_int(&row, 1), -42);
    assert_true(bastion_row_real(&row, 2) == 0.5);
    bastion_str blob = bastion_row_blob(&row, 3);
    assert_int_equal(blob.len, 2);
    assert_memory_equal(blob.ptr, "\x00\x01", 2);
    assert_true(bastion_row_bool(&row, 5));
    bastion_str empty = bastion_row_text(&row, 6);
    assert_non_null(empty.ptr); /* present and empty, never BASTION_STR_NULL */
    assert_int_equal(empty.len, 0);
    assert_false(row.failed);
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_row_or_problem(&cx, &row, "read"), BASTION_OK);
    assert_false(cx.responded);
}

/* Every reader against every column of another type fails the row and
 * returns a harmless value. */
static void test_rows_a_wrong_type_fails_instead_of_reinterpreting(void **state)
{
    (void)state;
    for (size_t c = 0; c < BASTION_COUNTOF(ROW); c++) {
        bastion_row row;
        if (ROW[c].type != BASTION_SQL_INTEGER) {
            row = bastion_row_at(&RS, 0);
            assert_int_equal(bastion_row_int(&row, c), 0);
            assert_true(row.failed);
            assert_int_equal(row.bad_column, c);
            assert_int_equal(row.want, BASTION_SQL_INTEGER);
            assert_int_equal(row.got, ROW[c].type);
            row = bastion_row_at(&RS, 0);
            assert_false(bastion_row_bool(&row, c));
            assert_true(row.failed);
        }
        if (ROW[c].type != BASTION_SQL_TEXT) {
            row = bastion_row_at(&RS, 0);
            bastion_str s = bastion_row_text(&row, c);
            assert_non_null(s.ptr);
            assert_int_equal(s.len, 0);
            assert_true(row.failed);
        }
        if (ROW[c].type != BASTION_SQL_REAL) {
            row = bastion_row_at(&RS, 0);
            assert_true(bastion_row_real(&row, c) == 0.0);
            assert_true(row.failed);
        }
        if (ROW[c].type != BASTION_SQL_BLOB) {
            row = bastion_row_at(&RS, 0);
            assert_int_equal(bastion_row_blob(&row, c).len, 0);
            assert_true(row.failed);
        }
    }
}

static void test_rows_nullable_readers(void **state)
{
    (void)state;
    bastion_row row = bastion_row_at(&RS, 0);
    int64_t i = 7;
    double r = 7;
    bastion_str s = BASTION_LIT("x");
    assert_false(bastion_row_int_opt(&row, 4, &i));
    assert_int_equal(i, 0);
    assert_false(bastion_row_real_opt(&row, 4, &r));
    assert_false(bastion_row_text_opt(&row, 4, &s));
    assert_null(s.ptr);
    assert_false(bastion_row_blob_opt(&row, 4, &s));
    assert_false(row.failed); /* NULL is allowed here */
    assert_true(bastion_row_int_opt(&row, 1, &i));
    assert_int_equal(i, -42);
    assert_true(bastion_row_text_opt(&row, 0, &s));
    assert_true(unit_str_is(s, "abc"));
    assert_true(bastion_row_real_opt(&row, 2, &r));
    assert_true(bastion_row_blob_opt(&row, 3, &s));
    assert_false(row.failed);
    /* ... but another type still is not */
    assert_false(bastion_row_int_opt(&row, 0, &i));
    assert_true(row.failed);
    /* and NULL is a failure for the plain readers */
    row = bastion_row_at(&RS, 0);
    (void)bastion_row_int(&row, 4);
    assert_true(row.failed);
    assert_int_equal(row.got, BASTION_SQL_NULL);
    row = bastion_row_at(&RS, 0);
    (void)bastion_row_text(&row, 4);
    assert_true(row.failed);
    assert_int_equal(row.got, BASTION_SQL_NULL);
}

static void test_rows_missing_rows_and_columns_fail(void **state)
{
    (void)state;
    bastion_row row = bastion_row_at(&RS, 1); /* one past the last */
    assert_true(bastion_row_text(&row, 0).len == 0);
    assert_true(row.failed);
    assert_int_equal(row.got, -1);
    row = bastion_row_at(&RS, 0);
    (void)bastion_row_int(&row, BASTION_COUNTOF(ROW));
    assert_true(row.failed);
    bastion_rows none = {0};
    row = bastion_row_at(&none, 0);
    (void)bastion_row_int(&row, 0);
    assert_true(row.failed);
}

/* core.h: no text a handler sees holds a NUL; stored text with one would be
 * cut as a C string, so it fails like a wrong type. */
static void test_rows_text_with_a_nul_fails(void **state)
{
    (void)state;
    static const bastion_sql_value v[] = {{BASTION_SQL_TEXT, {.s = {"ab\0cd", 5}}}};
    static const bastion_sql_value *const r[] = {v};
    static const bastion_rows rs = {COLUMNS, 1, r, 1, 0};
    bastion_row row = bastion_row_at(&rs, 0);
    assert_int_equal(bastion_row_text(&row, 0).len, 0);
    assert_true(row.failed);
    bastion_str s;
    row = bastion_row_at(&rs, 0);
    assert_false(bastion_row_text_opt(&row, 0, &s));
    assert_true(row.failed);
}

static void test_rows_bool_accepts_only_0_and_1(void **state)
{
    (void)state;
    static const bastion_sql_value v[] = {{BASTION_SQL_INTEGER, {.i = 0}},
                                          {BASTION_SQL_INTEGER, {.i = 2}}};
    static const bastion_sql_value *const r[] = {v};
    static const bastion_rows rs = {COLUMNS, 2, r, 1, 0};
    bastion_row row = bastion_row_at(&rs, 0);
    assert_false(bastion_row_bool(&row, 0));
    assert_false(row.failed);
    assert_false(bastion_row_bool(&row, 1));
    assert_true(row.failed);
}

/* Only the first failure is kept, and the problem names nothing stored. */
static void test_rows_failure_is_one_500_and_a_log_line(void **state)
{
    (void)state;
    fake_reset();
    bastion_row row = bastion_row_at(&RS, 0);
    (void)bastion_row_text(&row, 0);
    (void)bastion_row_int(&row, 0); /* first failure: column "id" */
    (void)bastion_row_text(&row, 1);
    assert_int_equal(row.bad_column, 0);
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_row_or_problem(&cx, &row, "thing lookup"), BASTION_E_INTERNAL);
    cJSON *p = unit_assert_problem(&cx, 500, "internal");
    assert_false(unit_contains(cx.resp_body, "abc"));
    cJSON_Delete(p);
    assert_int_equal(fake.n_logs, 1);
    assert_int_equal(fake.logs[0].level, BASTION_LOG_ERROR);
    assert_non_null(strstr(fake.logs[0].fields, "op=thing lookup;"));
    assert_non_null(strstr(fake.logs[0].fields, "column=id;"));
    assert_non_null(strstr(fake.logs[0].fields, "want=integer;"));
    assert_non_null(strstr(fake.logs[0].fields, "got=text;"));
    assert_null(strstr(fake.logs[0].fields, "abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_each_type_reads_its_own_column),
        cmocka_unit_test(test_rows_a_wrong_type_fails_instead_of_reinterpreting),
        cmocka_unit_test(test_rows_nullable_readers),
        cmocka_unit_test(test_rows_missing_rows_and_columns_fail),
        cmocka_unit_test(test_rows_text_with_a_nul_fails),
        cmocka_unit_test(test_rows_bool_accepts_only_0_and_1),
        cmocka_unit_test(test_rows_failure_is_one_500_and_a_log_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
