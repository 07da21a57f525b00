/* Stripe-Signature verification over arbitrary bytes (HOOK1).
 *
 * Input: "<Stripe-Signature value>\n<raw body>" (no '\n': all header, empty
 * body). Besides "never crashes", checks two properties on every body:
 * a header built by the documented scheme verifies, and the same header
 * with one MAC bit flipped does not. */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/webhook.h>

#include "../../shared/src/core_internal.h"

#define NOW 1700000000
static const bastion_str SECRETS[] = {BASTION_LIT("whsec_fuzz_current"),
                                      BASTION_LIT("whsec_fuzz_previous")};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    bastion_str header = {in, nl ? (size_t)(nl - in) : size};
    bastion_str body = nl ? (bastion_str){nl + 1, size - header.len - 1} : BASTION_STR_NULL;

    bastion_webhook_stripe(header, body, SECRETS, 2, NOW, BASTION_WEBHOOK_TOLERANCE_S);

    /* the request path, with the real clock */
    bastion_header h = {BASTION_LIT("stripe-signature"), header};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = &h;
    cx.n_headers = 1;
    cx.body = body;
    bastion_webhook_stripe_or_problem(&cx, SECRETS, 2);

    /* round trip: sign this body with the second secret, at a t the input picks */
    char t[16], sig[128];
    int tn = snprintf(t, sizeof t, "%d", NOW - 300 + (int)(size % 601));
    const bastion_str parts[3] = {{t, (size_t)tn}, BASTION_LIT("."), body};
    uint8_t mac[32];
    char hex[65];
    bastion_hmac_sha256_parts(mac, SECRETS[1].ptr, SECRETS[1].len, parts, 3);
    bastion_hex_encode(hex, mac, 32);
    hex[64] = 0;
    int n = snprintf(sig, sizeof sig, "t=%s,v0=ff,v1=%s", t, hex);
    if (bastion_webhook_stripe((bastion_str){sig, (size_t)n}, body, SECRETS, 2, NOW,
                               BASTION_WEBHOOK_TOLERANCE_S) != BASTION_WEBHOOK_OK)
        __builtin_trap();
    sig[n - 1] = sig[n - 1] == '0' ? '1' : '0'; /* another hex digit: still well formed */
    if (bastion_webhook_stripe((bastion_str){sig, (size_t)n}, body, SECRETS, 2, NOW,
                               BASTION_WEBHOOK_TOLERANCE_S) != BASTION_WEBHOOK_MISMATCH)
        __builtin_trap();

    bastion__arena_reset();
    return 0;
}
