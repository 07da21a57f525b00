/*
 * Unit tests for shared/src/encoding.c: strict RFC 4648 codecs.
 * Vectors: RFC 4648 §10 (BASE64 and BASE16 test vectors).
 */
#include "../../shared/src/encoding.c"

#include "unit.h"

struct vec {
    const char *raw, *b64, *b64url, *hex;
};

/* RFC 4648 §10; the URL forms are the same without padding (§5, RFC 7515 §2) */
static const struct vec RFC4648[] = {
    {"", "", "", ""},
    {"f", "Zg==", "Zg", "66"},
    {"fo", "Zm8=", "Zm8", "666f"},
    {"foo", "Zm9v", "Zm9v", "666f6f"},
    {"foob", "Zm9vYg==", "Zm9vYg", "666f6f62"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE", "666f6f6261"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy", "666f6f626172"},
};

static void test_encoding_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof RFC4648 / sizeof RFC4648[0]; i++) {
        const struct vec *v = &RFC4648[i];
        size_t n = strlen(v->raw);
        char out[32];
        uint8_t back[32];
        size_t len;
        assert_int_equal(bastion_b64_encode(out, v->raw, n, BASTION_B64_STD), strlen(v->b64));
        assert_memory_equal(out, v->b64, strlen(v->b64));
        assert_int_equal(bastion_b64_encode(out, v->raw, n, BASTION_B64_URL), strlen(v->b64url));
        assert_memory_equal(out, v->b64url, strlen(v->b64url));
        assert_int_equal(bastion_hex_encode(out, v->raw, n), strlen(v->hex));
        assert_memory_equal(out, v->hex, strlen(v->hex));
        assert_int_equal(
            bastion_b64_decode(back, sizeof back, &len, bastion_cstr(v->b64), BASTION_B64_STD),
            BASTION_DECODE_OK);
        assert_int_equal(len, n);
        assert_memory_equal(back, v->raw, n);
        assert_int_equal(
            bastion_b64_decode(back, sizeof back, &len, bastion_cstr(v->b64url), BASTION_B64_URL),
            BASTION_DECODE_OK);
        assert_int_equal(len, n);
        assert_memory_equal(back, v->raw, n);
        assert_int_equal(bastion_hex_decode(back, sizeof back, &len, bastion_cstr(v->hex)),
                         BASTION_DECODE_OK);
        assert_int_equal(len, n);
        assert_memory_equal(back, v->raw, n);
    }
    /* RFC 4648 §10's BASE16 vector is upper case: decoding accepts both */
    uint8_t back[8];
    size_t len;
    assert_int_equal(bastion_hex_decode(back, sizeof back, &len, BASTION_LIT("666F6F626172")),
                     BASTION_DECODE_OK);
    assert_memory_equal(back, "foobar", 6);
}

static void test_encoding_url_alphabet(void **state)
{
    (void)state;
    static const uint8_t raw[] = {0xfb, 0xff, 0xbf};
    char out[8];
    assert_int_equal(bastion_b64_encode(out, raw, 3, BASTION_B64_STD), 4);
    assert_memory_equal(out, "+/+/", 4);
    assert_int_equal(bastion_b64_encode(out, raw, 3, BASTION_B64_URL), 4);
    assert_memory_equal(out, "-_-_", 4);
    uint8_t back[4];
    size_t len;
    /* each alphabet refuses the other's two characters */
    assert_int_equal(bastion_b64_decode(back, 4, &len, BASTION_LIT("-_-_"), BASTION_B64_STD),
                     BASTION_DECODE_BAD_CHAR);
    assert_int_equal(bastion_b64_decode(back, 4, &len, BASTION_LIT("+/+/"), BASTION_B64_URL),
                     BASTION_DECODE_BAD_CHAR);
}

