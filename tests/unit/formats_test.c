/*
 * Unit tests for shared/src/formats.c: the pure format checks behind the
 * field rules (VAL1, VAL3).
 *
 * Vectors: UTF-8 from RFC 3629 §4 (syntax) and §10 (overlong and surrogate
 * attacks), and Markus Kuhn's "UTF-8 decoder capability and stress test"
 * (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt), sections
 * 2.3, 3.3, 4.1 and 5.1; email lengths from RFC 5321 §4.5.3.1; ITU-T E.164
 * §6.2.1 (15-digit maximum); RFC 9562 §4 (string form) and its Appendix A
 * example UUID.
 */
#include "../../shared/src/formats.c"

#include "unit.h"

/* --- VAL3: UTF-8 --- */

/* RFC 3629 §4, §10 and Kuhn's stress test: the byte-level validator */
static void test_VAL3_utf8_validator(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        bool ok;
    } cases[] = {
#define V(s, ok) {s, sizeof(s) - 1, ok}
        V("", true),
        V("plain ASCII", true),
        V("\xC3\xA9", true),          /* U+00E9 */
        V("\xE2\x82\xAC", true),      /* U+20AC */
        V("\xF0\x9F\x98\x80", true),  /* U+1F600 */
        V("\xED\x9F\xBF", true),      /* U+D7FF, Kuhn 2.3.1 */
        V("\xEE\x80\x80", true),      /* U+E000, Kuhn 2.3.2 */
        V("\xEF\xBF\xBD", true),      /* U+FFFD, Kuhn 2.3.4 */
        V("\xF4\x8F\xBF\xBF", true),  /* U+10FFFF, Kuhn 2.3.5 */
        V("\x00", true),              /* NUL is valid UTF-8 (a control, not an encoding error) */
        V("\xC0\xAF", false),         /* overlong '/', RFC 3629 §10, Kuhn 4.1.1 */
        V("\xC1\xBF", false),         /* overlong, Kuhn 4.2.1 */
        V("\xE0\x80\xAF", false),     /* overlong '/', Kuhn 4.1.2 */
        V("\xE0\x9F\xBF", false),     /* overlong U+07FF, Kuhn 4.2.2 */
        V("\xF0\x80\x80\xAF", false), /* overlong '/', Kuhn 4.1.3 */
        V("\xF0\x8F\xBF\xBF", false), /* overlong U+FFFF, Kuhn 4.2.3 */
        V("\xED\xA0\x80", false),     /* U+D800 surrogate, Kuhn 5.1.1 */
        V("\xED\xBF\xBF", false),     /* U+DFFF, Kuhn 5.1.7 */
        V("\xED\xA0\x80\xED\xB0\x80", false), /* CESU-8 pair, Kuhn 5.2.1 */
        V("\xF4\x90\x80\x80", false),         /* U+110000 */
        V("\xF5\x80\x80\x80", false),
        V("\xF8\x88\x80\x80\x80", false), /* 5-byte form, Kuhn 3.3 */
        V("\xFE", false),
        V("\xFF", false),
        V("\x80", false), /* lone continuation, Kuhn 3.1.1 */
        V("a\xBF", false),
        V("\xC3", false),         /* truncated, Kuhn 3.3.1 */
        V("\xE2\x82", false),     /* truncated, Kuhn 3.3.2 */
        V("\xF0\x9F\x98", false), /* truncated, Kuhn 3.3.3 */
        V("\xC3"
          "a",
          false), /* lead byte then ASCII */
        V("\xE2\x28\xA1", false),
        V("ok \xC3\xA9 then \xE2\x82", false), /* truncated at the very end */
#undef V
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (bastion_utf8_valid((bastion_str){cases[i].bytes, cases[i].len}) != cases[i].ok)
            unit_fail("case %zu should be %s", i, cases[i].ok ? "valid" : "invalid");
    }
}

/* --- VAL1: email --- */

static void test_VAL1_email_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"a@example.com", true},
        {"first.last+tag@sub.example.co", true},
        {"x_y-z!#$%&'*/=?^`{|}~@example.org", true},
        {"a@b.io", true},
        {"a@xn--bcher-kva.example", true},
        {"a@1example.com", true},   /* digits are fine in non-TLD labels */
        {"userexample.com", false}, /* no @ */
        {"@example.com", false},    /* empty local part */
        {"a@", false},              /* empty domain */
        {"a@@example.com", false},
        {".a@example.com", false},   /* leading dot */
        {"a.@example.com", false},   /* trailing dot */
        {"a..b@example.com", false}, /* double dot */
        {"a@example", false},        /* no TLD */
        {"a@example.", false},
        {"a@.example.com", false},
        {"a@example..com", false},
        {"a@example.123", false}, /* numeric TLD */
        {"a@example.c", false},   /* one-letter TLD */
        {"a@example.c0m", false},
        {"a@-example.com", false}, /* label starts with '-' */
        {"a@example-.com", false}, /* label ends with '-' */
        {"a b@example.com", false},
        {"\"a b\"@example.com", false}, /* no quoted strings */
        {"a@exa_mple.com", false},
        {"a@[192.0.2.1]", false},           /* no address literals */
        {"caf\xC3\xA9@example.com", false}, /* ASCII only */
        {"a@example.com.", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (bastion_email_valid(bastion_cstr(cases[i].in)) != cases[i].ok)
            unit_fail("bastion_email_valid(\"%s\") should be %s", cases[i].in,
                      cases[i].ok ? "true" : "false");
    }
}

