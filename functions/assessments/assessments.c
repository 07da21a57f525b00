/*
 * Assessments: a tenant's multiple-choice tests, invitations that email a
 * candidate a one-time link, and the candidate's side of that link.
 *
 *   POST /api/assessments                  tenant admin: {"title", "questions": [{"id", "text",
 *                                          "choices", "answer"}]} → 201
 *   GET  /api/assessments                  tenant user: ?limit&cursor
 *   POST /api/assessments/invitations      tenant admin: {"assessment_id", "candidate_email",
 *                                          "candidate_name"} → 201, the candidate emailed
 *   GET  /api/assessments/invitations      tenant user: ?status&limit&cursor
 *   GET  /api/assessments/invitations/{id} tenant user: one, its score once submitted
 *   GET  /api/assessments/take?token=…     the candidate's link: the questions without their
 *                                          answers; changes nothing (mail scanners fetch it)
 *   POST /api/assessments/take             {"token", "answers": [{"question_id", "choice"}]}
 *                                          → 200 {"score"}, once
 *
 * AUTH5: the tenant is the verified token's claim and nothing else; every
 * statement names it, so another tenant's row is simply not there (404;
 * an assessment_id of another tenant is as unknown as any other, 422).
 * AUTH6: the link carries a core signed token (purpose "assessment-invite",
 * resource = the invitation id, 7 days) keyed from assessment_token_secret:
 * tampered 401, expired 410, submitted 409. CONC2: every state-changing
 * tenant route counts one write for the tenant (tenant_writes_per_minute);
 * the candidate's submit is bounded by its invitation instead (once).
 * Plans (plans.h): an invitation is one use of the tenant's ASSESSMENTS
 * allowance, counted before the insert and given back when it fails (409
 * "plan limit reached" beyond it). REL4 and CONC5: the invitation and its
 * outbox row commit together, then the email is awaited and reported.
 *
 * The score is the server's, from the answer key stored with the
 * assessment: 100 × correct / questions, rounded half up, 0–100.
 */
#include <bastion/bastion.h>

#define DB         "hiring"
#define KV         "assessments"
#define PURPOSE    "assessment-invite"
#define SECRET_VAR "assessment_token_secret"
#define LINK_TTL_S (7 * 24 * 3600)

#define MAX_QUESTIONS 50
#define MAX_CHOICES   6

static const bastion_email_sender MAIL = {DB, KV};

/* --- field rules --- */

static const bastion_field choice_rule = {
    .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 200};
enum { Q_ID, Q_TEXT, Q_CHOICES, Q_ANSWER, N_Q };
static const bastion_field question_fields[N_Q] = {
    [Q_ID] =
        {.name = "id", .type = BASTION_FIELD_SLUG, .flags = BASTION_REQUIRED, .min = 1, .max = 64},
    [Q_TEXT] = {.name = "text",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED | BASTION_MULTILINE,
                .min = 1,
                .max = 1000},
    [Q_CHOICES] = {.name = "choices",
                   .type = BASTION_FIELD_ARRAY,
                   .flags = BASTION_REQUIRED,
                   .min = 2,
                   .max = MAX_CHOICES,
                   .items = &choice_rule},
    /* its range among the question's own choices is checked after */
    [Q_ANSWER] = {.name = "answer",
                  .type = BASTION_FIELD_INTEGER,
                  .flags = BASTION_REQUIRED,
                  .min = 0,
                  .max = MAX_CHOICES - 1},
};
static const bastion_field question_rule = {
    .type = BASTION_FIELD_OBJECT, .fields = question_fields, .n_fields = N_Q};
enum { A_TITLE, A_QUESTIONS, N_A };
static const bastion_field assessment_fields[N_A] = {
    [A_TITLE] = {.name = "title",
                 .type = BASTION_FIELD_STRING,
                 .flags = BASTION_REQUIRED,
                 .min = 1,
                 .max = 200},
    [A_QUESTIONS] = {.name = "questions",
                     .type = BASTION_FIELD_ARRAY,
                     .flags = BASTION_REQUIRED,
                     .min = 1,
                     .max = MAX_QUESTIONS,
                     .items = &question_rule},
};

