/*
 * Pages with optimistic concurrency (CONC6, AUTH1).
 *
 *   GET /api/pages/{slug}         → {"slug","title","body","version"}, ETag "v<version>"
 *   PUT /api/admin/pages/{slug}   {"title","body"}, admin; If-Match: <ETag> updates,
 *                                 If-None-Match: * creates
 *
 * The precondition and the write are one guarded statement (RFC 9110 §13.1),
 * never a read followed by a write: two editors holding the same ETag race
 * into SQLite, which serialises them; the first bumps the version and the
 * second matches no row, so expect_changes turns it into 412.
 */
#include <stdio.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB           "content"
#define SLUG_MAX     64
#define TITLE_MAX    200
#define BODY_MAX     50000 /* code points; schema.sql holds the same bounds (DATA1) */
#define IF_MATCH_MAX 16    /* entity-tags accepted in one If-Match */

/* NO_TRIM: "%20about" is not "about" */
static const bastion_field slug_rule = {.name = "slug",
                                        .type = BASTION_FIELD_SLUG,
                                        .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                                        .min = 1,
                                        .max = SLUG_MAX};
/* A body is multi-line: paragraphs, tabs; every other control is refused. */
static const bastion_field page_fields[] = {
    {.name = "title",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = TITLE_MAX},
    {.name = "body",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED | BASTION_MULTILINE,
     .min = 1,
     .max = BODY_MAX},
};
enum { F_TITLE, F_BODY };

/* The strong validator of a version (RFC 9110 §8.8.3): "v<version>". */
static bastion_str etag_of(int64_t version)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "\"v%lld\"", (long long)version);
    return (bastion_str){bastion_str_dup((bastion_str){buf, (size_t)n}), (size_t)n};
}

/*
 * If-Match = "*" / #entity-tag (RFC 9110 §13.1.1). Writes the versions its
 * strong tags name as a list with a comma around each (",3,7,"), which the
 * UPDATE matches with LIKE on SQLite and PostgreSQL alike, or sets *any
 * for "*". Weak tags never match (If-Match compares strongly, §13.1.1), and
 * tags that are not ours ("abc", "v01") are well-formed but match nothing;
 * both leave the array without them, which ends in 412. False on a syntax
 * error or more than IF_MATCH_MAX tags.
 */
static bool parse_if_match(bastion_str h, bool *any, char *list, size_t cap)
{
    size_t i = 0, o = 0, tags = 0;
    h = bastion_trim_ows(h);
    *any = bastion_str_eq(h, BASTION_LIT("*"));
    if (*any)
        return true;
    list[o++] = ',';
    for (;;) {
        while (i < h.len && (h.ptr[i] == ' ' || h.ptr[i] == '\t' || h.ptr[i] == ','))
            i++; /* #rule allows empty list elements (RFC 9110 §5.6.1) */
        if (i == h.len)
            break;
        if (++tags > IF_MATCH_MAX)
            return false;
        bool weak = h.len - i >= 2 && h.ptr[i] == 'W' && h.ptr[i + 1] == '/';
        if (weak)
            i += 2;
        if (i == h.len || h.ptr[i] != '"')
            return false;
        size_t start = ++i;
        /* etagc = %x21 / %x23-7E / obs-text */
        while (i < h.len && h.ptr[i] != '"' &&
               ((unsigned char)h.ptr[i] >= 0x80 || (h.ptr[i] >= 0x21 && h.ptr[i] <= 0x7E)))
            i++;
        if (i == h.len || h.ptr[i] != '"')
            return false;
        bastion_str opaque = {h.ptr + start, i - start};
        i++;
        if (i < h.len && h.ptr[i] != ',' && h.ptr[i] != ' ' && h.ptr[i] != '\t')
            return false;
        bool ours = !weak && opaque.len >= 2 && opaque.len <= 16 && opaque.ptr[0] == 'v' &&
                    opaque.ptr[1] >= '1' && opaque.ptr[1] <= '9';
        for (size_t k = 2; ours && k < opaque.len; k++)
            ours = opaque.ptr[k] >= '0' && opaque.ptr[k] <= '9';
        if (ours && o + opaque.len + 1 < cap) {
            memcpy(list + o, opaque.ptr + 1, opaque.len - 1);
            o += opaque.len - 1;
            list[o++] = ',';
        }
    }
    list[o] = 0;
    return tags > 0;
}

static void respond_page(bastion_ctx *cx, uint16_t status, bastion_str slug, bastion_str title,
                         bastion_str body, int64_t version)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "slug", bastion_str_dup(slug));
    cJSON_AddStringToObject(out, "title", bastion_str_dup(title));
    cJSON_AddStringToObject(out, "body", bastion_str_dup(body));
    cJSON_AddNumberToObject(out, "version", (double)version);
    bastion_respond_json(cx, status, out);
    cJSON_Delete(out);
    bastion_set_header(cx, BASTION_LIT("etag"), etag_of(version));
}

