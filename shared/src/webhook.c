/*
 * Webhook signature verification (see webhook.h). Parsers are strict and
 * linear; all MAC work is bounded by MAX_SECRETS × MAX_SIGNATURES.
 */
#include <stdio.h>
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/list.h"
#include "bastion/log.h"
#include "bastion/webhook.h"

#define MAC_LEN            BASTION_SHA256_LEN
#define HEX_MAC_LEN        (2 * MAC_LEN)
#define B64_MAC_LEN        44 /* padded base64 of 32 bytes */
#define STDWH_KEY_MIN      24 /* Standard Webhooks: "at least 24 bytes" */
#define STDWH_KEY_MAX      64 /* … "512 [bits] maximum" */
#define STDWH_KEY_B64_MAX  88 /* padded base64 of STDWH_KEY_MAX bytes */
#define MAX_SECONDS_DIGITS 18 /* any 18-digit number fits in int64_t */

/* a struct, not a bare array, so that const pointers to it convert freely */
typedef struct {
    uint8_t b[MAC_LEN];
} mac_t;

static const char *const RC_TEXT[BASTION_WEBHOOK__COUNT] = {
    [BASTION_WEBHOOK_OK] = "verified",
    [BASTION_WEBHOOK_NO_HEADER] = "signature header missing",
    [BASTION_WEBHOOK_MALFORMED] = "signature header malformed",
    [BASTION_WEBHOOK_NO_SIGNATURE] = "no v1 signature in the header",
    [BASTION_WEBHOOK_STALE] = "timestamp outside the tolerance",
    [BASTION_WEBHOOK_MISMATCH] = "no signature matches",
    [BASTION_WEBHOOK_BAD_SECRET] = "webhook secret misconfigured",
};

/* see webhook.h */
const char *bastion_webhook_rc_text(bastion_webhook_rc rc)
{
    if ((unsigned)rc >= BASTION_WEBHOOK__COUNT)
        return "unknown failure";
    return RC_TEXT[rc];
}

static bool present(bastion_str s)
{
    return s.ptr != NULL && s.len > 0;
}

static bool has_prefix(bastion_str s, bastion_str prefix)
{
    return s.len >= prefix.len && memcmp(s.ptr, prefix.ptr, prefix.len) == 0;
}

/* A secret list is a deployment fact, so it is checked before anything the
 * request sent: a misconfigured endpoint answers 500 on every request rather
 * than 401 on some. */
static bool secrets_usable(const bastion_str *secrets, size_t n)
{
    if (secrets == NULL || n == 0 || n > BASTION_WEBHOOK_MAX_SECRETS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!present(secrets[i]))
            return false;
    return true;
}

/* Unix seconds: ASCII digits only, no sign or spaces; bounded so it fits. */
static bool parse_seconds(bastion_str s, int64_t *out)
{
    if (s.len == 0 || s.len > MAX_SECONDS_DIGITS)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (s.ptr[i] - '0');
    }
    *out = v;
    return true;
}

/* |now - t| <= tolerance, symmetric so a timestamp from the future is as
 * stale as one from the past. Unsigned differences cannot overflow. */
static bool within_tolerance(int64_t t, int64_t now, uint32_t tolerance_s)
{
    uint64_t diff = t >= now ? (uint64_t)t - (uint64_t)now : (uint64_t)now - (uint64_t)t;
    return diff <= tolerance_s;
}

/* Every (signature, MAC) pair is compared in full, with no early exit, so the
 * time taken depends only on the counts, not on where bytes differ. */
static bool any_match(const mac_t *sigs, size_t n_sigs, const mac_t *macs, size_t n_macs)
{
    bool match = false;
    for (size_t s = 0; s < n_sigs; s++)
        for (size_t m = 0; m < n_macs; m++)
            match |= bastion_ct_equal(sigs[s].b, macs[m].b, MAC_LEN);
    return match;
}

/* Body-only schemes (Shopify, GitHub): one HMAC of the body per secret. */
static bastion_webhook_rc match_body(const mac_t *sig, bastion_str body, const bastion_str *secrets,
                                     size_t n)
{
    mac_t macs[BASTION_WEBHOOK_MAX_SECRETS];
    for (size_t i = 0; i < n; i++)
        bastion_hmac_sha256(macs[i].b, secrets[i].ptr, secrets[i].len, body.ptr, body.len);
    return any_match(sig, 1, macs, n) ? BASTION_WEBHOOK_OK : BASTION_WEBHOOK_MISMATCH;
}

