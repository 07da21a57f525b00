/*
 * Compact JWS / JWT verification under RFC 8725 and HS256 issuing, on
 * BearSSL. See jwt.h for the contract; keys are loaded by jwt_key.c, and the
 * bearer-token front door is auth.c.
 */
#include <bearssl_ec.h>
#include <bearssl_rsa.h>
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/jwt.h"
#include "jwt_internal.h"

#define HEADER_MAX         1024 /* decoded protected header; real ones are < 200 bytes */
#define HEADER_MAX_NESTING 8    /* '{' + '[' in a header: bounds cJSON's recursion pre-auth */
#define PAYLOAD_MAX        (BASTION_JWT_MAX_LEN / 4 * 3)
#define MAX_MEMBERS        256            /* top-level members of a header, claims set or JWK */
#define DATE_MAX           253402300799.0 /* 9999-12-31T23:59:59Z */

/* Problem details quote these, so they name a class and nothing more. */
static const char *const RC_TEXT[BASTION_JWT_E__COUNT] = {
    [BASTION_JWT_OK] = "token valid",
    [BASTION_JWT_E_MALFORMED] = "token malformed",
    [BASTION_JWT_E_TOO_LONG] = "token too long",
    [BASTION_JWT_E_ALG_NONE] = "unsecured token refused",
    [BASTION_JWT_E_ALG_MISMATCH] = "token algorithm not accepted",
    [BASTION_JWT_E_CRIT] = "token requires an unsupported extension",
    [BASTION_JWT_E_SIGNATURE] = "token signature invalid",
    [BASTION_JWT_E_CLAIM_TYPE] = "token claim has the wrong type",
    [BASTION_JWT_E_MISSING_EXP] = "token has no expiry",
    [BASTION_JWT_E_EXPIRED] = "token expired",
    [BASTION_JWT_E_NOT_YET_VALID] = "token not yet valid",
    [BASTION_JWT_E_IAT_FUTURE] = "token issued in the future",
    [BASTION_JWT_E_ISSUER] = "token issuer not accepted",
    [BASTION_JWT_E_AUDIENCE] = "token audience not accepted",
    [BASTION_JWT_E_BAD_KEY] = "verification key unusable",
    [BASTION_JWT_E_INVALID] = "invalid claims to sign",
};

/* see jwt.h */
const char *bastion_jwt_rc_text(bastion_jwt_rc rc)
{
    if ((unsigned)rc >= BASTION_JWT_E__COUNT)
        return "unknown token error";
    return RC_TEXT[rc];
}

/* ------------------------------------------------------------------ JSON */

/* "\u0000" would be cut short by cJSON's C strings ("admin\u0000x" reads as
 * "admin"), so it is refused before parsing. Escaped backslashes are skipped
 * so that the text \\u0000 is not mistaken for the escape. */
static bool has_nul_escape(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] == 'u' && i + 5 < n && memcmp(p + i + 2, "0000", 4) == 0)
            return true;
        i++; /* the escaped character */
    }
    return false;
}

static bool has_duplicate_members(const cJSON *o)
{
    size_t count = 0;
    for (const cJSON *a = o->child; a; a = a->next) {
        if (++count > MAX_MEMBERS)
            return true; /* treated like a duplicate: refused */
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return true;
    }
    return false;
}

/* see jwt_internal.h */
cJSON *bastion__jwt_parse_object(const char *p, size_t n)
{
    if (n == 0 || memchr(p, 0, n) || has_nul_escape(p, n))
        return NULL;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, n, &end, false);
    if (!o)
        return NULL;
    while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != p + n || !cJSON_IsObject(o) || has_duplicate_members(o))
        return NULL;
    return o;
}

static bool cstr_is(const char *s, bastion_str want)
{
    return want.ptr && strlen(s) == want.len && memcmp(s, want.ptr, want.len) == 0;
}

/* see jwt_internal.h */
const char *bastion__jwt_string_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------- verify */

static size_t count_nesting(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += p[i] == '{' || p[i] == '[';
    return c;
}

