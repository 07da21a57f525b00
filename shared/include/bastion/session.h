/*
 * Sessions on top of bearer tokens (AUTH4 and logout), kept in the kv store
 * "sessions" that every function which authenticates is granted: nothing
 * lives in instance memory (CONC7), so every instance of every host sees the
 * same answer.
 *
 *   The denylist: logout writes "deny:<jti>" until the token's exp (plus the
 *   verification leeway); bastion_auth_user_or_problem (auth.h) refuses a
 *   token found there with 401 in every function. A token without a usable
 *   "jti" (1–64 characters of [A-Za-z0-9_-]) is refused too: it could never
 *   be revoked. A store failure fails closed (503/504), never open.
 *
 *   CSRF tokens: 32 random bytes, base64url, bound to the session's jti and
 *   valid for 1 h. Only a hash of (jti, token) reaches the store, as the key
 *   "csrf:<hex>"; the binding is the key itself, so a token presented with
 *   another session's bearer names a key that does not exist. Consumption
 *   is one kv delete, which is atomic: of N concurrent uses exactly one sees
 *   "deleted" and the others 403.
 */
#ifndef BASTION_SESSION_H
#define BASTION_SESSION_H

#include "core.h"
#include "jwt.h"
#include "problem.h"

#define BASTION_SESSION_STORE   "sessions"
#define BASTION_SESSION_JTI_MAX 64
#define BASTION_CSRF_TTL_S      3600u
#define BASTION_CSRF_HEADER     "x-csrf-token"

/* True when `jti` is 1..BASTION_SESSION_JTI_MAX characters of [A-Za-z0-9_-]. */
bool bastion_session_jti_ok(bastion_str jti);

/* 401 unless the verified claims carry a usable jti that is not denylisted;
 * 503/504 when the store fails, 500 when "sessions" is not granted. Called
 * by bastion_auth_user_or_problem; handlers need not call it themselves. */
bastion_rc bastion_session_check_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims);

/* Logout: denylists claims->jti until claims->exp + BASTION_AUTH_LEEWAY_S. */
bastion_rc bastion_session_revoke_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims);

/* Issues a CSRF token for the session; *token is NUL-terminated in the arena. */
bastion_rc bastion_csrf_issue_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims,
                                         bastion_str *token);

/* Consumes the request's X-CSRF-Token for the session: 403 when it is
 * missing, malformed, already used, expired or bound to another session. */
bastion_rc bastion_csrf_consume_or_problem(bastion_ctx *cx, const bastion_jwt_claims *claims);

#endif
