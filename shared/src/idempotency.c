/*
 * Idempotency-Key (CONC4, draft-ietf-httpapi-idempotency-key-header-07) and
 * request-fingerprint claims (CONC3) on the host's kv store.
 *
 * Records, one kv value per key ("fp" is 64 lower-case hex digits):
 *   in flight     "i1 <fp> <token>"             token: 32 hex digits, unique per attempt
 *   done          "d1 <fp> <status> <ctlen> <loclen>\n<content-type><location><body>"
 *   not replayable "n1 <fp> <status>"           completed; the body was over the cap
 * Lengths are decimal and every field is bounds-checked on read: a value in
 * the store is data, not something this file wrote for sure.
 */
#include <bearssl_hash.h>
#include <string.h>

#include "bastion/encoding.h"
#include "bastion/host.h"
#include "bastion/http.h"
#include "bastion/idempotency.h"

#define FP_HEX     64
#define TOKEN_HEX  32
#define MARKER_LEN (3 + FP_HEX + 1 + TOKEN_HEX)
#define CT_MAX     256 /* longer Content-Type or Location: not replayable */
#define LOC_MAX    2048

/* --- small helpers ------------------------------------------------------ */

/* SHA-256 over parts, each preceded by its length (8 bytes, big-endian), so
 * that no two different part lists hash alike ("ab"+"c" vs "a"+"bc"). */
static void hash_framed(uint8_t out[BASTION_SHA256_LEN], const bastion_str *parts, size_t n)
{
    br_sha256_context h;
    br_sha256_init(&h);
    for (size_t i = 0; i < n; i++) {
        uint8_t len[8];
        uint64_t l = parts[i].len;
        for (int b = 7; b >= 0; b--, l >>= 8)
            len[b] = (uint8_t)l;
        br_sha256_update(&h, len, sizeof len);
        if (parts[i].len)
            br_sha256_update(&h, parts[i].ptr, parts[i].len);
    }
    br_sha256_out(&h, out);
}

/* The concatenation of parts, in the arena. */
static bastion_str cat(const bastion_str *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    char *d = bastion_alloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len)
            memcpy(d + o, parts[i].ptr, parts[i].len);
        o += parts[i].len;
    }
    d[o] = 0;
    return (bastion_str){d, len};
}

/* Reads 1..max_digits decimal digits at *p (no sign, no leading '+'). */
static bool read_decimal(const char **p, const char *end, size_t max_digits, uint64_t *out)
{
    uint64_t v = 0;
    size_t k = 0;
    while (*p < end && k < max_digits && **p >= '0' && **p <= '9') {
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
        k++;
    }
    *out = v;
    return k > 0 && (*p == end || **p < '0' || **p > '9');
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void log_store(bastion_log_level level, const char *msg, const char *op, bastion_str key)
{
    bastion_header f[] = {
        {BASTION_LIT("op"), bastion_cstr(op)},
        {BASTION_LIT("key"), key}, /* a hash: no client data */
        {BASTION_LIT("detail"), bastion_host_error_text()},
    };
    bastion_log(level, msg, f, BASTION_COUNTOF(f));
}

/* --- the header field (§2.1) -------------------------------------------- */

/* see idempotency.h */
bool bastion_idempotency_key_parse(bastion_str value, char out[BASTION_IDEM_KEY_MAX],
                                   size_t *out_len)
{
    *out_len = 0;
    if (!value.ptr)
        return false;
    const char *p = value.ptr, *end = value.ptr + value.len;
    /* RFC 8941 §4.2: surrounding whitespace is not part of the value */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = 0;
    if (p < end && *p == '"') {
        /* RFC 8941 §4.2.5: an sf-string, escapes \" and \\ only */
        for (p++;; p++) {
            if (p == end)
                return false; /* no closing DQUOTE */
            unsigned char c = (unsigned char)*p;
            if (c == '"')
                break;
            if (c == '\\') {
                if (++p == end)
                    return false;
                c = (unsigned char)*p;
                if (c != '"' && c != '\\')
                    return false;
            } else if (c < 0x20 || c > 0x7e) {
                return false;
            }
            if (n == BASTION_IDEM_KEY_MAX)
                return false;
            out[n++] = (char)c;
        }
        /* Parameters, or a second field folded in with ",", are not allowed:
         * §2.1 permits one key per request. */
        if (p + 1 != end)
            return false;
    } else {
        /* Compatibility: a bare key. No DQUOTE or backslash (string syntax),
         * no "," or ";" (list and parameter syntax), no whitespace. */
        for (; p < end; p++) {
            unsigned char c = (unsigned char)*p;
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ',' || c == ';')
                return false;
            if (n == BASTION_IDEM_KEY_MAX)
                return false;
            out[n++] = (char)c;
        }
    }
    if (n == 0)
        return false;
    *out_len = n;
    return true;
}