static bool decode_hex_mac(mac_t *out, bastion_str hex)
{
    size_t len;
    return hex.len == HEX_MAC_LEN && bastion_hex_decode(out->b, MAC_LEN, &len, hex) == 0 &&
           len == MAC_LEN;
}

static bool decode_b64_mac(mac_t *out, bastion_str b64)
{
    size_t len;
    return b64.len == B64_MAC_LEN &&
           bastion_b64_decode(out->b, MAC_LEN, &len, b64, BASTION_B64_STD) == 0 && len == MAC_LEN;
}

/* Stripe-Signature keys are short identifiers ("t", "v1", "v0"); anything
 * else — notably whitespace, which Stripe never sends — means the header was
 * mangled, and ignoring it would misreport the failure as NO_SIGNATURE. */
static bool stripe_key_ok(bastion_str key)
{
    if (key.len == 0)
        return false;
    for (size_t i = 0; i < key.len; i++) {
        char c = key.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* see webhook.h */
bastion_webhook_rc bastion_webhook_stripe(bastion_str header, bastion_str body,
                                          const bastion_str *secrets, size_t n_secrets,
                                          int64_t now_s, uint32_t tolerance_s)
{
    if (!secrets_usable(secrets, n_secrets))
        return BASTION_WEBHOOK_BAD_SECRET;
    if (!present(header))
        return BASTION_WEBHOOK_NO_HEADER;

    /* Stripe "Verify signatures manually", step 1: split on ',' then on the
     * first '='; `t` is the timestamp, each `v1` a signature, and every
     * other scheme is discarded. */
    mac_t sigs[BASTION_WEBHOOK_MAX_SIGNATURES];
    size_t n_sigs = 0;
    bastion_str t_text = BASTION_STR_NULL;
    int64_t t = 0;
    const char *p = header.ptr, *end = header.ptr + header.len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (!eq)
            return BASTION_WEBHOOK_MALFORMED;
        bastion_str key = {p, (size_t)(eq - p)};
        bastion_str value = {eq + 1, (size_t)(stop - eq - 1)};
        if (!stripe_key_ok(key))
            return BASTION_WEBHOOK_MALFORMED;
        if (bastion_str_eq(key, BASTION_LIT("t"))) {
            /* a second `t` would make "which timestamp was signed" ambiguous */
            if (t_text.ptr || !parse_seconds(value, &t))
                return BASTION_WEBHOOK_MALFORMED;
            t_text = value;
        } else if (bastion_str_eq(key, BASTION_LIT("v1"))) {
            if (n_sigs == BASTION_WEBHOOK_MAX_SIGNATURES || !decode_hex_mac(&sigs[n_sigs], value))
                return BASTION_WEBHOOK_MALFORMED;
            n_sigs++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!t_text.ptr)
        return BASTION_WEBHOOK_MALFORMED;
    if (n_sigs == 0)
        return BASTION_WEBHOOK_NO_SIGNATURE;
    /* step 4: the tolerance protects against replay; Stripe's default is 300 s */
    if (!within_tolerance(t, now_s, tolerance_s))
        return BASTION_WEBHOOK_STALE;

    /* steps 2–3: signed_payload = t "." body, HMAC-SHA256 keyed with the
     * endpoint's signing secret (its bytes as given, "whsec_" included) */
    const bastion_str parts[] = {t_text, BASTION_LIT("."), body};
    mac_t macs[BASTION_WEBHOOK_MAX_SECRETS];
    for (size_t i = 0; i < n_secrets; i++)
        bastion_hmac_sha256_parts(macs[i].b, secrets[i].ptr, secrets[i].len, parts,
                                  BASTION_COUNTOF(parts));
    return any_match(sigs, n_sigs, macs, n_secrets) ? BASTION_WEBHOOK_OK : BASTION_WEBHOOK_MISMATCH;
}

/* see webhook.h */
bastion_webhook_rc bastion_webhook_shopify(bastion_str header_b64, bastion_str body,
                                           const bastion_str *secrets, size_t n_secrets)
{
    if (!secrets_usable(secrets, n_secrets))
        return BASTION_WEBHOOK_BAD_SECRET;
    if (!present(header_b64))
        return BASTION_WEBHOOK_NO_HEADER;
    mac_t sig;
    if (!decode_b64_mac(&sig, header_b64))
        return BASTION_WEBHOOK_MALFORMED;
    return match_body(&sig, body, secrets, n_secrets);
}

/* see webhook.h */
bastion_webhook_rc bastion_webhook_github(bastion_str header, bastion_str body,
                                          const bastion_str *secrets, size_t n_secrets)
{
    const bastion_str prefix = BASTION_LIT("sha256=");
    if (!secrets_usable(secrets, n_secrets))
        return BASTION_WEBHOOK_BAD_SECRET;
    if (!present(header))
        return BASTION_WEBHOOK_NO_HEADER;
    /* GitHub: "The hash signature always starts with sha256=" */
    mac_t sig;
    if (!has_prefix(header, prefix) ||
        !decode_hex_mac(&sig, (bastion_str){header.ptr + prefix.len, header.len - prefix.len}))
        return BASTION_WEBHOOK_MALFORMED;
    return match_body(&sig, body, secrets, n_secrets);
}

/* Standard Webhooks "Signature scheme": the secret is serialized as "whsec_"
 * + base64. Unpadded base64 is accepted too, as the reference libraries do
 * (they append "==" before decoding); the decoder still rejects any byte
 * outside the alphabet and non-zero trailing bits. */
static bool stdwh_key(bastion_str secret, uint8_t key[STDWH_KEY_MAX], size_t *key_len)
{
    const bastion_str prefix = BASTION_LIT("whsec_");
    if (!has_prefix(secret, prefix))
        return false;
    size_t n = secret.len - prefix.len;
    if (n == 0 || n > STDWH_KEY_B64_MAX || n % 4 == 1)
        return false;
    char b64[STDWH_KEY_B64_MAX];
    memcpy(b64, secret.ptr + prefix.len, n);
    while (n % 4)
        b64[n++] = '=';
    return bastion_b64_decode(key, STDWH_KEY_MAX, key_len, (bastion_str){b64, n},
                              BASTION_B64_STD) == 0 &&
           *key_len >= STDWH_KEY_MIN;
}

/* see webhook.h */
bastion_webhook_rc bastion_webhook_standard(bastion_str id, bastion_str timestamp,
                                            bastion_str signature, bastion_str body,
                                            const bastion_str *secrets, size_t n_secrets,
                                            int64_t now_s, uint32_t tolerance_s)
{
    uint8_t keys[BASTION_WEBHOOK_MAX_SECRETS][STDWH_KEY_MAX];
    size_t key_lens[BASTION_WEBHOOK_MAX_SECRETS];
    if (!secrets_usable(secrets, n_secrets))
        return BASTION_WEBHOOK_BAD_SECRET;
    for (size_t i = 0; i < n_secrets; i++)
        if (!stdwh_key(secrets[i], keys[i], &key_lens[i]))
            return BASTION_WEBHOOK_BAD_SECRET;
    if (!present(id) || !present(timestamp) || !present(signature))
        return BASTION_WEBHOOK_NO_HEADER;

    /* "Signature scheme": the id must not contain '.', or "{id}.{timestamp}."
     * could be split more than one way */
    int64_t t;
    if (memchr(id.ptr, '.', id.len) || !parse_seconds(timestamp, &t))
        return BASTION_WEBHOOK_MALFORMED;

    /* "Webhook headers": a space-delimited list of "version,signature" */
    mac_t sigs[BASTION_WEBHOOK_MAX_SIGNATURES];
    size_t n_sigs = 0;
    const char *p = signature.ptr, *end = signature.ptr + signature.len;
    for (;;) {
        const char *space = memchr(p, ' ', (size_t)(end - p));
        const char *stop = space ? space : end;
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        if (!comma || comma == p)
            return BASTION_WEBHOOK_MALFORMED;
        bastion_str version = {p, (size_t)(comma - p)};
        bastion_str value = {comma + 1, (size_t)(stop - comma - 1)};
        /* only v1 (HMAC-SHA256) is ours; v1a (ed25519) and later versions
         * are for other verifiers, so they are skipped unexamined */
        if (bastion_str_eq(version, BASTION_LIT("v1"))) {
            if (n_sigs == BASTION_WEBHOOK_MAX_SIGNATURES || !decode_b64_mac(&sigs[n_sigs], value))
                return BASTION_WEBHOOK_MALFORMED;
            n_sigs++;
        }
        if (!space)
            break;
        p = space + 1;
    }
    if (n_sigs == 0)
        return BASTION_WEBHOOK_NO_SIGNATURE;
    /* "Verifying signatures": the timestamp must be within a tolerance of now */
    if (!within_tolerance(t, now_s, tolerance_s))
        return BASTION_WEBHOOK_STALE;

    /* signed content: "{msg_id}.{timestamp}.{payload}" */
    const bastion_str parts[] = {id, BASTION_LIT("."), timestamp, BASTION_LIT("."), body};
    mac_t macs[BASTION_WEBHOOK_MAX_SECRETS];
    for (size_t i = 0; i < n_secrets; i++)
        bastion_hmac_sha256_parts(macs[i].b, keys[i], key_lens[i], parts, BASTION_COUNTOF(parts));
    return any_match(sigs, n_sigs, macs, n_secrets) ? BASTION_WEBHOOK_OK : BASTION_WEBHOOK_MISMATCH;
}

/* The failure class and the header's name go to the client; the header's
 * value, the expected MAC and the secrets never do. */
static bastion_rc webhook_problem(bastion_ctx *cx, bastion_webhook_rc rc, const char *provider,
                                  const char *header)
{
    char detail[160];
    if (rc == BASTION_WEBHOOK_OK)
        return BASTION_OK;
    if (rc == BASTION_WEBHOOK_BAD_SECRET) {
        snprintf(detail, sizeof detail,
                 "The %s webhook signing secret is not configured correctly.", provider);
        return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail);
    }
    snprintf(detail, sizeof detail, "%s webhook rejected (%s): %s.", provider, header,
             bastion_webhook_rc_text(rc));
    return bastion_problem(cx, BASTION_E_UNAUTHORIZED, detail);
}

/* see webhook.h */
bastion_rc bastion_webhook_secrets_or_problem(bastion_ctx *cx, const char *var,
                                              bastion_str secrets[BASTION_WEBHOOK_MAX_SECRETS],
                                              size_t *n)
{
    bastion_str rest = bastion_config(var), member;
    *n = 0;
    while (rest.ptr && bastion_list_next(&rest, &member)) {
        if (*n == BASTION_WEBHOOK_MAX_SECRETS) {
            *n = 0;
            break; /* more than can be tried: refuse the list, not its tail */
        }
        secrets[(*n)++] = member;
    }
    if (*n > 0)
        return BASTION_OK;
    bastion_header f[] = {{BASTION_LIT("variable"), bastion_cstr(var)}};
    bastion_log_safe(BASTION_LOG_ERROR, "webhook secrets not configured", f, BASTION_COUNTOF(f));
    char detail[160];
    snprintf(detail, sizeof detail, "Variable %s must hold 1 to %d comma-separated secrets.", var,
             BASTION_WEBHOOK_MAX_SECRETS);
    return bastion_problem(cx, BASTION_E_MISCONFIGURED, detail);
}

static int64_t now_s(void)
{
    return (int64_t)(bastion_now_ms() / 1000);
}

/* see webhook.h */
bastion_rc bastion_webhook_stripe_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                             size_t n_secrets)
{
    bastion_webhook_rc rc =
        bastion_webhook_stripe(bastion_header_get(cx, "stripe-signature"), cx->body, secrets,
                               n_secrets, now_s(), BASTION_WEBHOOK_TOLERANCE_S);
    return webhook_problem(cx, rc, "Stripe", "Stripe-Signature");
}