enum { I_ASSESSMENT, I_EMAIL, I_NAME, N_I };
static const bastion_field invitation_fields[N_I] = {
    [I_ASSESSMENT] = {.name = "assessment_id",
                      .type = BASTION_FIELD_UUID,
                      .flags = BASTION_REQUIRED},
    [I_EMAIL] = {.name = "candidate_email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
    [I_NAME] = {.name = "candidate_name",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED,
                .min = 1,
                .max = 100},
};

/* An answer's choice beyond MAX_CHOICES - 1 is out of range for every
 * question; within it, for the question's own choices, after. */
enum { R_QUESTION, R_CHOICE, N_R };
static const bastion_field answer_fields[N_R] = {
    [R_QUESTION] = {.name = "question_id",
                    .type = BASTION_FIELD_SLUG,
                    .flags = BASTION_REQUIRED,
                    .min = 1,
                    .max = 64},
    [R_CHOICE] = {.name = "choice",
                  .type = BASTION_FIELD_INTEGER,
                  .flags = BASTION_REQUIRED,
                  .min = 0,
                  .max = MAX_CHOICES - 1},
};
static const bastion_field answer_rule = {
    .type = BASTION_FIELD_OBJECT, .fields = answer_fields, .n_fields = N_R};
enum { T_TOKEN, T_ANSWERS, N_T };
static const bastion_field take_fields[N_T] = {
    [T_TOKEN] = {.name = "token",
                 .type = BASTION_FIELD_STRING,
                 .flags = BASTION_REQUIRED | BASTION_NO_TRIM},
    [T_ANSWERS] = {.name = "answers",
                   .type = BASTION_FIELD_ARRAY,
                   .flags = BASTION_REQUIRED,
                   .min = 1,
                   .max = MAX_QUESTIONS,
                   .items = &answer_rule},
};

static const char *const STATUSES[] = {"sent", "submitted", "expired", NULL};
enum { S_SENT, S_SUBMITTED, S_EXPIRED, S_ALL };

/* --- shared pieces --- */

/* "/<list>/<i>/<member>": the RFC 6901 pointer of a member of an element */
static char *pointer(const char *list, size_t i, const char *member)
{
    return bastion_str_dup(bastion_sprintf("/%s/%zu/%s", list, i, member));
}

/* A list's cursor scope: its name and the caller's tenant (page.h). */
static bastion_str scope(const char *list, bastion_str tenant)
{
    return bastion_sprintf("%s\n" BASTION_STR_FMT, list, BASTION_STR_ARG(tenant));
}

/* One question as stored: the server's answer key is in it. */
typedef struct {
    bastion_str id;
    const cJSON *text, *choices;
    int n_choices, answer;
} stored_question;

/* The questions column back as an array; anything else is the module's own
 * data broken, a 500. */
static bastion_rc stored_questions_or_problem(bastion_ctx *cx, bastion_str json,
                                              stored_question **out, size_t *n)
{
    cJSON *arr = cJSON_Parse(bastion_str_dup(json));
    int len = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || len < 1 || len > MAX_QUESTIONS)
        goto fail;
    *out = bastion_alloc((size_t)len * sizeof **out);
    *n = (size_t)len;
    for (int i = 0; i < len; i++) {
        const cJSON *q = cJSON_GetArrayItem(arr, i);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "id");
        const cJSON *answer = cJSON_GetObjectItemCaseSensitive(q, "answer");
        stored_question *sq = &(*out)[i];
        sq->text = cJSON_GetObjectItemCaseSensitive(q, "text");
        sq->choices = cJSON_GetObjectItemCaseSensitive(q, "choices");
        sq->n_choices = cJSON_GetArraySize(sq->choices);
        if (!cJSON_IsString(id) || !cJSON_IsString(sq->text) || !cJSON_IsArray(sq->choices) ||
            !cJSON_IsNumber(answer) || answer->valueint < 0 || answer->valueint >= sq->n_choices)
            goto fail;
        sq->id = bastion_cstr(id->valuestring);
        sq->answer = answer->valueint;
    }
    return BASTION_OK;
fail:
    bastion_log_safe(BASTION_LOG_ERROR, "stored questions unreadable", NULL, 0);
    return bastion_problem(cx, BASTION_E_INTERNAL, "The assessment could not be read.");
}

/* --- POST /api/assessments --- */

/*
 * The rules across fields, after the field rules passed: each answer is the
 * index of one of its question's choices, and ids are unique within the
 * assessment. Builds the stored form (normalised values, key included).
 */
