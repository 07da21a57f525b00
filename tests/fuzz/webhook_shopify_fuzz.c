/* Shopify X-Shopify-Hmac-Sha256 verification over arbitrary bytes (HOOK2).
 *
 * Input: "<X-Shopify-Hmac-Sha256 value>\n<raw body>". Besides "never
 * crashes", checks on every body that the base64 HMAC verifies and that a
 * changed character does not. */
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/webhook.h>

#include "../../shared/src/core_internal.h"

static const bastion_str SECRETS[] = {BASTION_LIT("shpss_fuzz_new"), BASTION_LIT("shpss_fuzz")};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    bastion_str header = {in, nl ? (size_t)(nl - in) : size};
    bastion_str body = nl ? (bastion_str){nl + 1, size - header.len - 1} : BASTION_STR_NULL;

    bastion_webhook_shopify(header, body, SECRETS, 2);
    bastion_header h = {BASTION_LIT("x-shopify-hmac-sha256"), header};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = &h;
    cx.n_headers = 1;
    cx.body = body;
    bastion_webhook_shopify_or_problem(&cx, SECRETS, 2);

    uint8_t mac[32];
    char sig[44];
    bastion_hmac_sha256(mac, SECRETS[1].ptr, SECRETS[1].len, body.ptr, body.len);
    bastion_b64_encode(sig, mac, 32, BASTION_B64_STD);
    bastion_str s = {sig, sizeof sig};
    if (bastion_webhook_shopify(s, body, SECRETS, 2) != BASTION_WEBHOOK_OK)
        __builtin_trap();
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    if (bastion_webhook_shopify(s, body, SECRETS, 2) != BASTION_WEBHOOK_MISMATCH)
        __builtin_trap();

    bastion__arena_reset();
    return 0;
}