/* --- records ------------------------------------------------------------ */

typedef struct {
    char state; /* 'i', 'd' or 'n' */
    bastion_str fp_hex;
    uint16_t status;
    bastion_str content_type, location, body;
} idem_record;

/* Parses a stored value; false for anything malformed. Every slice points
 * into `v`. */
static bool record_parse(bastion_str v, idem_record *r)
{
    memset(r, 0, sizeof *r);
    if (!v.ptr || v.len < 3 + FP_HEX)
        return false;
    const char *p = v.ptr, *end = v.ptr + v.len;
    if ((p[0] != 'i' && p[0] != 'd' && p[0] != 'n') || p[1] != '1' || p[2] != ' ')
        return false;
    r->state = p[0];
    if (!is_lower_hex(p + 3, FP_HEX))
        return false;
    r->fp_hex = (bastion_str){p + 3, FP_HEX};
    p += 3 + FP_HEX;
    if (p == end || *p++ != ' ')
        return false;
    if (r->state == 'i')
        return end - p == TOKEN_HEX && is_lower_hex(p, TOKEN_HEX);

    uint64_t status;
    if (!read_decimal(&p, end, 3, &status) || status < 200 || status > 599)
        return false;
    r->status = (uint16_t)status;
    if (r->state == 'n')
        return p == end;

    uint64_t ct_len, loc_len;
    if (p == end || *p++ != ' ' || !read_decimal(&p, end, 4, &ct_len) || ct_len > CT_MAX)
        return false;
    if (p == end || *p++ != ' ' || !read_decimal(&p, end, 4, &loc_len) || loc_len > LOC_MAX)
        return false;
    if (p == end || *p++ != '\n')
        return false;
    if ((uint64_t)(end - p) < ct_len + loc_len)
        return false;
    r->content_type = (bastion_str){p, (size_t)ct_len};
    p += ct_len;
    r->location = (bastion_str){p, (size_t)loc_len};
    p += loc_len;
    if ((size_t)(end - p) > BASTION_IDEM_BODY_MAX)
        return false;
    r->body = (bastion_str){p, (size_t)(end - p)};
    return true;
}

/* The last value the response carries for `name` (the last respond wins). */
static bastion_str resp_header(const bastion_ctx *cx, const char *name)
{
    bastion_str found = BASTION_STR_NULL;
    for (size_t i = 0; i < cx->n_resp_headers; i++)
        if (bastion_str_eq_ci(cx->resp_headers[i].name, bastion_cstr(name)))
            found = cx->resp_headers[i].value;
    return found;
}

/* The record for the response in cx: "d1", or "n1" when it is too large to
 * keep (or its headers are). */
