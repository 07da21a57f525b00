/*
 * Signed one-time link tokens (AUTH6): approval links for parking permits,
 * assessment invitations and the like.
 *
 * A token is BASE64URL (RFC 4648 §5, no padding, so it is URL-safe as is) of
 *
 *     version (1 byte, 0x01) ‖ expiry (8 bytes, big-endian Unix seconds)
 *       ‖ nonce (16 bytes) ‖ resource id (1–128 bytes) ‖ HMAC-SHA256 (32 bytes)
 *
 * where the MAC covers every byte before it, under a key derived for one
 * purpose (HKDF-SHA256, RFC 5869, from a master secret): a token minted for
 * "permit-approve" is just a forgery to a verifier for "invite-accept". The
 * purpose is bound by the key and never travels in the token.
 *
 * The token is signed, not encrypted: the resource id and the expiry are
 * readable by whoever holds the link. It carries no API key and no secret;
 * do not put personal data in the resource id.
 *
 * Outcomes are distinct so the caller can answer them distinctly (AUTH6):
 * tampered (or of another purpose, or not a token at all) → 401; authentic
 * but expired → 410; authentic but already used → 409. The MAC is checked
 * before anything else in the token is believed, the expiry included.
 *
 * bastion_token_verify is pure (no host calls) so it can be unit-tested and
 * fuzzed; one-time use is the separate bastion_token_consume, which claims
 * the nonce with the kv store's atomic add. Nothing allocates; the caller
 * owns every struct and buffer. No release functions.
 */
#ifndef BASTION_TOKEN_H
#define BASTION_TOKEN_H

#include "core.h"
#include "host.h"
#include "problem.h"

#define BASTION_TOKEN_MASTER_MIN   32 /* bytes of master secret */
#define BASTION_TOKEN_PURPOSE_MAX  64 /* purpose: 1–64 of [a-z0-9._-] */
#define BASTION_TOKEN_NONCE_LEN    16
#define BASTION_TOKEN_RESOURCE_MAX 128 /* resource id: 1–128 visible ASCII bytes (0x21–0x7e) */
/* Longest token text, without the NUL: base64url of 1 + 8 + 16 + 128 + 32 bytes. */
#define BASTION_TOKEN_MAX_LEN 247

/* A per-purpose MAC key. Fill it with bastion_token_key_init only. */
typedef struct {
    uint8_t k[32];
} bastion_token_key;

typedef enum {
    BASTION_TOKEN_OK = 0,
    BASTION_TOKEN_E_TAMPERED, /* malformed, altered, or another purpose's: 401 */
    BASTION_TOKEN_E_EXPIRED,  /* authentic, but now ≥ its expiry: 410 */
    BASTION_TOKEN_E_REUSED,   /* authentic and unexpired, but already consumed: 409 */
    BASTION_TOKEN_E_INVALID,  /* caller error: key, purpose, resource, expiry or buffer */
    BASTION_TOKEN_E_RANDOM,   /* the CSPRNG failed */
    BASTION_TOKEN_E_STORE,    /* the kv store failed; see the host rc */
} bastion_token_rc;

/* What an authentic token says. resource is NUL-terminated. */
typedef struct {
    int64_t expires_s;
    uint8_t nonce[BASTION_TOKEN_NONCE_LEN];
    size_t resource_len;
    char resource[BASTION_TOKEN_RESOURCE_MAX + 1];
} bastion_token_claims;

/*
 * Derives the key for `purpose` from `master` (≥ BASTION_TOKEN_MASTER_MIN
 * bytes, e.g. a config secret; borrowed for the call only):
 *   PRK = HMAC-SHA256("bastion/token/v1", master)          RFC 5869 §2.2
 *   key = HMAC-SHA256(PRK, "bastion/token/v1/" ‖ purpose ‖ 0x01)   §2.3
 * BASTION_TOKEN_E_INVALID (and *key zeroed) for a short master or a purpose
 * outside 1–64 of [a-z0-9._-].
 */
bastion_token_rc bastion_token_key_init(bastion_token_key *key, const void *master,
                                        size_t master_len, bastion_str purpose);

/*
 * Mints a token for `resource` (1–128 bytes of 0x21–0x7e) valid while
 * now < expires_s (Unix seconds, 1 .. year 9999).
 *   nonce  16 bytes, or NULL for fresh ones from the CSPRNG (always, outside
 *          tests: the nonce is what makes each link one-time).
 *   out    receives the token and a NUL; cap ≥ BASTION_TOKEN_MAX_LEN + 1 always
 *          suffices. *out_len excludes the NUL.
 */
bastion_token_rc bastion_token_sign(const bastion_token_key *key, bastion_str resource,
                                    int64_t expires_s, const uint8_t *nonce, char *out, size_t cap,
                                    size_t *out_len);

/*
 * Checks `token` against `key` at `now_s`. *out is filled when the result is
 * BASTION_TOKEN_OK or BASTION_TOKEN_E_EXPIRED (so an expired link can still be
 * logged by resource), and zeroed otherwise. Does not consume the token.
 */
bastion_token_rc bastion_token_verify(const bastion_token_key *key, bastion_str token,
                                      int64_t now_s, bastion_token_claims *out);

/*
 * One-time use: claims the verified token's nonce in kv `store` with an
 * atomic add, kept until its expiry plus a clock-skew margin.
 * BASTION_TOKEN_OK for the first caller, BASTION_TOKEN_E_REUSED for every
 * later (or concurrent) one, BASTION_TOKEN_E_STORE with *host_rc set when
 * the store fails — the token then counts as unused. The kv key is an HMAC
 * of the nonce under `key`, so purposes never collide.
 * Consume before acting on the token, so two clicks cannot both act.
 */
bastion_token_rc bastion_token_consume(bastion_ctx *cx, const bastion_token_key *key,
                                       const char *store, const bastion_token_claims *claims,
                                       int64_t now_s, bastion_host_rc *host_rc);

/*
 * REL8: the key for `purpose` from the variable `var` (the master secret,
 * at least BASTION_TOKEN_MASTER_MIN bytes). Unset or short → 500
 * misconfigured naming the variable, never its value. `var` is a constant.
 */
bastion_rc bastion_token_key_or_problem(bastion_ctx *cx, const char *var, bastion_str purpose,
                                        bastion_token_key *key);

/*
 * AUTH6 without the one-time claim, for a link that is shown (a GET that
 * changes nothing) or acted on by a guarded change before its nonce is
 * consumed after the commit, so a failed change leaves the link usable:
 * verify at the wall-clock time. Tampered → 401 with the challenge below;
 * expired → 410; an unusable key → 500. *out holds the claims on BASTION_OK.
 */
bastion_rc bastion_token_check_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                          bastion_str token, bastion_token_claims *out);

/*
 * AUTH6 in one call: verify at the wall-clock time, then consume.
 * Tampered → 401 (with "WWW-Authenticate: Bearer error="invalid_token"":
 * the link token is a bearer credential and RFC 9110 §15.5.2 requires a
 * challenge); expired → 410; already used → 409; store failure → its 5xx.
 * *out holds the claims on BASTION_OK.
 */
bastion_rc bastion_token_redeem_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                           const char *store, bastion_str token,
                                           bastion_token_claims *out);

#endif
