/* The strict base64, base64url and hex decoders over arbitrary bytes: never
 * write past cap, and whatever they accept re-encodes to the same text
 * (canonical encodings only, RFC 4648 §3.5). */
#include <stdlib.h>
#include <string.h>

#include <bastion/encoding.h>

static void round_trip(bastion_str in, bastion_b64_variant v)
{
    uint8_t out[4096];
    char again[8192];
    size_t len;
    if (in.len > 4096 || bastion_b64_decode(out, sizeof out, &len, in, v) != BASTION_DECODE_OK)
        return;
    size_t n = bastion_b64_encode(again, out, len, v);
    if (n != in.len || memcmp(again, in.ptr, n) != 0)
        abort(); /* a non-canonical encoding was accepted */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bastion_str in = {(const char *)data, size};
    round_trip(in, BASTION_B64_STD);
    round_trip(in, BASTION_B64_URL);
    uint8_t out[64];
    size_t len;
    if (bastion_hex_decode(out, sizeof out, &len, in) == BASTION_DECODE_OK) {
        char again[128];
        bastion_hex_encode(again, out, len);
        for (size_t i = 0; i < size; i++)
            if ((again[i] | 0x20) != (data[i] | 0x20))
                abort();
    }
    /* a small cap must refuse, never truncate */
    uint8_t tiny[3];
    if (bastion_b64_decode(tiny, sizeof tiny, &len, in, BASTION_B64_URL) == BASTION_DECODE_OK &&
        len > sizeof tiny)
        abort();
    return 0;
}