static cJSON *questions_checked(const bastion_field_value *qs, size_t n, cJSON *errors)
{
    cJSON *stored = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const bastion_field_value *q = qs[i].object;
        size_t n_choices = q[Q_CHOICES].n_items;
        if ((size_t)q[Q_ANSWER].integer >= n_choices)
            bastion_error_add(
                errors, pointer("questions", i, "answer"),
                bastion_str_dup(bastion_sprintf("must be the index of one of its choices, 0 to %zu",
                                                n_choices - 1)));
        for (size_t j = 0; j < i; j++) {
            if (bastion_str_eq(q[Q_ID].str, qs[j].object[Q_ID].str)) {
                bastion_error_add(
                    errors, pointer("questions", i, "id"),
                    bastion_str_dup(bastion_sprintf("repeats the id of question %zu", j)));
                break;
            }
        }
        cJSON *sq = cJSON_CreateObject();
        cJSON_AddStringToObject(sq, "id", bastion_str_dup(q[Q_ID].str));
        cJSON_AddStringToObject(sq, "text", bastion_str_dup(q[Q_TEXT].str));
        cJSON *choices = cJSON_AddArrayToObject(sq, "choices");
        for (size_t c = 0; c < n_choices; c++)
            cJSON_AddItemToArray(choices,
                                 cJSON_CreateString(bastion_str_dup(q[Q_CHOICES].items[c].str)));
        cJSON_AddNumberToObject(sq, "answer", (double)q[Q_ANSWER].integer);
        cJSON_AddItemToArray(stored, sq);
    }
    return stored;
}

static void create_assessment(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_admin_or_problem(cx, &who)) /* before the body */
        return;
    if (bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    bastion_field_value in[N_A];
    cJSON *errors = cJSON_CreateArray();
    if (bastion_parse_json_collect_or_problem(cx, assessment_fields, N_A, in, errors))
        return;
    cJSON *stored = NULL;
    if (in[A_QUESTIONS].present)
        stored = questions_checked(in[A_QUESTIONS].items, in[A_QUESTIONS].n_items, errors);
    if (bastion_errors_or_problem(cx, errors))
        return;

    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No assessment id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    int64_t n = (int64_t)in[A_QUESTIONS].n_items;
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(who.tenant),
        BASTION_SQL_STR(in[A_TITLE].str),
        BASTION_SQL_STR(bastion_cstr(cJSON_PrintUnformatted(stored))),
        BASTION_SQL_INT(n),
        BASTION_SQL_INT(now),
    };
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "INSERT INTO assessments (id, tenant, title, questions, "
                                     "question_count, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                                     p, BASTION_COUNTOF(p), &rows, "assessment insert"))
        return;
    bastion_header f[] = {{BASTION_LIT("assessment"), bastion_cstr(id)},
                          {BASTION_LIT("questions"), bastion_u64_str((uint64_t)n)}};
    bastion_log_safe(BASTION_LOG_INFO, "assessment created", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddStringToObject(body, "title", bastion_str_dup(in[A_TITLE].str));
    cJSON_AddNumberToObject(body, "questions", (double)n);
    bastion_json_add_time(body, "created_at", now);
    bastion_respond_json(cx, 201, body);
}

/* --- GET /api/assessments --- */

/* DATA4: rows strictly after the cursor's (created_at, id), never OFFSET */
#define AFTER_CURSOR BASTION_PAGE_AFTER("created_at", "id")

static void list_assessments(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who))
        return;
    bastion_page pg;
    if (bastion_page_or_problem(cx, scope("assessments", who.tenant), &pg))
        return;
    bastion_sql_value p[5] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    bastion_rows rows;
    if (bastion_sql_query_or_problem(
            cx, DB,
            "SELECT id, title, question_count, created_at FROM assessments "
            "WHERE tenant = $1 AND " AFTER_CURSOR " ORDER BY created_at, id LIMIT $5",
            p, BASTION_COUNTOF(p), &rows, "assessment list"))
        return;
    cJSON *items = cJSON_CreateArray();
    int64_t *keys = bastion_alloc((rows.n_rows + 1) * sizeof *keys);
    bastion_str *ids = bastion_alloc((rows.n_rows + 1) * sizeof *ids);
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row row = bastion_row_at(&rows, r);
        ids[r] = bastion_row_text(&row, 0);
        bastion_str title = bastion_row_text(&row, 1);
        int64_t n = bastion_row_int(&row, 2);
        keys[r] = bastion_row_int(&row, 3);
        if (bastion_row_or_problem(cx, &row, "assessment list"))
            return;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "id", bastion_str_dup(ids[r]));
        cJSON_AddStringToObject(a, "title", bastion_str_dup(title));
        cJSON_AddNumberToObject(a, "questions", (double)n);
        bastion_json_add_time(a, "created_at", keys[r]);
        cJSON_AddItemToArray(items, a);
    }
    bastion_page_respond(cx, &pg, items, keys, ids);
}

