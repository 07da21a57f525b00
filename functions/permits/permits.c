/*
 * Parking permits: a guest asks for one, the admin approves it from a
 * one-time link in an email.
 *
 *   POST /api/permits                  {"booking_id", "plate", "name", "email"}
 *   GET  /api/permits/approve?token=…  the link from the admin's email: shows what it
 *                                      would approve and changes nothing
 *   POST /api/permits/approve          {"token"}: approves it, once
 *
 * AUTH6: the link carries a core signed token (purpose "permit-approve",
 * resource = the permit id, 72 h) keyed from permit_token_secret; no API key
 * ever travels in it. AUTH7: the link's origin is base_url, or the forwarded
 * origin when X-Forwarded-Host is on the forwarded_hosts allow-list. REL4 and
 * CONC5: each state change commits with its outbox row, then the email is
 * awaited and its outcome reported.
 */
#include <bastion/bastion.h>

#define DB         "permits"
#define KV         "permits"
#define PURPOSE    "permit-approve"
#define LINK_TTL_S (72 * 3600)

static const bastion_email_sender MAIL = {DB, KV};

enum { F_BOOKING, F_PLATE, F_NAME, F_EMAIL, N_FIELDS };
static const bastion_field request_fields[N_FIELDS] = {
    /* The booking lives in another function's database; its id is checked
     * for shape only (UUIDs and numeric ids both fit). */
    [F_BOOKING] = {.name = "booking_id",
                   .type = BASTION_FIELD_SLUG,
                   .flags = BASTION_REQUIRED,
                   .min = 1,
                   .max = 64},
    [F_PLATE] = {.name = "plate",
                 .type = BASTION_FIELD_STRING,
                 .flags = BASTION_REQUIRED,
                 .min = 2,
                 .max = 16},
    [F_NAME] = {.name = "name",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED,
                .min = 1,
                .max = 100},
    [F_EMAIL] = {.name = "email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
};

/* --- module helpers --- */

/* A plate as printed: letters, digits, single spaces or hyphens between
 * them. Upper-cased in place (the text is the arena copy from validate). */
static bool plate_normalise(bastion_str s)
{
    char *p = (char *)s.ptr;
    for (size_t i = 0; i < s.len; i++) {
        char c = p[i];
        if (c >= 'a' && c <= 'z')
            p[i] = c = (char)(c - 32);
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool sep = c == ' ' || c == '-';
        if (!alnum && !(sep && i > 0 && i + 1 < s.len && p[i - 1] != ' ' && p[i - 1] != '-'))
            return false;
    }
    return true;
}

/* The master secret's key for this purpose; a short or missing secret is a
 * 500 naming the variable, never its value (REL8). */
static bastion_rc key_or_problem(bastion_ctx *cx, bastion_token_key *key)
{
    return bastion_token_key_or_problem(cx, "permit_token_secret", BASTION_LIT(PURPOSE), key);
}

/*
 * AUTH7: the origin for absolute links. X-Forwarded-Host is client-controlled
 * unless a proxy overwrites it, so it counts only when it equals an entry of
 * forwarded_hosts (one host, no list), and the link then spells the host as
 * configured. X-Forwarded-Proto may pick http or https, nothing else;
 * anything unexpected falls back to base_url whole.
 */
static bastion_str link_origin(bastion_ctx *cx, bastion_str base_url)
{
    while (base_url.len && base_url.ptr[base_url.len - 1] == '/')
        base_url.len--;
    bastion_str host = bastion_header_get(cx, "x-forwarded-host");
    bastion_str proto = bastion_header_get(cx, "x-forwarded-proto");
    bastion_str entry;
    if (!host.ptr || !bastion_list_find_ci(bastion_config("forwarded_hosts"), host, &entry))
        return base_url;
    const char *scheme = "https";
    if (proto.ptr && bastion_str_eq_ci(proto, BASTION_LIT("http")))
        scheme = "http";
    else if (proto.ptr && !bastion_str_eq_ci(proto, BASTION_LIT("https")))
        return base_url;
    return bastion_sprintf("%s://" BASTION_STR_FMT, scheme, BASTION_STR_ARG(entry));
}

static bool http_url(bastion_str s)
{
    return (s.len > 8 && bastion_str_eq_ci((bastion_str){s.ptr, 8}, BASTION_LIT("https://"))) ||
           (s.len > 7 && bastion_str_eq_ci((bastion_str){s.ptr, 7}, BASTION_LIT("http://")));
}

/* --- handlers --- */

static void request_permit(bastion_ctx *cx)
{
    static const char *const NEEDED[] = {"admin_email", "base_url", "permit_token_secret"};
    if (bastion_config_require_or_problem(cx, NEEDED, BASTION_COUNTOF(NEEDED)))
        return;
    bastion_str base_url = bastion_config("base_url");
    if (!http_url(base_url)) {
        bastion_problem(cx, BASTION_E_MISCONFIGURED, "Variable base_url must be an http(s) URL.");
        return;
    }
    bastion_token_key key;
    if (key_or_problem(cx, &key))
        return;
    bastion_field_value in[N_FIELDS];
    if (bastion_parse_json_or_problem(cx, request_fields, N_FIELDS, in))
        return;
    if (!plate_normalise(in[F_PLATE].str)) {
        bastion_field_problem(cx, "/plate",
                              "must be letters and digits, single spaces or hyphens between");
        return;
    }

    char id[37];
    char token[BASTION_TOKEN_MAX_LEN + 1];
    size_t token_len;
    int64_t now = (int64_t)bastion_now_ms();
    if (bastion_uuid_v4(id) != 0 ||
        bastion_token_sign(&key, bastion_cstr(id), now / 1000 + LINK_TTL_S, NULL, token,
                           sizeof token, &token_len) != BASTION_TOKEN_OK) {
        bastion_problem(cx, BASTION_E_INTERNAL, "The approval link could not be created.");
        return;
    }
    char expires[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(now + LINK_TTL_S * INT64_C(1000), expires);
    bastion_str origin = link_origin(cx, base_url);
    /* base64url needs no percent-encoding in a query (RFC 4648 §5) */
    bastion_email m = {
        .kind = "permit-requested",
        .to = bastion_config("admin_email"),
        .subject = bastion_sprintf("Parking permit request for " BASTION_STR_FMT,
                                   BASTION_STR_ARG(in[F_PLATE].str)),
        .text = bastion_sprintf(
            "A guest asked for a parking permit.\n\n"
            "Reference: %s\nBooking: " BASTION_STR_FMT "\nPlate: " BASTION_STR_FMT
            "\nName: " BASTION_STR_FMT "\nEmail: " BASTION_STR_FMT "\n\n"
            "Review and approve it here (the link works once, until %s):\n" BASTION_STR_FMT
            "/api/permits/approve?token=%s\n",
            id, BASTION_STR_ARG(in[F_BOOKING].str), BASTION_STR_ARG(in[F_PLATE].str),
            BASTION_STR_ARG(in[F_NAME].str), BASTION_STR_ARG(in[F_EMAIL].str), expires,
            BASTION_STR_ARG(origin), token),
    };

    /* CONC5: the permit and the admin's email commit together. */
    bastion_sql_value row[] = {
        BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(in[F_BOOKING].str),
        BASTION_SQL_STR(in[F_PLATE].str),  BASTION_SQL_STR(in[F_NAME].str),
        BASTION_SQL_STR(in[F_EMAIL].str),  BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO permits (id, booking_id, plate, name, email, status, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
        row);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, NULL, &sent))
        return;
    /* never the link or the token (OBS1) */
    bastion_header f[] = {
        {BASTION_LIT("permit"), bastion_cstr(id)},
        {BASTION_LIT("email"), in[F_EMAIL].str}, /* masked by bastion_log_safe */
        {BASTION_LIT("admin_notified"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "permit requested", f, BASTION_COUNTOF(f));

    bastion_email_respond_requested(cx, bastion_cstr(id), "pending", &sent);
}

/* A permit as its approval link names it, read after the link checked out. */
typedef struct {
    bastion_token_claims claims;
    bastion_str id, email, plate, booking, name;
    int64_t created_at;
} permit;

/*
 * The checks a link passes before anything is shown or changed (AUTH6): the
 * MAC first, then the expiry (a missing token is a bad one: 401, expired:
 * 410); then the permit it names (404) and that it is still pending (a used
 * link: 409).
 */
static bastion_rc pending_permit_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                            bastion_str token, int64_t now, permit *p)
{
    bastion_token_rc trc = bastion_token_verify(key, token, now / 1000, &p->claims);
    if (trc == BASTION_TOKEN_E_EXPIRED)
        return bastion_problem(cx, BASTION_E_GONE, "This approval link has expired.");
    if (trc != BASTION_TOKEN_OK) {
        bastion_rc rc =
            bastion_problem(cx, BASTION_E_UNAUTHORIZED, "This approval link is not valid.");
        /* RFC 9110 §15.5.2: a 401 carries a challenge */
        bastion_set_header(cx, BASTION_LIT("www-authenticate"),
                           BASTION_LIT("Bearer error=\"invalid_token\""));
        return rc;
    }
    p->id = (bastion_str){p->claims.resource, p->claims.resource_len};
    bastion_sql_value key_param[] = {BASTION_SQL_STR(p->id)};
    bastion_rows found;
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB,
        "SELECT email, plate, booking_id, name, created_at, status FROM permits WHERE id = $1",
        key_param, BASTION_COUNTOF(key_param), &found, "permit lookup");
    if (rc)
        return rc;
    if (found.n_rows == 0)
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such permit.");
    bastion_row row = bastion_row_at(&found, 0);
    p->email = bastion_row_text(&row, 0);
    p->plate = bastion_row_text(&row, 1);
    p->booking = bastion_row_text(&row, 2);
    p->name = bastion_row_text(&row, 3);
    p->created_at = bastion_row_int(&row, 4);
    bastion_str status = bastion_row_text(&row, 5);
    rc = bastion_row_or_problem(cx, &row, "permit lookup");
    if (rc)
        return rc;
    if (!bastion_str_eq(status, BASTION_LIT("pending")))
        return bastion_problem(cx, BASTION_E_CONFLICT, "This approval link has already been used.");
    return BASTION_OK;
}

/*
 * GET: what the link would approve, and nothing else. Mail scanners and
 * link previews fetch every URL in a message, so the link itself changes
 * no state (RFC 9110 §9.2.1: GET is safe); approving is a POST.
 */
static void view(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        /* not required: a missing token is a bad one (401); NUL is a 422 */
        {.name = "token", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM},
    };
    bastion_token_key key;
    if (key_or_problem(cx, &key))
        return;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    permit p;
    if (pending_permit_or_problem(cx, &key, in[0].str, (int64_t)bastion_now_ms(), &p))
        return;
    char requested[BASTION_RFC3339_BUF], expires[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(p.created_at, requested);
    bastion_format_rfc3339(p.claims.expires_s * 1000, expires);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(p.id));
    cJSON_AddStringToObject(body, "status", "pending");
    cJSON_AddStringToObject(body, "booking_id", bastion_str_dup(p.booking));
    cJSON_AddStringToObject(body, "plate", bastion_str_dup(p.plate));
    cJSON_AddStringToObject(body, "name", bastion_str_dup(p.name));
    cJSON_AddStringToObject(body, "requested_at", requested);
    cJSON_AddStringToObject(body, "link_expires_at", expires);
    cJSON *approve = cJSON_AddObjectToObject(body, "approve");
    cJSON_AddStringToObject(approve, "method", "POST");
    cJSON_AddStringToObject(approve, "href", "/api/permits/approve");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(approve, "fields"), cJSON_CreateString("token"));
    bastion_respond_json(cx, 200, body);
    /* the link is a credential and the page names a guest (RFC 9111 §5.2.2.5) */
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("no-store"));
}