static void test_encoding_strict_rejections(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t len;
    struct {
        const char *in;
        bastion_b64_variant v;
        bastion_decode_rc want;
    } bad[] = {
        {"Zg=", BASTION_B64_STD, BASTION_DECODE_BAD_LENGTH}, /* padding cut short */
        {"Zg", BASTION_B64_STD, BASTION_DECODE_BAD_LENGTH},  /* std requires padding */
        {"Zg==", BASTION_B64_URL, BASTION_DECODE_BAD_CHAR},  /* JOSE: no padding at all */
        {"Z===", BASTION_B64_STD, BASTION_DECODE_BAD_CHAR},  /* too much padding */
        {"Zm=v", BASTION_B64_STD, BASTION_DECODE_BAD_CHAR},  /* padding inside */
        {"Zh==", BASTION_B64_STD, BASTION_DECODE_BAD_BITS},  /* non-zero unused bits, §3.5 */
        {"Zm9=", BASTION_B64_STD, BASTION_DECODE_BAD_BITS},
        {"Zm 9", BASTION_B64_URL, BASTION_DECODE_BAD_CHAR}, /* whitespace */
        {"Zm9v\n", BASTION_B64_URL, BASTION_DECODE_BAD_LENGTH},
        {"Z", BASTION_B64_URL, BASTION_DECODE_BAD_LENGTH}, /* 6 bits cannot make a byte */
        {"Zm9v\x80", BASTION_B64_URL, BASTION_DECODE_BAD_LENGTH},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_decode_rc rc =
            bastion_b64_decode(out, sizeof out, &len, bastion_cstr(bad[i].in), bad[i].v);
        if (rc != bad[i].want)
            unit_fail("b64 \"%s\": got %d, want %d", bad[i].in, rc, bad[i].want);
        assert_int_equal(len, 0);
    }
    assert_int_equal(bastion_hex_decode(out, sizeof out, &len, BASTION_LIT("abc")),
                     BASTION_DECODE_BAD_LENGTH);
    assert_int_equal(bastion_hex_decode(out, sizeof out, &len, BASTION_LIT("zz")),
                     BASTION_DECODE_BAD_CHAR);
    assert_int_equal(bastion_hex_decode(out, sizeof out, &len, BASTION_LIT("0x")),
                     BASTION_DECODE_BAD_CHAR);
}

static void test_encoding_never_truncates(void **state)
{
    (void)state;
    uint8_t out[5];
    size_t len = 99;
    /* "foobar" needs 6 bytes: refused, not cut to 5 */
    assert_int_equal(bastion_b64_decode(out, 5, &len, BASTION_LIT("Zm9vYmFy"), BASTION_B64_STD),
                     BASTION_DECODE_TOO_LONG);
    assert_int_equal(len, 0);
    assert_int_equal(bastion_hex_decode(out, 5, &len, BASTION_LIT("666f6f626172")),
                     BASTION_DECODE_TOO_LONG);
    assert_int_equal(bastion_b64_decode(out, 6 - 1, &len, BASTION_LIT("Zm9vYmE="), BASTION_B64_STD),
                     BASTION_DECODE_OK);
    assert_int_equal(len, 5);
}

static void test_encoding_lengths(void **state)
{
    (void)state;
    for (size_t n = 0; n < 40; n++) {
        assert_int_equal(bastion_b64_encoded_len(n, BASTION_B64_STD), (n + 2) / 3 * 4);
        assert_int_equal(bastion_b64_encoded_len(n, BASTION_B64_URL), (n * 4 + 2) / 3);
        assert_true(bastion_b64_decoded_max(bastion_b64_encoded_len(n, BASTION_B64_URL)) >= n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_rfc4648_vectors),
        cmocka_unit_test(test_encoding_url_alphabet),
        cmocka_unit_test(test_encoding_strict_rejections),
        cmocka_unit_test(test_encoding_never_truncates),
        cmocka_unit_test(test_encoding_lengths),
    };
    return cmocka_run_group_tests_name("encoding", tests, NULL, NULL);
}
