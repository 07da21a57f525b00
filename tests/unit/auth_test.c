/*
 * Unit tests for shared/src/auth.c: the bearer-token front door (AUTH1) —
 * RFC 6750 credentials and challenges, 401 before 403, 500 for an unset key
 * — and the bundle's contract (auth_jwt_secret, iss, aud, leeway).
 */
#include "../../shared/src/auth.c"

#include "jwt_vectors.h"

/* ------------------------------------------------ AUTH1: _or_problem */

static char bearer_buf[BASTION_JWT_MAX_LEN + 16];

/* A request carrying `authorization` (NULL: no such header). */
static void request(bastion_ctx *cx, const char *authorization)
{
    static bastion_header h[2];
    unit_ctx(cx);
    cx->method = BASTION_LIT("GET");
    if (authorization) {
        h[0] = (bastion_header){BASTION_LIT("authorization"), bastion_cstr(authorization)};
        cx->headers = h;
        cx->n_headers = 1;
    }
}

/* A fresh HS256 token for now, with `more` claims, as "Bearer <token>". */
static const char *bearer_now(const bastion_jwt_key *k, const char *more)
{
    char p[512];
    snprintf(p, sizeof p, "{\"exp\":%lld%s}", (long long)(bastion_now_ms() / 1000 + 300), more);
    cJSON *c = cJSON_Parse(p);
    assert_non_null(c);
    size_t n;
    memcpy(bearer_buf, "Bearer ", 7);
    assert_int_equal(bastion_jwt_sign_hs256(k, c, bearer_buf + 7, sizeof bearer_buf - 7, &n),
                     BASTION_JWT_OK);
    cJSON_Delete(c);
    return bearer_buf;
}

static void assert_401(const bastion_ctx *cx, const char *challenge, const char *token)
{
    cJSON *j = unit_assert_problem(cx, 401, "unauthorized");
    assert_true(unit_str_is(unit_resp_header(cx, "www-authenticate"), challenge));
    assert_string_equal(cJSON_GetObjectItem(j, "class")->valuestring, "auth");
    /* the detail names a class; the token never comes back */
    if (token)
        assert_false(unit_contains(cx->resp_body, token));
    cJSON_Delete(j);
}

static void test_AUTH1_missing_token_401_with_bearer_challenge(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, NULL);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    /* RFC 6750 §3.1: no error code when no credentials were sent */
    assert_401(&cx, "Bearer", NULL);
    /* another scheme counts as no bearer credentials */
    request(&cx, "Basic dXNlcjpwYXNz");
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer", NULL);
    request(&cx, "BearerX abc");
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer", NULL);
}

static void test_AUTH1_invalid_token_401_invalid_token_challenge(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    const char *cases[] = {"Bearer ", "Bearer not.a.jwt", "Bearer " A1_TEXT};
    for (size_t i = 0; i < 3; i++) {
        request(&cx, cases[i]);
        assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
        assert_401(&cx, "Bearer error=\"invalid_token\"", i ? cases[i] + 7 : NULL);
        assert_null(c.role.ptr);
    }
    /* expired: the detail says so, and no more */
    char expired[BASTION_JWT_MAX_LEN + 80];
    snprintf(expired, sizeof expired, "Bearer %s",
             craft(HS256_HEADER, "{\"exp\":1000,\"role\":\"admin\"}"));
    request(&cx, expired);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer error=\"invalid_token\"", expired + 7);
    cJSON *j = unit_body_json(&cx);
    assert_string_equal(cJSON_GetObjectItem(j, "detail")->valuestring, "token expired");
    cJSON_Delete(j);
}

static void test_AUTH1_valid_token_passes_without_responding(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, bearer_now(&k, ",\"role\":\"editor\",\"sub\":\"u9\""));
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(cx.n_resp_headers, 0);
    assert_true(unit_str_is(c.sub, "u9"));
    /* scheme name is case-insensitive (RFC 9110 §11.1), extra spaces allowed */
    char loose[sizeof bearer_buf + 16];
    snprintf(loose, sizeof loose, "bEARER   %s", bearer_buf + 7);
    request(&cx, loose);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
}

static void test_AUTH1_wrong_role_403(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    request(&cx, bearer_now(&k, ",\"role\":\"editor\""));
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_int_equal(bastion_require_role_or_problem(&cx, &c, "editor"), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(bastion_require_role_or_problem(&cx, &c, "admin"), BASTION_E_FORBIDDEN);
    cJSON *j = unit_assert_problem(&cx, 403, "forbidden");
    assert_true(unit_str_is(unit_resp_header(&cx, "www-authenticate"),
                            "Bearer error=\"insufficient_scope\""));
    cJSON_Delete(j);
    /* no role at all */
    request(&cx, bearer_now(&k, ""));
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_OK);
    assert_int_equal(bastion_require_role_or_problem(&cx, &c, "admin"), BASTION_E_FORBIDDEN);
    assert_int_equal(cx.status, 403);
    assert_int_equal(bastion_require_role_or_problem(&cx, NULL, "admin"), BASTION_E_FORBIDDEN);
}

