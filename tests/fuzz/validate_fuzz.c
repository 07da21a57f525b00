/*
 * The validator and the JSON front door over arbitrary bytes (VAL1, VAL3),
 * with every field type, plus the pure format parsers and the log masker
 * (OBS1) over the same untrusted text.
 */
#include <stdlib.h>
#include <string.h>

#include <bastion/bastion.h>
#include <bastion/log.h>

#include "../../shared/src/core_internal.h"

static const char *const STATUSES[] = {"pending", "confirmed", "cancelled", NULL};

static const bastion_field FIELDS[] = {
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED, .min = 3, .max = 254},
    {.name = "name", .type = BASTION_FIELD_STRING, .min = 1, .max = 100},
    {.name = "slug", .type = BASTION_FIELD_SLUG, .min = 1, .max = 64},
    {.name = "score", .type = BASTION_FIELD_INTEGER, .max = 100},
    {.name = "ok", .type = BASTION_FIELD_BOOL},
    {.name = "phone", .type = BASTION_FIELD_PHONE},
    {.name = "id", .type = BASTION_FIELD_UUID},
    {.name = "at", .type = BASTION_FIELD_TIMESTAMP},
    {.name = "day", .type = BASTION_FIELD_DATE},
    {.name = "status", .type = BASTION_FIELD_ENUM, .flags = BASTION_LOWERCASE, .choices = STATUSES},
    {.name = "cents", .type = BASTION_FIELD_CENTS, .max = 100000000},
    {.name = "raw", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM},
};
#define N_FIELDS BASTION_COUNTOF(FIELDS)

/* What an accepted value must look like, whatever the input was. */
static void check_accepted(const bastion_field_value *out)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (!out[i].present)
            continue;
        bastion_str s = out[i].str;
        switch (FIELDS[i].type) {
        case BASTION_FIELD_PHONE:
            if (!bastion_phone_valid(s))
                abort();
            break;
        case BASTION_FIELD_UUID:
            for (size_t k = 0; k < s.len; k++)
                if (s.ptr[k] >= 'A' && s.ptr[k] <= 'F')
                    abort(); /* normalised to lower case */
            if (!bastion_uuid_parse(s, NULL))
                abort();
            break;
        case BASTION_FIELD_TIMESTAMP: {
            int64_t back;
            if (s.len != 24 || !bastion_parse_rfc3339(s, &back) || back != out[i].integer)
                abort();
            break;
        }
        case BASTION_FIELD_DATE:
            if (out[i].integer % BASTION_MS_PER_DAY != 0)
                abort();
            break;
        case BASTION_FIELD_ENUM:
            if (out[i].integer < 0 || out[i].integer > 2 || s.ptr != STATUSES[out[i].integer])
                abort();
            break;
        case BASTION_FIELD_CENTS:
            if (out[i].integer < 1 || out[i].integer > 100000000)
                abort();
            break;
        case BASTION_FIELD_STRING:
        case BASTION_FIELD_EMAIL:
        case BASTION_FIELD_SLUG:
            if (!s.ptr || s.ptr[s.len] != 0 || !bastion_utf8_valid(s) || memchr(s.ptr, 0, s.len))
                abort();
            break;
        default: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bastion_header ct = {{"content-type", 12}, {"application/json", 16}};
    bastion_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.headers = &ct;
    cx.n_headers = 1;
    cx.body = (bastion_str){(const char *)data, size};
    bastion_field_value out[N_FIELDS];
    if (bastion_parse_json_or_problem(&cx, FIELDS, N_FIELDS, out) == BASTION_OK)
        check_accepted(out);

    bastion_email_valid(cx.body);
    bastion_phone_valid(cx.body);
    char uuid[37];
    bastion_uuid_parse(cx.body, uuid);
    int64_t ms;
    bastion_parse_rfc3339(cx.body, &ms);
    bastion_parse_date(cx.body, &ms);

    bastion_str masked = bastion_log_mask(cx.body);
    if (masked.ptr[masked.len] != 0 || masked.len > 4 * size + 16)
        abort();
    bastion_log_secret_name(cx.body);
    bastion__arena_reset();
    return 0;
}
