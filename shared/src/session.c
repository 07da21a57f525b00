/*
 * The session denylist and CSRF tokens in kv "sessions" (see session.h).
 */
#include <string.h>

#include "bastion/auth.h"
#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/session.h"
#include "core_internal.h"

#define CSRF_BYTES 32

/* see session.h */
bool bastion_session_jti_ok(bastion_str jti)
{
    if (!jti.ptr || jti.len == 0 || jti.len > BASTION_SESSION_JTI_MAX)
        return false;
    for (size_t i = 0; i < jti.len; i++) {
        char c = jti.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bastion_str deny_key(const bastion_jwt_claims *c)
{
    return bastion_sprintf("deny:" BASTION_STR_FMT, BASTION_STR_ARG(c->jti));
}

static bastion_rc jti_or_problem(bastion_ctx *cx, const bastion_jwt_claims *c)
{
    return bastion_session_jti_ok(c->jti)
               ? BASTION_OK
               : bastion__invalid_token(cx,
                                        "The token has no usable jti, so it cannot be revoked.");
}

/* see session.h */
bastion_rc bastion_session_check_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims)
{
    if (jti_or_problem(cx, claims))
        return BASTION_E_UNAUTHORIZED;
    bastion_str value;
    bool found;
    bastion_host_rc rc =
        bastion_kv_get(cx, BASTION_SESSION_STORE, deny_key(claims), &value, &found);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "session denylist read");
    if (found)
        return bastion__invalid_token(cx, "The token has been revoked.");
    return BASTION_OK;
}

/* see session.h */
bastion_rc bastion_session_revoke_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims)
{
    if (jti_or_problem(cx, claims))
        return BASTION_E_UNAUTHORIZED;
    int64_t now_s = (int64_t)(bastion_now_ms() / 1000);
    int64_t until = claims->has_exp ? claims->exp + BASTION_AUTH_LEEWAY_S : now_s;
    uint64_t ttl_ms = until > now_s ? (uint64_t)(until - now_s) * 1000u : 1000u;
    bastion_host_rc rc =
        bastion_kv_set(cx, BASTION_SESSION_STORE, deny_key(claims), BASTION_LIT("1"), ttl_ms);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "session denylist write");
    return BASTION_OK;
}

/* "csrf:" + hex SHA-256 over the framed (jti, token): the token itself never
 * reaches the store, and the session is part of the name. */
static bastion_str csrf_key(const bastion_jwt_claims *c, bastion_str token)
{
    uint8_t d[BASTION_SHA256_LEN];
    bastion_str framed = bastion_sprintf("bastion.csrf.v1\n" BASTION_STR_FMT "\n" BASTION_STR_FMT,
                                         BASTION_STR_ARG(c->jti), BASTION_STR_ARG(token));
    bastion_sha256(d, framed.ptr, framed.len);
    bastion_str hex = bastion_hex_encode_str(d, sizeof d);
    return bastion_sprintf("csrf:" BASTION_STR_FMT, BASTION_STR_ARG(hex));
}

/* see session.h */
bastion_rc bastion_csrf_issue_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims,
                                         bastion_str *token)
{
    *token = BASTION_STR_NULL;
    if (jti_or_problem(cx, claims))
        return BASTION_E_UNAUTHORIZED;
    uint8_t raw[CSRF_BYTES];
    if (bastion_random(raw, sizeof raw) != 0)
        return bastion_problem(cx, BASTION_E_INTERNAL, "No CSRF token could be generated.");
    bastion_str t = bastion_b64_encode_str(raw, sizeof raw, BASTION_B64_URL);
    bastion_host_rc rc = bastion_kv_set(cx, BASTION_SESSION_STORE, csrf_key(claims, t),
                                        BASTION_LIT("1"), (uint64_t)BASTION_CSRF_TTL_S * 1000u);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "csrf token write");
    *token = t;
    return BASTION_OK;
}

/* see session.h */
bastion_rc bastion_csrf_consume_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims)
{
    bastion_str t = bastion_header_get(cx, BASTION_CSRF_HEADER);
    /* 32 bytes are 43 base64url characters; anything else was never issued */
    if (!t.ptr || t.len != bastion_b64_encoded_len(CSRF_BYTES, BASTION_B64_URL))
        return bastion_problem(cx, BASTION_E_FORBIDDEN, "A valid X-CSRF-Token header is required.");
    if (jti_or_problem(cx, claims))
        return BASTION_E_UNAUTHORIZED;
    bool deleted;
    bastion_host_rc rc =
        bastion_kv_delete(cx, BASTION_SESSION_STORE, csrf_key(claims, t), &deleted);
    if (rc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, rc, "csrf token consume");
    if (!deleted)
        return bastion_problem(cx, BASTION_E_FORBIDDEN,
                               "The CSRF token is unknown, expired, already used or belongs to "
                               "another session.");
    return BASTION_OK;
}
