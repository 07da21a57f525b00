/*
 * Accounts: login (AUTH2, AUTH3, REL4), CSRF tokens and logout (AUTH4), and
 * user provisioning.
 *
 *   POST /api/auth/login   {"email","password"}
 *                          → 200 {"token","token_type":"Bearer","expires_in":900}
 *   GET  /api/auth/csrf    (bearer) → 200 {"csrf_token"}
 *   POST /api/auth/logout  (bearer + X-CSRF-Token) → 204
 *   POST /api/admin/users  (admin bearer + X-CSRF-Token, or `bastion invoke auth --trusted`)
 *                          {"email","password","role","tenant"?} → 201
 *
 * Login counts every attempt before the password is checked (AUTH3,
 * increment-first): per client IP across emails (auth_login_ip_limit,
 * default 50) and per (client IP, email), 5 — both in fixed windows of
 * auth_login_window_s (default 900 s). An unknown email runs one PBKDF2 of
 * the configured cost too and gets the same 401 body as a wrong password,
 * so neither the answer nor its timing tells which accounts exist. Each
 * PBKDF2 run writes one "password check" log line.
 *
 * A successful login awaits the "New sign-in to your account" email (REL4);
 * a failed send lands in the outbox (email_failures) and the login still
 * succeeds.
 *
 * The trusted path: the host drops every x-bastion-* header a client sends
 * (host/server.c), and only `bastion invoke --trusted`, an operator at the
 * machine, sets x-bastion-trusted: operator. That is how the first admin is
 * created without a token.
 */
#include <string.h>

#include <bastion/bastion.h>

#define DB "auth"
#define KV "auth" /* rate limits and the email breaker; sessions are session.h's */

#define TOKEN_TTL_S    900u /* 15 min */
#define EMAIL_ATTEMPTS 5u   /* AUTH3: per (client IP, email) and window */
#define TRUSTED_HEADER "x-bastion-trusted"
#define PASSWORD_MIN   12
#define PASSWORD_MAX   256

static const bastion_email_sender MAIL = {DB, KV};

/* The same answer for an unknown email and a wrong password. */
static void bad_credentials(bastion_ctx *cx)
{
    bastion_problem(cx, BASTION_E_UNAUTHORIZED, "The email or password is not correct.");
    bastion_set_header(cx, BASTION_LIT("www-authenticate"), BASTION_LIT("Bearer"));
}

static void log_check(const char *outcome)
{
    bastion_header f[] = {{BASTION_LIT("outcome"), bastion_cstr(outcome)}};
    bastion_log_safe(BASTION_LOG_INFO, "password check", f, BASTION_COUNTOF(f));
}

/* The configured cost of a new hash (and of the unknown-account check). */
static bastion_rc iterations_or_problem(bastion_ctx *cx, uint32_t *out)
{
    int64_t v;
    bastion_rc rc = bastion_config_int_or_problem(cx, "auth_pbkdf2_iterations",
                                                  BASTION_PASSWORD_DEFAULT_ITERATIONS, 1,
                                                  BASTION_PASSWORD_MAX_ITERATIONS, &v);
    *out = (uint32_t)v;
    return rc;
}

/* "203.0.113.7" → "203.0.113.*"; "2001:db8:1:2::5" → "2001:db8:*": enough
 * for the account owner to recognise a network, not a device. */
static bastion_str masked_ip(bastion_str ip)
{
    if (!memchr(ip.ptr, ':', ip.len)) {
        const char *dot = NULL;
        for (size_t i = 0; i < ip.len; i++)
            if (ip.ptr[i] == '.')
                dot = ip.ptr + i;
        bastion_str head = {ip.ptr, dot ? (size_t)(dot - ip.ptr) + 1 : 0};
        return bastion_sprintf(BASTION_STR_FMT "*", BASTION_STR_ARG(head));
    }
    size_t keep = 0;
    for (int colons = 0; keep < ip.len && colons < 2; keep++)
        if (ip.ptr[keep] == ':')
            colons++;
    bastion_str head = {ip.ptr, keep};
    return bastion_sprintf(BASTION_STR_FMT "*", BASTION_STR_ARG(head));
}