/* --- POST /api/assessments/invitations --- */

static bool http_url(bastion_str s)
{
    return (s.len > 8 && bastion_str_eq_ci((bastion_str){s.ptr, 8}, BASTION_LIT("https://"))) ||
           (s.len > 7 && bastion_str_eq_ci((bastion_str){s.ptr, 7}, BASTION_LIT("http://")));
}

/* REL4: what the awaited send did, on the row too (the list shows it); a
 * failure to record it is logged, never a changed answer. */
static void record_email(bastion_ctx *cx, const char *id, bastion_str tenant,
                         const bastion_email_result *sent)
{
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(tenant),
        BASTION_SQL_INT(sent->sent ? 1 : 0),
        sent->error ? BASTION_SQL_STR(bastion_cstr(sent->error)) : BASTION_SQL_NULLV,
    };
    bastion_rows rows;
    if (bastion_sql_query(cx, DB,
                          "UPDATE invitations SET email_sent = $3, email_error = $4 "
                          "WHERE id = $1 AND tenant = $2",
                          p, BASTION_COUNTOF(p), &rows) != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("invitation"), bastion_cstr(id)},
                              {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_ERROR, "invitation email_sent update failed", f,
                         BASTION_COUNTOF(f));
    }
}

/*
 * After the plan counted this invitation: the link, the invitation and its
 * outbox row in one transaction, then the awaited email. BASTION_OK with
 * *sent filled once the invitation committed; otherwise the problem is
 * written and the caller gives the use back.
 */
