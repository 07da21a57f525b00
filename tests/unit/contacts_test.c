/*
 * Unit tests for shared/src/contacts.c: a contact's tags (bounds, repeats,
 * the JSON column) and the statements that keep contact_tags in step.
 */
#include "fake_host.h"
#include "unit.h"

#include "../../shared/src/contacts.c"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static void test_tags_skip_empty_and_repeats_in_order(void **state)
{
    (void)state;
    bastion_tags t = {0};
    assert_null(bastion_tags_add(&t, BASTION_LIT("vip")));
    assert_null(bastion_tags_add(&t, BASTION_LIT("")));
    assert_null(bastion_tags_add(&t, BASTION_LIT("wholesale")));
    assert_null(bastion_tags_add(&t, BASTION_LIT("vip")));
    assert_null(bastion_tags_add(&t, BASTION_LIT("VIP"))); /* tags are compared byte for byte */
    assert_int_equal(t.n, 3);
    bastion_str json = bastion_tags_json(&t);
    assert_string_equal(json.ptr, "[\"vip\",\"wholesale\",\"VIP\"]");
    bastion_tags none = {0};
    assert_string_equal(bastion_tags_json(&none).ptr, "[]");
}

static void test_tags_bounds(void **state)
{
    (void)state;
    bastion_tags t = {0};
    char tag[4 * 256 + 1];
    /* 255 code points of "é" (2 bytes each) are one tag; 256 are too long */
    for (int i = 0; i < 256; i++)
        memcpy(tag + 2 * i, "\xc3\xa9", 2);
    assert_null(bastion_tags_add(&t, (bastion_str){tag, 2 * 255}));
    assert_string_equal(bastion_tags_add(&t, (bastion_str){tag, 2 * 256}),
                        "has a tag longer than 255 characters");
    assert_int_equal(t.n, 1);
    for (int i = 1; i < BASTION_TAGS_MAX; i++)
        assert_null(bastion_tags_add(&t, bastion_sprintf("t%d", i)));
    assert_int_equal(t.n, BASTION_TAGS_MAX);
    assert_null(bastion_tags_add(&t, BASTION_LIT("t1"))); /* a repeat still fits */
    assert_string_equal(bastion_tags_add(&t, BASTION_LIT("one more")), "has more than 250 tags");
    assert_int_equal(t.n, BASTION_TAGS_MAX);
}

static void test_tag_rows_statements(void **state)
{
    (void)state;
    bastion_sql_stmt st[2];
    bastion_tags t = {0};
    bastion_str tenant = BASTION_LIT("acme.myshopify.com"), phone = BASTION_LIT("+14155550100");
    /* no tags: only the delete */
    assert_int_equal(bastion_contact_tags_stmts(tenant, phone, &t, st), 1);
    assert_string_equal(st[0].sql, DELETE_TAGS);
    assert_int_equal(st[0].n_params, 2);
    assert_false(st[0].has_expect);
    assert_true(bastion_str_eq(st[0].params[0].v.s, tenant));
    assert_true(bastion_str_eq(st[0].params[1].v.s, phone));

    bastion_tags_add(&t, BASTION_LIT("a"));
    bastion_tags_add(&t, BASTION_LIT("b"));
    bastion_tags_add(&t, BASTION_LIT("c"));
    assert_int_equal(bastion_contact_tags_stmts(tenant, phone, &t, st), 2);
    assert_string_equal(st[1].sql, INSERT_HEAD "(CAST($3 AS TEXT)), (CAST($4 AS TEXT)), "
                                               "(CAST($5 AS TEXT))" INSERT_TAIL);
    assert_int_equal(st[1].n_params, 5);
    assert_true(bastion_str_eq(st[1].params[4].v.s, BASTION_LIT("c")));
    assert_false(st[1].has_expect); /* a contact that is not there has no rows to write */

    /* the longest list: 250 rows, parameters up to $252, within the buffer */
    bastion_tags full = {0};
    for (int i = 0; i < BASTION_TAGS_MAX; i++)
        bastion_tags_add(&full, bastion_sprintf("t%d", i));
    assert_int_equal(bastion_contact_tags_stmts(tenant, phone, &full, st), 2);
    assert_int_equal(st[1].n_params, 252);
    assert_non_null(strstr(st[1].sql, "(CAST($252 AS TEXT))" INSERT_TAIL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_tags_skip_empty_and_repeats_in_order, setup),
        cmocka_unit_test_setup(test_tags_bounds, setup),
        cmocka_unit_test_setup(test_tag_rows_statements, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
