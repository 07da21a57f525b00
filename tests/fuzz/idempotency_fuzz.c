/* The Idempotency-Key field parser over arbitrary bytes (CONC4,
 * draft-ietf-httpapi-idempotency-key-header-07 §2.1). Besides memory safety
 * it checks the parser's contract: an accepted key is 1..255 printable ASCII
 * characters, and serialising it back as an sf-string (RFC 8941 §4.1.6)
 * parses to the same key. */
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/idempotency.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char key[BASTION_IDEM_KEY_MAX];
    size_t n = 0;
    if (!bastion_idempotency_key_parse((bastion_str){(const char *)data, size}, key, &n))
        return 0;
    if (n == 0 || n > BASTION_IDEM_KEY_MAX)
        __builtin_trap();
    char quoted[2 * BASTION_IDEM_KEY_MAX + 2];
    size_t q = 0;
    quoted[q++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (key[i] < 0x20 || key[i] > 0x7e)
            __builtin_trap();
        if (key[i] == '"' || key[i] == '\\')
            quoted[q++] = '\\';
        quoted[q++] = key[i];
    }
    quoted[q++] = '"';
    char again[BASTION_IDEM_KEY_MAX];
    size_t m = 0;
    if (!bastion_idempotency_key_parse((bastion_str){quoted, q}, again, &m) || m != n ||
        memcmp(again, key, n) != 0)
        __builtin_trap();
    return 0;
}