static bastion_rc send_invitation_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                             bastion_str tenant, const bastion_field_value *in,
                                             bastion_str title, const char *id, int64_t now,
                                             bastion_email_result *sent)
{
    char token[BASTION_TOKEN_MAX_LEN + 1];
    size_t token_len;
    int64_t expires = now + LINK_TTL_S * INT64_C(1000);
    if (bastion_token_sign(key, bastion_cstr(id), expires / 1000, NULL, token, sizeof token,
                           &token_len) != BASTION_TOKEN_OK)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The invitation link could not be made.");
    bastion_str origin = bastion_config("base_url");
    while (origin.len && origin.ptr[origin.len - 1] == '/')
        origin.len--;
    char until[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(expires, until);
    /* base64url needs no percent-encoding in a query (RFC 4648 §5) */
    bastion_email m = {
        .kind = "assessment-invitation",
        .to = in[I_EMAIL].str,
        .subject = bastion_sprintf("You are invited to an assessment: " BASTION_STR_FMT,
                                   BASTION_STR_ARG(title)),
        .text =
            bastion_sprintf("Hello " BASTION_STR_FMT ",\n\n"
                            "you are invited to take the assessment \"" BASTION_STR_FMT
                            "\".\nOpen it here (the link works once, until %s):\n" BASTION_STR_FMT
                            "/assess?token=%s\n",
                            BASTION_STR_ARG(in[I_NAME].str), BASTION_STR_ARG(title), until,
                            BASTION_STR_ARG(origin), token),
    };
    bastion_sql_value row[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(tenant),
        BASTION_SQL_STR(in[I_ASSESSMENT].str),
        BASTION_SQL_STR(in[I_EMAIL].str),
        BASTION_SQL_STR(in[I_NAME].str),
        BASTION_SQL_INT(expires),
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO invitations (id, tenant, assessment_id, candidate_email, candidate_name, "
        "status, expires_at, created_at, email_sent) "
        "VALUES ($1, $2, $3, $4, $5, 'sent', $6, $7, 0)",
        row);
    bastion_rc rc = bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, NULL, sent);
    if (rc == BASTION_OK)
        record_email(cx, id, tenant, sent);
    return rc;
}

static void invite(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_admin_or_problem(cx, &who)) /* before the body */
        return;
    if (bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    if (!http_url(bastion_config("base_url"))) {
        bastion_problem(cx, BASTION_E_MISCONFIGURED, "Variable base_url must be an http(s) URL.");
        return;
    }
    bastion_token_key key;
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key))
        return;
    bastion_field_value in[N_I];
    if (bastion_parse_json_or_problem(cx, invitation_fields, N_I, in))
        return;
    bastion_sql_value a[] = {BASTION_SQL_STR(in[I_ASSESSMENT].str), BASTION_SQL_STR(who.tenant)};
    bastion_rows found;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "SELECT title FROM assessments WHERE id = $1 AND tenant = $2",
                                     a, BASTION_COUNTOF(a), &found, "assessment lookup"))
        return;
    if (found.n_rows == 0) { /* AUTH5: another tenant's is as unknown as a made-up id */
        bastion_field_problem(cx, "/assessment_id", "does not name one of your assessments");
        return;
    }
    bastion_row arow = bastion_row_at(&found, 0);
    bastion_str title = bastion_row_text(&arow, 0);
    if (bastion_row_or_problem(cx, &arow, "assessment lookup"))
        return;

    /* the plan's allowance, counted before anything is written */
    bastion_tenant_plan tp;
    if (bastion_tenant_plan_or_problem(cx, who.tenant, &tp))
        return;
    if (bastion_plan_use_or_problem(cx, KV, who.tenant, &tp, BASTION_FEATURE_ASSESSMENTS))
        return;
    char id[37];
    int64_t now = (int64_t)bastion_now_ms();
    bastion_email_result sent;
    if (bastion_uuid_v4(id) != 0) {
        bastion_plan_release(cx, KV, who.tenant, &tp, BASTION_FEATURE_ASSESSMENTS);
        bastion_problem(cx, BASTION_E_INTERNAL, "No invitation id could be generated.");
        return;
    }
    if (send_invitation_or_problem(cx, &key, who.tenant, in, title, id, now, &sent)) {
        bastion_plan_release(cx, KV, who.tenant, &tp, BASTION_FEATURE_ASSESSMENTS);
        return;
    }
    /* never the link or the token (OBS1) */
    bastion_header f[] = {
        {BASTION_LIT("invitation"), bastion_cstr(id)},
        {BASTION_LIT("email"), in[I_EMAIL].str}, /* masked by bastion_log_safe */
        {BASTION_LIT("email_sent"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "invitation sent", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddStringToObject(body, "status", "sent");
    bastion_json_add_time(body, "expires_at", now + LINK_TTL_S * INT64_C(1000));
    bastion_email_result_json(body, &sent);
    bastion_respond_json(cx, 201, body);
}

/* --- GET /api/assessments/invitations[/{id}] --- */

#define INVITATION_COLS                                                                            \
    "id, assessment_id, candidate_email, candidate_name, status, expires_at, score, "              \
    "created_at, submitted_at, email_sent, email_error, answers"

/* An invitation as a tenant's reader sees it: a sent one past its expiry
 * is expired, whether or not anything has stored that yet. */
static cJSON *invitation_json_or_null(bastion_ctx *cx, const bastion_rows *rows, size_t r,
                                      int64_t now, bool with_answers, int64_t *key, bastion_str *id)
{
    bastion_row row = bastion_row_at(rows, r);
    *id = bastion_row_text(&row, 0);
    bastion_str assessment = bastion_row_text(&row, 1);
    bastion_str email = bastion_row_text(&row, 2);
    bastion_str name = bastion_row_text(&row, 3);
    bastion_str status = bastion_row_text(&row, 4);
    int64_t expires = bastion_row_int(&row, 5), score = 0, submitted = 0;
    bool has_score = bastion_row_int_opt(&row, 6, &score);
    *key = bastion_row_int(&row, 7);
    bool has_submitted = bastion_row_int_opt(&row, 8, &submitted);
    bool email_sent = bastion_row_bool(&row, 9);
    bastion_str email_error, answers;
    bool has_error = bastion_row_text_opt(&row, 10, &email_error);
    bool has_answers = bastion_row_text_opt(&row, 11, &answers);
    if (bastion_row_or_problem(cx, &row, "invitation read"))
        return NULL;
    if (bastion_str_eq(status, BASTION_LIT("sent")) && expires <= now)
        status = BASTION_LIT("expired");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", bastion_str_dup(*id));
    cJSON_AddStringToObject(o, "assessment_id", bastion_str_dup(assessment));
    cJSON_AddStringToObject(o, "candidate_email", bastion_str_dup(email));
    cJSON_AddStringToObject(o, "candidate_name", bastion_str_dup(name));
    cJSON_AddStringToObject(o, "status", bastion_str_dup(status));
    bastion_json_add_time(o, "expires_at", expires);
    bastion_json_add_time(o, "created_at", *key);
    if (has_submitted)
        bastion_json_add_time(o, "submitted_at", submitted);
    else
        cJSON_AddNullToObject(o, "submitted_at");
    if (has_score)
        cJSON_AddNumberToObject(o, "score", (double)score);
    else
        cJSON_AddNullToObject(o, "score");
    cJSON_AddBoolToObject(o, "email_sent", email_sent);
    if (has_error)
        cJSON_AddStringToObject(o, "email_error", bastion_str_dup(email_error));
    else
        cJSON_AddNullToObject(o, "email_error");
    if (with_answers) {
        cJSON *a = has_answers ? cJSON_Parse(bastion_str_dup(answers)) : NULL;
        cJSON_AddItemToObject(o, "answers", a ? a : cJSON_CreateNull());
    }
    return o;
}

/* One statement per ?status, each on the (tenant, status, created_at, id)
 * index; $1 tenant, $2..$4 the cursor, $5 the limit, $6 now. */
#define LIST_INVITATIONS(where)                                                                    \
    "SELECT " INVITATION_COLS " FROM invitations WHERE tenant = $1 AND " where AFTER_CURSOR        \
    " ORDER BY created_at, id LIMIT $5"
static const char *const LIST_SQL[] = {
    [S_SENT] = LIST_INVITATIONS("status = 'sent' AND expires_at > $6 AND "),
    [S_SUBMITTED] = LIST_INVITATIONS("status = 'submitted' AND "),
    [S_EXPIRED] = LIST_INVITATIONS(
        "status IN ('sent', 'expired') AND (status = 'expired' OR expires_at <= $6) AND "),
    [S_ALL] = LIST_INVITATIONS(""),
};

static void list_invitations(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        {.name = "status", .type = BASTION_FIELD_ENUM, .choices = STATUSES},
    };
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who))
        return;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    bastion_page pg;
    if (bastion_page_or_problem(cx, scope("invitations", who.tenant), &pg))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[6] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    p[5] = BASTION_SQL_INT(now);
    const char *sql = LIST_SQL[in[0].present ? in[0].integer : S_ALL];
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB, sql, p, BASTION_COUNTOF(p), &rows, "invitation list"))
        return;
    cJSON *items = cJSON_CreateArray();
    int64_t *keys = bastion_alloc((rows.n_rows + 1) * sizeof *keys);
    bastion_str *ids = bastion_alloc((rows.n_rows + 1) * sizeof *ids);
    for (size_t r = 0; r < rows.n_rows; r++) {
        cJSON *o = invitation_json_or_null(cx, &rows, r, now, false, &keys[r], &ids[r]);
        if (!o)
            return;
        cJSON_AddItemToArray(items, o);
    }
    bastion_page_respond(cx, &pg, items, keys, ids);
}