/* RFC 5321 §4.5.3.1: local part ≤ 64 octets, a path ≤ 256 octets with its
 * angle brackets, so an address ≤ 254. Labels ≤ 63 (RFC 1035 §2.3.4). */
static void test_VAL1_email_length_limits(void **state)
{
    (void)state;
    char buf[400];
    /* 64 + 1 + (63 + 1 + 63 + 1 + 57 + 4) = 254 */
    snprintf(buf, sizeof buf, "%.64s@%.63s.%.63s.%.57s.com", /* each %.Ns from a long run */
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(strlen(buf), 254);
    assert_true(bastion_email_valid(bastion_cstr(buf)));
    /* 255: one more letter in the third label */
    snprintf(buf, sizeof buf, "%.64s@%.63s.%.63s.%.58s.com",
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(strlen(buf), 255);
    assert_false(bastion_email_valid(bastion_cstr(buf)));
    /* local part of 65 */
    snprintf(buf, sizeof buf, "%.65s@example.com",
             "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll");
    assert_false(bastion_email_valid(bastion_cstr(buf)));
    /* a label of 64 */
    snprintf(buf, sizeof buf, "a@%.64s.com",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_false(bastion_email_valid(bastion_cstr(buf)));
}

/* --- VAL1: E.164 --- */

static void test_VAL1_phone_e164_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"+14155552671", true},
        {"+442071838750", true},
        {"+12345678", true},          /* 8 digits: the minimum */
        {"+123456789012345", true},   /* 15 digits: E.164 §6.2.1 maximum */
        {"+1234567890123456", false}, /* 16 */
        {"+1234567", false},          /* 7: too short */
        {"+", false},
        {"", false},
        {"14155552671", false}, /* no '+' */
        {"++14155552671", false},
        {"+04155552671", false},    /* country codes never start with 0 */
        {"+1415555267a", false},    /* letters */
        {"+1415O552671", false},    /* letter O for zero */
        {"+1 415 555 2671", false}, /* separators are not E.164 */
        {"+1-415-555-2671", false},
        {"+1(415)5552671", false},
        {"+\xEF\xBC\x91"
         "4155552671",
         false},                  /* fullwidth digit one */
        {"+14155552671 ", false}, /* the parser does not trim; the field does */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (bastion_phone_valid(bastion_cstr(cases[i].in)) != cases[i].ok)
            unit_fail("bastion_phone_valid(\"%s\") should be %s", cases[i].in,
                      cases[i].ok ? "true" : "false");
    assert_false(bastion_phone_valid(BASTION_STR_NULL));
}

/* --- VAL1: UUID --- */

static void test_VAL1_uuid_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf6", true}, /* RFC 9562 §4 */
        {"F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6", true},
        {"00000000-0000-0000-0000-000000000000", true}, /* nil, §5.9 */
        {"ffffffff-ffff-ffff-ffff-ffffffffffff", true}, /* max, §5.10 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf", false}, /* 35 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf66", false},
        {"f81d4fae7dec11d0a76500a0c91e6bf6", false},     /* no dashes */
        {"f81d4fae-7dec-11d0a765-00a0c91e6bf6-", false}, /* dash moved */
        {"f81d4fa-e7dec-11d0-a765-00a0c91e6bf6", false}, /* 7-5-4-4-12 */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bg6", false}, /* non-hex 'g' */
        {"f81d4fae-7dec-11d0-a765-00a0c91e6b f", false},
        {"{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}", false},
        {"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (bastion_uuid_parse(bastion_cstr(cases[i].in), NULL) != cases[i].ok)
            unit_fail("bastion_uuid_parse(\"%s\") should be %s", cases[i].in,
                      cases[i].ok ? "true" : "false");
    char lower[37];
    assert_true(bastion_uuid_parse(BASTION_LIT("F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"), lower));
    assert_string_equal(lower, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_VAL3_utf8_validator),
        cmocka_unit_test(test_VAL1_email_valid_and_invalid),
        cmocka_unit_test(test_VAL1_email_length_limits),
        cmocka_unit_test(test_VAL1_phone_e164_valid_and_invalid),
        cmocka_unit_test(test_VAL1_uuid_valid_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