static bastion_str record_for_response(const bastion_ctx *cx, const bastion_idem *st)
{
    bastion_str fp = bastion_hex_encode_str(st->fp, sizeof st->fp);
    bastion_str ct = resp_header(cx, "content-type");
    bastion_str loc = resp_header(cx, "location");
    bastion_str status = bastion_u64_str(cx->status);
    if (cx->resp_body.len > BASTION_IDEM_BODY_MAX || ct.len > CT_MAX || loc.len > LOC_MAX) {
        bastion_str parts[] = {BASTION_LIT("n1 "), fp, BASTION_LIT(" "), status};
        return cat(parts, BASTION_COUNTOF(parts));
    }
    bastion_str parts[] = {BASTION_LIT("d1 "),
                           fp,
                           BASTION_LIT(" "),
                           status,
                           BASTION_LIT(" "),
                           bastion_u64_str(ct.len),
                           BASTION_LIT(" "),
                           bastion_u64_str(loc.len),
                           BASTION_LIT("\n"),
                           ct,
                           loc,
                           cx->resp_body};
    return cat(parts, BASTION_COUNTOF(parts));
}

/* A final answer is the operation's outcome and is kept (§2.6: "success or
 * an error"). 5xx, 408 and 429 say the server could not act now; 401 and 403
 * are about the credentials, which the fingerprint leaves out. Keeping those
 * would replay a stale refusal for 24 h, so they release the key instead. */
static bool is_final(uint16_t status)
{
    return status >= 200 && status < 500 && status != 401 && status != 403 && status != 408 &&
           status != 429;
}

/* --- begin / finish ------------------------------------------------------ */

/* A token unique to this attempt, so that finish's compare-and-swap matches
 * only the marker this request wrote. */
static bastion_str attempt_token(const bastion_ctx *cx)
{
    uint8_t t[BASTION_SHA256_LEN];
    if (bastion_random(t, TOKEN_HEX / 2) != 0) {
        /* No CSPRNG: the request id and the clock are unique enough here;
         * the token guards against our own stale marker, not an attacker. */
        bastion_str when = bastion_u64_str(bastion_now_ms());
        bastion_str parts[] = {BASTION_LIT("bastion.idem.token"), cx->request_id, when};
        hash_framed(t, parts, BASTION_COUNTOF(parts));
    }
    return bastion_hex_encode_str(t, TOKEN_HEX / 2);
}

static size_t field_count(const bastion_ctx *cx, const char *name, bastion_str *first)
{
    size_t n = 0;
    *first = BASTION_STR_NULL;
    for (size_t i = 0; i < cx->n_headers; i++) {
        if (bastion_str_eq_ci(cx->headers[i].name, bastion_cstr(name))) {
            if (n++ == 0)
                *first = cx->headers[i].value;
        }
    }
    return n;
}

static bastion_rc in_flight_problem(bastion_ctx *cx)
{
    /* §2.7: 409 while the first request runs; the client retries unchanged,
     * so say when. (problem.h adds Retry-After only to 429 and 503.) */
    bastion_rc rc = bastion_problem(cx, BASTION_E_IN_PROGRESS,
                                    "A request with this Idempotency-Key is still being "
                                    "processed; retry the same request shortly.");
    bastion_set_header(cx, BASTION_LIT("retry-after"), BASTION_LIT("1"));
    return rc;
}

/* Answers from an existing record (§2.6, §2.7). */
static bastion_rc answer_existing(bastion_ctx *cx, bastion_idem *st, bastion_str value)
{
    idem_record r;
    if (!record_parse(value, &r)) {
        log_store(BASTION_LOG_ERROR, "idempotency record unreadable", "get", st->kv_key);
        return bastion_problem(cx, BASTION_E_INTERNAL, "The request could not be completed.");
    }
    bastion_str fp = bastion_hex_encode_str(st->fp, sizeof st->fp);
    if (!bastion_str_eq(fp, r.fp_hex))
        return bastion_problem(cx, BASTION_E_UNPROCESSABLE,
                               "This Idempotency-Key was already used with a different "
                               "request; use a new key for a new request.");
    if (r.state == 'i')
        return in_flight_problem(cx);
    if (r.state == 'n')
        return bastion_problem(cx, BASTION_E_CONFLICT,
                               "The request with this Idempotency-Key already completed, but "
                               "its response is too large to replay; read the resource "
                               "instead.");
    if (r.content_type.len) {
        bastion_respond(cx, r.status, r.content_type, r.body);
    } else {
        cx->status = r.status;
        cx->resp_body = (bastion_str){bastion_str_dup(r.body), r.body.len};
        cx->responded = true;
    }
    if (r.location.len)
        bastion_set_header(cx, BASTION_LIT("location"), r.location);
    bastion_set_header(cx, BASTION_LIT("idempotent-replayed"), BASTION_LIT("true"));
    st->replayed = true;
    return BASTION_IDEM_REPLAYED;
}

