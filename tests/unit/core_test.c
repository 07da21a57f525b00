/*
 * Unit tests for shared/src/core.c: slices, the arena (and cJSON in it, the
 * memory rule of core.h), request accessors and time. The .c is included
 * (h2o style) for its internal bastion__arena_* functions.
 */
#include "../../shared/src/core.c"

#include "unit.h"

/* --- a malloc-counting hook ---
 * ASan's allocator calls these on every malloc and free in the process,
 * libcjson's included (libsanitizer's allocator interface; the declaration
 * is not in gcc's installed headers). Installed once, counting when armed. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static volatile bool counting;
static volatile size_t mallocs, frees;

static void count_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (counting)
        mallocs++;
}

static void count_free(const volatile void *p)
{
    (void)p;
    if (counting)
        frees++;
}

static void count_start(void)
{
    static bool installed;
    if (!installed)
        assert_true(__sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0);
    installed = true;
    mallocs = frees = 0;
    counting = true;
}

/* --- slices --- */

static void test_core_cstr(void **state)
{
    (void)state;
    bastion_str s = bastion_cstr("abc");
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "abc", 3);
    s = bastion_cstr(NULL);
    assert_null(s.ptr);
    assert_int_equal(s.len, 0);
    s = BASTION_LIT("a\0b");
    assert_int_equal(s.len, 3); /* literals keep embedded NULs */
}

static void test_core_str_eq(void **state)
{
    (void)state;
    assert_true(bastion_str_eq(BASTION_LIT("abc"), bastion_cstr("abc")));
    assert_false(bastion_str_eq(BASTION_LIT("abc"), BASTION_LIT("abd")));
    assert_false(bastion_str_eq(BASTION_LIT("abc"), BASTION_LIT("ab")));
    assert_false(bastion_str_eq(BASTION_LIT("a\0b"), BASTION_LIT("a\0c")));
    /* empty slices compare equal whatever their pointers */
    assert_true(bastion_str_eq(BASTION_STR_NULL, BASTION_LIT("")));
    assert_false(bastion_str_eq(BASTION_STR_NULL, BASTION_LIT("x")));
}

static void test_core_str_eq_ci_is_ascii_only(void **state)
{
    (void)state;
    assert_true(bastion_str_eq_ci(BASTION_LIT("Content-Type"), BASTION_LIT("content-TYPE")));
    assert_false(bastion_str_eq_ci(BASTION_LIT("content-type"), BASTION_LIT("content-typ")));
    /* '@' (0x40) and '`' (0x60), '[' and '{' differ only in bit 5 but are not letters */
    assert_false(bastion_str_eq_ci(BASTION_LIT("@"), BASTION_LIT("`")));
    assert_false(bastion_str_eq_ci(BASTION_LIT("["), BASTION_LIT("{")));
    /* non-ASCII bytes compare exactly: "É" (C3 89) is not "é" (C3 A9) */
    assert_false(bastion_str_eq_ci(BASTION_LIT("\xC3\x89"), BASTION_LIT("\xC3\xA9")));
    assert_true(bastion_str_eq_ci(BASTION_STR_NULL, BASTION_LIT("")));
}

static void test_core_str_dup(void **state)
{
    (void)state;
    char src[] = "a\0bc";
    char *d = bastion_str_dup((bastion_str){src, 4});
    assert_ptr_not_equal(d, src);
    assert_memory_equal(d, "a\0bc", 4);
    assert_int_equal(d[4], 0);
    src[0] = 'z'; /* a copy, not a view */
    assert_int_equal(d[0], 'a');
    char *e = bastion_str_dup(BASTION_STR_NULL);
    assert_non_null(e);
    assert_int_equal(e[0], 0);
}

/* --- arena --- */

static void test_core_alloc_aligned_and_disjoint(void **state)
{
    (void)state;
    char *a = bastion_alloc(3);
    char *b = bastion_alloc(1);
    char *c = bastion_alloc(17);
    assert_int_equal((uintptr_t)a % 8, 0);
    assert_int_equal((uintptr_t)b % 8, 0);
    assert_int_equal((uintptr_t)c % 8, 0);
    memset(a, 'a', 3);
    memset(b, 'b', 1);
    memset(c, 'c', 17);
    assert_true(b >= a + 3 && c >= b + 1);
    assert_int_equal(a[2], 'a');
    assert_int_equal(b[0], 'b');
}