static void get_invitation(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    if (bastion_auth_tenant_or_problem(cx, &who))
        return;
    char id[37];
    if (!bastion_uuid_parse(bastion_param(cx, "id"), id)) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such invitation.");
        return;
    }
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(who.tenant)};
    bastion_rows rows;
    if (bastion_sql_query_or_problem(
            cx, DB, "SELECT " INVITATION_COLS " FROM invitations WHERE id = $1 AND tenant = $2", p,
            BASTION_COUNTOF(p), &rows, "invitation read"))
        return;
    if (rows.n_rows == 0) { /* AUTH5: another tenant's is not found either */
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such invitation.");
        return;
    }
    int64_t key;
    bastion_str row_id;
    cJSON *o =
        invitation_json_or_null(cx, &rows, 0, (int64_t)bastion_now_ms(), true, &key, &row_id);
    if (o)
        bastion_respond_json(cx, 200, o);
}

/* --- the candidate's link: GET and POST /api/assessments/take --- */

typedef struct {
    bastion_token_claims claims;
    bastion_str id, tenant, name, title;
    int64_t expires;
    stored_question *questions;
    size_t n_questions;
} open_invitation;

/*
 * The checks a link passes before anything is shown or changed (AUTH6):
 * the MAC, then the token's expiry (401, 410); the invitation it names
 * with its assessment (404); not yet submitted (409) and not past its own
 * expiry (410).
 */