/* RFC 7515 §5.2 steps 2–5 and RFC 8725 §3.1, before any signature work. */
static bastion_jwt_rc check_header(const bastion_jwt_key *key, bastion_str h64)
{
    char buf[HEADER_MAX];
    size_t n;
    if (bastion_b64_decode(buf, sizeof buf, &n, h64, BASTION_B64_URL) != BASTION_DECODE_OK)
        return BASTION_JWT_E_MALFORMED;
    /* this JSON is not yet authenticated: keep cJSON's recursion shallow */
    if (count_nesting(buf, n) > HEADER_MAX_NESTING)
        return BASTION_JWT_E_MALFORMED;
    cJSON *h = bastion__jwt_parse_object(buf, n);
    if (!h)
        return BASTION_JWT_E_MALFORMED;
    bastion_jwt_rc rc = BASTION_JWT_OK;
    const char *alg = bastion__jwt_string_member(h, "alg");
    if (!alg)
        rc = BASTION_JWT_E_MALFORMED; /* RFC 7515 §4.1.1: MUST be present */
    else if (bastion_str_eq_ci(bastion_cstr(alg), BASTION_LIT("none")))
        rc = BASTION_JWT_E_ALG_NONE; /* RFC 8725 §2.1, §3.2 */
    else if (cJSON_GetObjectItemCaseSensitive(h, "crit"))
        rc = BASTION_JWT_E_CRIT; /* RFC 7515 §4.1.11 */
    else if (strcmp(alg, bastion__jwt_alg_name(key->alg)) != 0)
        rc = BASTION_JWT_E_ALG_MISMATCH; /* the key, never the token, picks the algorithm */
    return rc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* `input` is the received ASCII(BASE64URL(header) '.' BASE64URL(payload)),
 * exactly as it arrived (RFC 7515 §5.2 step 8). */
static bastion_jwt_rc check_signature(const bastion_jwt_key *key, bastion_str input,
                                      bastion_str s64)
{
    uint8_t sig[BASTION_JWT_RSA_MAX_BYTES], hash[BASTION_SHA256_LEN];
    size_t n;
    bastion_decode_rc d = bastion_b64_decode(sig, sizeof sig, &n, s64, BASTION_B64_URL);
    if (d == BASTION_DECODE_TOO_LONG)
        return BASTION_JWT_E_SIGNATURE; /* longer than any signature we verify */
    if (d != BASTION_DECODE_OK)
        return BASTION_JWT_E_MALFORMED;
    switch (key->alg) {
    case BASTION_JWT_HS256:
        /* RFC 7518 §3.2: the full 256-bit MAC; no truncation accepted */
        if (n != BASTION_SHA256_LEN)
            return BASTION_JWT_E_SIGNATURE;
        bastion_hmac_sha256(hash, key->material, key->len, input.ptr, input.len);
        return bastion_ct_equal(hash, sig, n) ? BASTION_JWT_OK : BASTION_JWT_E_SIGNATURE;
    case BASTION_JWT_RS256: {
        uint8_t got[BASTION_SHA256_LEN];
        br_rsa_public_key pk = {(unsigned char *)key->material, key->len, (unsigned char *)key->e,
                                key->e_len};
        /* RFC 8017 §8.2.2 step 1: the signature is exactly k octets */
        if (n != key->len)
            return BASTION_JWT_E_SIGNATURE;
        bastion_sha256(hash, input.ptr, input.len);
        if (!br_rsa_i31_pkcs1_vrfy(sig, n, BR_HASH_OID_SHA256, sizeof got, &pk, got))
            return BASTION_JWT_E_SIGNATURE;
        return bastion_ct_equal(got, hash, sizeof hash) ? BASTION_JWT_OK : BASTION_JWT_E_SIGNATURE;
    }
    case BASTION_JWT_ES256: {
        br_ec_public_key pk = {BR_EC_secp256r1, (unsigned char *)key->material, key->len};
        /* RFC 7518 §3.4: R ‖ S, 32 octets each (not DER). BearSSL checks
         * s ∈ [1, n−1] and r < n; r = 0 is refused here. High-S accepted:
         * see jwt.h. */
        if (n != 64 || all_zero(sig, 32))
            return BASTION_JWT_E_SIGNATURE;
        bastion_sha256(hash, input.ptr, input.len);
        return br_ecdsa_i31_vrfy_raw(&br_ec_p256_m31, hash, sizeof hash, &pk, sig, n)
                   ? BASTION_JWT_OK
                   : BASTION_JWT_E_SIGNATURE;
    }
    default: return BASTION_JWT_E_BAD_KEY;
    }
}

/* A NumericDate (RFC 7519 §2) in whole seconds. Fractions round toward the
 * stricter side: down for exp, up for nbf and iat. -1: wrong type or out of
 * [0, year 9999], which also keeps the leeway arithmetic far from overflow. */
static int read_date(const cJSON *c, const char *name, bool round_up, int64_t *out, bool *has)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= DATE_MAX))
        return -1; /* the negated form also refuses NaN */
    int64_t t = (int64_t)v->valuedouble;
    if (round_up && (double)t < v->valuedouble)
        t++;
    *out = t;
    *has = true;
    return 0;
}

/* -1 when `name` is present but not a string. */
static int read_string(const cJSON *c, const char *name, const cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(c, name);
    if (*out && !cJSON_IsString(*out))
        return -1;
    return 0;
}