/* see idempotency.h */
bastion_rc bastion_idempotency_begin_or_problem(bastion_ctx *cx, const char *store,
                                                bastion_str scope, bool required, bastion_idem *st)
{
    memset(st, 0, sizeof *st);
    st->store = store;

    bastion_str field;
    size_t fields = field_count(cx, "idempotency-key", &field);
    if (fields == 0)
        return required ? bastion_problem(cx, BASTION_E_BAD_REQUEST,
                                          "This operation requires an Idempotency-Key header.")
                        : BASTION_OK;
    char key[BASTION_IDEM_KEY_MAX];
    size_t key_len;
    if (fields > 1 || !bastion_idempotency_key_parse(field, key, &key_len))
        return bastion_problem(cx, BASTION_E_BAD_REQUEST,
                               "Idempotency-Key must be one quoted string of 1 to 255 "
                               "printable ASCII characters.");

    /* §2.4: the fingerprint covers the whole request target and payload.
     * The concrete path, not the route pattern: two resources behind one
     * route are different requests. */
    bastion_str fp_parts[] = {BASTION_LIT("bastion.idem.fp.v1"), cx->method, cx->path, cx->query,
                              cx->body};
    hash_framed(st->fp, fp_parts, BASTION_COUNTOF(fp_parts));

    /* The key is hashed with its scope: no client text reaches the store
     * (injection, the draft's Security Considerations) and scopes never meet. */
    uint8_t id[BASTION_SHA256_LEN];
    bastion_str id_parts[] = {BASTION_LIT("bastion.idem.key.v1"), scope,
                              (bastion_str){key, key_len}};
    hash_framed(id, id_parts, BASTION_COUNTOF(id_parts));
    bastion_str kv_parts[] = {BASTION_LIT("idem:"), bastion_hex_encode_str(id, sizeof id)};
    st->kv_key = cat(kv_parts, BASTION_COUNTOF(kv_parts));

    bastion_str marker_parts[] = {BASTION_LIT("i1 "), bastion_hex_encode_str(st->fp, sizeof st->fp),
                                  BASTION_LIT(" "), attempt_token(cx)};
    bastion_str marker = cat(marker_parts, BASTION_COUNTOF(marker_parts));
    /* The marker outlives the request's deadline, after which the host has
     * ended the instance; a crashed request therefore frees the key on its
     * own, and a live one always finds its marker in finish. */
    uint64_t ttl = (uint64_t)bastion_remaining_ms(cx) + BASTION_IDEM_INFLIGHT_MARGIN_MS;

    /* Two rounds: a record can expire or be released between add and get. */
    for (int round = 0; round < 2; round++) {
        bool added;
        bastion_host_rc hrc = bastion_kv_add(cx, store, st->kv_key, marker, ttl, &added);
        if (hrc != BASTION_HOST_OK)
            return bastion_host_fail_or_problem(cx, hrc, "idempotency add");
        if (added) {
            st->marker = marker;
            st->active = true;
            return BASTION_OK;
        }
        bastion_str value;
        bool found;
        hrc = bastion_kv_get(cx, store, st->kv_key, &value, &found);
        if (hrc != BASTION_HOST_OK)
            return bastion_host_fail_or_problem(cx, hrc, "idempotency get");
        if (found)
            return answer_existing(cx, st, value);
    }
    return in_flight_problem(cx); /* the key is churning: someone holds it */
}

