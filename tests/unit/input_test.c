/*
 * Unit tests for shared/src/input.c: the request's front door (VAL1, VAL3):
 * bastion_parse_json_or_problem (415; 400 for anything RFC 8259 or RFC 3629
 * refuses, depth 32; 422 with every failed rule in errors[]; a \u0000 blamed
 * on its member), bastion_query_or_problem and bastion_param_or_problem (a
 * decoded NUL is refused before any rule sees a C string); and the event
 * door for provider payloads (HOOK4: open rules, 400).
 */
#include "../../shared/src/input.c"

#include "unit.h"

static const bastion_field FIELDS[] = {
    {.name = "name", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 10},
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED},
    {.name = "slug", .type = BASTION_FIELD_SLUG, .min = 1, .max = 20},
    {.name = "score", .type = BASTION_FIELD_INTEGER, .max = 100},
    {.name = "subscribe", .type = BASTION_FIELD_BOOL},
};
enum { F_NAME, F_EMAIL, F_SLUG, F_SCORE, F_SUBSCRIBE, N_FIELDS };

/* --- bastion_parse_json_or_problem --- */

static bastion_header parse_headers[1];

/* Runs the front door with `content_type` (NULL: no header) and `body`. */
static bastion_rc parse(bastion_ctx *cx, const char *content_type, const char *body, size_t len,
                        const bastion_field *fields, size_t n, bastion_field_value *out)
{
    unit_ctx(cx);
    if (content_type) {
        parse_headers[0] =
            (bastion_header){BASTION_LIT("content-type"), bastion_cstr(content_type)};
        cx->headers = parse_headers;
        cx->n_headers = 1;
    }
    cx->body = (bastion_str){body, len};
    return bastion_parse_json_or_problem(cx, fields, n, out);
}

static bastion_rc parse_s(bastion_ctx *cx, const char *content_type, const char *body,
                          bastion_field_value *out)
{
    return parse(cx, content_type, body, strlen(body), FIELDS, N_FIELDS, out);
}

static const char *GOOD = "{\"name\":\"Ann\",\"email\":\"ann@example.com\"}";

/*
 * VAL3: U+0000 is a control character like any other. JSON can carry it as
 * "\u0000", and cJSON's C strings would silently end the value there (found
 * by this test: "ab\u0000cd" once came through as "ab"). The front door
 * now refuses any body holding it, before a field value exists.
 */
static void test_VAL3_nul_character_rejected(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    static const char *const bodies[] = {
        "{\"name\":\"ab\\u0000cd\",\"email\":\"ann@example.com\"}",
        "{\"name\":\"Ann\",\"email\":\"a@example.com\\u0000<script>\"}",
    };
    for (size_t i = 0; i < 2; i++) {
        if (parse_s(&cx, "application/json", bodies[i], out) != BASTION_E_UNPROCESSABLE)
            unit_fail("a body with \\u0000 was accepted: %s", bodies[i]);
        cJSON_Delete(unit_assert_problem(&cx, 422, "validation-failed"));
    }
}

/*
 * VAL3 + ERR1: the 422 for a \u0000 names the field that holds it, as every
 * other field error does ("/email", not the document ""), and nothing else.
 */
static void test_VAL3_nul_character_pointer_names_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *pointer, *detail;
    } cases[] = {
        {"{\"name\":\"Ann\",\"email\":\"a\\u0000b@x.io\"}", "/email",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"ab\\u0000cd\",\"email\":\"ann@example.com\"}", "/name",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"Ann\",\"email\":\"a@x.io\",\"slug\":[\"\\u0000\"]}", "/slug/0",
         "must not contain the NUL character (\\u0000)"},
        {"{\"name\":\"Ann\",\"na\\u0000me\":\"Bob\"}", "",
         "must not have a member name with the NUL character (\\u0000)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        assert_int_equal(parse_s(&cx, "application/json", cases[i].body, out),
                         BASTION_E_UNPROCESSABLE);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        const char *d = unit_error_for(errors, cases[i].pointer);
        if (!d || strcmp(d, cases[i].detail) != 0)
            unit_fail("%s: errors %s, want \"%s\" at \"%s\"", cases[i].body,
                      cJSON_PrintUnformatted(errors), cases[i].detail, cases[i].pointer);
        for (int k = 0; k < N_FIELDS; k++)
            assert_false(out[k].present);
        cJSON_Delete(j);
    }
}

/*
 * VAL3 on the query: "%00" decodes to a NUL that would end the C string the
 * rules see, so "standard%00zz" once passed as "standard" (found over HTTP on
 * /api/availability). It is refused, naming the parameter.
 */
