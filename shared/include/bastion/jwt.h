/*
 * JSON Web Tokens (RFC 7519) in the JWS Compact Serialization (RFC 7515 §7.1),
 * verified the way RFC 8725 (JWT Best Current Practices) asks: AUTH1, AUTH2.
 * Also HS256 issuing, for the login function. Keys are loaded by jwt_key.h;
 * the bearer-token front door (Authorization header → 401/403) is auth.h.
 *
 * Algorithms: HS256, RS256 and ES256 (RFC 7518 §3.2–3.4), nothing else.
 *   - A key has exactly one algorithm, fixed when it is loaded: an "oct" key
 *     is HS256, an RSA key RS256, a P-256 key ES256. A token's "alg" header
 *     MUST equal the key's algorithm byte for byte. That one rule is both the
 *     allow-list and the defence against algorithm confusion (RFC 8725 §2.1,
 *     §3.1): an HS256 token presented to an RS256 key is refused before any
 *     crypto runs, so a public key can never be used as an HMAC secret.
 *   - "alg":"none" is refused whatever the key, in any letter case.
 *   - A "crit" header is refused: Bastion understands no JWS extension
 *     (RFC 7515 §4.1.11).
 *   - Header parameters that would pick or carry keys ("kid", "jku", "jwk",
 *     "x5u", "x5c") are ignored: keys come from configuration only.
 *
 * Order of work: split into exactly three segments → decode and check the
 * header → verify the signature over the received bytes
 * BASE64URL(header) '.' BASE64URL(payload), never a re-serialisation →
 * only then decode and parse the payload → claims. Segments must be strict
 * base64url without padding (RFC 7515 §2); header and payload must each be
 * one JSON object with no duplicate member names (RFC 7515 §5.2 step 4,
 * RFC 7519 §4), no trailing bytes and no NUL (raw or "\u0000").
 *
 * ES256 and low-S — decided: low-S is NOT enforced.
 *   ECDSA signatures are malleable: when (r, s) verifies, so does (r, n − s).
 *   Some ecosystems (Bitcoin's BIP 62/146) insist on the "low-S" half to make
 *   signatures unique. JOSE does not: RFC 7518 §3.4 defines ES256 as plain
 *   ECDSA with R ‖ S and no normalisation, most JOSE signers do not
 *   normalise, and the published example in RFC 7515 §A.3 itself has
 *   s > n/2. Enforcing low-S would refuse the standard's own example and
 *   valid tokens from conforming issuers, and would buy nothing: malleability
 *   cannot change what was signed. The consequence callers MUST respect: a
 *   token's signature bytes are not a unique identifier. Never key replay
 *   detection, caches or revocation lists on the signature; use "jti" or a
 *   hash of the signing input. Both halves are tested (jwt_test.c).
 *
 * Time: the caller passes `now_s` (Unix seconds) to bastion_jwt_verify; the
 * _or_problem functions of auth.h use the wall clock. "exp" is required unless the
 * expectation allows otherwise; "exp", "nbf" and a future "iat" are checked
 * with the expectation's leeway, which is clamped to
 * BASTION_JWT_MAX_LEEWAY_S.
 *
 * Memory: verification allocates only in the request arena (core.h): the
 * cJSON trees of the header and the payload, and copies of the claim strings
 * it hands back (valid until the response). Signing writes only to the
 * caller's buffer. A bastion_jwt_key is a plain struct the caller owns; it
 * holds copies of its material, so the text it was parsed from need not
 * outlive it. No release function.
 */
#ifndef BASTION_JWT_H
#define BASTION_JWT_H

#include <cjson/cJSON.h>

#include "core.h"

#define BASTION_JWT_MAX_LEN       8192 /* longest token accepted or issued, in bytes */
#define BASTION_JWT_MAX_LEEWAY_S  60   /* AUTH2: clock-skew leeway is at most 60 s */
#define BASTION_JWT_HS256_KEY_MIN 32   /* RFC 7518 §3.2: at least the hash size */
#define BASTION_JWT_HS256_KEY_MAX 256
#define BASTION_JWT_RSA_MIN_BITS  2048 /* RFC 7518 §3.3 */
#define BASTION_JWT_RSA_MAX_BYTES 512  /* 4096 bits: BearSSL's BR_MAX_RSA_SIZE */

typedef enum {
    BASTION_JWT_ALG_UNSET = 0, /* no key loaded: every use fails */
    BASTION_JWT_HS256,
    BASTION_JWT_RS256,
    BASTION_JWT_ES256,
} bastion_jwt_alg;

/* One verification (or HS256 signing) key. Fill it only through the
 * bastion_jwt_key_* functions of jwt_key.h; its fields are private. */
typedef struct {
    bastion_jwt_alg alg;
    size_t len;                                  /* bytes used in material */
    uint8_t material[BASTION_JWT_RSA_MAX_BYTES]; /* HS256 secret | RS256 modulus | ES256 04‖X‖Y */
    size_t e_len;
    uint8_t e[8]; /* RS256 public exponent */
} bastion_jwt_key;

