/*
 * POST /api/admin/products/{id}/image {"image_url"} (AUTH1, VAL1): sets the
 * image of an existing product → {"id","image_url"}.
 *
 * Products are created elsewhere (the catalogue); an unknown id is 404
 * rather than an upsert, so this route can never create a product that has
 * nothing but a picture.
 *
 * The URL must be https on a host listed in the variable image_hosts (a
 * comma list, compared exactly and ignoring ASCII case), with no userinfo and
 * no port but 443. Anything else is 422 with the pointer "/image_url".
 */
#include <string.h>

#include <bastion/bastion.h>

#define DB      "products"
#define URL_MAX 2048

/* NO_TRIM: "%20abc" is not "abc" */
static const bastion_field id_rule = {.name = "id",
                                      .type = BASTION_FIELD_SLUG,
                                      .flags = BASTION_REQUIRED | BASTION_NO_TRIM,
                                      .min = 1,
                                      .max = 64};
static const bastion_field image_fields[] = {
    {.name = "image_url",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = URL_MAX},
};

/* A DNS name as RFC 1123 §2.1 writes it: labels of letters, digits and
 * '-', not starting or ending with '-', at most 63 octets, 253 in all. */
static bool hostname_ok(bastion_str h)
{
    if (h.len == 0 || h.len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < h.len; i++) {
        char c = h.ptr[i];
        if (c == '.') {
            if (label == 0 || h.ptr[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && h.ptr[h.len - 1] != '-';
}

/* REL8: every member of the image_hosts list is a host name. */
static bool hosts_ok(bastion_str list)
{
    bastion_str m;
    bool any = false;
    while (bastion_list_next(&list, &m)) {
        if (!hostname_ok(m))
            return false;
        any = true;
    }
    return any;
}

/*
 * The allow-list check. Returns NULL when `url` is acceptable, else why not.
 *
 * RFC 3986 §3: scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ],
 * authority = [ userinfo "@" ] host [ ":" port ]. The authority ends at the
 * first '/', '?' or '#'; so "https://evil.com/?images.example.com" has host
 * evil.com, and "https://images.example.com.evil.com" is not the allowed
 * host. '\' is refused outright: browsers read it as '/' (WHATWG URL), so
 * "https://evil.com\@images.example.com" would mean different hosts to this
 * parser and to them. Only printable ASCII is accepted: an IRI would have to
 * be percent-encoded by the client, and a percent-encoded or IP-literal host
 * never equals a listed name.
 */
static const char *check_image_url(bastion_str url, bastion_str allowed)
{
    static const char scheme[] = "https://";
    if (url.len < sizeof scheme - 1 ||
        !bastion_str_eq_ci((bastion_str){url.ptr, sizeof scheme - 1}, BASTION_LIT(scheme)))
        return "must be an https URL";
    for (size_t i = 0; i < url.len; i++)
        if ((unsigned char)url.ptr[i] <= 0x20 || (unsigned char)url.ptr[i] >= 0x7F ||
            url.ptr[i] == '\\')
            return "must be a URL of printable ASCII without spaces or '\\'";
    bastion_str auth = {url.ptr + sizeof scheme - 1, 0};
    for (const char *end = url.ptr + url.len; auth.ptr + auth.len < end; auth.len++) {
        char c = auth.ptr[auth.len];
        if (c == '/' || c == '?' || c == '#')
            break;
    }
    if (memchr(auth.ptr, '@', auth.len))
        return "must not contain user information";
    if (auth.len && auth.ptr[0] == '[')
        return "must be on an allowed image host"; /* an IP literal is never a listed name */
    bastion_str host = auth;
    const char *colon = memchr(auth.ptr, ':', auth.len);
    if (colon) {
        host.len = (size_t)(colon - auth.ptr);
        bastion_str port = {colon + 1, auth.len - host.len - 1};
        if (!bastion_str_eq(port, BASTION_LIT("443")))
            return "must not name a port other than 443";
    }
    if (host.len == 0)
        return "must name a host";
    if (!bastion_list_find_ci(allowed, host, NULL))
        return "must be on an allowed image host";
    return NULL;
}

static void set_image(bastion_ctx *cx)
{
    bastion_jwt_claims claims;
    if (bastion_auth_admin_or_problem(cx, &claims)) /* AUTH1: before the body */
        return;
    /* REL8: an empty or malformed allow-list is a deployment error, not a 422 */
    static const char *const needed[] = {"image_hosts"};
    if (bastion_config_require_or_problem(cx, needed, BASTION_COUNTOF(needed)))
        return;
    bastion_str allowed = bastion_config("image_hosts");
    if (!hosts_ok(allowed)) {
        bastion_log_safe(BASTION_LOG_ERROR, "image_hosts holds a malformed host name", NULL, 0);
        bastion_problem(cx, BASTION_E_MISCONFIGURED,
                        "Variable image_hosts must be a comma list of host names.");
        return;
    }
    bastion_field_value id_v;
    if (bastion_param_or_problem(cx, &id_rule, &id_v))
        return;
    bastion_str id = id_v.str;
    bastion_field_value in[BASTION_COUNTOF(image_fields)];
    if (bastion_parse_json_or_problem(cx, image_fields, BASTION_COUNTOF(image_fields), in))
        return;
    const char *why = check_image_url(in[0].str, allowed);
    if (why) {
        bastion_field_problem(cx, "/image_url", why);
        return;
    }
    bastion_sql_value params[] = {
        BASTION_SQL_STR(id),
        BASTION_SQL_STR(in[0].str),
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    bastion_rows rows;
    if (bastion_sql_query_or_problem(
            cx, DB, "UPDATE products SET image_url = $2, updated_at = $3 WHERE id = $1", params,
            BASTION_COUNTOF(params), &rows, "product image update"))
        return;
    if (rows.changes == 0) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No product has this id.");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", bastion_str_dup(id));
    cJSON_AddStringToObject(out, "image_url", bastion_str_dup(in[0].str));
    bastion_respond_json(cx, 200, out);
    cJSON_Delete(out);
}

static const bastion_route routes[] = {
    {"POST", "/api/admin/products/{id}/image", set_image},
};
BASTION_ROUTES(routes);