static void test_VAL3_query_nul_refused_naming_the_parameter(void **state)
{
    (void)state;
    static const bastion_field q[] = {
        {.name = "tier",
         .type = BASTION_FIELD_SLUG,
         .flags = BASTION_REQUIRED,
         .min = 1,
         .max = 20},
        {.name = "n", .type = BASTION_FIELD_STRING, .min = 1, .max = 20},
    };
    static const struct {
        const char *query, *pointer;
    } cases[] = {
        {"tier=standard%00zz", "/tier"},
        {"tier=standard&n=a%00", "/n"},
        {"tier=%00", "/tier"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[2];
        unit_ctx(&cx);
        cx.query = bastion_cstr(cases[i].query);
        if (bastion_query_or_problem(&cx, q, 2, out) != BASTION_E_UNPROCESSABLE)
            unit_fail("?%s was accepted", cases[i].query);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        const char *d = unit_error_for(errors, cases[i].pointer);
        if (!d || strcmp(d, "must not contain the NUL character") != 0)
            unit_fail("?%s: errors %s", cases[i].query, cJSON_PrintUnformatted(errors));
        assert_false(out[0].present || out[1].present);
        cJSON_Delete(j);
    }
    /* and without one the same rules pass */
    bastion_ctx cx;
    bastion_field_value out[2];
    unit_ctx(&cx);
    cx.query = BASTION_LIT("tier=standard&n=a%20b");
    assert_int_equal(bastion_query_or_problem(&cx, q, 2, out), BASTION_OK);
    assert_true(unit_str_is(out[0].str, "standard") && unit_str_is(out[1].str, "a b"));
}

static void test_VAL1_parse_valid_body(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    assert_int_equal(parse_s(&cx, "application/json", GOOD, out), BASTION_OK);
    assert_false(cx.responded);
    assert_true(unit_str_is(out[F_EMAIL].str, "ann@example.com"));
    /* whitespace around the value is JSON (RFC 8259 §2) */
    assert_int_equal(parse_s(&cx, "application/json",
                             " \r\n\t{\"name\":\"Ann\",\"email\":"
                             "\"ann@example.com\"} \n",
                             out),
                     BASTION_OK);
}

static void test_VAL1_415_content_type(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "application/json-seq",
        "multipart/form-data; boundary=x",
        "json",
        "application/",
        "text/json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        if (parse_s(&cx, bad[i], GOOD, out) != BASTION_E_UNSUPPORTED_MEDIA)
            unit_fail("content-type %s was not refused", bad[i] ? bad[i] : "(none)");
        cJSON_Delete(unit_assert_problem(&cx, 415, "unsupported-media-type"));
    }
}

static void test_VAL1_content_type_parameters_accepted(void **state)
{
    (void)state;
    static const char *const good[] = {
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "APPLICATION/JSON;charset=UTF-8",
        " application/json ; charset=utf-8",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bastion_ctx cx;
        bastion_field_value out[N_FIELDS];
        if (parse_s(&cx, good[i], GOOD, out) != BASTION_OK)
            unit_fail("content-type \"%s\" was refused", good[i]);
    }
}

static void assert_400(const char *body, size_t len)
{
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    bastion_rc rc = parse(&cx, "application/json", body, len, FIELDS, N_FIELDS, out);
    if (rc != BASTION_E_MALFORMED_JSON)
        unit_fail("body \"%.*s\" gave rc %d, want 400", (int)(len > 60 ? 60 : len), body, rc);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
}
#define ASSERT_400(lit) assert_400(lit, sizeof(lit) - 1)

static void test_VAL1_malformed_json_400(void **state)
{
    (void)state;
    ASSERT_400("");
    ASSERT_400(" ");
    ASSERT_400("{");
    ASSERT_400("{\"name\":}");
    ASSERT_400("{\"name\":\"Ann\",}");
    ASSERT_400("{name:\"Ann\"}");
    ASSERT_400("{'name':'Ann'}");
    ASSERT_400("{\"name\":\"Ann\"");
    ASSERT_400("{\"name\":\"unterminated}");
    ASSERT_400("{\"a\":\"\\ud800\"}"); /* lone surrogate escape */
    ASSERT_400("{\"a\":\"\\x41\"}");
    /* a NULL body (the host sent none) */
    assert_400(NULL, 0);
}

static void test_VAL1_trailing_garbage_400(void **state)
{
    (void)state;
    ASSERT_400("{\"name\":\"Ann\",\"email\":\"ann@example.com\"} x");
    ASSERT_400("{}{}");
    ASSERT_400("{} []");
    ASSERT_400("{}\0");
    ASSERT_400("{}\0{\"admin\":true}");
}

static void test_VAL1_non_object_400(void **state)
{
    (void)state;
    ASSERT_400("[]");
    ASSERT_400("[{\"name\":\"Ann\",\"email\":\"ann@example.com\"}]");
    ASSERT_400("\"name\"");
    ASSERT_400("42");
    ASSERT_400("true");
    ASSERT_400("null");
}