static void get_page(bastion_ctx *cx)
{
    bastion_field_value slug_v;
    if (bastion_param_or_problem(cx, &slug_rule, &slug_v))
        return;
    bastion_str slug = slug_v.str;
    bastion_sql_value params[] = {BASTION_SQL_STR(slug)};
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "SELECT title, body, version FROM pages WHERE slug = $1",
                                     params, BASTION_COUNTOF(params), &rows, "page read"))
        return;
    if (rows.n_rows == 0) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No page has this slug.");
        return;
    }
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str title = bastion_row_text(&row, 0);
    bastion_str body = bastion_row_text(&row, 1);
    int64_t version = bastion_row_int(&row, 2);
    if (bastion_row_or_problem(cx, &row, "page read"))
        return;
    respond_page(cx, 200, slug, title, body, version);
}

static void put_page(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    if (bastion_auth_admin_or_problem(cx, &claims)) /* AUTH1: before the body */
        return;
    bastion_field_value slug_v;
    if (bastion_param_or_problem(cx, &slug_rule, &slug_v))
        return;
    bastion_str slug = slug_v.str;
    bastion_str if_match = bastion_header_get(cx, "if-match");
    bastion_str if_none = bastion_header_get(cx, "if-none-match");
    if (!if_match.ptr && !if_none.ptr) {
        bastion_problem(cx, BASTION_E_PRECONDITION_REQUIRED,
                        "Send If-Match with the page's ETag, or If-None-Match: * to create it.");
        return;
    }
    if (if_match.ptr && if_none.ptr) {
        bastion_problem(cx, BASTION_E_BAD_REQUEST, "Send If-Match or If-None-Match, not both.");
        return;
    }
    bool create = if_none.ptr != NULL, any = false;
    char versions[IF_MATCH_MAX * 18 + 3];
    if (create) {
        if (!bastion_str_eq(bastion_trim_ows(if_none), BASTION_LIT("*"))) {
            bastion_problem(cx, BASTION_E_BAD_REQUEST,
                            "If-None-Match on this route accepts only *.");
            return;
        }
    } else if (!parse_if_match(if_match, &any, versions, sizeof versions)) {
        bastion_problem(cx, BASTION_E_BAD_REQUEST, "If-Match is not a list of entity-tags.");
        return;
    }
    bastion_field_value in[BASTION_COUNTOF(page_fields)];
    if (bastion_parse_json_or_problem(cx, page_fields, BASTION_COUNTOF(page_fields), in))
        return;
    bastion_str title = in[F_TITLE].str, body = in[F_BODY].str;

    bastion_sql_value params[] = {
        BASTION_SQL_STR(slug),
        BASTION_SQL_STR(title),
        BASTION_SQL_STR(body),
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
        BASTION_SQL_STR(claims.sub),
        any || create ? BASTION_SQL_NULLV : BASTION_SQL_STR(bastion_cstr(versions)),
    };
    /* One statement each; the WHERE / ON CONFLICT is the precondition. */
    bastion_sql_stmt stmt = BASTION_SQL_CHANGE_ONE(
        create ? "INSERT INTO pages (slug, title, body, version, updated_at, updated_by) "
                 "VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (slug) DO NOTHING "
                 "RETURNING version"
               : "UPDATE pages SET title = $2, body = $3, version = version + 1, "
                 "updated_at = $4, updated_by = $5 WHERE slug = $1 AND "
                 "(CAST($6 AS TEXT) IS NULL OR $6 LIKE ('%,' || version || ',%')) "
                 "RETURNING version",
        params);
    /* RFC 9110 §13.1.1 / §13.1.2: a lost guard is a false condition, whether
     * the page changed, vanished, or (create) already exists. */
    bastion_rows rows;
    if (bastion_sql_change_or_problem(cx, DB, &stmt, &rows, BASTION_E_PRECONDITION_FAILED,
                                      create ? "A page with this slug already exists."
                                             : "The page has changed since this ETag was issued.",
                                      create ? "page insert" : "page update"))
        return;
    bastion_row row = bastion_row_at(&rows, 0); /* RETURNING version */
    int64_t version = bastion_row_int(&row, 0);
    if (bastion_row_or_problem(cx, &row, create ? "page insert" : "page update"))
        return;
    respond_page(cx, create ? 201 : 200, slug, title, body, version);
    if (create) {
        char *loc = bastion_alloc(sizeof "/api/pages/" + slug.len);
        memcpy(loc, "/api/pages/", sizeof "/api/pages/" - 1);
        memcpy(loc + sizeof "/api/pages/" - 1, slug.ptr, slug.len);
        bastion_set_header(cx, BASTION_LIT("location"),
                           (bastion_str){loc, sizeof "/api/pages/" - 1 + slug.len});
    }
}

static const bastion_route routes[] = {
    {"GET", "/api/pages/{slug}", get_page},
    {"PUT", "/api/admin/pages/{slug}", put_page},
};
BASTION_ROUTES(routes);
