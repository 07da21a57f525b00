/*
 * Keyset pages and their signed cursors (see page.h).
 */
#include <string.h>

#include "bastion/crypto.h"
#include "bastion/encoding.h"
#include "bastion/http.h"
#include "bastion/page.h"
#include "bastion/validate.h"

#define TAG_LEN     16
#define PAYLOAD_MAX (1 + 8 + BASTION_PAGE_ID_MAX)
#define CURSOR_MAX  512 /* longer is never one of ours */
#define VERSION     1

/* The cursor key: HMAC(auth_jwt_secret, label), so the token secret itself
 * never signs anything but tokens. */
static bool cursor_key(uint8_t key[BASTION_SHA256_LEN])
{
    bastion_str secret = bastion_config("auth_jwt_secret");
    if (!secret.ptr || secret.len < 32)
        return false;
    static const char LABEL[] = "bastion.page-cursor.v1";
    bastion_hmac_sha256(key, secret.ptr, secret.len, LABEL, sizeof LABEL - 1);
    return true;
}

static void tag_of(uint8_t out[BASTION_SHA256_LEN], const uint8_t key[BASTION_SHA256_LEN],
                   bastion_str scope, const uint8_t *payload, size_t n)
{
    bastion_str parts[] = {scope, BASTION_LIT("\n"), {(const char *)payload, n}};
    bastion_hmac_sha256_parts(out, key, BASTION_SHA256_LEN, parts, BASTION_COUNTOF(parts));
}

static bastion_rc bad_cursor(bastion_ctx *cx)
{
    return bastion_problem(cx, BASTION_E_BAD_REQUEST,
                           "The cursor is not one this list issued; start again without it.");
}

/* ?limit: decimal digits only, 1..BASTION_PAGE_MAX. */
static bool parse_limit(bastion_str v, uint32_t *out)
{
    if (v.len == 0 || v.len > 3)
        return false;
    uint32_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
        n = n * 10 + (uint32_t)(v.ptr[i] - '0');
    }
    *out = n;
    return n >= 1 && n <= BASTION_PAGE_MAX;
}

/* see page.h */
bastion_rc bastion_page_or_problem(bastion_ctx *cx, bastion_str scope, bastion_page *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->scope = (bastion_str){bastion_str_dup(scope), scope.len};
    pg->limit = BASTION_PAGE_DEFAULT;
    bastion_str limit = bastion_query_get(cx, "limit");
    if (limit.ptr && !parse_limit(limit, &pg->limit))
        return bastion_field_problem(cx, "/limit", "must be an integer from 1 to 100");
    bastion_str cursor = bastion_query_get(cx, "cursor");
    if (!cursor.ptr)
        return BASTION_OK;
    uint8_t key[BASTION_SHA256_LEN];
    if (!cursor_key(key))
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "Variable auth_jwt_secret must be set to 32..256 bytes.");
    const char *dot = cursor.len <= CURSOR_MAX ? memchr(cursor.ptr, '.', cursor.len) : NULL;
    if (!dot)
        return bad_cursor(cx);
    bastion_str body = {cursor.ptr, (size_t)(dot - cursor.ptr)};
    bastion_str tag_text = {dot + 1, cursor.len - body.len - 1};
    uint8_t payload[PAYLOAD_MAX], tag[TAG_LEN + 1], want[BASTION_SHA256_LEN];
    size_t n, tn;
    if (bastion_b64_decode(payload, sizeof payload, &n, body, BASTION_B64_URL) !=
            BASTION_DECODE_OK ||
        bastion_b64_decode(tag, sizeof tag, &tn, tag_text, BASTION_B64_URL) != BASTION_DECODE_OK ||
        tn != TAG_LEN || n < 1 + 8 + 1 || payload[0] != VERSION)
        return bad_cursor(cx);
    tag_of(want, key, pg->scope, payload, n);
    if (!bastion_ct_equal(want, tag, TAG_LEN))
        return bad_cursor(cx);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | payload[1 + i];
    pg->after = true;
    pg->key = (int64_t)k;
    bastion_str id = {(const char *)payload + 9, n - 9};
    pg->id = (bastion_str){bastion_str_dup(id), id.len};
    return BASTION_OK;
}

/* see page.h */
int64_t bastion_page_fetch(const bastion_page *pg)
{
    return (int64_t)pg->limit + 1;
}

/* see page.h */
void bastion_page_params(const bastion_page *pg, bastion_sql_value out[3])
{
    out[0] = BASTION_SQL_INT(pg->after ? 1 : 0);
    out[1] = BASTION_SQL_INT(pg->after ? pg->key : INT64_MIN); /* before every row */
    out[2] = BASTION_SQL_STR(pg->after ? pg->id : BASTION_LIT(""));
}

/* The cursor after (key, id), or NULL when it cannot be made (an id longer
 * than BASTION_PAGE_ID_MAX, or no key: then the list simply ends). */
static const char *cursor_after(const bastion_page *pg, int64_t k, bastion_str id)
{
    uint8_t key[BASTION_SHA256_LEN], payload[PAYLOAD_MAX], tag[BASTION_SHA256_LEN];
    if (id.len == 0 || id.len > BASTION_PAGE_ID_MAX || !cursor_key(key))
        return NULL;
    payload[0] = VERSION;
    for (int i = 0; i < 8; i++)
        payload[1 + i] = (uint8_t)((uint64_t)k >> (56 - 8 * i));
    memcpy(payload + 9, id.ptr, id.len);
    size_t n = 9 + id.len;
    tag_of(tag, key, pg->scope, payload, n);
    bastion_str b = bastion_b64_encode_str(payload, n, BASTION_B64_URL);
    bastion_str t = bastion_b64_encode_str(tag, TAG_LEN, BASTION_B64_URL);
    return bastion_sprintf(BASTION_STR_FMT "." BASTION_STR_FMT, BASTION_STR_ARG(b),
                           BASTION_STR_ARG(t))
        .ptr;
}

/* see page.h */
void bastion_page_respond(bastion_ctx *cx, const bastion_page *pg, cJSON *items,
                          const int64_t *keys, const bastion_str *ids)
{
    int n = cJSON_GetArraySize(items);
    const char *next = NULL;
    if (n > (int)pg->limit) {
        cJSON_DeleteItemFromArray(items, n - 1); /* the look-ahead row */
        next = cursor_after(pg, keys[pg->limit - 1], ids[pg->limit - 1]);
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "items", items);
    if (next)
        cJSON_AddStringToObject(body, "next_cursor", next);
    else
        cJSON_AddNullToObject(body, "next_cursor");
    bastion_respond_json(cx, 200, body);
}
