/*
 * The bearer-token front door (AUTH1, AUTH2), in two layers, each written
 * once:
 *
 *   bastion_require_jwt_or_problem / bastion_require_role_or_problem
 *       the mechanism: "Authorization: Bearer <token>" (RFC 6750 §2.1)
 *       verified with a caller-given key and expectation (jwt.h), and the
 *       401 / 403 answers with their WWW-Authenticate challenges.
 *   bastion_auth_user_or_problem / bastion_auth_admin_or_problem
 *       the bundle's contract on top of it, which every function uses:
 *       HS256 JWTs signed with the variable auth_jwt_secret (at least 32
 *       bytes), "iss" equal to the variable auth_issuer (default "bastion"),
 *       "aud" containing "bastion-api", "exp" required, 30 s leeway. Claims:
 *       sub (user id, required), role ("admin" | "user"), optional tenant,
 *       and a jti that is not on logout's denylist (session.h: kv store
 *       "sessions", which every authenticating function is granted).
 *
 * Every call reads only the Authorization header, so handlers call them
 * before touching the body. On failure the problem is written and its code
 * returned; the caller just returns: 401 for a missing or invalid token, 403
 * for a valid token without the role, 500 misconfigured when the key is
 * unset (or auth_jwt_secret is unset or too short, REL8). On success nothing
 * is written and *out holds the verified claims, whose strings live in the
 * request arena until the response; on failure *out is all zero.
 */
#ifndef BASTION_AUTH_H
#define BASTION_AUTH_H

#include "core.h"
#include "jwt.h"
#include "problem.h"

#define BASTION_AUTH_AUDIENCE "bastion-api"
#define BASTION_AUTH_LEEWAY_S 30

/* --- the mechanism --- */

/*
 * AUTH1: reads "Authorization: Bearer <token>" (RFC 6750 §2.1; the scheme
 * name is case-insensitive, RFC 9110 §11.1) and verifies it with `key`
 * against `expect` (NULL: jwt.h's strict default) at the wall-clock time.
 * Missing credentials or another scheme → 401 with "WWW-Authenticate:
 * Bearer"; a presented token that fails → 401 with "WWW-Authenticate:
 * Bearer error="invalid_token"" (RFC 6750 §3, §3.1). The detail names the
 * failure class only (bastion_jwt_rc_text), never token bytes. An unset key
 * → 500 misconfigured. `key` and `expect` are borrowed for the call only.
 */
bastion_rc bastion_require_jwt_or_problem(bastion_ctx *cx, const bastion_jwt_key *key,
                                          const bastion_jwt_expect *expect,
                                          bastion_jwt_claims *out);

/* AUTH1: 403 (with "WWW-Authenticate: Bearer error="insufficient_scope"",
 * RFC 6750 §3.1) unless the verified role is exactly `role`. */
bastion_rc bastion_require_role_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims,
                                           const char *role);

/* --- the bundle's contract --- */

/* Any verified user: bastion_require_jwt_or_problem under the contract above,
 * and a 401 when the token names no subject, has no usable jti or has been
 * revoked (bastion_session_check_or_problem; its store failing is 503/504). */
bastion_rc bastion_auth_user_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);

/* Admin endpoints: bastion_auth_user_or_problem, then role "admin" (403). */
bastion_rc bastion_auth_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);

/* AUTH5, tenant routes: bastion_auth_user_or_problem, then 403 unless the
 * token carries a non-empty "tenant" claim, the only source of a tenant id. */
bastion_rc bastion_auth_tenant_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);

/* A tenant's admin: bastion_auth_tenant_or_problem, then role "admin" (403). */
bastion_rc bastion_auth_tenant_admin_or_problem(bastion_ctx *cx, bastion_jwt_claims *out);

/*
 * Issues a token under the same contract (for the login function): sub,
 * role, tenant (.ptr NULL: none), a random 128-bit "jti", "iat" now and
 * "exp" ttl_s from now. *token is
 * NUL-terminated in the request arena. 500 when the secret is unusable.
 */
bastion_rc bastion_auth_issue_or_problem(bastion_ctx *cx, bastion_str sub, const char *role,
                                         bastion_str tenant, uint32_t ttl_s, bastion_str *token);

#endif
