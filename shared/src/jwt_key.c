/*
 * JWT key loading: raw HS256 secrets, JWKs (RFC 7517, RFC 7518 §6) and PEM
 * public keys (RFC 7468) read by a small strict DER parser. See jwt_key.h.
 */
#include <bearssl_ec.h>
#include <bearssl_pem.h>
#include <stdio.h>
#include <string.h>

#include "bastion/host.h"
#include "bastion/encoding.h"
#include "bastion/jwt_key.h"
#include "jwt_internal.h"

#define KEY_TEXT_MAX 16384
#define DER_MAX      2048 /* an SPKI of a 4096-bit RSA key is 550 bytes */

/* A key has exactly one algorithm (jwt.h): this is its JOSE name. */
static const char *const ALG_NAME[] = {
    [BASTION_JWT_ALG_UNSET] = "",
    [BASTION_JWT_HS256] = "HS256",
    [BASTION_JWT_RS256] = "RS256",
    [BASTION_JWT_ES256] = "ES256",
};

/* see jwt_internal.h */
const char *bastion__jwt_alg_name(bastion_jwt_alg alg)
{
    return (unsigned)alg < BASTION_COUNTOF(ALG_NAME) ? ALG_NAME[alg] : "";
}

/* see jwt_internal.h */
bool bastion__jwt_key_usable(const bastion_jwt_key *key)
{
    if (!key)
        return false;
    switch (key->alg) {
    case BASTION_JWT_HS256:
        return key->len >= BASTION_JWT_HS256_KEY_MIN && key->len <= BASTION_JWT_HS256_KEY_MAX;
    case BASTION_JWT_RS256:
        return key->len >= BASTION_JWT_RSA_MIN_BITS / 8 && key->len <= BASTION_JWT_RSA_MAX_BYTES &&
               key->material[0] != 0 && key->e_len >= 1 && key->e_len <= sizeof key->e;
    case BASTION_JWT_ES256: return key->len == 65 && key->material[0] == 0x04;
    default: return false;
    }
}

/* see jwt_key.h */
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
    const char *s = bastion__jwt_string_member(jwk, name);
    return s &&
           bastion_b64_decode(out, cap, len, bastion_cstr(s), BASTION_B64_URL) == BASTION_DECODE_OK;
}

static bastion_jwt_rc jwk_load(bastion_jwt_key *key, const cJSON *jwk)
{
    const char *kty = bastion__jwt_string_member(jwk, "kty");
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
        const char *crv = bastion__jwt_string_member(jwk, "crv");
        if (!crv || strcmp(crv, "P-256") != 0 || !jwk_bytes(jwk, "x", q + 1, 32, &xl) || xl != 32 ||
            !jwk_bytes(jwk, "y", q + 33, 32, &yl) || yl != 32)
            return BASTION_JWT_E_BAD_KEY;
        q[0] = 0x04;
        return key_set_ec(key, q, sizeof q);
    }
    return BASTION_JWT_E_BAD_KEY;
}

/* see jwt_key.h */
bastion_jwt_rc bastion_jwt_key_from_jwk(bastion_jwt_key *key, bastion_str jwk)
{
    memset(key, 0, sizeof *key);
    if (!jwk.ptr || jwk.len > KEY_TEXT_MAX)
        return BASTION_JWT_E_BAD_KEY;
    cJSON *o = bastion__jwt_parse_object(jwk.ptr, jwk.len);
    if (!o)
        return BASTION_JWT_E_BAD_KEY;
    bastion_jwt_rc rc = jwk_load(key, o);
    /* RFC 7517 §4.4: "alg", when given, must agree with the key's one algorithm */
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(o, "alg");
    if (rc == BASTION_JWT_OK && alg &&
        !(cJSON_IsString(alg) && strcmp(alg->valuestring, bastion__jwt_alg_name(key->alg)) == 0))
        rc = BASTION_JWT_E_BAD_KEY;
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

/* see jwt_key.h */
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

/* see jwt_key.h */
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

/* see jwt_key.h */
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