/* Every outcome has its own code; bastion_jwt_rc_text names each one. */
typedef enum {
    BASTION_JWT_OK = 0,
    BASTION_JWT_E_MALFORMED,     /* not 3 strict base64url segments of JSON objects */
    BASTION_JWT_E_TOO_LONG,      /* over BASTION_JWT_MAX_LEN, or the output buffer is short */
    BASTION_JWT_E_ALG_NONE,      /* an unsecured JWS ("alg":"none"): never accepted */
    BASTION_JWT_E_ALG_MISMATCH,  /* "alg" is not the key's algorithm (confusion) */
    BASTION_JWT_E_CRIT,          /* a "crit" header: no extension is understood */
    BASTION_JWT_E_SIGNATURE,     /* the signature does not verify */
    BASTION_JWT_E_CLAIM_TYPE,    /* exp/nbf/iat/iss/sub/jti/aud/role/tenant of the wrong type */
    BASTION_JWT_E_MISSING_EXP,   /* no "exp" and the expectation requires one */
    BASTION_JWT_E_EXPIRED,       /* now ≥ exp + leeway (RFC 7519 §4.1.4) */
    BASTION_JWT_E_NOT_YET_VALID, /* now < nbf − leeway (RFC 7519 §4.1.5) */
    BASTION_JWT_E_IAT_FUTURE,    /* now < iat − leeway: issued in the future */
    BASTION_JWT_E_ISSUER,        /* "iss" missing or not the expected issuer */
    BASTION_JWT_E_AUDIENCE,      /* "aud" does not name us (RFC 7519 §4.1.3) */
    BASTION_JWT_E_BAD_KEY,       /* key text unusable, or the key is unset */
    BASTION_JWT_E_INVALID,       /* sign: claims not an object, duplicate names, no valid "exp" */
    BASTION_JWT_E__COUNT
} bastion_jwt_rc;

/* A short fixed description of the failure class, fit for a problem's
 * `detail` (it never contains token or key bytes). Never NULL. */
const char *bastion_jwt_rc_text(bastion_jwt_rc rc);

/* What a token must satisfy besides its signature. All-zero is the strict
 * default: "exp" required, no leeway, no "iss" check, and "aud" refused. */
typedef struct {
    bastion_str issuer;     /* "iss" MUST equal this; .ptr NULL: not checked */
    bastion_str audience;   /* "aud" MUST contain this. .ptr NULL: a token that HAS an
                               "aud" is refused, as RFC 7519 §4.1.3 requires of a
                               recipient that does not identify itself */
    uint32_t leeway_s;      /* clock skew allowed on exp/nbf/iat; clamped to 60 */
    bool allow_missing_exp; /* accept tokens without "exp" (never for sessions) */
} bastion_jwt_expect;

/*
 * The verified claims. Strings are NUL-terminated copies in the request
 * arena (valid until the response); .ptr is NULL when the claim is absent.
 * Only the types are checked here: role and tenant mean what the caller's
 * policy says (AUTH1, AUTH5).
 */
typedef struct {
    bastion_str sub, iss, jti;
    bastion_str role;      /* AUTH1: "admin" for admin endpoints */
    bastion_str tenant;    /* AUTH5: the only source of a tenant id */
    int64_t exp, nbf, iat; /* NumericDate seconds, meaningful when has_* */
    bool has_exp, has_nbf, has_iat;
    bastion_str payload; /* the verified claims JSON, for other claims */
} bastion_jwt_claims;

/* --- verify and issue --- */

/*
 * Verifies a compact JWS `token` with `key` and checks its claims against
 * `expect` (NULL: the all-zero default) at time `now_s`. On BASTION_JWT_OK
 * *out holds the claims; on any failure *out is all zero. Pure: no host
 * calls, usable from unit tests and fuzzers.
 */
bastion_jwt_rc bastion_jwt_verify(const bastion_jwt_key *key, const bastion_jwt_expect *expect,
                                  bastion_str token, int64_t now_s, bastion_jwt_claims *out);

/*
 * Issues an HS256 token with header {"alg":"HS256","typ":"JWT"} and the
 * object `claims` (borrowed, not consumed) as payload.
 *   claims  MUST be an object without duplicate names whose registered
 *           claims pass the checks bastion_jwt_verify makes, and MUST hold
 *           a numeric "exp": Bastion never issues a token that does not expire.
 *   out     receives the token and a NUL; cap ≥ BASTION_JWT_MAX_LEN + 1 always
 *           suffices. *out_len excludes the NUL.
 * BASTION_JWT_E_ALG_MISMATCH when key is not an HS256 key.
 */
bastion_jwt_rc bastion_jwt_sign_hs256(const bastion_jwt_key *key, const cJSON *claims, char *out,
                                      size_t cap, size_t *out_len);

/* True when the verified "role" claim is exactly `role`. */
bool bastion_jwt_has_role(const bastion_jwt_claims *claims, const char *role);

#endif
