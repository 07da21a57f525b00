/*
 * Compact JWS / JWT verification under RFC 8725, key loading (JWK, PEM) and
 * HS256 issuing, on BearSSL. See jwt.h for the contract.
 */
#include <bearssl_ec.h>
#include <bearssl_pem.h>
#include <bearssl_rsa.h>
#include <stdio.h>
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/jwt.h"

#define HEADER_MAX 1024      /* decoded protected header; real ones are < 200 bytes */
#define HEADER_MAX_NESTING 8 /* '{' + '[' in a header: bounds cJSON's recursion pre-auth */
#define PAYLOAD_MAX (BASTION_JWT_MAX_LEN / 4 * 3)
#define MAX_MEMBERS 256         /* top-level members of a header, claims set or JWK */
#define DATE_MAX 253402300799.0 /* 9999-12-31T23:59:59Z */
#define KEY_TEXT_MAX 16384
#define DER_MAX 2048 /* an SPKI of a 4096-bit RSA key is 550 bytes */

static const char *const ALG_NAME[] = {
    [BASTION_JWT_ALG_UNSET] = "",
    [BASTION_JWT_HS256] = "HS256",
    [BASTION_JWT_RS256] = "RS256",
    [BASTION_JWT_ES256] = "ES256",
};

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

/* Exactly `n` bytes as one JSON object: no trailing bytes, no NUL, no
 * duplicate member names (RFC 7515 §5.2 step 4; RFC 7519 §4). The caller
 * frees the result with cJSON_Delete. NULL on any failure. */