static void test_core_alloc_larger_than_a_chunk(void **state)
{
    (void)state;
    /* ASan checks that every byte of the block is really ours */
    char *big = bastion_alloc(200000);
    memset(big, 0x5A, 200000);
    char *after = bastion_alloc(16);
    memset(after, 1, 16);
    assert_int_equal((unsigned char)big[199999], 0x5A);
    /* many small allocations across chunk boundaries stay usable */
    for (int i = 0; i < 5000; i++) {
        char *p = bastion_alloc(100);
        memset(p, i & 0xFF, 100);
    }
}

/*
 * core.h: bastion_alloc "never returns NULL". On a fresh instance the arena is
 * empty ({NULL, NULL}), so a zero-byte request takes the no-new-chunk path and
 * returns arena.cur, which is NULL. KNOWN BUG (see tests/unit report).
 */
static void test_core_alloc_zero_on_fresh_arena_not_null(void **state)
{
    (void)state;
    bastion__arena_reset(); /* a fresh instance: no chunk yet */
    void *p = bastion_alloc(0);
    if (p == NULL)
        unit_fail("bastion_alloc(0) on a fresh arena returned NULL");
}

/* --- the memory rule: cJSON lives in the arena --- */

/* Builds, prints, re-parses and "frees" a small tree; returns it. */
static cJSON *json_round(char **text, cJSON **back)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "Ann");
    cJSON_AddNumberToObject(o, "n", 42);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "items"), cJSON_CreateString("x"));
    *text = cJSON_PrintUnformatted(o);
    *back = cJSON_Parse(*text);
    return o;
}

/*
 * core.h: "the request arena owns everything a request allocates", cJSON
 * included. Every node, string and printed text is arena memory, the
 * arena's used bytes grow by them, and nothing reaches malloc or free —
 * cJSON_Delete and cJSON_free are no-ops. The control half proves the hook
 * counts: under cJSON's default hooks the same work mallocs.
 */
static void test_core_json_is_arena_memory(void **state)
{
    (void)state;
    bastion__arena_adopt_json(); /* as the handle export does (fake_host.c did already) */
    bastion__arena_reset();
    (void)bastion_alloc(1); /* one fresh chunk, with room for all that follows */
    size_t used = bastion__arena_used();
    char *text;
    cJSON *back;
    count_start();
    cJSON *o = json_round(&text, &back);
    cJSON_Delete(o);
    cJSON_free(text);
    cJSON_Delete(back);
    counting = false;
    assert_int_equal(mallocs, 0);
    assert_int_equal(frees, 0);
    /* 5 nodes each way (object, two members, array, its string) */
    assert_true(bastion__arena_used() >= used + 10 * sizeof(cJSON));
    assert_true(bastion__arena_contains(o) && bastion__arena_contains(o->child) &&
                bastion__arena_contains(o->child->valuestring) &&
                bastion__arena_contains(o->child->string) && bastion__arena_contains(text) &&
                bastion__arena_contains(back));
    /* the no-op Delete left everything readable until the arena goes */
    assert_string_equal(text, "{\"name\":\"Ann\",\"n\":42,\"items\":[\"x\"]}");
    assert_true(cJSON_Compare(o, back, true));

    /* control: libc's hooks, the same work, and the counter sees it */
    cJSON_InitHooks(NULL);
    count_start();
    o = json_round(&text, &back);
    size_t with_libc = mallocs;
    cJSON_Delete(o);
    cJSON_free(text);
    cJSON_Delete(back);
    counting = false;
    bastion__arena_adopt_json(); /* back to the rule before anything else runs */
    assert_true(with_libc >= 10);
    assert_true(frees >= 10);
}

/* cabi_realloc's allocator: aligned, disjoint, arena memory. */
static void test_core_alloc_aligned_from_the_arena(void **state)
{
    (void)state;
    static const size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t used = bastion__arena_used();
        uint8_t *p = bastion__alloc_aligned(40, aligns[i]);
        uint8_t *q = bastion__alloc_aligned(40, aligns[i]);
        assert_int_equal((uintptr_t)p % aligns[i], 0);
        assert_int_equal((uintptr_t)q % aligns[i], 0);
        assert_true(bastion__arena_contains(p) && bastion__arena_contains(p + 39));
        assert_true(q >= p + 40 || p >= q + 40);
        memset(p, 0xA5, 40);
        memset(q, 0x5A, 40);
        assert_int_equal(p[39], 0xA5);
        assert_true(bastion__arena_used() > used);
    }
    int on_stack;
    assert_false(bastion__arena_contains(&on_stack));
}