static const bastion_field ANY[] = {
    {.name = "x", .type = BASTION_FIELD_STRING, .max = 1000},
};

static bastion_rc parse_any(bastion_ctx *cx, const char *body, size_t len)
{
    bastion_field_value out[1];
    return parse(cx, "application/json", body, len, ANY, 1, out);
}

/* nested(d) builds {"y": [[…]]} with d levels in all (the object counts). */
static char *nested(int depth, size_t *len)
{
    char *s = bastion_alloc((size_t)depth * 2 + 16);
    size_t o = 0;
    o += (size_t)sprintf(s, "{\"y\":");
    for (int i = 1; i < depth; i++)
        s[o++] = '[';
    for (int i = 1; i < depth; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = 0;
    *len = o;
    return s;
}

static void test_VAL1_nesting_limit_32(void **state)
{
    (void)state;
    bastion_ctx cx;
    size_t len;
    char *ok = nested(32, &len);
    /* 32 levels parse; "y" is then an unknown field, so 422, not 400 */
    assert_int_equal(parse_any(&cx, ok, len), BASTION_E_UNPROCESSABLE);
    char *deep = nested(33, &len);
    assert_int_equal(parse_any(&cx, deep, len), BASTION_E_MALFORMED_JSON);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
    /* far deeper than cJSON's own limit: refused before it recurses */
    char *abyss = nested(200000, &len);
    assert_int_equal(parse_any(&cx, abyss, len), BASTION_E_MALFORMED_JSON);
    /* brackets inside strings are text, including after an escaped quote */
    const char *in_string = "{\"x\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    assert_int_equal(parse_any(&cx, in_string, strlen(in_string)), BASTION_OK);
    /* "\\" is one escaped backslash: the quote after it closes the string,
     * so the 34 brackets that follow are structure (35 levels with the object) */
    char backslash[128];
    size_t o = (size_t)sprintf(backslash, "{\"x\":\"\\\\\",\"y\":");
    for (int i = 0; i < 34; i++)
        backslash[o++] = '[';
    for (int i = 0; i < 34; i++)
        backslash[o++] = ']';
    backslash[o++] = '}';
    backslash[o] = 0;
    assert_int_equal(parse_any(&cx, backslash, strlen(backslash)), BASTION_E_MALFORMED_JSON);
    /* the same shape 4 levels shallower parses, so the 400 above is the depth */
    o = (size_t)sprintf(backslash, "{\"x\":\"\\\\\",\"y\":");
    for (int i = 0; i < 30; i++)
        backslash[o++] = '[';
    for (int i = 0; i < 30; i++)
        backslash[o++] = ']';
    backslash[o++] = '}';
    backslash[o] = 0;
    assert_int_equal(parse_any(&cx, backslash, strlen(backslash)), BASTION_E_UNPROCESSABLE);
}

static void test_VAL3_invalid_utf8_body_400(void **state)
{
    (void)state;
    ASSERT_400("{\"name\":\"\xC0\xAF\",\"email\":\"ann@example.com\"}");     /* overlong */
    ASSERT_400("{\"name\":\"\xED\xA0\x80\",\"email\":\"ann@example.com\"}"); /* surrogate */
    ASSERT_400("{\"name\":\"Ann\",\"email\":\"ann@example.com\"}\xE2\x82");  /* truncated */
    ASSERT_400("{\"n\xFFme\":\"Ann\"}");                                     /* in a name */
}

/*
 * VAL3 at the front door: a raw (unescaped) NUL inside a JSON string is not
 * JSON (RFC 8259 §7: U+0000..U+001F must be escaped) and is a control
 * character. cJSON would copy it into valuestring, where every strlen would
 * cut the value short and the request would pass (found by this test, the
 * root cause of test_VAL3_nul_character_rejected); json.h's check refuses it
 * before cJSON sees the body.
 */
static void test_VAL3_raw_nul_in_body_rejected(void **state)
{
    (void)state;
    static const char body[] = "{\"name\":\"Ann\0DROP\",\"email\":\"ann@example.com\"}";
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    bastion_rc rc = parse(&cx, "application/json", body, sizeof body - 1, FIELDS, N_FIELDS, out);
    if (rc == BASTION_OK)
        unit_fail("a raw NUL in \"name\" was accepted as \"%s\"", out[F_NAME].str.ptr);
    assert_true(rc == BASTION_E_MALFORMED_JSON || rc == BASTION_E_UNPROCESSABLE);
}

/* The bodies of `cases` that the front door did not refuse with 400, listed
 * in `out` ("" when all were refused). */
static void not_400(const char *const *cases, size_t n, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        bastion_ctx cx;
        bastion_field_value v[1];
        if (parse(&cx, "application/json", cases[i], strlen(cases[i]), ANY, 1, v) !=
            BASTION_E_MALFORMED_JSON) {
            size_t o = strlen(out);
            if (o && o + 3 < cap)
                o += (size_t)snprintf(out + o, cap - o, " | ");
            for (const char *c = cases[i]; *c && o + 5 < cap; c++) /* one line: escape controls */
                o += (size_t)((unsigned char)*c < 0x20 ? snprintf(out + o, cap - o, "\\x%02x", *c)
                                                       : snprintf(out + o, cap - o, "%c", *c));
        }
    }
}