/* REL4: awaited; a failure is in the outbox and never fails the login. */
static void notify_sign_in(bastion_ctx *cx, bastion_str email)
{
    char when[BASTION_RFC3339_BUF];
    bastion_format_rfc3339((int64_t)bastion_now_ms(), when);
    bastion_str ip = masked_ip(cx->client_ip);
    bastion_email m = {
        .kind = "sign-in",
        .to = email,
        .subject = BASTION_LIT("New sign-in to your account"),
        .text = bastion_sprintf(
            "Your account was signed in to at %s (UTC) from the network " BASTION_STR_FMT
            ".\n\nIf this was not you, change your password and tell your "
            "administrator.\n",
            when, BASTION_STR_ARG(ip)),
    };
    bastion_email_result res;
    bastion_email_send(cx, &MAIL, &m, &res);
}

/* --- POST /api/auth/login --- */

enum { L_EMAIL, L_PASSWORD, N_LOGIN };
static const bastion_field login_fields[N_LOGIN] = {
    [L_EMAIL] = {.name = "email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
    [L_PASSWORD] = {.name = "password",
                    .type = BASTION_FIELD_STRING,
                    .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                    .min = 1,
                    .max = PASSWORD_MAX},
};

static void login(bastion_ctx *cx)
{
    uint32_t iterations;
    int64_t ip_limit, window_s;
    if (iterations_or_problem(cx, &iterations) ||
        bastion_config_int_or_problem(cx, "auth_login_ip_limit", 50, 1, 1000000, &ip_limit) ||
        bastion_config_int_or_problem(cx, "auth_login_window_s", 900, 1, 86400, &window_s))
        return;
    /* AUTH3: every attempt counts before anything else is looked at */
    bastion_rate_policy per_ip = {"login-ip", KV, (uint32_t)ip_limit, (uint32_t)window_s};
    bastion_rate_policy per_email = {"login", KV, EMAIL_ATTEMPTS, (uint32_t)window_s};
    bastion_rate_result rl;
    if (bastion_rate_limit_or_problem(cx, &per_ip, cx->client_ip, &rl))
        return;
    bastion_field_value in[N_LOGIN];
    if (bastion_parse_json_or_problem(cx, login_fields, N_LOGIN, in))
        return;
    bastion_str subject =
        bastion_sprintf(BASTION_STR_FMT "\n" BASTION_STR_FMT, BASTION_STR_ARG(cx->client_ip),
                        BASTION_STR_ARG(in[L_EMAIL].str));
    if (bastion_rate_limit_or_problem(cx, &per_email, subject, &rl))
        return;

    bastion_sql_value p[] = {BASTION_SQL_STR(in[L_EMAIL].str)};
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "SELECT id, password_hash, role, tenant FROM users "
                                     "WHERE email = $1",
                                     p, BASTION_COUNTOF(p), &rows, "user read"))
        return;
    if (rows.n_rows == 0) {
        bastion_password_burn(in[L_PASSWORD].str, iterations);
        log_check("no account");
        bad_credentials(cx);
        return;
    }
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str id = bastion_row_text(&row, 0);
    bastion_str hash = bastion_row_text(&row, 1);
    bastion_str role = bastion_row_text(&row, 2);
    bastion_str tenant;
    bastion_row_text_opt(&row, 3, &tenant);
    if (bastion_row_or_problem(cx, &row, "user read"))
        return;
    bastion_password_rc pw = bastion_password_verify(in[L_PASSWORD].str, hash);
    if (pw == BASTION_PASSWORD_MALFORMED) {
        /* The account's data is broken. Answer as for a wrong password, so
         * that the response still says nothing about which accounts exist,
         * and make it loud in the log. */
        bastion_password_burn(in[L_PASSWORD].str, iterations);
        bastion_header f[] = {{BASTION_LIT("user"), id}};
        bastion_log_safe(BASTION_LOG_ERROR, "stored password hash is malformed", f,
                         BASTION_COUNTOF(f));
    }
    log_check(pw == BASTION_PASSWORD_OK ? "match" : "mismatch");
    if (pw != BASTION_PASSWORD_OK) {
        bad_credentials(cx);
        return;
    }
    bastion_str token;
    if (bastion_auth_issue_or_problem(cx, id, bastion_str_dup(role), tenant, TOKEN_TTL_S, &token))
        return;
    notify_sign_in(cx, in[L_EMAIL].str);

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "token", bastion_str_dup(token));
    cJSON_AddStringToObject(body, "token_type", "Bearer");
    cJSON_AddNumberToObject(body, "expires_in", TOKEN_TTL_S);
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("no-store"));
    bastion_respond_json(cx, 200, body);
}