static cJSON *parse_object(const char *p, size_t n)
{
    if (n == 0 || memchr(p, 0, n) || has_nul_escape(p, n))
        return NULL;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, n, &end, false);
    if (!o)
        return NULL;
    while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != p + n || !cJSON_IsObject(o) || has_duplicate_members(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool cstr_is(const char *s, bastion_str want)
{
    return want.ptr && strlen(s) == want.len && memcmp(s, want.ptr, want.len) == 0;
}

static const char *string_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------------------ keys */

static bool key_usable(const bastion_jwt_key *key)
{
    if (!key)
        return false;
    switch (key->alg) {
    case BASTION_JWT_HS256:
        return key->len >= BASTION_JWT_HS256_KEY_MIN && key->len <= BASTION_JWT_HS256_KEY_MAX;
    case BASTION_JWT_RS256:
        return key->len >= BASTION_JWT_RSA_MIN_BITS / 8 && key->len <= BASTION_JWT_RSA_MAX_BYTES &&
               key->material[0] != 0 && key->e_len >= 1 && key->e_len <= sizeof key->e;
    case BASTION_JWT_ES256:
        return key->len == 65 && key->material[0] == 0x04;
    default:
        return false;
    }
}

/* see jwt.h */
bastion_jwt_rc bastion_jwt_key_hs256(bastion_jwt_key *key, const void *secret, size_t len)
{
    memset(key, 0, sizeof *key);
    /* RFC 7518 §3.2: a key of the same size as the hash output or larger */
    if (!secret || len < BASTION_JWT_HS256_KEY_MIN || len > BASTION_JWT_HS256_KEY_MAX)
        return BASTION_JWT_E_BAD_KEY;
    memcpy(key->material, secret, len);
    key->len = len;
    key->alg = BASTION_JWT_HS256;
    return BASTION_JWT_OK;
}

static bastion_jwt_rc key_set_rsa(bastion_jwt_key *key, const uint8_t *n, size_t nlen,
                                  const uint8_t *e, size_t elen)
{
    while (nlen && *n == 0)
        n++, nlen--;
    while (elen && *e == 0)
        e++, elen--;
    /* RFC 7518 §3.3: 2048 bits or larger; BearSSL's i31 engine stops at 4096 */
    if (nlen < BASTION_JWT_RSA_MIN_BITS / 8 || nlen > BASTION_JWT_RSA_MAX_BYTES)
        return BASTION_JWT_E_BAD_KEY;
    if (nlen == BASTION_JWT_RSA_MIN_BITS / 8 && !(n[0] & 0x80))
        return BASTION_JWT_E_BAD_KEY;
    if (!(n[nlen - 1] & 1)) /* a modulus is odd */
        return BASTION_JWT_E_BAD_KEY;
    if (elen == 0 || elen > sizeof key->e || !(e[elen - 1] & 1) || (elen == 1 && e[0] < 3))
        return BASTION_JWT_E_BAD_KEY;
    memcpy(key->material, n, nlen);
    key->len = nlen;
    memcpy(key->e, e, elen);
    key->e_len = elen;
    key->alg = BASTION_JWT_RS256;
    return BASTION_JWT_OK;
}

static bastion_jwt_rc key_set_ec(bastion_jwt_key *key, const uint8_t *q, size_t qlen)
{
    static const unsigned char one = 1;
    uint8_t probe[65];
    /* SEC 1 §2.3.3 uncompressed form only */
    if (qlen != sizeof probe || q[0] != 0x04)
        return BASTION_JWT_E_BAD_KEY;
    /* BearSSL decodes (and so validates: on the curve, coordinates < p) the
     * point before multiplying; doing it now reports a bad key at load time
     * rather than as a signature failure on every request. */
    memcpy(probe, q, sizeof probe);
    if (!br_ec_p256_m31.mul(probe, sizeof probe, &one, 1, BR_EC_secp256r1))
        return BASTION_JWT_E_BAD_KEY;
    memcpy(key->material, q, qlen);
    key->len = qlen;
    key->alg = BASTION_JWT_ES256;
    return BASTION_JWT_OK;
}

/* A JWK member holding base64url bytes (RFC 7518 §6); false when absent,
 * not a string, not strict base64url, or longer than cap. */
static bool jwk_bytes(const cJSON *jwk, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    const char *s = string_member(jwk, name);
    return s &&
           bastion_b64_decode(out, cap, len, bastion_cstr(s), BASTION_B64_URL) == BASTION_DECODE_OK;
}

static bastion_jwt_rc jwk_load(bastion_jwt_key *key, const cJSON *jwk)
{
    const char *kty = string_member(jwk, "kty");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");
    /* RFC 7517 §4.2: a key published for encryption is not a signing key */
    if (!kty || (use && !(cJSON_IsString(use) && strcmp(use->valuestring, "sig") == 0)))
        return BASTION_JWT_E_BAD_KEY;
    /* RFC 7518 §6.2.2.1, §6.3.2.1: "d" marks a private key */
    if (cJSON_GetObjectItemCaseSensitive(jwk, "d"))
        return BASTION_JWT_E_BAD_KEY;
    if (strcmp(kty, "oct") == 0) {
        uint8_t k[BASTION_JWT_HS256_KEY_MAX];
        size_t n;
        if (!jwk_bytes(jwk, "k", k, sizeof k, &n))
            return BASTION_JWT_E_BAD_KEY;
        return bastion_jwt_key_hs256(key, k, n);
    }
    if (strcmp(kty, "RSA") == 0) {
        /* one spare byte: some encoders keep the DER sign octet (RFC 7518 §6.3.1.1) */
        uint8_t n[BASTION_JWT_RSA_MAX_BYTES + 1], e[sizeof key->e];
        size_t nlen, elen;
        if (!jwk_bytes(jwk, "n", n, sizeof n, &nlen) || !jwk_bytes(jwk, "e", e, sizeof e, &elen))
            return BASTION_JWT_E_BAD_KEY;
        return key_set_rsa(key, n, nlen, e, elen);
    }
    if (strcmp(kty, "EC") == 0) {
        /* RFC 7518 §6.2.1.2–3: x and y are the full 32 octets for P-256 */
        uint8_t q[65];
        size_t xl, yl;
        const char *crv = string_member(jwk, "crv");
        if (!crv || strcmp(crv, "P-256") != 0 || !jwk_bytes(jwk, "x", q + 1, 32, &xl) || xl != 32 ||
            !jwk_bytes(jwk, "y", q + 33, 32, &yl) || yl != 32)
            return BASTION_JWT_E_BAD_KEY;
        q[0] = 0x04;
        return key_set_ec(key, q, sizeof q);
    }
    return BASTION_JWT_E_BAD_KEY;
}

/* see jwt.h */
bastion_jwt_rc bastion_jwt_key_from_jwk(bastion_jwt_key *key, bastion_str jwk)
{
    memset(key, 0, sizeof *key);
    if (!jwk.ptr || jwk.len > KEY_TEXT_MAX)
        return BASTION_JWT_E_BAD_KEY;
    cJSON *o = parse_object(jwk.ptr, jwk.len);
    if (!o)
        return BASTION_JWT_E_BAD_KEY;
    bastion_jwt_rc rc = jwk_load(key, o);
    /* RFC 7517 §4.4: "alg", when given, must agree with the key's one algorithm */
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(o, "alg");
    if (rc == BASTION_JWT_OK && alg &&
        !(cJSON_IsString(alg) && strcmp(alg->valuestring, ALG_NAME[key->alg]) == 0))
        rc = BASTION_JWT_E_BAD_KEY;
    cJSON_Delete(o);
    if (rc != BASTION_JWT_OK)
        memset(key, 0, sizeof *key);
    return rc;
}

/*
 * A minimal DER reader (X.690 §8.1 with the DER rules of §10.1): definite,
 * minimal lengths up to 0xFFFF, every length checked against what is left.
 * It knows just enough for SubjectPublicKeyInfo and RSAPublicKey.
 */
typedef struct {
    const uint8_t *p;
    size_t n;
} der;

static bool der_take(der *d, uint8_t tag, der *val)
{
    if (d->n < 2 || d->p[0] != tag)
        return false;
    size_t len = d->p[1], hdr = 2;
    if (len == 0x81) {
        if (d->n < 3 || d->p[2] < 0x80)
            return false;
        len = d->p[2];
        hdr = 3;
    } else if (len == 0x82) {
        if (d->n < 4 || d->p[2] == 0)
            return false;
        len = (size_t)d->p[2] << 8 | d->p[3];
        hdr = 4;
    } else if (len > 0x7f) {
        return false;
    }
    if (len > d->n - hdr)
        return false;
    val->p = d->p + hdr;
    val->n = len;
    d->p += hdr + len;
    d->n -= hdr + len;
    return true;
}

/* A non-negative, minimally encoded INTEGER, without its sign octet. */
static bool der_uint(der *d, der *v)
{
    if (!der_take(d, 0x02, v) || v->n == 0 || (v->p[0] & 0x80))
        return false;
    if (v->p[0] == 0) {
        if (v->n > 1 && !(v->p[1] & 0x80))
            return false; /* a needless leading zero */
        v->p++;
        v->n--;
    }
    return true;
}

static bool der_is(der v, const uint8_t *want, size_t n)
{
    return v.n == n && memcmp(v.p, want, n) == 0;
}

/* RFC 8017 §A.1.1: RSAPublicKey ::= SEQUENCE { modulus, publicExponent } */
static bastion_jwt_rc der_rsa_public_key(bastion_jwt_key *key, der d)
{
    der seq, n, e;
    if (!der_take(&d, 0x30, &seq) || d.n != 0 || !der_uint(&seq, &n) || !der_uint(&seq, &e) ||
        seq.n != 0)
        return BASTION_JWT_E_BAD_KEY;
    return key_set_rsa(key, n.p, n.n, e.p, e.n);
}

/* RFC 5280 §4.1.2.7 SubjectPublicKeyInfo, for the two key types of RFC 3279
 * §2.3.1 (rsaEncryption, NULL parameters) and RFC 5480 §2.1.1
 * (id-ecPublicKey with the namedCurve prime256v1). */
static bastion_jwt_rc der_spki(bastion_jwt_key *key, der d)
{
    static const uint8_t RSA_OID[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
    static const uint8_t EC_OID[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    static const uint8_t P256_OID[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    der spki, alg, bits, oid, params;
    if (!der_take(&d, 0x30, &spki) || d.n != 0 || !der_take(&spki, 0x30, &alg) ||
        !der_take(&spki, 0x03, &bits) || spki.n != 0 || !der_take(&alg, 0x06, &oid))
        return BASTION_JWT_E_BAD_KEY;
    /* the BIT STRING's first octet counts unused bits: a key has none */
    if (bits.n < 1 || bits.p[0] != 0)
        return BASTION_JWT_E_BAD_KEY;
    der key_bytes = {bits.p + 1, bits.n - 1};
    if (der_is(oid, RSA_OID, sizeof RSA_OID)) {
        if (alg.n && (!der_take(&alg, 0x05, &params) || params.n != 0))
            return BASTION_JWT_E_BAD_KEY;
        if (alg.n != 0)
            return BASTION_JWT_E_BAD_KEY;
        return der_rsa_public_key(key, key_bytes);
    }
    if (der_is(oid, EC_OID, sizeof EC_OID)) {
        if (!der_take(&alg, 0x06, &params) || alg.n != 0 ||
            !der_is(params, P256_OID, sizeof P256_OID))
            return BASTION_JWT_E_BAD_KEY;
        return key_set_ec(key, key_bytes.p, key_bytes.n);
    }
    return BASTION_JWT_E_BAD_KEY;
}

typedef struct {
    uint8_t buf[DER_MAX];
    size_t len;
    bool overflow;
} der_sink;

static void der_append(void *ctx, const void *src, size_t len)
{
    der_sink *s = ctx;
    if (len > sizeof s->buf - s->len) {
        s->overflow = true;
        return;
    }
    memcpy(s->buf + s->len, src, len);
    s->len += len;
}

/* BearSSL 0.6 leaves the closing dashes on the object name when the BEGIN
 * line ends in CR LF ("PUBLIC KEY-----"), so they are ignored here. */
static bool pem_name_is(const char *name, const char *want)
{
    size_t n = strlen(want);
    if (strncmp(name, want, n) != 0)
        return false;
    while (name[n] == '-')
        n++;
    return name[n] == 0;
}

/* see jwt.h */
bastion_jwt_rc bastion_jwt_key_from_pem(bastion_jwt_key *key, bastion_str pem)
{
    enum { NONE, SPKI, PKCS1 } kind = NONE;
    br_pem_decoder_context pc;
    der_sink sink = {.len = 0, .overflow = false};
    bool ended = false, fed_newline = false, failed = false;
    memset(key, 0, sizeof *key);
    if (!pem.ptr || pem.len > KEY_TEXT_MAX)
        return BASTION_JWT_E_BAD_KEY;
    const char *p = pem.ptr;
    size_t left = pem.len;
    br_pem_decoder_init(&pc);
    while (!failed) {
        size_t took = 0;
        if (left) {
            took = br_pem_decoder_push(&pc, p, left);
            p += took;
            left -= took;
        } else if (!fed_newline) {
            /* the decoder needs the END line terminated; a config value often is not */
            fed_newline = br_pem_decoder_push(&pc, "\n", 1) == 1;
            took = fed_newline;
        }
        int ev = br_pem_decoder_event(&pc);
        if (ev == BR_PEM_BEGIN_OBJ) {
            const char *name = br_pem_decoder_name(&pc);
            if (kind != NONE) {
                failed = true; /* exactly one object: which key was meant is never guessed */
            } else if (pem_name_is(name, "PUBLIC KEY")) {
                kind = SPKI;
                br_pem_decoder_setdest(&pc, der_append, &sink);
            } else if (pem_name_is(name, "RSA PUBLIC KEY")) {
                kind = PKCS1;
                br_pem_decoder_setdest(&pc, der_append, &sink);
            } else {
                failed = true; /* private keys, certificates and anything else */
            }
        } else if (ev == BR_PEM_END_OBJ) {
            ended = true;
            br_pem_decoder_setdest(&pc, NULL, NULL);
        } else if (ev == BR_PEM_ERROR) {
            failed = true;
        } else if (left == 0 && fed_newline) {
            break;
        } else if (took == 0) {
            failed = true; /* no progress and no event: never spin */
        }
    }
    if (failed || !ended || sink.overflow)
        return BASTION_JWT_E_BAD_KEY;
    bastion_jwt_rc rc = BASTION_JWT_E_BAD_KEY;
    if (kind == SPKI)
        rc = der_spki(key, (der){sink.buf, sink.len});
    else if (kind == PKCS1)
        rc = der_rsa_public_key(key, (der){sink.buf, sink.len});
    if (rc != BASTION_JWT_OK)
        memset(key, 0, sizeof *key);
    return rc;
}

/* see jwt.h */
bastion_jwt_rc bastion_jwt_key_parse(bastion_jwt_key *key, bastion_str text)
{
    static const bastion_str BEGIN = BASTION_LIT("-----BEGIN");
    size_t i = 0;
    while (
        text.ptr && i < text.len &&
        (text.ptr[i] == ' ' || text.ptr[i] == '\t' || text.ptr[i] == '\n' || text.ptr[i] == '\r'))
        i++;
    bastion_str rest = {text.ptr ? text.ptr + i : NULL, text.len - i};
    if (rest.len && rest.ptr[0] == '{')
        return bastion_jwt_key_from_jwk(key, rest);
    if (rest.len >= BEGIN.len && memcmp(rest.ptr, BEGIN.ptr, BEGIN.len) == 0)
        return bastion_jwt_key_from_pem(key, rest);
    memset(key, 0, sizeof *key);
    return BASTION_JWT_E_BAD_KEY;
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
    cJSON *h = parse_object(buf, n);
    if (!h)
        return BASTION_JWT_E_MALFORMED;
    bastion_jwt_rc rc = BASTION_JWT_OK;
    const char *alg = string_member(h, "alg");
    if (!alg)
        rc = BASTION_JWT_E_MALFORMED; /* RFC 7515 §4.1.1: MUST be present */
    else if (bastion_str_eq_ci(bastion_cstr(alg), BASTION_LIT("none")))
        rc = BASTION_JWT_E_ALG_NONE; /* RFC 8725 §2.1, §3.2 */
    else if (cJSON_GetObjectItemCaseSensitive(h, "crit"))
        rc = BASTION_JWT_E_CRIT; /* RFC 7515 §4.1.11 */
    else if (strcmp(alg, ALG_NAME[key->alg]) != 0)
        rc = BASTION_JWT_E_ALG_MISMATCH; /* the key, never the token, picks the algorithm */
    cJSON_Delete(h);
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
    default:
        return BASTION_JWT_E_BAD_KEY;
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
    cJSON_ArrayForEach(e, aud) {
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
    cJSON_ArrayForEach(e, aud) {
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
    cJSON *c = parse_object(buf, n);
    if (!c)
        return BASTION_JWT_E_MALFORMED;
    bastion_jwt_rc rc = check_claims(c, x, now_s, out);
    cJSON_Delete(c);
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
    if (!key_usable(key))
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
    if (!key_usable(key))
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

/* ----------------------------------------------------------- or_problem */

/* see jwt.h */
bastion_rc bastion_jwt_key_from_config_or_problem(bastion_ctx *cx, const char *name,
                                                  bastion_jwt_key *key)
{
    bastion_str v = bastion_config(name);
    if (v.ptr && bastion_jwt_key_parse(key, v) == BASTION_JWT_OK)
        return BASTION_OK;
    memset(key, 0, sizeof *key);
    char detail[160];
    /* REL8: the variable is named, its value never shown */
    snprintf(detail, sizeof detail, "config variable %s %s", name,
             v.ptr ? "does not hold a usable JWT key" : "is not set");
    return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail);
}

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
    bastion_problem(cx, BASTION_E_UNAUTHORIZED, detail);
    bastion_set_header(cx, BASTION_LIT("www-authenticate"),
                       presented ? BASTION_LIT("Bearer error=\"invalid_token\"")
                                 : BASTION_LIT("Bearer"));
    return BASTION_E_UNAUTHORIZED;
}

/* see jwt.h */
bastion_rc bastion_require_jwt_or_problem(bastion_ctx *cx, const bastion_jwt_key *key,
                                          const bastion_jwt_expect *expect, bastion_jwt_claims *out)
{
    memset(out, 0, sizeof *out);
    if (!key_usable(key))
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

/* see jwt.h */
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

/* see jwt.h */
bastion_rc bastion_require_admin_or_problem(bastion_ctx *cx, const bastion_jwt_key *key,
                                            const bastion_jwt_expect *expect,
                                            bastion_jwt_claims *out)
{
    bastion_rc rc = bastion_require_jwt_or_problem(cx, key, expect, out);
    if (rc != BASTION_OK)
        return rc;
    return bastion_require_role_or_problem(cx, out, "admin");
}