/*
 * RFC 8259 §7: U+0000..U+001F must be escaped inside strings, so a raw
 * control byte is malformed JSON (400). cJSON accepts it, and the field
 * rules would then trim a raw CR/LF/TAB at either end of the value silently
 * (so "{\"x\":\"Ann<LF>\"}" passed as "Ann") and refuse one in the middle with
 * 422 (found by this test; VAL1 "malformed JSON gets 400").
 */
static void test_VAL1_raw_control_in_string_400(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"x\":\"Ann\n\"}",
        "{\"x\":\"\tAnn\"}",
        "{\"x\":\"A\x01nn\"}",
        "{\"x\n\":\"Ann\"}",
    };
    char got[256];
    not_400(cases, sizeof cases / sizeof cases[0], got, sizeof got);
    if (got[0])
        unit_fail("raw control characters in strings were not refused with 400: %s", got);
}

/*
 * RFC 8259 §6: number = [ "-" ] int [ frac ] [ exp ], int has no leading
 * zero and frac needs a digit. cJSON hands anything made of [0-9+-.eE] to
 * strtod, so "01", "1." and "-01" would parse (found by this test; VAL1
 * "malformed JSON gets 400"); json.h's check refuses them first.
 */
static void test_VAL1_non_rfc8259_numbers_400(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"x\":01}",   "{\"x\":-01}",  "{\"x\":1.}",   "{\"x\":1.e5}",
        "{\"x\":[.5]}", "{\"x\":[1e]}", "{\"x\":[+1]}",
    };
    char got[256];
    not_400(cases, sizeof cases / sizeof cases[0], got, sizeof got);
    if (got[0])
        unit_fail("non-RFC 8259 numbers were not refused with 400: %s", got);
}

static void test_VAL1_422_collects_all_errors(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    const char *body = "{\"name\":\"\",\"email\":\"not-an-email\",\"score\":101,"
                       "\"subscribe\":\"yes\",\"slug\":\"a b\",\"role\":\"admin\"}";
    assert_int_equal(parse_s(&cx, "application/json", body, out), BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "class")->valuestring, "validation");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_true(cJSON_IsArray(errors));
    assert_int_equal(cJSON_GetArraySize(errors), 6);
    assert_string_equal(unit_error_for(errors, "/name"), "must not be empty");
    assert_string_equal(unit_error_for(errors, "/email"), "must be an email address");
    assert_string_equal(unit_error_for(errors, "/score"), "is out of range");
    assert_string_equal(unit_error_for(errors, "/subscribe"), "must be true or false");
    assert_non_null(unit_error_for(errors, "/slug"));
    assert_string_equal(unit_error_for(errors, "/role"), "is not a known field");
    /* each entry is exactly {pointer, detail} */
    const cJSON *e;
    cJSON_ArrayForEach(e, errors) assert_int_equal(cJSON_GetArraySize(e), 2);
    cJSON_Delete(j);
}