/* ------------------------------------------- AUTH1: the bundle contract */

/* The contract's claims: iss "bastion", aud "bastion-api", `more` after. */
#define CONTRACT ",\"iss\":\"bastion\",\"aud\":\"bastion-api\",\"jti\":\"j1\""

/* auth_jwt_secret = SECRET, and auth_issuer when `issuer` is not NULL. */
static void contract_config(const char *issuer)
{
    fake.config_names[0] = "auth_jwt_secret";
    fake.config_values[0] = SECRET;
    if (issuer) {
        fake.config_names[1] = "auth_issuer";
        fake.config_values[1] = issuer;
    }
}

static void test_AUTH1_auth_admin_contract(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    contract_config(NULL);
    request(&cx, bearer_now(&k, CONTRACT ",\"sub\":\"u1\",\"role\":\"admin\""));
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_OK);
    assert_false(cx.responded);
    assert_true(unit_str_is(c.sub, "u1"));
    /* a user token: 403 with the insufficient_scope challenge */
    request(&cx, bearer_now(&k, CONTRACT ",\"sub\":\"u1\",\"role\":\"user\""));
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_E_FORBIDDEN);
    cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
    assert_true(unit_str_is(unit_resp_header(&cx, "www-authenticate"),
                            "Bearer error=\"insufficient_scope\""));
    /* ... which passes as a user */
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_OK);
    /* no token: 401 first, never 403 */
    request(&cx, NULL);
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    assert_401(&cx, "Bearer", NULL);
    assert_null(c.sub.ptr);
}

static void test_AUTH5_tenant_comes_only_from_the_token(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    contract_config(NULL);
    request(&cx, bearer_now(&k, CONTRACT ",\"sub\":\"u1\",\"role\":\"admin\",\"tenant\":\"acme\""));
    assert_int_equal(bastion_auth_tenant_admin_or_problem(&cx, &c), BASTION_OK);
    assert_true(unit_str_is(c.tenant, "acme"));
    /* no tenant claim, or an empty one: 403 */
    static const char *const none[] = {CONTRACT ",\"sub\":\"u1\",\"role\":\"admin\"",
                                       CONTRACT ",\"sub\":\"u1\",\"tenant\":\"\""};
    for (size_t i = 0; i < BASTION_COUNTOF(none); i++) {
        request(&cx, bearer_now(&k, none[i]));
        assert_int_equal(bastion_auth_tenant_or_problem(&cx, &c), BASTION_E_FORBIDDEN);
        cJSON_Delete(unit_assert_problem(&cx, 403, "forbidden"));
    }
    /* a tenant user is not a tenant admin */
    request(&cx, bearer_now(&k, CONTRACT ",\"sub\":\"u1\",\"role\":\"user\",\"tenant\":\"acme\""));
    assert_int_equal(bastion_auth_tenant_or_problem(&cx, &c), BASTION_OK);
    assert_int_equal(bastion_auth_tenant_admin_or_problem(&cx, &c), BASTION_E_FORBIDDEN);
    /* no token at all: 401 first */
    request(&cx, NULL);
    assert_int_equal(bastion_auth_tenant_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
}

static void test_AUTH2_auth_contract_iss_aud_sub(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    contract_config(NULL);
    const char *bad[] = {
        ",\"iss\":\"bastion\",\"jti\":\"j1\",\"sub\":\"u1\"",        /* no aud */
        ",\"iss\":\"bastion\",\"aud\":\"other-api\",\"sub\":\"u1\"", /* wrong aud */
        ",\"iss\":\"evil\",\"aud\":\"bastion-api\",\"sub\":\"u1\"",  /* wrong iss */
        ",\"aud\":\"bastion-api\",\"sub\":\"u1\"",                   /* no iss */
        CONTRACT,                                                    /* no sub */
        CONTRACT ",\"sub\":\"\"",                                    /* empty sub */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        request(&cx, bearer_now(&k, bad[i]));
        assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
        assert_int_equal(cx.status, 401);
    }
    /* aud may be an array naming us (RFC 7519 §4.1.3) */
    request(&cx, bearer_now(&k, ",\"iss\":\"bastion\",\"aud\":[\"x\",\"bastion-api\"],"
                                "\"jti\":\"j1\",\"sub\":\"u1\""));
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_OK);
    /* auth_issuer replaces the default issuer */
    fake_reset();
    contract_config("https://login.example");
    request(&cx, bearer_now(&k, CONTRACT ",\"sub\":\"u1\""));
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_E_UNAUTHORIZED);
    request(&cx, bearer_now(&k, ",\"iss\":\"https://login.example\",\"aud\":\"bastion-api\","
                                "\"jti\":\"j1\",\"sub\":\"u1\""));
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_OK);
}