static bastion_rc open_invitation_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                             bastion_str token, int64_t now, open_invitation *iv)
{
    bastion_rc rc = bastion_token_check_or_problem(cx, key, token, &iv->claims);
    if (rc)
        return rc;
    iv->id = (bastion_str){iv->claims.resource, iv->claims.resource_len};
    bastion_sql_value p[] = {BASTION_SQL_STR(iv->id)};
    bastion_rows found;
    /* the link names no tenant: the invitation's own is the scope, and the
     * assessment must be that tenant's too */
    rc = bastion_sql_query_or_problem(
        cx, DB,
        "SELECT i.tenant, i.status, i.expires_at, i.candidate_name, a.title, a.questions "
        "FROM invitations i JOIN assessments a ON a.id = i.assessment_id AND a.tenant = i.tenant "
        "WHERE i.id = $1",
        p, BASTION_COUNTOF(p), &found, "invitation lookup");
    if (rc)
        return rc;
    if (found.n_rows == 0)
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such invitation.");
    bastion_row row = bastion_row_at(&found, 0);
    iv->tenant = bastion_row_text(&row, 0);
    bastion_str status = bastion_row_text(&row, 1);
    iv->expires = bastion_row_int(&row, 2);
    iv->name = bastion_row_text(&row, 3);
    iv->title = bastion_row_text(&row, 4);
    bastion_str questions = bastion_row_text(&row, 5);
    rc = bastion_row_or_problem(cx, &row, "invitation lookup");
    if (rc)
        return rc;
    if (bastion_str_eq(status, BASTION_LIT("submitted")))
        return bastion_problem(cx, BASTION_E_CONFLICT,
                               "This assessment has already been submitted.");
    if (!bastion_str_eq(status, BASTION_LIT("sent")) || iv->expires <= now)
        return bastion_problem(cx, BASTION_E_GONE, "This invitation has expired.");
    return stored_questions_or_problem(cx, questions, &iv->questions, &iv->n_questions);
}

static void take_view(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        /* not required: a missing token is a bad one (401); NUL is a 422 */
        {.name = "token", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM},
    };
    bastion_token_key key;
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key))
        return;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    open_invitation iv;
    if (open_invitation_or_problem(cx, &key, in[0].str, (int64_t)bastion_now_ms(), &iv))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "invitation_id", bastion_str_dup(iv.id));
    cJSON_AddStringToObject(body, "title", bastion_str_dup(iv.title));
    cJSON_AddStringToObject(body, "candidate_name", bastion_str_dup(iv.name));
    bastion_json_add_time(body, "expires_at", iv.expires);
    cJSON *qs = cJSON_AddArrayToObject(body, "questions");
    for (size_t i = 0; i < iv.n_questions; i++) { /* never the answer key */
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "id", bastion_str_dup(iv.questions[i].id));
        cJSON_AddItemToObject(q, "text", cJSON_Duplicate(iv.questions[i].text, 0));
        cJSON_AddItemToObject(q, "choices", cJSON_Duplicate(iv.questions[i].choices, 1));
        cJSON_AddItemToArray(qs, q);
    }
    cJSON *submit = cJSON_AddObjectToObject(body, "submit");
    cJSON_AddStringToObject(submit, "method", "POST");
    cJSON_AddStringToObject(submit, "href", "/api/assessments/take");
    cJSON *names = cJSON_AddArrayToObject(submit, "fields");
    cJSON_AddItemToArray(names, cJSON_CreateString("token"));
    cJSON_AddItemToArray(names, cJSON_CreateString("answers"));
    bastion_respond_json(cx, 200, body);
    /* the link is a credential (RFC 9111 §5.2.2.5) */
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("no-store"));
}

/*
 * VAL1 across the answers and the stored questions: each question answered
 * exactly once, each choice one of its question's; every failure in one
 * 422. Then the score: round(100 × correct / n), half up, in integers.
 */