static void test_VAL1_422_missing_required_and_unknown(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    assert_int_equal(parse_s(&cx, "application/json; charset=utf-8",
                             "{\"email\":\"ann@example.com\",\"nmae\":\"Ann\"}", out),
                     BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_int_equal(cJSON_GetArraySize(errors), 2);
    assert_string_equal(unit_error_for(errors, "/name"), "is required");
    assert_string_equal(unit_error_for(errors, "/nmae"), "is not a known field");
    cJSON_Delete(j);
}

/* --- the typed fields, through the front door --- */

static const char *const STATUSES[] = {"pending", "confirmed", "cancelled", NULL};

static const bastion_field TYPED[] = {
    {.name = "phone", .type = BASTION_FIELD_PHONE},
    {.name = "id", .type = BASTION_FIELD_UUID},
    {.name = "at", .type = BASTION_FIELD_TIMESTAMP},
    {.name = "day", .type = BASTION_FIELD_DATE},
    {.name = "status", .type = BASTION_FIELD_ENUM, .choices = STATUSES},
    {.name = "amount", .type = BASTION_FIELD_CENTS, .max = 1000000},
    {.name = "tag", .type = BASTION_FIELD_STRING, .flags = BASTION_LOWERCASE, .min = 1, .max = 20},
    {.name = "raw", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM, .min = 1, .max = 20},
};
enum { F_PHONE, F_ID, F_AT, F_DAY, F_STATUS, F_AMOUNT, F_TAG, F_RAW, N_TYPED };

/* Each failing format field adds exactly one {pointer, detail}. */
static void test_VAL1_format_errors_collected_in_one_422(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    cx.headers = ct;
    cx.n_headers = 1;
    cx.body = BASTION_LIT("{\"phone\":\"555-1234\",\"id\":\"nope\",\"at\":\"2024-05-01T09:30:00\","
                          "\"day\":\"2024-02-30\",\"status\":\"shipped\",\"amount\":0,"
                          "\"tag\":\"\",\"raw\":5,\"extra\":1}");
    bastion_field_value out[N_TYPED];
    assert_int_equal(bastion_parse_json_or_problem(&cx, TYPED, N_TYPED, out),
                     BASTION_E_UNPROCESSABLE);
    cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    assert_int_equal(cJSON_GetArraySize(errors), 9);
    static const char *const ptrs[] = {"/phone",  "/id",  "/at",  "/day",  "/status",
                                       "/amount", "/tag", "/raw", "/extra"};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (!unit_error_for(errors, ptrs[i]))
            unit_fail("no error for %s", ptrs[i]);
    cJSON_Delete(j);
    for (size_t i = 0; i < N_TYPED; i++)
        assert_false(out[i].present);
}

/* --- RFC 8259 at the front door --- */

static bastion_rc front_door(bastion_ctx *cx, const char *body, size_t len)
{
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    static const bastion_field any[] = {{.name = "x", .type = BASTION_FIELD_STRING, .max = 1000}};
    bastion_field_value out[1];
    unit_ctx(cx);
    cx->headers = ct;
    cx->n_headers = 1;
    cx->body = (bastion_str){body, len};
    return bastion_parse_json_or_problem(cx, any, 1, out);
}

/* VAL3: "\u0000" is valid JSON but would cut cJSON's C string short (the
 * rest of the value, or of a member name, would never be checked). */
static void test_VAL3_nul_escape_rejected_at_front_door(void **state)
{
    (void)state;
    static const struct {
        const char *body, *pointer; /* the member holding it; a name: its object */
    } bodies[] = {
        {"{\"x\":\"ab\\u0000cd\"}", "/x"},
        {"{\"x\\u0000y\":\"ab\"}", ""},
        {"{\"x\":\"a\",\"y\":[\"\\u0000\"]}", "/y/0"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        bastion_ctx cx;
        if (front_door(&cx, bodies[i].body, strlen(bodies[i].body)) != BASTION_E_UNPROCESSABLE)
            unit_fail("%s was not refused with 422", bodies[i].body);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        if (!unit_error_for(errors, bodies[i].pointer))
            unit_fail("%s: no error at \"%s\"", bodies[i].body, bodies[i].pointer);
        cJSON_Delete(j);
    }
    /* an escaped backslash followed by "u0000" is text, not a NUL */
    bastion_ctx cx;
    const char *text = "{\"x\":\"a\\\\u0000\"}";
    assert_int_equal(front_door(&cx, text, strlen(text)), BASTION_OK);
    /* other \u escapes are untouched */
    text = "{\"x\":\"\\u0041\\u00e9\\u0100\"}";
    assert_int_equal(front_door(&cx, text, strlen(text)), BASTION_OK);
}

/* The RFC 8259 §6 number check must not refuse valid numbers. */
static void test_VAL1_rfc8259_numbers_accepted(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{\"y\":0}",
        "{\"y\":-0}",
        "{\"y\":10}",
        "{\"y\":-10}",
        "{\"y\":1.5}",
        "{\"y\":0.5}",
        "{\"y\":1e5}",
        "{\"y\":1E+5}",
        "{\"y\":1e-5}",
        "{\"y\":-0.0e0}",
        "{\"y\":[1,2,-3]}",
        "{\"y\":{\"a\":1}}",
        "{ \"y\" : 1 }",
        "{\"y\":[true,false,null,1]}",
        "{\"y\":\"01 +1 .5\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bastion_ctx cx;
        /* "y" is not a known field: 422 proves the body parsed */
        if (front_door(&cx, good[i], strlen(good[i])) != BASTION_E_UNPROCESSABLE)
            unit_fail("%s was not parsed", good[i]);
    }
    static const char *const bad[] = {
        "{\"y\":01}",  "{\"y\":-}",     "{\"y\":1.}",  "{\"y\":.5}",   "{\"y\":+1}",  "{\"y\":1e}",
        "{\"y\":1e+}", "{\"y\":1.5.5}", "{\"y\":--1}", "{\"y\":0x10}", "{\"y\":1-2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        if (front_door(&cx, bad[i], strlen(bad[i])) != BASTION_E_MALFORMED_JSON)
            unit_fail("%s was not refused with 400", bad[i]);
    }
}

/* --- bastion_param_or_problem --- */

/* A request whose route parameter `id` is (value, len); value NULL: none. */
static void with_param(bastion_ctx *cx, const char *value, size_t len)
{
    static bastion_header p[1];
    unit_ctx(cx);
    if (value) {
        p[0] = (bastion_header){BASTION_LIT("id"), {value, len}};
        cx->params = p;
        cx->n_params = 1;
    }
}

/* VAL1 on the path: a route parameter gets the same rule a body field would,
 * and a 422 naming it; VAL3: a decoded NUL is refused before the rule runs. */
static void test_VAL1_param_rule_applied(void **state)
{
    (void)state;
    static const bastion_field id = {
        .name = "id", .type = BASTION_FIELD_UUID, .flags = BASTION_REQUIRED};
    bastion_ctx cx;
    bastion_field_value v;
    with_param(&cx, "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6", 36);
    assert_int_equal(bastion_param_or_problem(&cx, &id, &v), BASTION_OK);
    assert_false(cx.responded);
    assert_true(v.present && unit_str_is(v.str, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
    static const struct {
        const char *value;
        size_t len;
        const char *detail;
    } bad[] = {
        {"not-a-uuid", 10, "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000"},
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\0x", 38, "must not contain the NUL character"},
        {NULL, 0, "is required"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        with_param(&cx, bad[i].value, bad[i].len);
        assert_int_equal(bastion_param_or_problem(&cx, &id, &v), BASTION_E_UNPROCESSABLE);
        assert_false(v.present);
        cJSON *j = unit_assert_problem(&cx, 422, "validation-failed");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
        assert_int_equal(cJSON_GetArraySize(errors), 1);
        const char *d = unit_error_for(errors, "/id");
        if (!d || strcmp(d, bad[i].detail) != 0)
            unit_fail("case %zu: detail %s, want %s", i, d ? d : "(none)", bad[i].detail);
        cJSON_Delete(j);
    }
}

/* Cross-field rules: the field errors are collected, not answered, so the
 * handler's own join them in one 422; only the body's 415/400 are written. */
static void test_VAL1_collect_then_one_422(void **state)
{
    (void)state;
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
    };
    bastion_ctx cx;
    bastion_field_value out[N_FIELDS];
    unit_ctx(&cx);
    cx.headers = ct;
    cx.n_headers = BASTION_COUNTOF(ct);
    cx.body = BASTION_LIT("{\"name\":\"Ann\",\"email\":\"nope\",\"score\":7}");
    cJSON *errors = cJSON_CreateArray();
    assert_int_equal(bastion_parse_json_collect_or_problem(&cx, FIELDS, N_FIELDS, out, errors),
                     BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_true(out[F_NAME].present && !out[F_EMAIL].present && out[F_SCORE].integer == 7);
    bastion_error_add(errors, "/score", "must be even");
    assert_int_equal(bastion_errors_or_problem(&cx, errors), BASTION_E_UNPROCESSABLE);
    cJSON *p = unit_assert_problem(&cx, 422, "validation-failed");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "errors");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_non_null(unit_error_for(list, "/email"));
    assert_string_equal(unit_error_for(list, "/score"), "must be even");
    cJSON_Delete(p);

    /* nothing to say: no answer */
    unit_ctx(&cx);
    assert_int_equal(bastion_errors_or_problem(&cx, cJSON_CreateArray()), BASTION_OK);
    assert_false(cx.responded);

    /* the body's own failures are answered at once, errors untouched */
    unit_ctx(&cx);
    cx.headers = ct;
    cx.n_headers = BASTION_COUNTOF(ct);
    cx.body = BASTION_LIT("{\"name\":");
    errors = cJSON_CreateArray();
    assert_int_equal(bastion_parse_json_collect_or_problem(&cx, FIELDS, N_FIELDS, out, errors),
                     BASTION_E_MALFORMED_JSON);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
    assert_int_equal(cJSON_GetArraySize(errors), 0);
}

/* --- provider events (HOOK4) --- */

static const bastion_field EV_META[] = {
    {.name = "order_id",
     .type = BASTION_FIELD_SLUG,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = 64},
};
static const bastion_field EV_OBJECT[] = {
    {.name = "metadata",
     .type = BASTION_FIELD_OBJECT,
     .flags = BASTION_REQUIRED,
     .fields = EV_META,
     .n_fields = BASTION_COUNTOF(EV_META)},
};
static const bastion_field EV_DATA[] = {
    {.name = "object",
     .type = BASTION_FIELD_OBJECT,
     .flags = BASTION_REQUIRED,
     .fields = EV_OBJECT,
     .n_fields = BASTION_COUNTOF(EV_OBJECT)},
};
static const bastion_field EVENT[] = {
    {.name = "id", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 255},
    {.name = "created", .type = BASTION_FIELD_INTEGER, .flags = BASTION_REQUIRED, .max = 1 << 30},
    {.name = "data",
     .type = BASTION_FIELD_OBJECT,
     .flags = BASTION_REQUIRED,
     .fields = EV_DATA,
     .n_fields = BASTION_COUNTOF(EV_DATA)},
};

static cJSON *tree(const char *json)
{
    cJSON *t = cJSON_Parse(json);
    assert_non_null(t);
    return t;
}

/* Provider payloads are open: members no rule names are ignored at every
 * level, where a form's rules refuse them (VAL1). */
static void test_HOOK4_event_rules_ignore_unnamed_members_at_every_level(void **state)
{
    (void)state;
    cJSON *ev = tree("{\"id\":\"evt_1\",\"created\":5,\"livemode\":false,\"data\":{\"object\":"
                     "{\"x\":1,\"metadata\":{\"order_id\":\"ord_1\",\"kind\":\"order\"}},"
                     "\"previous_attributes\":{}}}");
    bastion_field_value in[BASTION_COUNTOF(EVENT)];
    cJSON *errors = cJSON_CreateArray();
    assert_int_equal(bastion_event_fields(ev, "", EVENT, BASTION_COUNTOF(EVENT), in, errors), 0);
    assert_true(in[0].present && unit_str_is(in[0].str, "evt_1"));
    assert_int_equal(in[1].integer, 5);
    const bastion_field_value *meta = &in[2].object[0].object[0];
    assert_true(unit_str_is(meta->object[0].str, "ord_1"));
    /* the same tree as a form: every unnamed member is an error */
    assert_true(bastion_validate(ev, EVENT, BASTION_COUNTOF(EVENT), in, errors) >= 4);
}

/* HOOK4: the errors point into the event and answer 400, never 422. */
static void test_HOOK4_event_errors_point_into_the_event_and_are_400(void **state)
{
    (void)state;
    cJSON *ev = tree("{\"id\":7,\"created\":5,\"created\":6,\"data\":{\"object\":"
                     "{\"metadata\":{\"kind\":\"order\"}}}}");
    bastion_field_value in[BASTION_COUNTOF(EVENT)];
    cJSON *errors = cJSON_CreateArray();
    assert_int_equal(bastion_event_fields(ev, "", EVENT, BASTION_COUNTOF(EVENT), in, errors), 3);
    assert_string_equal(unit_error_for(errors, "/id"), "must be a string");
    assert_string_equal(unit_error_for(errors, "/created"), "appears more than once");
    assert_string_equal(unit_error_for(errors, "/data/object/metadata/order_id"), "is required");
    /* a part of the event checked on its own: its pointer prefixes the errors */
    const cJSON *object = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "object");
    bastion_field_value obj[BASTION_COUNTOF(EV_OBJECT)];
    assert_int_equal(bastion_event_fields(object, "/data/object", EV_OBJECT,
                                          BASTION_COUNTOF(EV_OBJECT), obj, errors),
                     1);
    assert_int_equal(bastion_event_fields(NULL, "/data/object/items", EV_OBJECT,
                                          BASTION_COUNTOF(EV_OBJECT), obj, errors),
                     1);
    assert_string_equal(unit_error_for(errors, "/data/object/items"), "must be an object");
    bastion_ctx cx;
    unit_ctx(&cx);
    assert_int_equal(bastion_event_errors_or_problem(&cx, errors), BASTION_E_BAD_REQUEST);
    cJSON *p = unit_assert_problem(&cx, 400, "bad-request");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "errors")), 5);
    unit_ctx(&cx);
    assert_int_equal(bastion_event_errors_or_problem(&cx, cJSON_CreateArray()), BASTION_OK);
    assert_false(cx.responded);
}