/* see webhook.h */
bastion_rc bastion_webhook_shopify_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                              size_t n_secrets)
{
    bastion_webhook_rc rc = bastion_webhook_shopify(bastion_header_get(cx, "x-shopify-hmac-sha256"),
                                                    cx->body, secrets, n_secrets);
    return webhook_problem(cx, rc, "Shopify", "X-Shopify-Hmac-Sha256");
}

/* see webhook.h */
bastion_rc bastion_webhook_github_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                             size_t n_secrets)
{
    bastion_webhook_rc rc = bastion_webhook_github(bastion_header_get(cx, "x-hub-signature-256"),
                                                   cx->body, secrets, n_secrets);
    return webhook_problem(cx, rc, "GitHub", "X-Hub-Signature-256");
}

/* see webhook.h */
bastion_rc bastion_webhook_standard_or_problem(bastion_ctx *cx, const bastion_str *secrets,
                                               size_t n_secrets)
{
    bastion_webhook_rc rc = bastion_webhook_standard(
        bastion_header_get(cx, "webhook-id"), bastion_header_get(cx, "webhook-timestamp"),
        bastion_header_get(cx, "webhook-signature"), cx->body, secrets, n_secrets, now_s(),
        BASTION_WEBHOOK_TOLERANCE_S);
    return webhook_problem(cx, rc, "Standard", "webhook-id, webhook-timestamp, webhook-signature");
}
