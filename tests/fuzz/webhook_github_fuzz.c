/* GitHub X-Hub-Signature-256 verification over arbitrary bytes.
 *
 * Input: "<X-Hub-Signature-256 value>\n<raw body>". Besides "never crashes",
 * checks on every body that "sha256=" + hex HMAC verifies, in either case,
 * and that a changed digit does not. */
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/webhook.h>

#include "../../shared/src/core_internal.h"

static const bastion_str SECRETS[] = {BASTION_LIT("It's a Secret to Everybody")};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    bastion_str header = {in, nl ? (size_t)(nl - in) : size};
    bastion_str body = nl ? (bastion_str){nl + 1, size - header.len - 1} : BASTION_STR_NULL;

    bastion_webhook_github(header, body, SECRETS, 1);
    bastion_header h = {BASTION_LIT("x-hub-signature-256"), header};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = &h;
    cx.n_headers = 1;
    cx.body = body;
    bastion_webhook_github_or_problem(&cx, SECRETS, 1);

    uint8_t mac[32];
    char sig[7 + 64] = "sha256=";
    bastion_hmac_sha256(mac, SECRETS[0].ptr, SECRETS[0].len, body.ptr, body.len);
    bastion_hex_encode(sig + 7, mac, 32);
    bastion_str s = {sig, sizeof sig};
    if (bastion_webhook_github(s, body, SECRETS, 1) != BASTION_WEBHOOK_OK)
        __builtin_trap();
    for (size_t i = 7; i < sizeof sig; i++)
        if (sig[i] >= 'a')
            sig[i] = (char)(sig[i] - 'a' + 'A');
    if (bastion_webhook_github(s, body, SECRETS, 1) != BASTION_WEBHOOK_OK)
        __builtin_trap();
    sig[7] = sig[7] == '0' ? '1' : '0';
    if (bastion_webhook_github(s, body, SECRETS, 1) != BASTION_WEBHOOK_MISMATCH)
        __builtin_trap();

    bastion__arena_reset();
    return 0;
}