/* VAL1 for one item of a batch: the strict rules (an unknown member is an
 * error, unlike an event's), errors under the item's own pointer. */
static void test_VAL1_batch_item_rules_are_strict_under_the_items_pointer(void **state)
{
    (void)state;
    static const bastion_field ITEM[] = {
        {.name = "phone", .type = BASTION_FIELD_PHONE, .flags = BASTION_REQUIRED},
        {.name = "opted_in", .type = BASTION_FIELD_BOOL, .flags = BASTION_REQUIRED},
    };
    bastion_field_value in[BASTION_COUNTOF(ITEM)];
    cJSON *errors = cJSON_CreateArray();
    cJSON *ok = tree("{\"phone\":\"+14155550100\",\"opted_in\":true}");
    assert_int_equal(bastion_item_fields(ok, "/contacts/0", ITEM, 2, in, errors), 0);
    assert_true(unit_str_is(in[0].str, "+14155550100") && in[1].boolean);
    cJSON *bad = tree("{\"phone\":\"415\",\"extra\":1}");
    assert_int_equal(bastion_item_fields(bad, "/contacts/3", ITEM, 2, in, errors), 3);
    assert_non_null(unit_error_for(errors, "/contacts/3/phone"));
    assert_string_equal(unit_error_for(errors, "/contacts/3/opted_in"), "is required");
    assert_non_null(unit_error_for(errors, "/contacts/3/extra"));
    assert_int_equal(bastion_item_fields(tree("[1]"), "/contacts/4", ITEM, 2, in, errors), 1);
    assert_string_equal(unit_error_for(errors, "/contacts/4"), "must be an object");
    assert_false(in[0].present);
}

