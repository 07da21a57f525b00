/*
 * Unit tests for shared/src/list.c: comma-separated lists as RFC 9110
 * §5.6.1 writes them (OWS around members, empty members ignored).
 */
#include "../../shared/src/list.c"

#include "unit.h"

/* The members of `list` joined by '|', for comparison. */
static const char *members(const char *list)
{
    static char out[256];
    size_t o = 0;
    bastion_str rest = bastion_cstr(list), m;
    while (bastion_list_next(&rest, &m)) {
        if (o)
            out[o++] = '|';
        memcpy(out + o, m.ptr, m.len);
        o += m.len;
    }
    out[o] = 0;
    return out;
}

static void test_list_members_trimmed_and_empty_ones_skipped(void **state)
{
    (void)state;
    assert_string_equal(members("a,b,c"), "a|b|c");
    assert_string_equal(members(" a , b\t,\tc "), "a|b|c");
    /* RFC 9110 §5.6.1: "foo ,bar," and "foo , ,bar,charlie" */
    assert_string_equal(members("foo ,bar,"), "foo|bar");
    assert_string_equal(members("foo , ,bar,charlie"), "foo|bar|charlie");
    assert_string_equal(members(",,, ,\t,"), "");
    assert_string_equal(members(""), "");
    assert_string_equal(members("one"), "one");
    assert_string_equal(members("in side, x y"), "in side|x y"); /* inner spaces stay */
    bastion_str rest = BASTION_STR_NULL, m = BASTION_LIT("x");
    assert_false(bastion_list_next(&rest, &m));
    assert_null(m.ptr);
}

/* The members are sub-slices of the list itself: nothing is copied, and a
 * list that is not NUL-terminated is read by its length only. */
static void test_list_reads_only_len_bytes(void **state)
{
    (void)state;
    const char buf[] = {'a', ',', 'b', ',', 'c'}; /* no NUL */
    bastion_str rest = {buf, 3}, m;
    assert_true(bastion_list_next(&rest, &m));
    assert_ptr_equal(m.ptr, buf);
    assert_int_equal(m.len, 1);
    assert_true(bastion_list_next(&rest, &m));
    assert_ptr_equal(m.ptr, buf + 2);
    assert_int_equal(m.len, 1);
    assert_false(bastion_list_next(&rest, &m)); /* "c" is past len */
}

static void test_list_find_ci(void **state)
{
    (void)state;
    bastion_str list = BASTION_LIT(" park.example.com ,Other.Example.org");
    bastion_str m;
    assert_true(bastion_list_find_ci(list, BASTION_LIT("PARK.example.COM"), &m));
    assert_true(unit_str_is(m, "park.example.com"));
    assert_true(bastion_list_find_ci(list, BASTION_LIT("other.example.org"), &m));
    assert_true(unit_str_is(m, "Other.Example.org")); /* spelled as listed */
    assert_true(bastion_list_find_ci(list, BASTION_LIT("other.example.org"), NULL));
    assert_false(bastion_list_find_ci(list, BASTION_LIT("park.example.com.evil.net"), &m));
    assert_false(bastion_list_find_ci(list, BASTION_LIT("park.example"), &m));
    assert_false(bastion_list_find_ci(list, BASTION_LIT(""), &m)); /* no empty member */
    assert_false(bastion_list_find_ci(BASTION_STR_NULL, BASTION_LIT("a"), &m));
}

static void test_list_trim_ows(void **state)
{
    (void)state;
    assert_true(unit_str_is(bastion_trim_ows(BASTION_LIT(" \t*\t ")), "*"));
    assert_true(unit_str_is(bastion_trim_ows(BASTION_LIT("a b")), "a b"));
    /* OWS is SP and HTAB only: line breaks are not trimmed */
    assert_true(unit_str_is(bastion_trim_ows(BASTION_LIT("\na\r")), "\na\r"));
    assert_int_equal(bastion_trim_ows(BASTION_LIT("   ")).len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_members_trimmed_and_empty_ones_skipped),
        cmocka_unit_test(test_list_reads_only_len_bytes),
        cmocka_unit_test(test_list_find_ci),
        cmocka_unit_test(test_list_trim_ows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
