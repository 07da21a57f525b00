/* The validator and the JSON front door over arbitrary bytes (VAL1, VAL3). */
#include <string.h>

#include <bastion/bastion.h>

#include "../../shared/src/core_internal.h"

static const bastion_field FIELDS[] = {
    {"email", BASTION_FIELD_EMAIL, BASTION_REQUIRED, 3, 254},
    {"name", BASTION_FIELD_STRING, 0, 1, 100},
    {"slug", BASTION_FIELD_SLUG, 0, 1, 64},
    {"score", BASTION_FIELD_INTEGER, 0, 0, 100},
    {"ok", BASTION_FIELD_BOOL, 0, 0, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bastion_header ct = {{"content-type", 12}, {"application/json", 16}};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = &ct;
    cx.n_headers = 1;
    cx.body = (bastion_str){(const char *)data, size};
    bastion_field_value out[5];
    bastion_parse_json_or_problem(&cx, FIELDS, 5, out);
    bastion_email_valid(cx.body);
    bastion__arena_reset();
    return 0;
}
