/* Signed link tokens over arbitrary bytes (AUTH6). The first byte picks
 * what the rest is fed to:
 *   0  a token, verified: whatever passes must carry a well-formed resource
 *   1  a resource id, signed then verified: a signed token always verifies,
 *      to the same resource, and never under another purpose
 *   2  a purpose, for key derivation and a sign/verify round trip
 */
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/token.h>

#include "../../shared/src/core_internal.h"

static const char MASTER[] = "master-secret-for-tests-0123456789abcdef";
static const uint8_t NONCE[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static bastion_token_key permit, invite;
static bool loaded;

#define NOW     1700000000
#define EXPIRES 1700003600

static void check_claims(const bastion_token_claims *c)
{
    if (c->resource_len < 1 || c->resource_len > BASTION_TOKEN_RESOURCE_MAX ||
        c->resource[c->resource_len] != 0 || strlen(c->resource) != c->resource_len)
        __builtin_trap();
}

static void round_trip(const bastion_token_key *k, bastion_str resource)
{
    char out[BASTION_TOKEN_MAX_LEN + 1];
    size_t n;
    bastion_token_claims c;
    bastion_token_rc rc = bastion_token_sign(k, resource, EXPIRES, NONCE, out, sizeof out, &n);
    if (rc == BASTION_TOKEN_E_INVALID)
        return;
    if (rc != BASTION_TOKEN_OK || n > BASTION_TOKEN_MAX_LEN)
        __builtin_trap();
    if (bastion_token_verify(k, (bastion_str){out, n}, NOW, &c) != BASTION_TOKEN_OK)
        __builtin_trap();
    check_claims(&c);
    if (!bastion_str_eq((bastion_str){c.resource, c.resource_len}, resource))
        __builtin_trap();
    if (bastion_token_verify(k, (bastion_str){out, n}, EXPIRES, &c) != BASTION_TOKEN_E_EXPIRED)
        __builtin_trap();
    if (memcmp(k->k, invite.k, sizeof invite.k) != 0 &&
        bastion_token_verify(&invite, (bastion_str){out, n}, NOW, &c) != BASTION_TOKEN_E_TAMPERED)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loaded) {
        if (bastion_token_key_init(&permit, MASTER, sizeof MASTER - 1,
                                   BASTION_LIT("permit-approve")) != BASTION_TOKEN_OK ||
            bastion_token_key_init(&invite, MASTER, sizeof MASTER - 1,
                                   BASTION_LIT("invite-accept")) != BASTION_TOKEN_OK)
            __builtin_trap();
        loaded = true;
    }
    if (size < 1)
        return 0;
    bastion_str rest = {(const char *)data + 1, size - 1};
    bastion_token_claims c;
    bastion_token_key k;
    switch (data[0] % 3) {
    case 0: {
        bastion_token_rc rc = bastion_token_verify(&permit, rest, NOW, &c);
        if (rc == BASTION_TOKEN_OK || rc == BASTION_TOKEN_E_EXPIRED)
            check_claims(&c);
        else if (c.resource_len != 0)
            __builtin_trap(); /* nothing from a rejected token is handed out */
        break;
    }
    case 1: round_trip(&permit, rest); break;
    case 2:
        if (bastion_token_key_init(&k, MASTER, sizeof MASTER - 1, rest) == BASTION_TOKEN_OK)
            round_trip(&k, BASTION_LIT("permit-42"));
        break;
    }
    bastion__arena_reset();
    return 0;
}