static bastion_rc score_or_problem(bastion_ctx *cx, const open_invitation *iv,
                                   const bastion_field_value *answers, size_t n_answers,
                                   int64_t *score)
{
    cJSON *errors = cJSON_CreateArray();
    bool *seen = bastion_alloc(iv->n_questions * sizeof *seen);
    for (size_t q = 0; q < iv->n_questions; q++)
        seen[q] = false;
    int64_t correct = 0;
    for (size_t i = 0; i < n_answers; i++) {
        const bastion_field_value *a = answers[i].object;
        size_t q = 0;
        while (q < iv->n_questions && !bastion_str_eq(iv->questions[q].id, a[R_QUESTION].str))
            q++;
        if (q == iv->n_questions) {
            bastion_error_add(errors, pointer("answers", i, "question_id"),
                              "is not a question of this assessment");
            continue;
        }
        if (seen[q]) {
            bastion_error_add(errors, pointer("answers", i, "question_id"),
                              "answers a question a second time");
            continue;
        }
        seen[q] = true;
        if (a[R_CHOICE].integer >= iv->questions[q].n_choices) {
            bastion_error_add(errors, pointer("answers", i, "choice"),
                              bastion_str_dup(bastion_sprintf(
                                  "must be the index of one of the question's choices, 0 to %d",
                                  iv->questions[q].n_choices - 1)));
            continue;
        }
        correct += a[R_CHOICE].integer == iv->questions[q].answer;
    }
    bastion_str missing = BASTION_LIT("");
    for (size_t q = 0; q < iv->n_questions; q++)
        if (!seen[q])
            missing =
                bastion_sprintf(BASTION_STR_FMT "%s" BASTION_STR_FMT, BASTION_STR_ARG(missing),
                                missing.len ? ", " : "", BASTION_STR_ARG(iv->questions[q].id));
    if (missing.len)
        bastion_error_add(errors, "/answers",
                          bastion_str_dup(bastion_sprintf(
                              "must answer every question once; unanswered: " BASTION_STR_FMT,
                              BASTION_STR_ARG(missing))));
    int64_t n = (int64_t)iv->n_questions;
    *score = (200 * correct + n) / (2 * n);
    return bastion_errors_or_problem(cx, errors);
}

static void take_submit(bastion_ctx *cx)
{
    bastion_token_key key;
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key))
        return;
    bastion_field_value in[N_T]; /* a client-sent "score" is an unknown field: 422 */
    if (bastion_parse_json_or_problem(cx, take_fields, N_T, in))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    open_invitation iv;
    if (open_invitation_or_problem(cx, &key, in[T_TOKEN].str, now, &iv))
        return;
    int64_t score;
    if (score_or_problem(cx, &iv, in[T_ANSWERS].items, in[T_ANSWERS].n_items, &score))
        return;
    cJSON *answers = cJSON_CreateArray();
    for (size_t i = 0; i < in[T_ANSWERS].n_items; i++) {
        const bastion_field_value *a = in[T_ANSWERS].items[i].object;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "question_id", bastion_str_dup(a[R_QUESTION].str));
        cJSON_AddNumberToObject(o, "choice", (double)a[R_CHOICE].integer);
        cJSON_AddItemToArray(answers, o);
    }

    /*
     * AUTH6, once under any concurrency: the guarded UPDATE decides, and of
     * any number of submits exactly one changes the row; the rest get 409.
     * The nonce is consumed only after the commit (as permits.c does), so a
     * failed write leaves the link usable for a retry.
     */
    bastion_sql_value p[] = {
        BASTION_SQL_STR(iv.id), BASTION_SQL_STR(iv.tenant),
        BASTION_SQL_INT(score), BASTION_SQL_STR(bastion_cstr(cJSON_PrintUnformatted(answers))),
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE invitations SET status = 'submitted', score = $3, answers = $4, "
        "submitted_at = $5 WHERE id = $1 AND tenant = $2 AND status = 'sent'",
        p);
    bastion_rows out;
    if (bastion_sql_change_or_problem(cx, DB, &change, &out, BASTION_E_CONFLICT,
                                      "This assessment has already been submitted.",
                                      "invitation submit"))
        return;
    bastion_host_rc hrc;
    if (bastion_token_consume(cx, &key, KV, &iv.claims, now / 1000, &hrc) != BASTION_TOKEN_OK) {
        bastion_header nf[] = {{BASTION_LIT("invitation"), iv.id},
                               {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_WARN, "invitation link nonce not recorded", nf,
                         BASTION_COUNTOF(nf));
    }
    bastion_header f[] = {{BASTION_LIT("invitation"), iv.id},
                          {BASTION_LIT("score"), bastion_u64_str((uint64_t)score)}};
    bastion_log_safe(BASTION_LOG_INFO, "assessment submitted", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", bastion_str_dup(iv.id));
    cJSON_AddStringToObject(body, "status", "submitted");
    cJSON_AddNumberToObject(body, "score", (double)score);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/assessments", create_assessment},
    {"GET", "/api/assessments", list_assessments},
    {"POST", "/api/assessments/invitations", invite},
    {"GET", "/api/assessments/invitations", list_invitations},
    {"GET", "/api/assessments/invitations/{id}", get_invitation},
    {"GET", "/api/assessments/take", take_view},
    {"POST", "/api/assessments/take", take_submit},
};
BASTION_ROUTES(routes);
