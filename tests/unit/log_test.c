/*
 * Unit tests for shared/src/log.c: masking and redaction before a log line
 * leaves the module (OBS1). The request id, fn and ts are added by the host
 * to every line (host/log_sink.c) and are tested there
 * (tests/host/test_host.py test_OBS2_access_log_line_per_request).
 *
 * The exact mask formats are the issue's: "j***@example.com", "+1******4567".
 */
#include "../../shared/src/log.c"

#include "fake_host.h"
#include "unit.h"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

#define ASSERT_MASK(in, want)                                                                      \
    do {                                                                                           \
        bastion_str got_ = bastion_log_mask(BASTION_LIT(in));                                      \
        if (!unit_str_is(got_, want))                                                              \
            unit_fail("mask(\"%s\") = \"%.*s\", want \"%s\"", in, (int)got_.len, got_.ptr, want);  \
        assert_int_equal(got_.ptr[got_.len], 0);                                                   \
    } while (0)

static void test_OBS1_email_masked_exactly(void **state)
{
    (void)state;
    ASSERT_MASK("john@example.com", "j***@example.com"); /* the example */
    ASSERT_MASK("a@b.io", "a***@b.io");
    ASSERT_MASK("Ann.Smith+tag@Mail.Example.co.uk", "A***@Mail.Example.co.uk");
    ASSERT_MASK("signup from ann@example.com.", "signup from a***@example.com.");
    ASSERT_MASK("email=ann@example.com", "email=a***@example.com");
    ASSERT_MASK("<ann@example.com>, bob@example.org", "<a***@example.com>, b***@example.org");
    ASSERT_MASK("\"ann@example.com\"", "\"a***@example.com\"");
    /* digits go with the local part */
    ASSERT_MASK("user123456789@example.com", "u***@example.com");
    /* not addresses: left alone */
    ASSERT_MASK("user@localhost", "user@localhost");
    ASSERT_MASK("@handle", "@handle");
    ASSERT_MASK("a@b", "a@b");
    ASSERT_MASK("x@1.2.3.4", "x@1.2.3.4");
    ASSERT_MASK("no at sign here", "no at sign here");
    ASSERT_MASK("", "");
}

static void test_OBS1_phone_masked_exactly(void **state)
{
    (void)state;
    ASSERT_MASK("+12025554567", "+1******4567"); /* the example */
    ASSERT_MASK("+442071838750", "+4*******8750");
    ASSERT_MASK("+12345678", "+1***5678"); /* 8 digits: the E.164 minimum here */
    ASSERT_MASK("+1 (202) 555-4567", "+1***********4567");
    ASSERT_MASK("+1-202-555-4567", "+1*********4567");
    ASSERT_MASK("2025554567", "******4567"); /* no country code to keep */
    ASSERT_MASK("(202) 555-4567", "**********4567");
    ASSERT_MASK("call 202.555.4567 now", "call ********4567 now");
    ASSERT_MASK("phone=+12025554567;", "phone=+1******4567;");
    ASSERT_MASK("to:+12025554567, cc:+442071838750", "to:+1******4567, cc:+4*******8750");
    ASSERT_MASK("sent to +12025554567.", "sent to +1******4567.");
    ASSERT_MASK("{\"to\":\"+12025554567\"}", "{\"to\":\"+1******4567\"}");
    /* 8+ digits are masked even when they may not be a phone */
    ASSERT_MASK("at 1714536000000", "at *********0000");
}

static void test_OBS1_non_phones_left_alone(void **state)
{
    (void)state;
    ASSERT_MASK("+1234567", "+1234567"); /* 7 digits */
    ASSERT_MASK("2024-05-01T09:30:00.000Z", "2024-05-01T09:30:00.000Z");
    ASSERT_MASK("2024-05-01 09:30:00", "2024-05-01 09:30:00");
    ASSERT_MASK("2024-05-01", "2024-05-01");
    ASSERT_MASK("client 203.0.113.70", "client 203.0.113.70"); /* IPv4 */
    ASSERT_MASK("id 123e4567-e89b-12d3-a456-426614174000",
                "id 123e4567-e89b-12d3-a456-426614174000");      /* UUID */
    ASSERT_MASK("/api/orders/12345678", "/api/orders/12345678"); /* a path segment */
    ASSERT_MASK("order_12345678", "order_12345678");
    ASSERT_MASK("sha 0123456789abcdef", "sha 0123456789abcdef");
    ASSERT_MASK("10:30:00", "10:30:00");
    ASSERT_MASK("db 10.0.0.1:5432", "db 10.0.0.1:5432");
    ASSERT_MASK("took 1234 ms, 42 rows", "took 1234 ms, 42 rows");
}

static void test_OBS1_credentials_in_text_redacted(void **state)
{
    (void)state;
    ASSERT_MASK("Authorization: Bearer abc.DEF-ghi_123~+/=", "Authorization: Bearer [redacted]");
    ASSERT_MASK("bearer   xyz12345", "bearer   [redacted]");
    ASSERT_MASK("BEARER abcdefgh, next", "BEARER [redacted], next");
    ASSERT_MASK("Basic dXNlcjpwYXNz", "Basic [redacted]");
    ASSERT_MASK("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl was bad",
                "token [redacted] was bad");                           /* RFC 7519 §3.1 shape */
    ASSERT_MASK("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[redacted]"); /* unsigned */
    ASSERT_MASK("eyJustaword", "eyJustaword");
    ASSERT_MASK("the basic plan", "the basic plan");
    ASSERT_MASK("the Basic configuration", "the Basic configuration"); /* not base64 */
    ASSERT_MASK("a bearer of news", "a bearer of news");               /* too short */
    ASSERT_MASK("Bearer", "Bearer");
}