/* --- request accessors --- */

static const bastion_header HEADERS[] = {
    {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    {BASTION_LIT("x-request-id"), BASTION_LIT("abc")},
    {BASTION_LIT("accept"), BASTION_LIT("first")},
    {BASTION_LIT("accept"), BASTION_LIT("second")},
};

static void test_core_header_get_case_insensitive(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    cx.headers = HEADERS;
    cx.n_headers = 4;
    assert_true(unit_str_is(bastion_header_get(&cx, "content-type"), "application/json"));
    assert_true(unit_str_is(bastion_header_get(&cx, "Content-Type"), "application/json"));
    assert_true(unit_str_is(bastion_header_get(&cx, "X-REQUEST-ID"), "abc"));
    assert_true(unit_str_is(bastion_header_get(&cx, "accept"), "first"));
    assert_null(bastion_header_get(&cx, "authorization").ptr);
    assert_null(bastion_header_get(&cx, "content").ptr); /* no prefix matches */
    cx.n_headers = 0;
    assert_null(bastion_header_get(&cx, "content-type").ptr);
}

static void test_core_param(void **state)
{
    (void)state;
    static const bastion_header params[] = {
        {BASTION_LIT("product_id"), BASTION_LIT("p 1")},
        {BASTION_LIT("id"), BASTION_LIT("")},
    };
    bastion_ctx cx;
    unit_ctx(&cx);
    cx.params = params;
    cx.n_params = 2;
    assert_true(unit_str_is(bastion_param(&cx, "product_id"), "p 1"));
    bastion_str id = bastion_param(&cx, "id");
    assert_non_null(id.ptr); /* present but empty is not missing */
    assert_int_equal(id.len, 0);
    assert_null(bastion_param(&cx, "product").ptr);
    assert_null(bastion_param(&cx, "missing").ptr);
}

static bastion_str query(const char *q, const char *name)
{
    bastion_ctx cx;
    unit_ctx(&cx);
    cx.query = bastion_cstr(q);
    return bastion_query_get(&cx, name);
}

/* WHATWG URL §5.1 application/x-www-form-urlencoded parsing */
static void test_core_query_decoding(void **state)
{
    (void)state;
    const char *q = "a=1&b=hello+world&c=%41%42%2b&d=%zz&e=%4&f&g=&a=2&h%20k=v&pct=100%&x=%2F";
    assert_true(unit_str_is(query(q, "a"), "1")); /* the first value */
    assert_true(unit_str_is(query(q, "b"), "hello world"));
    assert_true(unit_str_is(query(q, "c"), "AB+"));
    assert_true(unit_str_is(query(q, "d"), "%zz")); /* malformed escapes stay literal */
    assert_true(unit_str_is(query(q, "e"), "%4"));
    assert_true(unit_str_is(query(q, "pct"), "100%"));
    assert_true(unit_str_is(query(q, "x"), "/"));
    assert_true(unit_str_is(query(q, "h k"), "v")); /* names are decoded too */
    assert_true(unit_str_is(query(q, "f"), ""));    /* present without '=' */
    assert_true(unit_str_is(query(q, "g"), ""));
    assert_null(query(q, "missing").ptr);
    assert_null(query(q, "hello").ptr); /* values are not names */
}

static void test_core_query_edge_cases(void **state)
{
    (void)state;
    assert_null(query("", "a").ptr);
    assert_null(query(NULL, "a").ptr);
    assert_true(unit_str_is(query("&&a=1&&", "a"), "1"));
    assert_true(unit_str_is(query("a==1", "a"), "=1"));
    assert_true(unit_str_is(query("a=%", "a"), "%"));
    bastion_str nul = query("a=x%00y", "a");
    assert_int_equal(nul.len, 3); /* decoded NUL kept, length-delimited */
    assert_memory_equal(nul.ptr, "x\0y", 3);
    bastion_str utf8 = query("n=%C3%A9", "n");
    assert_true(unit_str_is(utf8, "\xC3\xA9"));
}

/* The ABI may hand an empty value over as (NULL, 0); a header that is there
 * with no value must still be there. */
static void test_core_empty_header_from_the_abi_is_present(void **state)
{
    (void)state;
    const bastion_header h[] = {{BASTION_LIT("if-match"), {NULL, 0}}};
    bastion_ctx cx;
    unit_ctx(&cx);
    cx.headers = h;
    cx.n_headers = BASTION_COUNTOF(h);
    bastion_str v = bastion_header_get(&cx, "if-match");
    assert_non_null(v.ptr);
    assert_int_equal(v.len, 0);
}

/* BASTION_STR_FMT reads exactly len bytes: a slice cut out of a longer
 * buffer prints as the slice, never as the rest of the buffer. */
static void test_core_str_fmt_prints_an_unterminated_slice(void **state)
{
    (void)state;
    const char buf[] = {'p', 'l', 'a', 't', 'e', 'X', 'Y', 'Z'}; /* no NUL anywhere */
    bastion_str plate = {buf, 5};
    bastion_str out = bastion_sprintf("[" BASTION_STR_FMT "]", BASTION_STR_ARG(plate));
    assert_true(unit_str_is(out, "[plate]"));
    assert_int_equal(out.ptr[out.len], 0);
    out = bastion_sprintf("<" BASTION_STR_FMT ">", BASTION_STR_ARG(BASTION_STR_NULL));
    assert_true(unit_str_is(out, "<>"));
}

static void test_core_countof(void **state)
{
    (void)state;
    static const bastion_header three[3];
    const char *names[] = {"a", "b"};
    char buf[17];
    assert_int_equal(BASTION_COUNTOF(three), 3);
    assert_int_equal(BASTION_COUNTOF(names), 2);
    assert_int_equal(BASTION_COUNTOF(buf), 17);
    assert_int_equal(BASTION_COUNTOF(((const int[]){4, 5, 6, 7})), 4);
    (void)three;
    (void)buf;
    /* BASTION_COUNTOF(&three[0]) does not compile: a pointer is not an array */
}

static void test_core_bool_str(void **state)
{
    (void)state;
    assert_true(unit_str_is(bastion_bool_str(true), "true"));
    assert_true(unit_str_is(bastion_bool_str(false), "false"));
}

/* --- time --- */

static void test_core_now_ms(void **state)
{
    (void)state;
    uint64_t t = (uint64_t)time(NULL) * 1000u;
    uint64_t now = bastion_now_ms();
    assert_true(now + 2000 >= t && now <= t + 2000);
}

static void test_core_remaining_ms(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    cx.deadline_ms = bastion_now_ms() + 5000;
    uint32_t left = bastion_remaining_ms(&cx);
    assert_true(left > 4000 && left <= 5000);
    cx.deadline_ms = bastion_now_ms() - 1;
    assert_int_equal(bastion_remaining_ms(&cx), 0);
    cx.deadline_ms = 0;
    assert_int_equal(bastion_remaining_ms(&cx), 0);
    cx.deadline_ms = UINT64_MAX; /* saturates instead of wrapping */
    assert_int_equal(bastion_remaining_ms(&cx), UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_cstr),
        cmocka_unit_test(test_core_str_eq),
        cmocka_unit_test(test_core_str_eq_ci_is_ascii_only),
        cmocka_unit_test(test_core_str_dup),
        cmocka_unit_test(test_core_alloc_aligned_and_disjoint),
        cmocka_unit_test(test_core_alloc_larger_than_a_chunk),
        cmocka_unit_test(test_core_alloc_zero_on_fresh_arena_not_null),
        cmocka_unit_test(test_core_json_is_arena_memory),
        cmocka_unit_test(test_core_alloc_aligned_from_the_arena),
        cmocka_unit_test(test_core_header_get_case_insensitive),
        cmocka_unit_test(test_core_param),
        cmocka_unit_test(test_core_query_decoding),
        cmocka_unit_test(test_core_query_edge_cases),
        cmocka_unit_test(test_core_empty_header_from_the_abi_is_present),
        cmocka_unit_test(test_core_str_fmt_prints_an_unterminated_slice),
        cmocka_unit_test(test_core_countof),
        cmocka_unit_test(test_core_bool_str),
        cmocka_unit_test(test_core_now_ms),
        cmocka_unit_test(test_core_remaining_ms),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
