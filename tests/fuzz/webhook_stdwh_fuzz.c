/* Standard Webhooks verification over arbitrary bytes.
 *
 * Input: "<webhook-id>\n<webhook-timestamp>\n<webhook-signature>\n<secret>\n<body>";
 * missing fields are absent headers, and an empty secret field means the
 * fixed whsec_ secret below. Besides "never crashes" (whsec_ decoding is
 * fuzzed too), checks on every body that a signature built by the spec's
 * scheme verifies and that one with a flipped MAC bit does not. */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/webhook.h>

#include "../../shared/src/core_internal.h"

#define NOW 1614265330
/* the reference library's test secret: 24 bytes of key */
static const char SECRET_B64[] = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/* Cuts the next '\n'-terminated field off *in; NULL-ptr slice when none is left. */
static bastion_str field(bastion_str *in, bool last)
{
    if (!in->ptr)
        return BASTION_STR_NULL;
    const char *nl = last ? NULL : memchr(in->ptr, '\n', in->len);
    bastion_str f = {in->ptr, nl ? (size_t)(nl - in->ptr) : in->len};
    *in = nl ? (bastion_str){nl + 1, in->len - f.len - 1} : BASTION_STR_NULL;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bastion_str in = {(const char *)data, size};
    bastion_str id = field(&in, false), ts = field(&in, false), sig = field(&in, false);
    bastion_str secret = field(&in, false), body = field(&in, true);
    bastion_str secrets[2] = {BASTION_LIT("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), secret};
    size_t n_secrets = secret.len ? 2 : 1;

    bastion_webhook_standard(id, ts, sig, body, secrets, n_secrets, NOW,
                             BASTION_WEBHOOK_TOLERANCE_S);

    bastion_header h[3] = {{BASTION_LIT("webhook-id"), id},
                           {BASTION_LIT("webhook-timestamp"), ts},
                           {BASTION_LIT("webhook-signature"), sig}};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = h;
    cx.n_headers = 3;
    cx.body = body;
    bastion_webhook_standard_or_problem(&cx, secrets, n_secrets);

    /* round trip with the fixed secret, an id without '.', a t in tolerance */
    uint8_t key[24], mac[32];
    size_t key_len;
    if (bastion_b64_decode(key, sizeof key, &key_len, BASTION_LIT(SECRET_B64), BASTION_B64_STD))
        __builtin_trap();
    char t[16], v1[64];
    int tn = snprintf(t, sizeof t, "%d", NOW - 300 + (int)(size % 601));
    const bastion_str msg_id = BASTION_LIT("msg_fuzz");
    const bastion_str parts[5] = {
        msg_id, BASTION_LIT("."), {t, (size_t)tn}, BASTION_LIT("."), body};
    bastion_hmac_sha256_parts(mac, key, key_len, parts, 5);
    memcpy(v1, "v1a,x v1,", 9);
    size_t n = 9 + bastion_b64_encode(v1 + 9, mac, 32, BASTION_B64_STD);
    if (bastion_webhook_standard(msg_id, (bastion_str){t, (size_t)tn}, (bastion_str){v1, n}, body,
                                 secrets, 1, NOW,
                                 BASTION_WEBHOOK_TOLERANCE_S) != BASTION_WEBHOOK_OK)
        __builtin_trap();
    v1[9] = v1[9] == 'A' ? 'B' : 'A'; /* first 6 bits of the MAC: still canonical base64 */
    if (bastion_webhook_standard(msg_id, (bastion_str){t, (size_t)tn}, (bastion_str){v1, n}, body,
                                 secrets, 1, NOW,
                                 BASTION_WEBHOOK_TOLERANCE_S) != BASTION_WEBHOOK_MISMATCH)
        __builtin_trap();

    bastion__arena_reset();
    return 0;
}
