/*
 * The bearer-token front door: the Authorization header, its 401/403
 * challenges, and the bundle's token contract on top (see auth.h). The only
 * bearer layer in the core; tokens themselves are verified by jwt.c.
 */
#include <string.h>

#include "bastion/auth.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/jwt_key.h"
#include "bastion/session.h"
#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "core_internal.h"
#include "jwt_internal.h"

/* ------------------------------------------------------------ mechanism */

/* RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, the scheme name
 * case-insensitive (RFC 9110 §11.1). False when there are no credentials or
 * they use another scheme. */
static bool bearer_token(bastion_str h, bastion_str *token)
{
    static const bastion_str SCHEME = BASTION_LIT("Bearer");
    if (!h.ptr || h.len < SCHEME.len ||
        !bastion_str_eq_ci((bastion_str){h.ptr, SCHEME.len}, SCHEME))
        return false;
    if (h.len > SCHEME.len && h.ptr[SCHEME.len] != ' ')
        return false; /* e.g. "BearerX": some other scheme */
    size_t i = SCHEME.len;
    while (i < h.len && h.ptr[i] == ' ')
        i++;
    *token = (bastion_str){h.ptr + i, h.len - i};
    return true;
}

/* RFC 9110 §15.5.2: a 401 carries a challenge. RFC 6750 §3.1: no error code
 * when the request had no bearer credentials at all. */
static bastion_rc unauthorized(bastion_ctx *cx, bool presented, const char *detail)
{
    if (presented)
        return bastion__invalid_token(cx, detail);
    bastion_problem(cx, BASTION_E_UNAUTHORIZED, detail);
    bastion_set_header(cx, BASTION_LIT("www-authenticate"), BASTION_LIT("Bearer"));
    return BASTION_E_UNAUTHORIZED;
}

/* see core_internal.h */
bastion_rc bastion__invalid_token(bastion_ctx *cx, const char *detail)
{
    bastion_problem(cx, BASTION_E_UNAUTHORIZED, detail);
    bastion_set_header(cx, BASTION_LIT("www-authenticate"),
                       BASTION_LIT("Bearer error=\"invalid_token\""));
    return BASTION_E_UNAUTHORIZED;
}

/* see auth.h */
bastion_rc bastion_require_jwt_or_problem(bastion_ctx *cx, const bastion_jwt_key *key,
                                          const bastion_jwt_expect *expect, bastion_jwt_claims *out)
{
    memset(out, 0, sizeof *out);
    if (!bastion__jwt_key_usable(key))
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "token verification key not configured");
    bastion_str token;
    if (!bearer_token(bastion_header_get(cx, "authorization"), &token))
        return unauthorized(cx, false, "bearer token required");
    bastion_jwt_rc rc =
        bastion_jwt_verify(key, expect, token, (int64_t)(bastion_now_ms() / 1000), out);
    if (rc != BASTION_JWT_OK)
        return unauthorized(cx, true, bastion_jwt_rc_text(rc));
    return BASTION_OK;
}

/* see auth.h */
bastion_rc bastion_require_role_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims,
                                           const char *role)
{
    if (bastion_jwt_has_role(claims, role))
        return BASTION_OK;
    bastion_problem(cx, BASTION_E_FORBIDDEN, "token role does not permit this action");
    bastion_set_header(cx, BASTION_LIT("www-authenticate"),
                       BASTION_LIT("Bearer error=\"insufficient_scope\""));
    return BASTION_E_FORBIDDEN;
}

/* ------------------------------------------------------------- contract */

static bastion_rc load_or_problem(bastion_ctx *cx, bastion_jwt_key *key, bastion_jwt_expect *exp)
{
    bastion_str secret = bastion_config("auth_jwt_secret");
    if (!secret.ptr || bastion_jwt_key_hs256(key, secret.ptr, secret.len) != BASTION_JWT_OK)
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "Variable auth_jwt_secret must be set to 32..256 bytes.");
    bastion_str iss = bastion_config("auth_issuer");
    exp->issuer = iss.ptr && iss.len ? iss : BASTION_LIT("bastion");
    exp->audience = BASTION_LIT(BASTION_AUTH_AUDIENCE);
    exp->leeway_s = BASTION_AUTH_LEEWAY_S;
    exp->allow_missing_exp = false;
    return BASTION_OK;
}

/* see auth.h */
bastion_rc bastion_auth_user_or_problem(bastion_ctx *cx, bastion_jwt_claims *out)
{
    bastion_jwt_key key;
    bastion_jwt_expect exp;
    bastion_rc rc = load_or_problem(cx, &key, &exp);
    if (rc)
        return rc;
    rc = bastion_require_jwt_or_problem(cx, &key, &exp, out);
    if (rc)
        return rc;
    if (!out->sub.ptr || !out->sub.len)
        return bastion_problem(cx, BASTION_E_UNAUTHORIZED, "The token names no subject.");
    return bastion_session_check_or_problem(cx, out); /* logout's denylist, in every function */
}

/* see auth.h */
bastion_rc bastion_auth_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out)
{
    bastion_rc rc = bastion_auth_user_or_problem(cx, out);
    return rc ? rc : bastion_require_role_or_problem(cx, out, "admin");
}

/* see auth.h */
bastion_rc bastion_auth_tenant_or_problem(bastion_ctx *cx, bastion_jwt_claims *out)
{
    bastion_rc rc = bastion_auth_user_or_problem(cx, out);
    if (rc)
        return rc;
    if (!out->tenant.ptr || !out->tenant.len)
        return bastion_problem(cx, BASTION_E_FORBIDDEN, "The token names no tenant.");
    return BASTION_OK;
}

/* see auth.h */
bastion_rc bastion_auth_tenant_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out)
{
    bastion_rc rc = bastion_auth_tenant_or_problem(cx, out);
    return rc ? rc : bastion_require_role_or_problem(cx, out, "admin");
}

/* see auth.h */
bastion_rc bastion_auth_issue_or_problem(bastion_ctx *cx, bastion_str sub, const char *role,
                                         bastion_str tenant, uint32_t ttl_s, bastion_str *token)
{
    bastion_jwt_key key;
    bastion_jwt_expect exp;
    bastion_rc rc = load_or_problem(cx, &key, &exp);
    if (rc)
        return rc;
    uint8_t jti[16]; /* 128 random bits: the session's name for logout and CSRF */
    if (bastion_random(jti, sizeof jti) != 0)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The token could not be issued.");
    int64_t now = (int64_t)(bastion_now_ms() / 1000);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", bastion_str_dup(exp.issuer));
    cJSON_AddStringToObject(c, "aud", BASTION_AUTH_AUDIENCE);
    cJSON_AddStringToObject(c, "sub", bastion_str_dup(sub));
    cJSON_AddStringToObject(c, "role", role);
    if (tenant.ptr)
        cJSON_AddStringToObject(c, "tenant", bastion_str_dup(tenant));
    cJSON_AddStringToObject(
        c, "jti", bastion_str_dup(bastion_b64_encode_str(jti, sizeof jti, BASTION_B64_URL)));
    cJSON_AddNumberToObject(c, "iat", (double)now);
    cJSON_AddNumberToObject(c, "exp", (double)(now + ttl_s));
    char *out = bastion_alloc(BASTION_JWT_MAX_LEN + 1);
    size_t len;
    bastion_jwt_rc jrc = bastion_jwt_sign_hs256(&key, c, out, BASTION_JWT_MAX_LEN + 1, &len);
    if (jrc != BASTION_JWT_OK)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The token could not be issued.");
    *token = (bastion_str){out, len};
    return BASTION_OK;
}
