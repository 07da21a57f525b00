/*
 * The bundle's bearer-token contract (AUTH1, AUTH2): HS256 JWTs signed with
 * the variable auth_jwt_secret (at least 32 bytes), "iss" equal to the
 * variable auth_issuer (default "bastion"), "aud" containing "bastion-api",
 * "exp" required, 30 s leeway. Claims: sub (user id), role ("admin" |
 * "user"), optional tenant.
 *
 * Both calls read only the Authorization header, so handlers call them
 * before touching the body. On failure the problem is written: 401 for a
 * missing or invalid token, 403 for a valid token without the role, 500 when
 * the secret is unset or too short (REL8).
 */
#ifndef BASTION_AUTH_H
#define BASTION_AUTH_H

#include "jwt.h"

#define BASTION_AUTH_AUDIENCE "bastion-api"
#define BASTION_AUTH_LEEWAY_S 30

bastion_rc bastion_auth_user_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);
bastion_rc bastion_auth_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);

/* Issues a token under the same contract (for the login function). */
bastion_rc bastion_auth_issue_or_problem(bastion_ctx *cx, bastion_str sub, const char *role,
                                         bastion_str tenant, uint32_t ttl_s, bastion_str *token);

#endif
