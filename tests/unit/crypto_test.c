/*
 * Unit tests for shared/src/crypto.c.
 * Vectors: RFC 4231 §4 (HMAC-SHA256 test cases 1–4, 6, 7; case 5 is a
 * truncated MAC, checked on its first 128 bits); RFC 7914 §11
 * (PBKDF2-HMAC-SHA256); FIPS 180-2 appendix B.1 ("abc").
 */
#include "../../shared/src/crypto.c"

#include "unit.h"
#include "bastion/encoding.h"

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    bastion_hex_encode(out, b, n);
    out[2 * n] = 0;
}

static void test_crypto_sha256_fips180(void **state)
{
    (void)state;
    uint8_t d[32];
    char h[65];
    bastion_sha256(d, "abc", 3);
    hex_of(d, 32, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_crypto_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t k1[20], k3[20], k4[25], k5[20], k6[131], d3[50], d4[50];
    memset(k1, 0x0b, 20);
    memset(k3, 0xaa, 20);
    for (int i = 0; i < 25; i++)
        k4[i] = (uint8_t)(i + 1);
    memset(k5, 0x0c, 20);
    memset(k6, 0xaa, 131);
    memset(d3, 0xdd, 50);
    memset(d4, 0xcd, 50);
    static const char large_data[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    struct {
        const void *key;
        size_t klen;
        const void *data;
        size_t dlen;
        const char *mac;
        size_t check; /* bytes compared */
    } cases[] = {
        {k1, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
         32},
        {"Jefe", 4, "what do ya want for nothing?", 28,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32},
        {k3, 20, d3, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32},
        {k4, 25, d4, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32},
        {k5, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b", 16},
        {k6, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32},
        {k6, 131, large_data, sizeof large_data - 1,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t mac[32];
        char h[65];
        bastion_hmac_sha256(mac, cases[i].key, cases[i].klen, cases[i].data, cases[i].dlen);
        hex_of(mac, cases[i].check, h);
        if (strcmp(h, cases[i].mac) != 0)
            unit_fail("RFC 4231 case %zu: %s", i + 1, h);
    }
}

static void test_crypto_hmac_parts_equal_whole(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    bastion_str parts[] = {BASTION_LIT("1492774577"), BASTION_LIT("."), BASTION_LIT("{\"id\":1}")};
    bastion_hmac_sha256_parts(a, "whsec", 5, parts, 3);
    bastion_hmac_sha256(b, "whsec", 5, "1492774577.{\"id\":1}", 19);
    assert_memory_equal(a, b, 32);
}

static void test_crypto_pbkdf2_rfc7914(void **state)
{
    (void)state;
    uint8_t dk[64];
    char h[129];
    bastion_pbkdf2_sha256(dk, 64, "passwd", 6, "salt", 4, 1);
    hex_of(dk, 64, h);
    assert_string_equal(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                           "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    bastion_pbkdf2_sha256(dk, 64, "Password", 8, "NaCl", 4, 80000);
    hex_of(dk, 64, h);
    assert_string_equal(h, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                           "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
    /* a length that is not a multiple of the block: a prefix of the same key */
    uint8_t short_dk[20];
    bastion_pbkdf2_sha256(short_dk, 20, "passwd", 6, "salt", 4, 1);
    bastion_pbkdf2_sha256(dk, 64, "passwd", 6, "salt", 4, 1);
    assert_memory_equal(short_dk, dk, 20);
}

static void test_crypto_ct_equal(void **state)
{
    (void)state;
    assert_true(bastion_ct_equal("abcd", "abcd", 4));
    assert_false(bastion_ct_equal("abcd", "abce", 4));
    assert_false(bastion_ct_equal("\x80", "\x00", 1));
    assert_true(bastion_ct_equal("", "", 0));
}

static void test_crypto_random_and_uuid(void **state)
{
    (void)state;
    uint8_t a[300], b[300];
    assert_int_equal(bastion_random(a, sizeof a), 0); /* more than one getentropy call */
    assert_int_equal(bastion_random(b, sizeof b), 0);
    assert_false(memcmp(a, b, sizeof a) == 0);
    char u[37], v[37];
    assert_int_equal(bastion_uuid_v4(u), 0);
    assert_int_equal(bastion_uuid_v4(v), 0);
    assert_int_equal(strlen(u), 36);
    assert_true(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    assert_true(u[14] == '4');                  /* version */
    assert_true(strchr("89ab", u[19]) != NULL); /* variant 10 */
    assert_string_not_equal(u, v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_sha256_fips180),
        cmocka_unit_test(test_crypto_hmac_rfc4231),
        cmocka_unit_test(test_crypto_hmac_parts_equal_whole),
        cmocka_unit_test(test_crypto_pbkdf2_rfc7914),
        cmocka_unit_test(test_crypto_ct_equal),
        cmocka_unit_test(test_crypto_random_and_uuid),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