/* RFC 7519 §4.1.3: "aud" is a string or an array of strings. */
static bool audience_type_ok(const cJSON *aud)
{
    if (!aud || cJSON_IsString(aud))
        return true;
    if (!cJSON_IsArray(aud))
        return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, aud)
    {
        if (!cJSON_IsString(e))
            return false;
    }
    return true;
}

static bool audience_names(const cJSON *aud, bastion_str want)
{
    if (cJSON_IsString(aud))
        return cstr_is(aud->valuestring, want);
    const cJSON *e;
    cJSON_ArrayForEach(e, aud)
    {
        if (cstr_is(e->valuestring, want))
            return true;
    }
    return false;
}

typedef struct {
    const cJSON *iss, *sub, *jti, *role, *tenant, *aud;
} claim_refs;

/* The type rules every claims set must meet, shared by verify and sign. */
static bastion_jwt_rc claim_types(const cJSON *c, bastion_jwt_claims *t, claim_refs *r)
{
    if (read_date(c, "exp", false, &t->exp, &t->has_exp) ||
        read_date(c, "nbf", true, &t->nbf, &t->has_nbf) ||
        read_date(c, "iat", true, &t->iat, &t->has_iat) || read_string(c, "iss", &r->iss) ||
        read_string(c, "sub", &r->sub) || read_string(c, "jti", &r->jti) ||
        read_string(c, "role", &r->role) || read_string(c, "tenant", &r->tenant))
        return BASTION_JWT_E_CLAIM_TYPE;
    r->aud = cJSON_GetObjectItemCaseSensitive(c, "aud");
    if (!audience_type_ok(r->aud))
        return BASTION_JWT_E_CLAIM_TYPE;
    return BASTION_JWT_OK;
}

static bastion_str arena_copy(const cJSON *s)
{
    if (!s)
        return BASTION_STR_NULL;
    bastion_str v = bastion_cstr(s->valuestring);
    return (bastion_str){bastion_str_dup(v), v.len};
}

static bastion_jwt_rc check_claims(const cJSON *c, const bastion_jwt_expect *x, int64_t now_s,
                                   bastion_jwt_claims *out)
{
    bastion_jwt_claims t;
    claim_refs r;
    memset(&t, 0, sizeof t);
    bastion_jwt_rc rc = claim_types(c, &t, &r);
    if (rc != BASTION_JWT_OK)
        return rc;
    int64_t leeway =
        x->leeway_s > BASTION_JWT_MAX_LEEWAY_S ? BASTION_JWT_MAX_LEEWAY_S : (int64_t)x->leeway_s;
    if (!t.has_exp && !x->allow_missing_exp)
        return BASTION_JWT_E_MISSING_EXP; /* a token that never expires can never be withdrawn */
    /* RFC 7519 §4.1.4: now MUST be before exp */
    if (t.has_exp && now_s >= t.exp + leeway)
        return BASTION_JWT_E_EXPIRED;
    /* RFC 7519 §4.1.5: now MUST be at or after nbf */
    if (t.has_nbf && now_s < t.nbf - leeway)
        return BASTION_JWT_E_NOT_YET_VALID;
    /* RFC 7519 §4.1.6 sets no rule for iat; a token minted in the future
     * means a skewed or misbehaving issuer, and is refused like nbf. */
    if (t.has_iat && now_s < t.iat - leeway)
        return BASTION_JWT_E_IAT_FUTURE;
    /* RFC 7519 §4.1.1; StringOrURI values compare case-sensitively (§2) */
    if (x->issuer.ptr && !(r.iss && cstr_is(r.iss->valuestring, x->issuer)))
        return BASTION_JWT_E_ISSUER;
    /* RFC 7519 §4.1.3, RFC 8725 §3.9: when "aud" is present we must be named in it */
    if (x->audience.ptr ? !(r.aud && audience_names(r.aud, x->audience)) : r.aud != NULL)
        return BASTION_JWT_E_AUDIENCE;
    t.iss = arena_copy(r.iss);
    t.sub = arena_copy(r.sub);
    t.jti = arena_copy(r.jti);
    t.role = arena_copy(r.role);
    t.tenant = arena_copy(r.tenant);
    *out = t;
    return BASTION_JWT_OK;
}

/* Decoded, parsed and checked only once the signature has verified. */
static bastion_jwt_rc check_payload(bastion_str p64, const bastion_jwt_expect *x, int64_t now_s,
                                    bastion_jwt_claims *out)
{
    char buf[PAYLOAD_MAX];
    size_t n;
    if (bastion_b64_decode(buf, sizeof buf, &n, p64, BASTION_B64_URL) != BASTION_DECODE_OK)
        return BASTION_JWT_E_MALFORMED;
    cJSON *c = bastion__jwt_parse_object(buf, n);
    if (!c)
        return BASTION_JWT_E_MALFORMED;
    bastion_jwt_rc rc = check_claims(c, x, now_s, out);
    if (rc == BASTION_JWT_OK)
        out->payload = (bastion_str){bastion_str_dup((bastion_str){buf, n}), n};
    return rc;
}