/* HOOK4: the event's body door is the form's, but a \u0000 is a 400 too. */
static void test_HOOK4_event_body_failures_are_400(void **state)
{
    (void)state;
    static const bastion_header ct[] = {
        {BASTION_LIT("content-type"), BASTION_LIT("application/json; charset=utf-8")},
    };
    bastion_ctx cx;
    cJSON *root;
    unit_ctx(&cx);
    cx.headers = ct;
    cx.n_headers = BASTION_COUNTOF(ct);
    cx.body = BASTION_LIT("{\"data\":{\"object\":{\"email\":\"a\\u0000b\"}}}");
    assert_int_equal(bastion_event_body_or_problem(&cx, &root), BASTION_E_BAD_REQUEST);
    cJSON *p = unit_assert_problem(&cx, 400, "bad-request");
    assert_non_null(unit_error_for(cJSON_GetObjectItem(p, "errors"), "/data/object/email"));
    assert_null(root);
    unit_ctx(&cx);
    cx.headers = ct;
    cx.n_headers = BASTION_COUNTOF(ct);
    cx.body = BASTION_LIT("[1]");
    assert_int_equal(bastion_event_body_or_problem(&cx, &root), BASTION_E_MALFORMED_JSON);
    cJSON_Delete(unit_assert_problem(&cx, 400, "malformed-json"));
    unit_ctx(&cx);
    cx.headers = ct;
    cx.n_headers = BASTION_COUNTOF(ct);
    cx.body = BASTION_LIT("{\"id\":\"evt_1\"}");
    assert_int_equal(bastion_event_body_or_problem(&cx, &root), BASTION_OK);
    assert_true(cJSON_IsObject(root));
    unit_ctx(&cx);
    cx.body = BASTION_LIT("{}");
    assert_int_equal(bastion_event_body_or_problem(&cx, &root), BASTION_E_UNSUPPORTED_MEDIA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_VAL1_parse_valid_body),
        cmocka_unit_test(test_VAL3_nul_character_rejected),
        cmocka_unit_test(test_VAL3_nul_character_pointer_names_the_field),
        cmocka_unit_test(test_VAL3_query_nul_refused_naming_the_parameter),
        cmocka_unit_test(test_VAL1_415_content_type),
        cmocka_unit_test(test_VAL1_content_type_parameters_accepted),
        cmocka_unit_test(test_VAL1_malformed_json_400),
        cmocka_unit_test(test_VAL1_trailing_garbage_400),
        cmocka_unit_test(test_VAL1_non_object_400),
        cmocka_unit_test(test_VAL1_nesting_limit_32),
        cmocka_unit_test(test_VAL3_invalid_utf8_body_400),
        cmocka_unit_test(test_VAL3_raw_nul_in_body_rejected),
        cmocka_unit_test(test_VAL1_raw_control_in_string_400),
        cmocka_unit_test(test_VAL1_non_rfc8259_numbers_400),
        cmocka_unit_test(test_VAL1_422_collects_all_errors),
        cmocka_unit_test(test_VAL1_422_missing_required_and_unknown),
        cmocka_unit_test(test_VAL1_format_errors_collected_in_one_422),
        cmocka_unit_test(test_VAL3_nul_escape_rejected_at_front_door),
        cmocka_unit_test(test_VAL1_rfc8259_numbers_accepted),
        cmocka_unit_test(test_VAL1_param_rule_applied),
        cmocka_unit_test(test_VAL1_collect_then_one_422),
        cmocka_unit_test(test_HOOK4_event_rules_ignore_unnamed_members_at_every_level),
        cmocka_unit_test(test_HOOK4_event_errors_point_into_the_event_and_are_400),
        cmocka_unit_test(test_VAL1_batch_item_rules_are_strict_under_the_items_pointer),
        cmocka_unit_test(test_HOOK4_event_body_failures_are_400),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