static const bastion_field approve_fields[] = {
    {.name = "token", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED | BASTION_NO_TRIM},
};

/* POST {"token"}: approves the permit the link names, once. */
static void approve(bastion_ctx *cx)
{
    bastion_token_key key;
    if (key_or_problem(cx, &key))
        return;
    bastion_field_value in[BASTION_COUNTOF(approve_fields)];
    if (bastion_parse_json_or_problem(cx, approve_fields, BASTION_COUNTOF(approve_fields), in))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    permit p;
    if (pending_permit_or_problem(cx, &key, in[0].str, now, &p))
        return;
    bastion_email m = {
        .kind = "permit-approved",
        .to = p.email,
        .subject = BASTION_LIT("Your parking permit is approved"),
        .text = bastion_sprintf(
            "Your parking permit for " BASTION_STR_FMT " (booking " BASTION_STR_FMT
            ") has been approved.\n\nReference: " BASTION_STR_FMT "\n",
            BASTION_STR_ARG(p.plate), BASTION_STR_ARG(p.booking), BASTION_STR_ARG(p.id)),
    };

    /*
     * One-time use is decided by the guarded UPDATE, in the same transaction
     * as the applicant's outbox row (CONC5): of two clicks exactly one
     * changes the row, the other gets 409. The token's nonce is consumed only
     * after the commit, so a database failure leaves the link usable for a
     * retry instead of burning it; the consumed nonce then keeps the link dead
     * even if a later change ever returned the permit to pending.
     */
    bastion_sql_value upd[] = {BASTION_SQL_STR(p.id), BASTION_SQL_INT(now)};
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE permits SET status = 'approved', approved_at = $2, updated_at = $2 "
        "WHERE id = $1 AND status = 'pending'",
        upd);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m,
                                             "This approval link has already been used.", &sent))
        return;
    bastion_host_rc hrc;
    if (bastion_token_consume(cx, &key, KV, &p.claims, now / 1000, &hrc) != BASTION_TOKEN_OK) {
        bastion_header nf[] = {{BASTION_LIT("permit"), p.id},
                               {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_WARN, "approval link nonce not recorded", nf,
                         BASTION_COUNTOF(nf));
    }
    bastion_header f[] = {
        {BASTION_LIT("permit"), p.id},
        {BASTION_LIT("email_sent"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "permit approved", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(p.id));
    cJSON_AddStringToObject(body, "status", "approved");
    bastion_email_result_json(body, &sent);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/permits", request_permit},
    {"GET", "/api/permits/approve", view},
    {"POST", "/api/permits/approve", approve},
};
BASTION_ROUTES(routes);