/* see idempotency.h */
void bastion_idempotency_finish(bastion_ctx *cx, bastion_idem *st)
{
    if (!st->active)
        return;
    st->active = false;
    uint16_t status = cx->responded ? cx->status : 500;
    if (!is_final(status)) {
        /* Our marker is still ours: its TTL outlives the deadline. */
        bool deleted;
        bastion_host_rc hrc = bastion_kv_delete(cx, st->store, st->kv_key, &deleted);
        if (hrc != BASTION_HOST_OK)
            log_store(BASTION_LOG_ERROR,
                      "idempotency key not released; it frees itself when "
                      "the in-flight marker expires",
                      "delete", st->kv_key);
        return;
    }
    bool swapped;
    bastion_host_rc hrc =
        bastion_kv_swap(cx, st->store, st->kv_key, st->marker, record_for_response(cx, st),
                        BASTION_IDEM_RETENTION_MS, &swapped);
    /* The response stands either way: the operation has happened. A lost
     * record means a retry after the marker expires runs it again, so say so
     * loudly (REL1). */
    if (hrc != BASTION_HOST_OK)
        log_store(BASTION_LOG_ERROR, "idempotency record not stored", "swap", st->kv_key);
    else if (!swapped)
        log_store(BASTION_LOG_ERROR, "idempotency marker lost before the record was stored", "swap",
                  st->kv_key);
}

/* --- dedup (CONC3) -------------------------------------------------------- */

/* see idempotency.h */
bastion_rc bastion_dedup_claim_or_problem(bastion_ctx *cx, const char *store, bastion_str input,
                                          uint32_t ttl_s, bastion_dedup *d)
{
    memset(d, 0, sizeof *d);
    d->store = store;
    uint8_t h[BASTION_SHA256_LEN];
    bastion_str parts[] = {BASTION_LIT("bastion.dedup.v1"), input};
    hash_framed(h, parts, BASTION_COUNTOF(parts));
    bastion_str kv_parts[] = {BASTION_LIT("dedup:"), bastion_hex_encode_str(h, sizeof h)};
    d->kv_key = cat(kv_parts, BASTION_COUNTOF(kv_parts));
    uint64_t ttl_ms = (uint64_t)(ttl_s ? ttl_s : BASTION_DEDUP_DEFAULT_TTL_S) * 1000u;
    /* The holder's request id, for whoever inspects the store. */
    bastion_str holder = cx->request_id.len ? cx->request_id : BASTION_LIT("1");
    bool added;
    bastion_host_rc hrc = bastion_kv_add(cx, store, d->kv_key, holder, ttl_ms, &added);
    if (hrc != BASTION_HOST_OK)
        return bastion_host_fail_or_problem(cx, hrc, "dedup add");
    d->claimed = added;
    d->duplicate = !added;
    return BASTION_OK;
}

/* see idempotency.h */
bastion_rc bastion_dedup_or_problem(bastion_ctx *cx, const char *store, bastion_str input,
                                    uint32_t ttl_s, bastion_dedup *d)
{
    bastion_rc rc = bastion_dedup_claim_or_problem(cx, store, input, ttl_s, d);
    if (rc != BASTION_OK)
        return rc;
    if (d->duplicate)
        return bastion_problem(cx, BASTION_E_CONFLICT,
                               "An identical request is already being processed or was just "
                               "processed.");
    return BASTION_OK;
}

/* see idempotency.h */
bastion_host_rc bastion_dedup_release(bastion_ctx *cx, bastion_dedup *d)
{
    if (!d->claimed)
        return BASTION_HOST_OK;
    d->claimed = false;
    /* A plain delete is safe: the claim's TTL exceeds the deadline (see the
     * header), so the key still holds our claim, not a later one. */
    bool deleted;
    bastion_host_rc hrc = bastion_kv_delete(cx, d->store, d->kv_key, &deleted);
    if (hrc != BASTION_HOST_OK)
        log_store(BASTION_LOG_ERROR, "dedup claim not released; it lapses with its TTL", "delete",
                  d->kv_key);
    return hrc;
}