static void test_OBS1_secret_names(void **state)
{
    (void)state;
    static const char *const secret[] = {
        "password",
        "new_password",
        "passwd",
        "secret",
        "client_secret",
        "jwt_secret",
        "token",
        "csrf_token",
        "refresh-token",
        "Authorization",
        "AUTHORIZATION",
        "api_key",
        "apikey",
        "X-Api-Key",
        "ApiKey",
        "cookie",
        "Set-Cookie",
        "signature",
        "stripe_signature",
        "session",
        "session_id",
        "credentials",
        "private_key",
        "jwt",
    };
    static const char *const plain[] = {"email", "phone",  "user",  "status", "op",
                                        "error", "detail", "route", "count",  "id"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (!bastion_log_secret_name(bastion_cstr(secret[i])))
            unit_fail("\"%s\" should be a secret name", secret[i]);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (bastion_log_secret_name(bastion_cstr(plain[i])))
            unit_fail("\"%s\" should not be a secret name", plain[i]);
    assert_false(bastion_log_secret_name(BASTION_STR_NULL));
}

static void test_OBS1_log_safe_masks_msg_and_fields(void **state)
{
    (void)state;
    const bastion_header fields[] = {
        {BASTION_LIT("email"), BASTION_LIT("john@example.com")},
        {BASTION_LIT("phone"), BASTION_LIT("+12025554567")},
        {BASTION_LIT("status"), BASTION_LIT("joined")},
    };
    bastion_log_safe(BASTION_LOG_WARN, "welcome john@example.com (+12025554567)", fields, 3);
    assert_int_equal(fake.n_logs, 1);
    assert_int_equal(fake.logs[0].level, BASTION_LOG_WARN);
    assert_string_equal(fake.logs[0].msg, "welcome j***@example.com (+1******4567)");
    assert_string_equal(fake.logs[0].fields,
                        "email=j***@example.com;phone=+1******4567;status=joined;");
    /* the caller's fields are untouched */
    assert_true(unit_str_is(fields[0].value, "john@example.com"));
}

static void test_OBS1_secret_field_values_dropped(void **state)
{
    (void)state;
    const bastion_header fields[] = {
        {BASTION_LIT("password"), BASTION_LIT("hunter2")},
        {BASTION_LIT("Authorization"), BASTION_LIT("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")},
        {BASTION_LIT("stripe_signature"), BASTION_LIT("t=1,v1=abc")},
        {BASTION_LIT("session_id"), BASTION_LIT("s-123")},
        {BASTION_LIT("X-Api-Key"), BASTION_LIT("k")},
        {BASTION_LIT("cookie"), BASTION_LIT("")},
        {BASTION_LIT("op"), BASTION_LIT("login")},
    };
    bastion_log_safe(BASTION_LOG_INFO, "login", fields, 7);
    assert_int_equal(fake.n_logs, 1);
    assert_string_equal(fake.logs[0].fields, "password=[redacted];Authorization=[redacted];"
                                             "stripe_signature=[redacted];session_id=[redacted];"
                                             "X-Api-Key=[redacted];cookie=[redacted];op=login;");
    assert_null(strstr(fake.logs[0].fields, "hunter2"));
}

static void test_OBS1_null_message_and_values(void **state)
{
    (void)state;
    const bastion_header fields[] = {{BASTION_LIT("detail"), BASTION_STR_NULL}};
    bastion_log_safe(BASTION_LOG_ERROR, NULL, fields, 1);
    bastion_log_safe(BASTION_LOG_DEBUG, "no fields", NULL, 0);
    assert_int_equal(fake.n_logs, 2);
    assert_string_equal(fake.logs[0].msg, "");
    assert_string_equal(fake.logs[0].fields, "detail=;");
    assert_string_equal(fake.logs[1].msg, "no fields");
    assert_string_equal(fake.logs[1].fields, "");
}

/* Long input: linear, and nothing written past the copy (ASan). */
static void test_OBS1_long_values(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = bastion_alloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = "1 -@a.b+9("[i % 10];
    s[n] = 0;
    bastion_str m = bastion_log_mask((bastion_str){s, n});
    assert_non_null(m.ptr);
    assert_int_equal(m.ptr[m.len], 0);
    /* a run of digits and separators far longer than any phone */
    for (size_t i = 0; i < n; i++)
        s[i] = i % 2 ? ' ' : '1';
    m = bastion_log_mask((bastion_str){s, n});
    assert_int_equal(m.len, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_OBS1_email_masked_exactly, setup),
        cmocka_unit_test_setup(test_OBS1_phone_masked_exactly, setup),
        cmocka_unit_test_setup(test_OBS1_non_phones_left_alone, setup),
        cmocka_unit_test_setup(test_OBS1_credentials_in_text_redacted, setup),
        cmocka_unit_test_setup(test_OBS1_secret_names, setup),
        cmocka_unit_test_setup(test_OBS1_log_safe_masks_msg_and_fields, setup),
        cmocka_unit_test_setup(test_OBS1_secret_field_values_dropped, setup),
        cmocka_unit_test_setup(test_OBS1_null_message_and_values, setup),
        cmocka_unit_test_setup(test_OBS1_long_values, setup),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