static void test_AUTH2_auth_contract_leeway_30s(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    contract_config(NULL);
    long long now = (long long)(bastion_now_ms() / 1000);
    char claims[256], token[BASTION_JWT_MAX_LEN + 16];
    /* expired 10 s ago: inside the 30 s leeway; 60 s ago: outside */
    long long ages[] = {10, 60};
    bastion_rc want[] = {BASTION_OK, BASTION_E_UNAUTHORIZED};
    for (size_t i = 0; i < 2; i++) {
        snprintf(claims, sizeof claims, "{\"exp\":%lld" CONTRACT ",\"sub\":\"u1\"}", now - ages[i]);
        snprintf(token, sizeof token, "Bearer %s", craft(HS256_HEADER, claims));
        request(&cx, token);
        assert_int_equal(bastion_auth_user_or_problem(&cx, &c), want[i]);
    }
}

static void test_REL8_auth_secret_unset_or_short_is_500(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    load_secret(&k);
    const char *token = bearer_now(&k, CONTRACT ",\"sub\":\"u1\",\"role\":\"admin\"");
    /* unset */
    request(&cx, token);
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_E_MISCONFIGURED);
    cJSON *j = unit_assert_problem(&cx, 500, "misconfigured");
    assert_true(unit_contains(cx.resp_body, "auth_jwt_secret"));
    cJSON_Delete(j);
    /* 31 bytes: under RFC 7518 §3.2's minimum; the value is never shown */
    fake.config_names[0] = "auth_jwt_secret";
    fake.config_values[0] = "0123456789abcdef0123456789abcde";
    request(&cx, token);
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_E_MISCONFIGURED);
    cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
    assert_false(unit_contains(cx.resp_body, "0123456789abcdef"));
    bastion_str t;
    unit_ctx(&cx);
    assert_int_equal(
        bastion_auth_issue_or_problem(&cx, BASTION_LIT("u1"), "user", BASTION_STR_NULL, 60, &t),
        BASTION_E_MISCONFIGURED);
}

static void test_AUTH2_auth_issue_then_require(void **state)
{
    (void)state;
    bastion_jwt_claims c;
    bastion_ctx cx;
    bastion_str t;
    contract_config(NULL);
    unit_ctx(&cx);
    assert_int_equal(bastion_auth_issue_or_problem(&cx, BASTION_LIT("u-7"), "admin",
                                                   BASTION_LIT("acme"), 300, &t),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(t.ptr[t.len], '\0');
    char header[BASTION_JWT_MAX_LEN + 16];
    snprintf(header, sizeof header, "Bearer %s", t.ptr);
    request(&cx, header);
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_OK);
    assert_true(unit_str_is(c.sub, "u-7"));
    assert_true(unit_str_is(c.tenant, "acme"));
    assert_true(unit_str_is(c.iss, "bastion"));
    assert_true(c.has_exp && c.has_iat && c.exp == c.iat + 300);
    /* without a tenant, no tenant claim */
    unit_ctx(&cx);
    assert_int_equal(
        bastion_auth_issue_or_problem(&cx, BASTION_LIT("u-8"), "user", BASTION_STR_NULL, 60, &t),
        BASTION_OK);
    snprintf(header, sizeof header, "Bearer %s", t.ptr);
    request(&cx, header);
    assert_int_equal(bastion_auth_user_or_problem(&cx, &c), BASTION_OK);
    assert_null(c.tenant.ptr);
    assert_int_equal(bastion_auth_admin_or_problem(&cx, &c), BASTION_E_FORBIDDEN);
}

static void test_AUTH1_unset_key_is_500_not_401(void **state)
{
    (void)state;
    bastion_jwt_key k;
    bastion_jwt_claims c;
    bastion_ctx cx;
    memset(&k, 0, sizeof k);
    request(&cx, "Bearer " A1_TEXT);
    assert_int_equal(bastion_require_jwt_or_problem(&cx, &k, NULL, &c), BASTION_E_MISCONFIGURED);
    cJSON_Delete(unit_assert_problem(&cx, 500, "misconfigured"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_AUTH1_missing_token_401_with_bearer_challenge, setup),
        cmocka_unit_test_setup(test_AUTH1_invalid_token_401_invalid_token_challenge, setup),
        cmocka_unit_test_setup(test_AUTH1_valid_token_passes_without_responding, setup),
        cmocka_unit_test_setup(test_AUTH1_wrong_role_403, setup),
        cmocka_unit_test_setup(test_AUTH1_auth_admin_contract, setup),
        cmocka_unit_test_setup(test_AUTH5_tenant_comes_only_from_the_token, setup),
        cmocka_unit_test_setup(test_AUTH2_auth_contract_iss_aud_sub, setup),
        cmocka_unit_test_setup(test_AUTH2_auth_contract_leeway_30s, setup),
        cmocka_unit_test_setup(test_REL8_auth_secret_unset_or_short_is_500, setup),
        cmocka_unit_test_setup(test_AUTH2_auth_issue_then_require, setup),
        cmocka_unit_test_setup(test_AUTH1_unset_key_is_500_not_401, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
