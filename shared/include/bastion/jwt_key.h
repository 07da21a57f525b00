/*
 * Loading JWT keys (AUTH2) into the caller's bastion_jwt_key (jwt.h): raw
 * HS256 secrets, JWKs (RFC 7517) and PEM public keys (RFC 7468, DER read by
 * a small strict parser of its own).
 *
 * A key gets its one algorithm here, from its type, and never from a token
 * (see jwt.h, RFC 8725 §3.1). Verifiers hold public keys only: private JWKs,
 * private PEM keys and certificates are refused.
 *
 * Every function zeroes *key first and leaves it unset (every use fails) on
 * failure. The key holds copies of its material, so the text it was loaded
 * from need not outlive it; it is a plain caller-owned struct with no
 * release function. Loading allocates nothing but the parsed JWK's cJSON
 * tree, in the request arena (core.h).
 */
#ifndef BASTION_JWT_KEY_H
#define BASTION_JWT_KEY_H

#include "core.h"
#include "jwt.h"
#include "problem.h"

/* An HS256 secret of BASTION_JWT_HS256_KEY_MIN..MAX raw bytes (copied). */
bastion_jwt_rc bastion_jwt_key_hs256(bastion_jwt_key *key, const void *secret, size_t len);

/*
 * A JWK (RFC 7517 §4, RFC 7518 §6): {"kty":"oct","k"} → HS256,
 * {"kty":"RSA","n","e"} → RS256 (2048–4096 bits), {"kty":"EC","crv":"P-256",
 * "x","y"} → ES256 (the point must lie on the curve). An "alg" member must
 * name that same algorithm and a "use" member must be "sig". A JWK with a
 * private member ("d") is refused: a verifier holds public keys only, so a
 * signing key never sits in a verifier's configuration.
 */
bastion_jwt_rc bastion_jwt_key_from_jwk(bastion_jwt_key *key, bastion_str jwk);

/*
 * Exactly one PEM object (RFC 7468): "PUBLIC KEY" (a DER SubjectPublicKeyInfo,
 * RFC 5280 §4.1.2.7: rsaEncryption per RFC 3279 §2.3.1, or id-ecPublicKey
 * on prime256v1 per RFC 5480) or "RSA PUBLIC KEY" (RFC 8017 §A.1.1). The
 * DER is read by a small strict parser of its own (BearSSL has no SPKI
 * decoder, and its X.509 code is not built for modules). Private keys and
 * certificates are refused: configure the public key itself.
 */
bastion_jwt_rc bastion_jwt_key_from_pem(bastion_jwt_key *key, bastion_str pem);

/* A JWK when the text starts with '{', PEM when with "-----BEGIN"
 * (leading whitespace is skipped). */
bastion_jwt_rc bastion_jwt_key_parse(bastion_jwt_key *key, bastion_str text);

/* --- _or_problem: on failure the problem response is already written --- */

/* Loads the key held by config variable `name` (JWK or PEM, see
 * bastion_jwt_key_parse). Unset or unusable → 500 misconfigured naming the
 * variable, never its value (REL8). */
bastion_rc bastion_jwt_key_from_config_or_problem(bastion_ctx *cx, const char *name,
                                                  bastion_jwt_key *key);

#endif