/* see jwt.h */
bastion_jwt_rc bastion_jwt_verify(const bastion_jwt_key *key, const bastion_jwt_expect *expect,
                                  bastion_str token, int64_t now_s, bastion_jwt_claims *out)
{
    static const bastion_jwt_expect strict;
    memset(out, 0, sizeof *out);
    if (!expect)
        expect = &strict;
    if (!bastion__jwt_key_usable(key))
        return BASTION_JWT_E_BAD_KEY;
    if (!token.ptr || token.len == 0)
        return BASTION_JWT_E_MALFORMED;
    if (token.len > BASTION_JWT_MAX_LEN)
        return BASTION_JWT_E_TOO_LONG;
    /* RFC 7515 §7.1: exactly three segments, so exactly two dots */
    const char *end = token.ptr + token.len;
    const char *dot1 = memchr(token.ptr, '.', token.len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return BASTION_JWT_E_MALFORMED;
    bastion_str h64 = {token.ptr, (size_t)(dot1 - token.ptr)};
    bastion_str p64 = {dot1 + 1, (size_t)(dot2 - dot1 - 1)};
    bastion_str s64 = {dot2 + 1, (size_t)(end - dot2 - 1)};
    if (h64.len == 0 || p64.len == 0)
        return BASTION_JWT_E_MALFORMED;
    bastion_jwt_rc rc = check_header(key, h64);
    if (rc != BASTION_JWT_OK)
        return rc;
    if (s64.len == 0)
        return BASTION_JWT_E_SIGNATURE;
    rc = check_signature(key, (bastion_str){token.ptr, (size_t)(dot2 - token.ptr)}, s64);
    if (rc != BASTION_JWT_OK)
        return rc;
    rc = check_payload(p64, expect, now_s, out);
    if (rc != BASTION_JWT_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------------ sign */

/* see jwt.h */
bastion_jwt_rc bastion_jwt_sign_hs256(const bastion_jwt_key *key, const cJSON *claims, char *out,
                                      size_t cap, size_t *out_len)
{
    /* BASE64URL({"alg":"HS256","typ":"JWT"}) */
    static const char HEADER64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    const size_t hl = sizeof HEADER64 - 1;
    char json[PAYLOAD_MAX];
    bastion_jwt_claims t;
    claim_refs r;
    *out_len = 0;
    if (!bastion__jwt_key_usable(key))
        return BASTION_JWT_E_BAD_KEY;
    if (key->alg != BASTION_JWT_HS256)
        return BASTION_JWT_E_ALG_MISMATCH;
    memset(&t, 0, sizeof t);
    /* never issue what bastion_jwt_verify would refuse for its shape */
    if (!cJSON_IsObject(claims) || has_duplicate_members(claims) ||
        claim_types(claims, &t, &r) != BASTION_JWT_OK || !t.has_exp)
        return BASTION_JWT_E_INVALID;
    /* cJSON_PrintPreallocated fails cleanly, rather than truncating, when
     * the text does not fit; its argument is not const but it only reads */
    if (!cJSON_PrintPreallocated((cJSON *)claims, json, (int)sizeof json, false))
        return BASTION_JWT_E_TOO_LONG;
    size_t jl = strlen(json);
    size_t pl = bastion_b64_encoded_len(jl, BASTION_B64_URL);
    size_t sl = bastion_b64_encoded_len(BASTION_SHA256_LEN, BASTION_B64_URL);
    size_t total = hl + 1 + pl + 1 + sl;
    if (total > BASTION_JWT_MAX_LEN || !out || cap < total + 1)
        return BASTION_JWT_E_TOO_LONG;
    uint8_t mac[BASTION_SHA256_LEN];
    memcpy(out, HEADER64, hl);
    out[hl] = '.';
    bastion_b64_encode(out + hl + 1, json, jl, BASTION_B64_URL);
    bastion_hmac_sha256(mac, key->material, key->len, out, hl + 1 + pl);
    out[hl + 1 + pl] = '.';
    bastion_b64_encode(out + hl + 2 + pl, mac, sizeof mac, BASTION_B64_URL);
    out[total] = 0;
    *out_len = total;
    return BASTION_JWT_OK;
}

/* see jwt.h */
bool bastion_jwt_has_role(const bastion_jwt_claims *claims, const char *role)
{
    return claims && role && claims->role.ptr && bastion_str_eq(claims->role, bastion_cstr(role));
}
