/*
 * Unit tests for shared/src/password.c (AUTH3): the self-describing
 * PBKDF2-HMAC-SHA256 form, verification under the stored iteration count,
 * and refusal of everything that is not exactly that form.
 * Vector: RFC 7914 §11 (PBKDF2-HMAC-SHA256, "passwd" / "salt", c = 1).
 */
#include "../../shared/src/password.c"

#include "unit.h"

/* RFC 7914 §11's first vector (dkLen 64): its first 32 bytes, base64. */
#define RFC7914_HASH "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="
#define RFC7914_SALT "c2FsdA==" /* "salt" */

static void test_AUTH3_password_verifies_a_published_vector(void **state)
{
    (void)state;
    bastion_str stored = bastion_cstr("pbkdf2_sha256$1$" RFC7914_SALT "$" RFC7914_HASH);
    assert_int_equal(bastion_password_verify(bastion_cstr("passwd"), stored), BASTION_PASSWORD_OK);
    assert_int_equal(bastion_password_verify(bastion_cstr("passwe"), stored),
                     BASTION_PASSWORD_MISMATCH);
    assert_int_equal(bastion_password_verify(bastion_cstr(""), stored), BASTION_PASSWORD_MISMATCH);
}

static void test_AUTH3_password_hash_round_trip_and_form(void **state)
{
    (void)state;
    bastion_str a = bastion_password_hash(bastion_cstr("correct horse"), 1000);
    bastion_str b = bastion_password_hash(bastion_cstr("correct horse"), 1000);
    assert_non_null(a.ptr);
    /* prefix, count, 24-char salt (16 bytes), 44-char hash (32 bytes) */
    assert_int_equal(a.len, strlen("pbkdf2_sha256$1000$") + 24 + 1 + 44);
    assert_memory_equal(a.ptr, "pbkdf2_sha256$1000$", 19);
    assert_int_equal(a.ptr[19 + 24], '$');
    assert_string_not_equal(a.ptr, b.ptr); /* a fresh salt each time */
    assert_int_equal(bastion_password_verify(bastion_cstr("correct horse"), a),
                     BASTION_PASSWORD_OK);
    assert_int_equal(bastion_password_verify(bastion_cstr("correct horsf"), a),
                     BASTION_PASSWORD_MISMATCH);
    /* another count is its own hash, and still verifies */
    bastion_str c = bastion_password_hash(bastion_cstr("correct horse"), 7);
    assert_memory_equal(c.ptr, "pbkdf2_sha256$7$", 16);
    assert_int_equal(bastion_password_verify(bastion_cstr("correct horse"), c),
                     BASTION_PASSWORD_OK);
    /* out-of-range costs make no hash */
    assert_null(bastion_password_hash(bastion_cstr("x"), 0).ptr);
    assert_null(bastion_password_hash(bastion_cstr("x"), BASTION_PASSWORD_MAX_ITERATIONS + 1).ptr);
}

static void test_AUTH3_password_refuses_malformed_hashes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "pbkdf2_sha256",
        "pbkdf2_sha1$1$" RFC7914_SALT "$" RFC7914_HASH,
        "PBKDF2_SHA256$1$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$0$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$01$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$-1$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$10000001$" RFC7914_SALT "$" RFC7914_HASH, /* over the cap */
        "pbkdf2_sha256$999999999$" RFC7914_SALT "$" RFC7914_HASH,
        "pbkdf2_sha256$1$$" RFC7914_HASH,       /* no salt */
        "pbkdf2_sha256$1$c2FsdA$" RFC7914_HASH, /* unpadded */
        "pbkdf2_sha256$1$" RFC7914_SALT "$",    /* no hash */
        "pbkdf2_sha256$1$" RFC7914_SALT "$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrA==", /* 31 B */
        "pbkdf2_sha256$1$" RFC7914_SALT "$" RFC7914_HASH "$",
        "pbkdf2_sha256$1$" RFC7914_SALT "$" RFC7914_HASH "AAAA", /* 35 bytes */
        "pbkdf2_sha256$1$" RFC7914_SALT "$VawEblbjCJ_sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=", /* url */
    };
    for (size_t i = 0; i < BASTION_COUNTOF(bad); i++)
        assert_int_equal(bastion_password_verify(bastion_cstr("passwd"), bastion_cstr(bad[i])),
                         BASTION_PASSWORD_MALFORMED);
    assert_int_equal(bastion_password_verify(bastion_cstr("passwd"), BASTION_STR_NULL),
                     BASTION_PASSWORD_MALFORMED);
}

static void test_AUTH3_password_burn_runs_without_a_hash(void **state)
{
    (void)state;
    /* no output to check: it must simply run, for any cost, without a hash */
    bastion_password_burn(bastion_cstr("x"), 10);
    bastion_password_burn(bastion_cstr("x"), 0); /* out of range: the default cost */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_AUTH3_password_verifies_a_published_vector),
        cmocka_unit_test(test_AUTH3_password_hash_round_trip_and_form),
        cmocka_unit_test(test_AUTH3_password_refuses_malformed_hashes),
        cmocka_unit_test(test_AUTH3_password_burn_runs_without_a_hash),
    };
    return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
