/*
 * The bundle's bearer-token contract (see auth.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bastion/auth.h"
#include "bastion/config.h"
#include "bastion/host.h"
#include "bastion/http.h"

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
    return BASTION_OK;
}

/* see auth.h */
bastion_rc bastion_auth_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out)
{
    bastion_rc rc = bastion_auth_user_or_problem(cx, out);
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
    int64_t now = (int64_t)(bastion_now_ms() / 1000);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", bastion_str_dup(exp.issuer));
    cJSON_AddStringToObject(c, "aud", BASTION_AUTH_AUDIENCE);
    cJSON_AddStringToObject(c, "sub", bastion_str_dup(sub));
    cJSON_AddStringToObject(c, "role", role);
    if (tenant.ptr)
        cJSON_AddStringToObject(c, "tenant", bastion_str_dup(tenant));
    cJSON_AddNumberToObject(c, "iat", (double)now);
    cJSON_AddNumberToObject(c, "exp", (double)(now + ttl_s));
    char *out = bastion_alloc(BASTION_JWT_MAX_LEN + 1);
    size_t len;
    bastion_jwt_rc jrc = bastion_jwt_sign_hs256(&key, c, out, BASTION_JWT_MAX_LEN + 1, &len);
    cJSON_Delete(c);
    if (jrc != BASTION_JWT_OK)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The token could not be issued.");
    *token = (bastion_str){out, len};
    return BASTION_OK;
}