/* --- GET /api/auth/csrf, POST /api/auth/logout --- */

static void csrf(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    bastion_str token;
    if (bastion_auth_user_or_problem(cx, &claims) ||
        bastion_csrf_issue_or_problem(cx, &claims, &token))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "csrf_token", bastion_str_dup(token));
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("no-store"));
    bastion_respond_json(cx, 200, body);
}

static void logout(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    if (bastion_auth_user_or_problem(cx, &claims) || bastion_csrf_consume_or_problem(cx, &claims) ||
        bastion_session_revoke_or_problem(cx, &claims))
        return;
    bastion_respond(cx, 204, BASTION_STR_NULL, BASTION_STR_NULL);
}

/* --- POST /api/admin/users --- */

static const char *const ROLES[] = {"admin", "user", NULL};
enum { U_EMAIL, U_PASSWORD, U_ROLE, U_TENANT, N_USER };
static const bastion_field user_fields[N_USER] = {
    [U_EMAIL] = {.name = "email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
    [U_PASSWORD] = {.name = "password",
                    .type = BASTION_FIELD_STRING,
                    .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                    .min = PASSWORD_MIN,
                    .max = PASSWORD_MAX},
    [U_ROLE] = {.name = "role",
                .type = BASTION_FIELD_ENUM,
                .flags = BASTION_REQUIRED,
                .choices = ROLES},
    [U_TENANT] = {.name = "tenant", .type = BASTION_FIELD_SLUG, .min = 1, .max = 64},
};

/* AUTH1 before the body: the operator's header (which only the host can
 * set), else an admin bearer token and, since creating an account changes
 * state, that session's X-CSRF-Token (AUTH4), consumed. */
static bastion_rc operator_or_admin_or_problem(bastion_ctx *cx)
{
    if (bastion_str_eq(bastion_header_get(cx, TRUSTED_HEADER), BASTION_LIT("operator")))
        return BASTION_OK;
    bastion_jwt_claims claims;
    bastion_rc rc = bastion_auth_admin_or_problem(cx, &claims);
    return rc ? rc : bastion_csrf_consume_or_problem(cx, &claims);
}

static void create_user(bastion_ctx *cx)
{
    uint32_t iterations;
    if (operator_or_admin_or_problem(cx) || iterations_or_problem(cx, &iterations))
        return;
    bastion_field_value in[N_USER];
    if (bastion_parse_json_or_problem(cx, user_fields, N_USER, in))
        return;
    char id[37];
    bastion_str hash = bastion_password_hash(in[U_PASSWORD].str, iterations);
    if (bastion_uuid_v4(id) != 0 || !hash.ptr) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No account could be generated.");
        return;
    }
    bastion_str tenant = in[U_TENANT].present ? in[U_TENANT].str : BASTION_STR_NULL;
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(in[U_EMAIL].str),
        BASTION_SQL_STR(hash),
        BASTION_SQL_STR(in[U_ROLE].str),
        tenant.ptr ? BASTION_SQL_STR(tenant) : BASTION_SQL_NULLV,
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    /* the UNIQUE email decides a race between two creations */
    bastion_sql_stmt insert = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO users (id, email, password_hash, role, tenant, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        p);
    bastion_rows rows;
    if (bastion_sql_change_or_problem(cx, DB, &insert, &rows, BASTION_E_CONFLICT,
                                      "An account with this email already exists.", "user insert"))
        return;
    bastion_header f[] = {{BASTION_LIT("user"), bastion_cstr(id)},
                          {BASTION_LIT("role"), in[U_ROLE].str}};
    bastion_log_safe(BASTION_LOG_INFO, "user created", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddStringToObject(body, "email", bastion_str_dup(in[U_EMAIL].str));
    cJSON_AddStringToObject(body, "role", bastion_str_dup(in[U_ROLE].str));
    if (tenant.ptr)
        cJSON_AddStringToObject(body, "tenant", bastion_str_dup(tenant));
    else
        cJSON_AddNullToObject(body, "tenant");
    bastion_respond_json(cx, 201, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/auth/login", login},
    {"GET", "/api/auth/csrf", csrf},
    {"POST", "/api/auth/logout", logout},
    {"POST", "/api/admin/users", create_user},
};
BASTION_ROUTES(routes);
