/*
 * Jobs: a tenant's job postings, their candidates, matching by an AI
 * scoring provider, one-time reviewer links, and import from a posting URL.
 *
 *   POST /api/jobs                     tenant user: {"title", "description", "skills"} → 201
 *   GET  /api/jobs                     ?limit&cursor
 *   GET  /api/jobs/{id}
 *   POST /api/jobs/{id}/candidates     {"name", "email", "skills", "years_experience"} → 201
 *   GET  /api/jobs/{id}/candidates     ?limit&cursor, each with its match score and decision
 *   POST /api/jobs/{id}/match          → 200 {"scores": [{"candidate_id", "score"}], "cached"}
 *   POST /api/jobs/{id}/candidates/{cid}/invite-reviewer  {"reviewer_email"} → 201, emailed
 *   GET  /api/jobs/action?token=…      the reviewer's link: the candidate and the choices;
 *                                      changes nothing (mail scanners fetch it)
 *   POST /api/jobs/action              {"token", "decision": "advance"|"reject", "note"?}
 *   POST /api/jobs/import              {"url"} → 201, the job made from the posting there
 *
 * AUTH5: the tenant is the verified token's claim and nothing else; every
 * statement names it, so another tenant's job is simply not there (404).
 * CONC2: every state-changing tenant route counts one write for the tenant.
 *
 * Matching (REL2, REL3): POST {match_api_base}/v1/score with the job and
 * its candidates, under the external budget and the "matching" breaker,
 * answered as every provider call is (provider.h: 502 / 502 / 504 / 503).
 * The answer is data from outside and is believed only whole: a JSON object
 * whose "scores" names every candidate sent exactly once and nothing else,
 * each score a number in 0–100; anything else is 502 (retryable) and nothing
 * is stored. Scores are stored on the candidates in one transaction and the
 * answer cached in kv for 10 minutes under the job and a hash of its
 * candidate set, so asking again with nothing changed calls no provider and
 * counts nothing. Each provider call is one use of the plan's ai_matching
 * allowance (plans.h), counted first and given back when the call fails.
 *
 * AUTH6: the reviewer's link carries a core signed token (purpose
 * "job-action", resource = the candidate id, 72 h) keyed from
 * job_action_token_secret: tampered 401, expired 410, decided 409. The
 * decision is recorded once by a guarded UPDATE, whatever the concurrency.
 *
 * Import (SAFE4, REL2): the URL must be https on a host of the variable
 * import_hosts, checked before any call; the host's allow-list and its
 * private-address wall refuse the rest. Redirects are not followed, the
 * posting is at most 512 KiB, and it must be a JSON object (a JSON-LD
 * JobPosting is one) whose "title", "description" and "skills" pass the
 * rules of POST /api/jobs; its other members are ignored.
 */
#include <math.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB         "hiring"
#define KV         "jobs" /* plans.h BASTION_FEATURE_STORES: ai_matching is counted here */
#define PURPOSE    "job-action"
#define SECRET_VAR "job_action_token_secret"
#define LINK_TTL_S (72 * 3600)

#define MAX_SKILLS     30
#define MAX_CANDIDATES 200 /* per job: one provider call scores them all */
#define MATCH_CACHE_MS (10 * 60 * 1000)
#define IMPORT_MAX     (512 * 1024)
#define URL_MAX        2048
#define JOB_COLS       "id, title, description, skills, source_url, created_at"
#define CANDIDATE_COLS                                                                             \
    "id, name, email, skills, years_experience, created_at, match_score, "                         \
    "matched_at, decision, decided_at"

static const bastion_email_sender MAIL = {DB, KV};
static const bastion_provider MATCHER = {"matching provider", "matching API"};
static const bastion_breaker MATCH_BREAKER = {"matching", KV, 5, 30000, 0};

/* --- field rules --- */

static const bastion_field skill_rule = {
    .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 60};
enum { J_TITLE, J_DESCRIPTION, J_SKILLS, N_J };
static const bastion_field job_fields[N_J] = {
    [J_TITLE] = {.name = "title",
                 .type = BASTION_FIELD_STRING,
                 .flags = BASTION_REQUIRED,
                 .min = 1,
                 .max = 200},
    [J_DESCRIPTION] = {.name = "description",
                       .type = BASTION_FIELD_STRING,
                       .flags = BASTION_REQUIRED | BASTION_MULTILINE,
                       .min = 1,
                       .max = 20000},
    [J_SKILLS] = {.name = "skills",
                  .type = BASTION_FIELD_ARRAY,
                  .flags = BASTION_REQUIRED,
                  .min = 1,
                  .max = MAX_SKILLS,
                  .items = &skill_rule},
};

enum { C_NAME, C_EMAIL, C_SKILLS, C_YEARS, N_C };
static const bastion_field candidate_fields[N_C] = {
    [C_NAME] = {.name = "name",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_REQUIRED,
                .min = 1,
                .max = 200},
    [C_EMAIL] = {.name = "email",
                 .type = BASTION_FIELD_EMAIL,
                 .flags = BASTION_REQUIRED,
                 .min = 3,
                 .max = 254},
    [C_SKILLS] = {.name = "skills",
                  .type = BASTION_FIELD_ARRAY,
                  .flags = BASTION_REQUIRED,
                  .min = 0,
                  .max = MAX_SKILLS,
                  .items = &skill_rule},
    [C_YEARS] = {.name = "years_experience",
                 .type = BASTION_FIELD_INTEGER,
                 .flags = BASTION_REQUIRED,
                 .min = 0,
                 .max = 60},
};

static const bastion_field reviewer_fields[] = {
    {.name = "reviewer_email",
     .type = BASTION_FIELD_EMAIL,
     .flags = BASTION_REQUIRED,
     .min = 3,
     .max = 254},
};

static const char *const DECISIONS[] = {"advance", "reject", NULL};
enum { A_TOKEN, A_DECISION, A_NOTE, N_A };
static const bastion_field action_fields[N_A] = {
    [A_TOKEN] = {.name = "token",
                 .type = BASTION_FIELD_STRING,
                 .flags = BASTION_REQUIRED | BASTION_NO_TRIM},
    [A_DECISION] = {.name = "decision",
                    .type = BASTION_FIELD_ENUM,
                    .flags = BASTION_REQUIRED,
                    .choices = DECISIONS},
    [A_NOTE] = {.name = "note",
                .type = BASTION_FIELD_STRING,
                .flags = BASTION_MULTILINE,
                .min = 1,
                .max = 2000},
};

static const bastion_field import_fields[] = {
    {.name = "url",
     .type = BASTION_FIELD_STRING,
     .flags = BASTION_REQUIRED,
     .min = 1,
     .max = URL_MAX},
};

/* --- shared pieces --- */

/* A list's cursor scope: its name and the caller's tenant (page.h). */
static bastion_str scope(const char *list, bastion_str tenant)
{
    return bastion_sprintf("%s\n" BASTION_STR_FMT, list, BASTION_STR_ARG(tenant));
}

/* Validated skills as a JSON array. */
static cJSON *skills_json(const bastion_field_value *v)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < v->n_items; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(bastion_str_dup(v->items[i].str)));
    return a;
}

/* A skills column back as an array; anything else is the module's own data
 * broken (logged, NULL). */
static cJSON *stored_skills(bastion_str text)
{
    cJSON *a = cJSON_ParseWithLength(text.ptr, text.len);
    if (cJSON_IsArray(a))
        return a;
    bastion_log_safe(BASTION_LOG_ERROR, "stored skills unreadable", NULL, 0);
    return NULL;
}

/* The route's {id}: a job of the caller's tenant, or 404. */
static bastion_rc job_id_or_problem(bastion_ctx *cx, const char *param, char id[37])
{
    if (bastion_uuid_parse(bastion_param(cx, param), id))
        return BASTION_OK;
    return bastion_problem(cx, BASTION_E_NOT_FOUND,
                           strcmp(param, "id") == 0 ? "No such job." : "No such candidate.");
}

/* The job's row as JSON ({id, title, description?, skills, source_url,
 * created_at}); NULL with a 500 written when the row is broken. */
static cJSON *job_json_or_null(bastion_ctx *cx, const bastion_rows *rows, size_t r,
                               bool with_description, int64_t *key, bastion_str *id)
{
    bastion_row row = bastion_row_at(rows, r);
    *id = bastion_row_text(&row, 0);
    bastion_str title = bastion_row_text(&row, 1);
    bastion_str description = bastion_row_text(&row, 2);
    bastion_str skills = bastion_row_text(&row, 3), source;
    bool has_source = bastion_row_text_opt(&row, 4, &source);
    *key = bastion_row_int(&row, 5);
    if (bastion_row_or_problem(cx, &row, "job read"))
        return NULL;
    cJSON *s = stored_skills(skills);
    if (!s) {
        bastion_problem(cx, BASTION_E_INTERNAL, "The job could not be read.");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", bastion_str_dup(*id));
    cJSON_AddStringToObject(o, "title", bastion_str_dup(title));
    if (with_description)
        cJSON_AddStringToObject(o, "description", bastion_str_dup(description));
    cJSON_AddItemToObject(o, "skills", s);
    if (has_source)
        cJSON_AddStringToObject(o, "source_url", bastion_str_dup(source));
    else
        cJSON_AddNullToObject(o, "source_url");
    bastion_json_add_time(o, "created_at", *key);
    return o;
}

/* The caller's job `id` (AUTH5: another tenant's is not found either). */
static bastion_rc job_or_problem(bastion_ctx *cx, bastion_str tenant, const char *id,
                                 bastion_rows *rows)
{
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)), BASTION_SQL_STR(tenant)};
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB, "SELECT " JOB_COLS " FROM jobs WHERE id = $1 AND tenant = $2", p,
        BASTION_COUNTOF(p), rows, "job read");
    if (rc == BASTION_OK && rows->n_rows == 0)
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such job.");
    return rc;
}

/* --- POST /api/jobs, and the job an import makes --- */

/* Inserts the job from validated values and answers 201 with it. */
static void create_job(bastion_ctx *cx, bastion_str tenant, const bastion_field_value *in,
                       bastion_str source_url)
{
    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No job id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(tenant),
        BASTION_SQL_STR(in[J_TITLE].str),
        BASTION_SQL_STR(in[J_DESCRIPTION].str),
        BASTION_SQL_STR(bastion_cstr(cJSON_PrintUnformatted(skills_json(&in[J_SKILLS])))),
        source_url.ptr ? BASTION_SQL_STR(source_url) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(now),
    };
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "INSERT INTO jobs (" JOB_COLS ", tenant) "
                                     "VALUES ($1, $3, $4, $5, $6, $7, $2) RETURNING " JOB_COLS,
                                     p, BASTION_COUNTOF(p), &rows, "job insert"))
        return;
    bastion_header f[] = {{BASTION_LIT("job"), bastion_cstr(id)},
                          {BASTION_LIT("imported"), bastion_bool_str(source_url.ptr != NULL)}};
    bastion_log_safe(BASTION_LOG_INFO, "job created", f, BASTION_COUNTOF(f));
    int64_t key;
    bastion_str row_id;
    cJSON *o = job_json_or_null(cx, &rows, 0, true, &key, &row_id);
    if (o)
        bastion_respond_json(cx, 201, o);
}

static void post_job(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    bastion_field_value in[N_J];
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant) ||
        bastion_parse_json_or_problem(cx, job_fields, N_J, in))
        return;
    create_job(cx, who.tenant, in, BASTION_STR_NULL);
}

/* --- GET /api/jobs[/{id}] --- */

/* DATA4: rows strictly after the cursor's (created_at, id), never OFFSET */
#define AFTER_CURSOR BASTION_PAGE_AFTER("created_at", "id")

static void list_jobs(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    bastion_page pg;
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_page_or_problem(cx, scope("jobs", who.tenant), &pg))
        return;
    bastion_sql_value p[5] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    bastion_rows rows;
    if (bastion_sql_query_or_problem(cx, DB,
                                     "SELECT " JOB_COLS
                                     " FROM jobs WHERE tenant = $1 AND " AFTER_CURSOR
                                     " ORDER BY created_at, id LIMIT $5",
                                     p, BASTION_COUNTOF(p), &rows, "job list"))
        return;
    cJSON *items = cJSON_CreateArray();
    int64_t *keys = bastion_alloc((rows.n_rows + 1) * sizeof *keys);
    bastion_str *ids = bastion_alloc((rows.n_rows + 1) * sizeof *ids);
    for (size_t r = 0; r < rows.n_rows; r++) {
        cJSON *o = job_json_or_null(cx, &rows, r, false, &keys[r], &ids[r]);
        if (!o)
            return;
        cJSON_AddItemToArray(items, o);
    }
    bastion_page_respond(cx, &pg, items, keys, ids);
}

static void get_job(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char id[37];
    bastion_rows rows;
    if (bastion_auth_tenant_or_problem(cx, &who) || job_id_or_problem(cx, "id", id) ||
        job_or_problem(cx, who.tenant, id, &rows))
        return;
    int64_t key;
    bastion_str row_id;
    cJSON *o = job_json_or_null(cx, &rows, 0, true, &key, &row_id);
    if (o)
        bastion_respond_json(cx, 200, o);
}

/* --- candidates --- */

/* A candidate's row (CANDIDATE_COLS) as a tenant's reader sees it. */
static cJSON *candidate_json_or_null(bastion_ctx *cx, const bastion_rows *rows, size_t r,
                                     int64_t *key, bastion_str *id)
{
    bastion_row row = bastion_row_at(rows, r);
    *id = bastion_row_text(&row, 0);
    bastion_str name = bastion_row_text(&row, 1);
    bastion_str email = bastion_row_text(&row, 2);
    bastion_str skills = bastion_row_text(&row, 3), decision;
    int64_t years = bastion_row_int(&row, 4), matched_at = 0, decided_at = 0;
    *key = bastion_row_int(&row, 5);
    double score = 0;
    bool has_score = bastion_row_real_opt(&row, 6, &score);
    bool has_matched = bastion_row_int_opt(&row, 7, &matched_at);
    bool has_decision = bastion_row_text_opt(&row, 8, &decision);
    bool has_decided = bastion_row_int_opt(&row, 9, &decided_at);
    if (bastion_row_or_problem(cx, &row, "candidate read"))
        return NULL;
    cJSON *s = stored_skills(skills);
    if (!s) {
        bastion_problem(cx, BASTION_E_INTERNAL, "The candidate could not be read.");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", bastion_str_dup(*id));
    cJSON_AddStringToObject(o, "name", bastion_str_dup(name));
    cJSON_AddStringToObject(o, "email", bastion_str_dup(email));
    cJSON_AddItemToObject(o, "skills", s);
    cJSON_AddNumberToObject(o, "years_experience", (double)years);
    bastion_json_add_time(o, "created_at", *key);
    if (has_score)
        cJSON_AddNumberToObject(o, "match_score", score);
    else
        cJSON_AddNullToObject(o, "match_score");
    if (has_matched)
        bastion_json_add_time(o, "matched_at", matched_at);
    else
        cJSON_AddNullToObject(o, "matched_at");
    if (has_decision)
        cJSON_AddStringToObject(o, "decision", bastion_str_dup(decision));
    else
        cJSON_AddNullToObject(o, "decision");
    if (has_decided)
        bastion_json_add_time(o, "decided_at", decided_at);
    else
        cJSON_AddNullToObject(o, "decided_at");
    return o;
}

static void add_candidate(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char job[37], id[37];
    bastion_field_value in[N_C];
    bastion_rows rows;
    if (bastion_auth_tenant_or_problem(cx, &who) || job_id_or_problem(cx, "id", job) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant) ||
        bastion_parse_json_or_problem(cx, candidate_fields, N_C, in) ||
        job_or_problem(cx, who.tenant, job, &rows))
        return;
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No candidate id could be generated.");
        return;
    }
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(who.tenant),
        BASTION_SQL_STR(bastion_cstr(job)),
        BASTION_SQL_STR(in[C_NAME].str),
        BASTION_SQL_STR(in[C_EMAIL].str),
        BASTION_SQL_STR(bastion_cstr(cJSON_PrintUnformatted(skills_json(&in[C_SKILLS])))),
        BASTION_SQL_INT(in[C_YEARS].integer),
        BASTION_SQL_INT(now),
        BASTION_SQL_INT(MAX_CANDIDATES),
    };
    /* One statement decides both limits under any concurrency: the job's
     * candidate count (the provider gets them all in one call) and one
     * candidate per email per job (the UNIQUE index). */
    /* a transaction of one: serializable on PostgreSQL too, so two inserts
     * that both counted 199 cannot both commit (the host retries the loser) */
    bastion_sql_stmt insert = {
        .sql = "INSERT INTO candidates (id, tenant, job_id, name, email, skills, years_experience, "
               "created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 "
               "WHERE (SELECT count(*) FROM candidates WHERE job_id = $3 AND tenant = $2) < $9 "
               "ON CONFLICT (job_id, email) DO NOTHING RETURNING " CANDIDATE_COLS,
        .params = p,
        .n_params = BASTION_COUNTOF(p)};
    bastion_host_rc hrc = bastion_sql_transaction(cx, DB, &insert, 1, &rows);
    if (hrc != BASTION_HOST_OK) {
        bastion_host_fail_or_problem(cx, hrc, "candidate insert");
        return;
    }
    if (rows.n_rows == 0) {
        bastion_sql_value q[] = {BASTION_SQL_STR(bastion_cstr(job)),
                                 BASTION_SQL_STR(in[C_EMAIL].str), BASTION_SQL_STR(who.tenant)};
        bastion_rows dup;
        if (bastion_sql_query_or_problem(
                cx, DB, "SELECT 1 FROM candidates WHERE job_id = $1 AND email = $2 AND tenant = $3",
                q, BASTION_COUNTOF(q), &dup, "candidate lookup"))
            return;
        if (dup.n_rows)
            bastion_problem(cx, BASTION_E_CONFLICT,
                            "A candidate with this email is already on this job.");
        else
            bastion_problem(cx, BASTION_E_CONFLICT,
                            bastion_str_dup(bastion_sprintf("A job takes at most %d candidates.",
                                                            MAX_CANDIDATES)));
        return;
    }
    bastion_header f[] = {{BASTION_LIT("job"), bastion_cstr(job)},
                          {BASTION_LIT("candidate"), bastion_cstr(id)}};
    bastion_log_safe(BASTION_LOG_INFO, "candidate added", f, BASTION_COUNTOF(f));
    int64_t key;
    bastion_str row_id;
    cJSON *o = candidate_json_or_null(cx, &rows, 0, &key, &row_id);
    if (o)
        bastion_respond_json(cx, 201, o);
}

static void list_candidates(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char job[37];
    bastion_rows rows;
    bastion_page pg;
    if (bastion_auth_tenant_or_problem(cx, &who) || job_id_or_problem(cx, "id", job) ||
        bastion_page_or_problem(
            cx, scope(bastion_str_dup(bastion_sprintf("candidates %s", job)), who.tenant), &pg) ||
        job_or_problem(cx, who.tenant, job, &rows))
        return;
    bastion_sql_value p[6] = {BASTION_SQL_STR(who.tenant)};
    bastion_page_params(&pg, &p[1]);
    p[4] = BASTION_SQL_INT(bastion_page_fetch(&pg));
    p[5] = BASTION_SQL_STR(bastion_cstr(job));
    if (bastion_sql_query_or_problem(cx, DB,
                                     "SELECT " CANDIDATE_COLS " FROM candidates WHERE job_id = $6 "
                                     "AND tenant = $1 AND " AFTER_CURSOR
                                     " ORDER BY created_at, id LIMIT $5",
                                     p, BASTION_COUNTOF(p), &rows, "candidate list"))
        return;
    cJSON *items = cJSON_CreateArray();
    int64_t *keys = bastion_alloc((rows.n_rows + 1) * sizeof *keys);
    bastion_str *ids = bastion_alloc((rows.n_rows + 1) * sizeof *ids);
    for (size_t r = 0; r < rows.n_rows; r++) {
        cJSON *o = candidate_json_or_null(cx, &rows, r, &keys[r], &ids[r]);
        if (!o)
            return;
        cJSON_AddItemToArray(items, o);
    }
    bastion_page_respond(cx, &pg, items, keys, ids);
}

/* --- POST /api/jobs/{id}/match --- */

typedef struct {
    bastion_str id;
    cJSON *skills;
    int64_t years;
} match_candidate;

/* The job's candidates in id order, and the hash that names the set (ids,
 * skills and experience: what the provider scores). */
static bastion_rc match_set_or_problem(bastion_ctx *cx, const char *job, bastion_str tenant,
                                       match_candidate **out, size_t *n, char hash[65])
{
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(job)), BASTION_SQL_STR(tenant)};
    bastion_rows rows;
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB,
        "SELECT id, skills, years_experience FROM candidates WHERE job_id = $1 AND tenant = $2 "
        "ORDER BY id",
        p, BASTION_COUNTOF(p), &rows, "candidate set read");
    if (rc)
        return rc;
    if (rows.n_rows == 0)
        return bastion_problem(cx, BASTION_E_CONFLICT, "The job has no candidates to match yet.");
    *out = bastion_alloc(rows.n_rows * sizeof **out);
    *n = rows.n_rows;
    /* the set's name: SHA-256 of the job id and one digest per candidate, so
     * the text hashed stays small whatever the candidates hold */
    size_t head = 36, at = head;
    uint8_t *canon = bastion_alloc(head + rows.n_rows * BASTION_SHA256_LEN);
    memcpy(canon, job, head);
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row row = bastion_row_at(&rows, r);
        match_candidate *m = &(*out)[r];
        m->id = bastion_row_text(&row, 0);
        bastion_str skills = bastion_row_text(&row, 1);
        m->years = bastion_row_int(&row, 2);
        if ((rc = bastion_row_or_problem(cx, &row, "candidate set read")))
            return rc;
        if (!(m->skills = stored_skills(skills)))
            return bastion_problem(cx, BASTION_E_INTERNAL, "The candidates could not be read.");
        /* ids are UUIDs and skills a JSON text: no field can fake a separator */
        bastion_str line =
            bastion_sprintf(BASTION_STR_FMT "\n" BASTION_STR_FMT "\n%lld", BASTION_STR_ARG(m->id),
                            BASTION_STR_ARG(skills), (long long)m->years);
        bastion_sha256(canon + at, line.ptr, line.len);
        at += BASTION_SHA256_LEN;
    }
    uint8_t sum[BASTION_SHA256_LEN];
    bastion_sha256(sum, canon, at);
    bastion_hex_encode(hash, sum, sizeof sum);
    hash[64] = 0;
    return BASTION_OK;
}

/* How many members of `obj` are called `name` (cJSON keeps repeats; the
 * first would win a lookup). */
static size_t members_named(const cJSON *obj, const char *name)
{
    size_t n = 0;
    for (const cJSON *m = obj->child; m; m = m->next)
        n += m->string && strcmp(m->string, name) == 0;
    return n;
}

/*
 * The provider's answer, believed only whole: {"scores": [{"candidate_id",
 * "score"}, …]} naming each of the n candidates sent exactly once and no
 * other, every score a number in [0, 100]. Other members are ignored.
 * Fills scores[i] for set[i]; false (logged with the reason) otherwise.
 */
static bool scores_valid(const cJSON *answer, const match_candidate *set, size_t n, double *scores)
{
    const char *why = NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(answer, "scores");
    bool *seen = bastion_alloc(n * sizeof *seen);
    memset(seen, 0, n * sizeof *seen);
    size_t got = 0;
    if (!cJSON_IsArray(list) || members_named(answer, "scores") != 1)
        why = "scores is not one array";
    for (const cJSON *e = why ? NULL : list->child; e && !why; e = e->next, got++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "candidate_id");
        const cJSON *score = cJSON_GetObjectItemCaseSensitive(e, "score");
        size_t i = 0;
        if (!cJSON_IsObject(e) || !cJSON_IsString(id) || !cJSON_IsNumber(score) ||
            members_named(e, "candidate_id") != 1 || members_named(e, "score") != 1) {
            why = "an entry is not {candidate_id: string, score: number}";
            break;
        }
        while (i < n && !bastion_str_eq(set[i].id, bastion_cstr(id->valuestring)))
            i++;
        if (i == n)
            why = "an entry names a candidate that was not sent";
        else if (seen[i])
            why = "a candidate is scored twice";
        else if (!isfinite(score->valuedouble) || score->valuedouble < 0 ||
                 score->valuedouble > 100)
            why = "a score is outside 0-100";
        else {
            seen[i] = true;
            scores[i] = score->valuedouble;
        }
    }
    if (!why && got != n)
        why = "a candidate sent is not scored";
    if (!why)
        return true;
    bastion_header f[] = {{BASTION_LIT("why"), bastion_cstr(why)}};
    bastion_log_safe(BASTION_LOG_WARN, "matching API answer refused", f, BASTION_COUNTOF(f));
    return false;
}

/* POSTs the job and its candidates to the provider under the breaker;
 * BASTION_OK with the answer object, else the provider.h problem. */
static bastion_rc provider_score_or_problem(bastion_ctx *cx, const bastion_rows *job,
                                            const match_candidate *set, size_t n, cJSON **answer)
{
    bastion_str base = bastion_config("match_api_base");
    bastion_str key = bastion_config("match_api_key");
    if (!base.ptr || !base.len || !key.ptr || !key.len)
        return bastion_problem(cx, BASTION_E_MISCONFIGURED,
                               "Variables match_api_base and match_api_key must be set.");
    int64_t created;
    bastion_str id;
    cJSON *j = job_json_or_null(cx, job, 0, true, &created, &id);
    if (!j)
        return BASTION_E_INTERNAL;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "source_url");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "created_at");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "job", j);
    cJSON *cs = cJSON_AddArrayToObject(body, "candidates");
    for (size_t i = 0; i < n; i++) { /* never names or emails: the provider scores skills */
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "id", bastion_str_dup(set[i].id));
        cJSON_AddItemToObject(c, "skills", set[i].skills);
        cJSON_AddNumberToObject(c, "years_experience", (double)set[i].years);
        cJSON_AddItemToArray(cs, c);
    }
    bastion_breaker_ticket ticket;
    bastion_rc rc = bastion_breaker_allow_or_problem(cx, &MATCH_BREAKER, &ticket);
    if (rc)
        return rc;
    bastion_str url = bastion_sprintf(BASTION_STR_FMT "/v1/score", BASTION_STR_ARG(base));
    bastion_header h[] = {
        {BASTION_LIT("authorization"),
         bastion_sprintf("Bearer " BASTION_STR_FMT, BASTION_STR_ARG(key))},
        {BASTION_LIT("content-type"), BASTION_LIT("application/json")},
        {BASTION_LIT("accept"), BASTION_LIT("application/json")},
    };
    bastion_http_response r;
    bastion_host_rc hrc = bastion_http_send(cx, "POST", url.ptr, h, BASTION_COUNTOF(h),
                                            bastion_cstr(cJSON_PrintUnformatted(body)), &r);
    bastion_breaker_record(cx, &MATCH_BREAKER, &ticket, bastion_provider_healthy(hrc, &r));
    return bastion_provider_answer_or_problem(cx, &MATCHER, "/v1/score", hrc, &r, answer);
}

/* The scores on the candidates, all or none (expect one change each: a
 * candidate is never deleted, so a miss is our own data broken). */
static bastion_rc store_scores_or_problem(bastion_ctx *cx, bastion_str tenant, const char *job,
                                          const match_candidate *set, size_t n,
                                          const double *scores, int64_t now)
{
    bastion_sql_stmt *st = bastion_alloc(n * sizeof *st);
    for (size_t i = 0; i < n; i++) {
        bastion_sql_value *p = bastion_alloc(5 * sizeof *p);
        p[0] = BASTION_SQL_STR(set[i].id);
        p[1] = BASTION_SQL_STR(bastion_cstr(job));
        p[2] = BASTION_SQL_STR(tenant);
        p[3] = (bastion_sql_value){BASTION_SQL_REAL, {.r = scores[i]}};
        p[4] = BASTION_SQL_INT(now);
        st[i] = (bastion_sql_stmt){.sql = "UPDATE candidates SET match_score = $4, matched_at = $5 "
                                          "WHERE id = $1 AND job_id = $2 AND tenant = $3",
                                   .params = p,
                                   .n_params = 5,
                                   .has_expect = true,
                                   .expect_changes = 1};
    }
    bastion_rows *out = bastion_alloc(n * sizeof *out);
    bastion_host_rc rc = bastion_sql_transaction(cx, DB, st, n, out);
    if (rc == BASTION_HOST_GUARD)
        return bastion_problem(cx, BASTION_E_INTERNAL, "The scores could not be stored.");
    return rc == BASTION_HOST_OK ? BASTION_OK : bastion_host_fail_or_problem(cx, rc, "score store");
}

static void match(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char job[37], hash[65];
    bastion_rows job_rows;
    match_candidate *set = NULL;
    size_t n = 0;
    if (bastion_auth_tenant_or_problem(cx, &who) || job_id_or_problem(cx, "id", job) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant) ||
        job_or_problem(cx, who.tenant, job, &job_rows) ||
        match_set_or_problem(cx, job, who.tenant, &set, &n, hash))
        return;

    /* The cache is a shortcut, never the truth: a kv failure means asking
     * the provider (REL9's rule for caches). */
    bastion_str cache_key = bastion_sprintf("match:%s:%s", job, hash), cached;
    bool found = false;
    if (bastion_kv_get(cx, KV, cache_key, &cached, &found) != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_WARN, "match cache unreadable", f, BASTION_COUNTOF(f));
        found = false;
    }
    cJSON *hit = found ? cJSON_ParseWithLength(cached.ptr, cached.len) : NULL;
    if (cJSON_IsArray(hit)) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "job_id", job);
        cJSON_AddBoolToObject(body, "cached", true);
        cJSON_AddItemToObject(body, "scores", hit);
        bastion_respond_json(cx, 200, body);
        return;
    }

    bastion_tenant_plan tp;
    const bastion_feature f = BASTION_FEATURE_AI_MATCHING;
    if (bastion_tenant_plan_or_problem(cx, who.tenant, &tp) ||
        bastion_plan_use_or_problem(cx, KV, who.tenant, &tp, f))
        return;
    cJSON *answer;
    double *scores = bastion_alloc(n * sizeof *scores);
    int64_t now = (int64_t)bastion_now_ms();
    bastion_rc rc = provider_score_or_problem(cx, &job_rows, set, n, &answer);
    if (rc == BASTION_OK && !scores_valid(answer, set, n, scores))
        rc = bastion_problem(cx, BASTION_E_BAD_GATEWAY,
                             "The matching provider's answer did not score exactly the "
                             "candidates sent; nothing was stored.");
    if (rc == BASTION_OK)
        rc = store_scores_or_problem(cx, who.tenant, job, set, n, scores, now);
    if (rc) {
        bastion_plan_release(cx, KV, who.tenant, &tp, f);
        return;
    }

    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "candidate_id", bastion_str_dup(set[i].id));
        cJSON_AddNumberToObject(s, "score", scores[i]);
        cJSON_AddItemToArray(list, s);
    }
    if (bastion_kv_set(cx, KV, cache_key, bastion_cstr(cJSON_PrintUnformatted(list)),
                       MATCH_CACHE_MS) != BASTION_HOST_OK) {
        bastion_header lf[] = {{BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_WARN, "match cache not written", lf, BASTION_COUNTOF(lf));
    }
    bastion_header lf[] = {{BASTION_LIT("job"), bastion_cstr(job)},
                           {BASTION_LIT("candidates"), bastion_u64_str(n)}};
    bastion_log_safe(BASTION_LOG_INFO, "candidates matched", lf, BASTION_COUNTOF(lf));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "job_id", job);
    cJSON_AddBoolToObject(body, "cached", false);
    cJSON_AddItemToObject(body, "scores", list);
    bastion_respond_json(cx, 200, body);
}

/* --- POST /api/jobs/{id}/candidates/{cid}/invite-reviewer --- */

static bool http_url(bastion_str s)
{
    return (s.len > 8 && bastion_str_eq_ci((bastion_str){s.ptr, 8}, BASTION_LIT("https://"))) ||
           (s.len > 7 && bastion_str_eq_ci((bastion_str){s.ptr, 7}, BASTION_LIT("http://")));
}

static void invite_reviewer(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    char job[37], cand[37], id[37];
    bastion_token_key key;
    bastion_field_value in[BASTION_COUNTOF(reviewer_fields)];
    if (bastion_auth_tenant_or_problem(cx, &who) || job_id_or_problem(cx, "id", job) ||
        job_id_or_problem(cx, "cid", cand) || bastion_tenant_writes_or_problem(cx, KV, who.tenant))
        return;
    if (!http_url(bastion_config("base_url"))) {
        bastion_problem(cx, BASTION_E_MISCONFIGURED, "Variable base_url must be an http(s) URL.");
        return;
    }
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key) ||
        bastion_parse_json_or_problem(cx, reviewer_fields, BASTION_COUNTOF(reviewer_fields), in))
        return;
    bastion_sql_value q[] = {BASTION_SQL_STR(bastion_cstr(cand)),
                             BASTION_SQL_STR(bastion_cstr(job)), BASTION_SQL_STR(who.tenant)};
    bastion_rows found;
    if (bastion_sql_query_or_problem(
            cx, DB,
            "SELECT c.name, j.title FROM candidates c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.id = $1 AND c.job_id = $2 AND c.tenant = $3 AND j.tenant = $3",
            q, BASTION_COUNTOF(q), &found, "candidate lookup"))
        return;
    if (found.n_rows == 0) { /* AUTH5: another tenant's is not found either */
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such candidate.");
        return;
    }
    bastion_row row = bastion_row_at(&found, 0);
    bastion_str name = bastion_row_text(&row, 0);
    bastion_str title = bastion_row_text(&row, 1);
    if (bastion_row_or_problem(cx, &row, "candidate lookup"))
        return;

    char token[BASTION_TOKEN_MAX_LEN + 1];
    size_t token_len;
    int64_t now = (int64_t)bastion_now_ms();
    int64_t expires = now + LINK_TTL_S * INT64_C(1000);
    if (bastion_uuid_v4(id) != 0 ||
        bastion_token_sign(&key, bastion_cstr(cand), expires / 1000, NULL, token, sizeof token,
                           &token_len) != BASTION_TOKEN_OK) {
        bastion_problem(cx, BASTION_E_INTERNAL, "The review link could not be made.");
        return;
    }
    bastion_str origin = bastion_config("base_url");
    while (origin.len && origin.ptr[origin.len - 1] == '/')
        origin.len--;
    char until[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(expires, until);
    /* base64url needs no percent-encoding in a query (RFC 4648 §5) */
    bastion_email m = {
        .kind = "job-review",
        .to = in[0].str,
        .subject = bastion_sprintf("Please review a candidate for " BASTION_STR_FMT,
                                   BASTION_STR_ARG(title)),
        .text = bastion_sprintf(
            "Hello,\n\nplease review " BASTION_STR_FMT " for the job \"" BASTION_STR_FMT
            "\" and advance or reject them.\nOpen the review here (the link "
            "decides once, until %s):\n" BASTION_STR_FMT "/api/jobs/action?token=%s\n",
            BASTION_STR_ARG(name), BASTION_STR_ARG(title), until, BASTION_STR_ARG(origin), token),
    };
    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(who.tenant),
        BASTION_SQL_STR(bastion_cstr(job)),
        BASTION_SQL_STR(bastion_cstr(cand)),
        BASTION_SQL_STR(in[0].str),
        BASTION_SQL_INT(expires),
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO reviewer_invites (id, tenant, job_id, candidate_id, reviewer_email, "
        "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, NULL, &sent))
        return;
    /* never the link or the token (OBS1) */
    bastion_header f[] = {
        {BASTION_LIT("candidate"), bastion_cstr(cand)},
        {BASTION_LIT("email"), in[0].str}, /* masked by bastion_log_safe */
        {BASTION_LIT("email_sent"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "reviewer invited", f, BASTION_COUNTOF(f));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", id);
    cJSON_AddStringToObject(body, "candidate_id", cand);
    bastion_json_add_time(body, "expires_at", expires);
    bastion_email_result_json(body, &sent);
    bastion_respond_json(cx, 201, body);
}

/* --- the reviewer's link: GET and POST /api/jobs/action --- */

typedef struct {
    bastion_token_claims claims;
    bastion_str id, tenant, name, title, job;
    cJSON *skills;
    int64_t years;
} open_review;

/* AUTH6 before anything is shown or changed: the MAC, the expiry (401,
 * 410), the candidate it names (404), not yet decided (409). */
static bastion_rc open_review_or_problem(bastion_ctx *cx, const bastion_token_key *key,
                                         bastion_str token, open_review *rv)
{
    bastion_rc rc = bastion_token_check_or_problem(cx, key, token, &rv->claims);
    if (rc)
        return rc;
    rv->id = (bastion_str){rv->claims.resource, rv->claims.resource_len};
    bastion_sql_value p[] = {BASTION_SQL_STR(rv->id)};
    bastion_rows found;
    /* the link names no tenant: the candidate's own is the scope, and the
     * job must be that tenant's too */
    rc = bastion_sql_query_or_problem(
        cx, DB,
        "SELECT c.tenant, c.name, c.skills, c.years_experience, c.decision, j.id, j.title "
        "FROM candidates c JOIN jobs j ON j.id = c.job_id AND j.tenant = c.tenant WHERE c.id = $1",
        p, BASTION_COUNTOF(p), &found, "review lookup");
    if (rc)
        return rc;
    if (found.n_rows == 0)
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such candidate.");
    bastion_row row = bastion_row_at(&found, 0);
    rv->tenant = bastion_row_text(&row, 0);
    rv->name = bastion_row_text(&row, 1);
    bastion_str skills = bastion_row_text(&row, 2), decision;
    rv->years = bastion_row_int(&row, 3);
    bool decided = bastion_row_text_opt(&row, 4, &decision);
    rv->job = bastion_row_text(&row, 5);
    rv->title = bastion_row_text(&row, 6);
    if ((rc = bastion_row_or_problem(cx, &row, "review lookup")))
        return rc;
    if (decided)
        return bastion_problem(cx, BASTION_E_CONFLICT, "This candidate has already been decided.");
    if (!(rv->skills = stored_skills(skills)))
        return bastion_problem(cx, BASTION_E_INTERNAL, "The candidate could not be read.");
    return BASTION_OK;
}

static void action_view(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        /* not required: a missing token is a bad one (401); NUL is a 422 */
        {.name = "token", .type = BASTION_FIELD_STRING, .flags = BASTION_NO_TRIM},
    };
    bastion_token_key key;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    open_review rv;
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key) ||
        bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in) ||
        open_review_or_problem(cx, &key, in[0].str, &rv))
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON *job = cJSON_AddObjectToObject(body, "job");
    cJSON_AddStringToObject(job, "id", bastion_str_dup(rv.job));
    cJSON_AddStringToObject(job, "title", bastion_str_dup(rv.title));
    cJSON *c = cJSON_AddObjectToObject(body, "candidate");
    cJSON_AddStringToObject(c, "id", bastion_str_dup(rv.id));
    cJSON_AddStringToObject(c, "name", bastion_str_dup(rv.name));
    cJSON_AddItemToObject(c, "skills", rv.skills);
    cJSON_AddNumberToObject(c, "years_experience", (double)rv.years);
    bastion_json_add_time(body, "expires_at", rv.claims.expires_s * INT64_C(1000));
    cJSON *choices = cJSON_AddArrayToObject(body, "choices");
    for (size_t i = 0; DECISIONS[i]; i++)
        cJSON_AddItemToArray(choices, cJSON_CreateString(DECISIONS[i]));
    cJSON *submit = cJSON_AddObjectToObject(body, "submit");
    cJSON_AddStringToObject(submit, "method", "POST");
    cJSON_AddStringToObject(submit, "href", "/api/jobs/action");
    cJSON *names = cJSON_AddArrayToObject(submit, "fields");
    for (size_t i = 0; i < N_A; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(action_fields[i].name));
    bastion_respond_json(cx, 200, body);
    /* the link is a credential (RFC 9111 §5.2.2.5) */
    bastion_set_header(cx, BASTION_LIT("cache-control"), BASTION_LIT("no-store"));
}

static void action_decide(bastion_ctx *cx)
{
    bastion_token_key key;
    bastion_field_value in[N_A];
    open_review rv;
    if (bastion_token_key_or_problem(cx, SECRET_VAR, BASTION_LIT(PURPOSE), &key) ||
        bastion_parse_json_or_problem(cx, action_fields, N_A, in) ||
        open_review_or_problem(cx, &key, in[A_TOKEN].str, &rv))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    /*
     * AUTH6, once under any concurrency: the guarded UPDATE decides, and of
     * any number of POSTs exactly one changes the row; the rest get 409.
     * The nonce is consumed only after the commit (as assessments.c does),
     * so a failed write leaves the link usable for a retry.
     */
    bastion_sql_value p[] = {
        BASTION_SQL_STR(rv.id),
        BASTION_SQL_STR(rv.tenant),
        BASTION_SQL_STR(in[A_DECISION].str),
        in[A_NOTE].present ? BASTION_SQL_STR(in[A_NOTE].str) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE candidates SET decision = $3, decision_note = $4, decided_at = $5 "
        "WHERE id = $1 AND tenant = $2 AND decision IS NULL",
        p);
    bastion_rows out;
    if (bastion_sql_change_or_problem(cx, DB, &change, &out, BASTION_E_CONFLICT,
                                      "This candidate has already been decided.",
                                      "review decision"))
        return;
    bastion_host_rc hrc;
    if (bastion_token_consume(cx, &key, KV, &rv.claims, now / 1000, &hrc) != BASTION_TOKEN_OK) {
        bastion_header nf[] = {{BASTION_LIT("candidate"), rv.id},
                               {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_WARN, "review link nonce not recorded", nf,
                         BASTION_COUNTOF(nf));
    }
    bastion_header f[] = {{BASTION_LIT("candidate"), rv.id},
                          {BASTION_LIT("decision"), in[A_DECISION].str}};
    bastion_log_safe(BASTION_LOG_INFO, "candidate decided", f, BASTION_COUNTOF(f));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "candidate_id", bastion_str_dup(rv.id));
    cJSON_AddStringToObject(body, "decision", bastion_str_dup(in[A_DECISION].str));
    bastion_json_add_time(body, "decided_at", now);
    bastion_respond_json(cx, 200, body);
}

/* --- POST /api/jobs/import --- */

/*
 * The URL's host when it is "https://host[:port][/path][?query]" with host
 * one of import_hosts (ASCII case-insensitive), no userinfo, no fragment,
 * and nothing but visible ASCII; otherwise a 422 on /url, before any call.
 */
static bastion_rc import_url_or_problem(bastion_ctx *cx, bastion_str url)
{
    static const char PREFIX[] = "https://";
    const size_t np = sizeof PREFIX - 1;
    if (url.len <= np || memcmp(url.ptr, PREFIX, np) != 0)
        return bastion_field_problem(cx, "/url", "must be an https:// URL");
    for (size_t i = 0; i < url.len; i++)
        if ((unsigned char)url.ptr[i] <= 0x20 || (unsigned char)url.ptr[i] >= 0x7f ||
            url.ptr[i] == '#' || url.ptr[i] == '\\')
            return bastion_field_problem(
                cx, "/url", "must be visible ASCII without a fragment (percent-encode the rest)");
    bastion_str auth = {url.ptr + np, 0};
    while (np + auth.len < url.len && !strchr("/?", auth.ptr[auth.len]))
        auth.len++;
    if (memchr(auth.ptr, '@', auth.len))
        return bastion_field_problem(cx, "/url", "must not carry a user name or password");
    bastion_str host = auth;
    const char *colon = memchr(auth.ptr, ':', auth.len);
    if (colon) {
        host.len = (size_t)(colon - auth.ptr);
        size_t digits = auth.len - host.len - 1;
        long port = 0;
        for (size_t i = 1; i <= digits && port <= 65535; i++)
            port = colon[i] >= '0' && colon[i] <= '9' ? port * 10 + (colon[i] - '0') : 65536;
        if (digits == 0 || digits > 5 || port < 1 || port > 65535)
            return bastion_field_problem(cx, "/url", "has a port that is not 1-65535");
    }
    for (size_t i = 0; i < host.len; i++) {
        char c = host.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return bastion_field_problem(cx, "/url", "has a host name that is not valid");
    }
    bastion_str rest = bastion_config("import_hosts"), item;
    while (host.len && bastion_list_next(&rest, &item))
        if (bastion_str_eq_ci(bastion_trim_ows(item), host))
            return BASTION_OK;
    return bastion_field_problem(cx, "/url", "is not on a host jobs may be imported from");
}

/* The fetched document as a posting: JSON (RFC 8259, UTF-8) whose object
 * passes the job rules; its errors point under "/posting". */
static bastion_rc posting_or_problem(bastion_ctx *cx, bastion_str doc, bastion_field_value *in)
{
    cJSON *root = NULL;
    if (bastion_utf8_valid(doc) && bastion_json_check(doc, 16) == BASTION_JSON_OK)
        root = cJSON_ParseWithLength(doc.ptr, doc.len);
    if (!cJSON_IsObject(root))
        return bastion_field_problem(cx, "/posting", "is not a JSON object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "@type");
    bool posting = cJSON_IsString(type) && strcmp(type->valuestring, "JobPosting") == 0;
    for (const cJSON *t = cJSON_IsArray(type) ? type->child : NULL; t && !posting; t = t->next)
        posting = cJSON_IsString(t) && strcmp(t->valuestring, "JobPosting") == 0;
    if (type && !posting)
        return bastion_field_problem(cx, "/posting/@type", "must be \"JobPosting\"");
    cJSON *errors = cJSON_CreateArray();
    bastion_event_fields(root, "/posting", job_fields, N_J, in, errors);
    return bastion_errors_or_problem(cx, errors);
}

static void import_job(bastion_ctx *cx)
{
    bastion_jwt_claims who;
    bastion_field_value url[1];
    if (bastion_auth_tenant_or_problem(cx, &who) ||
        bastion_tenant_writes_or_problem(cx, KV, who.tenant) ||
        bastion_parse_json_or_problem(cx, import_fields, BASTION_COUNTOF(import_fields), url) ||
        import_url_or_problem(cx, url[0].str))
        return;
    bastion_header h[] = {
        {BASTION_LIT("accept"), BASTION_LIT("application/ld+json, application/json")}};
    bastion_http_response r;
    bastion_host_rc hrc =
        bastion_http_send(cx, "GET", url[0].str.ptr, h, BASTION_COUNTOF(h), BASTION_LIT(""), &r);
    bastion_header lf[] = {{BASTION_LIT("outcome"), bastion_host_rc_name(hrc)},
                           {BASTION_LIT("detail"), bastion_host_error_text()}};
    switch (hrc) {
    case BASTION_HOST_OK: break;
    case BASTION_HOST_TIMEOUT:
        bastion_problem(cx, BASTION_E_TIMEOUT, "The posting's site did not answer in time.");
        return;
    case BASTION_HOST_DENIED: /* the allow-list, or an address the host refuses (SAFE4) */
        bastion_log_safe(BASTION_LOG_WARN, "import refused by the host", lf, BASTION_COUNTOF(lf));
        bastion_field_problem(cx, "/url", "leads to an address imports may not reach");
        return;
    case BASTION_HOST_INVALID: /* the host's outbound_body_limit stopped the transfer */
        bastion_log_safe(BASTION_LOG_WARN, "import refused by the host", lf, BASTION_COUNTOF(lf));
        bastion_field_problem(cx, "/url", "serves a posting larger than 512 KiB");
        return;
    default:
        bastion_log_safe(BASTION_LOG_WARN, "import site unreachable", lf, BASTION_COUNTOF(lf));
        bastion_problem(cx, BASTION_E_BAD_GATEWAY, "The posting's site could not be reached.");
        return;
    }
    if (r.status >= 500) {
        bastion_problem(cx, BASTION_E_BAD_GATEWAY, "The posting's site failed; try again.");
        return;
    }
    if (r.status >= 300 && r.status < 400) {
        bastion_field_problem(cx, "/url",
                              "redirects elsewhere; redirects are not followed, give the "
                              "posting's own URL");
        return;
    }
    if (r.status != 200) {
        bastion_field_problem(
            cx, "/url",
            bastion_str_dup(bastion_sprintf("was answered %u, not a posting", r.status)));
        return;
    }
    if (r.body.len > IMPORT_MAX) {
        bastion_field_problem(cx, "/url", "serves a posting larger than 512 KiB");
        return;
    }
    bastion_field_value in[N_J];
    if (posting_or_problem(cx, r.body, in))
        return;
    create_job(cx, who.tenant, in, url[0].str);
}

static const bastion_route routes[] = {
    {"POST", "/api/jobs", post_job},
    {"GET", "/api/jobs", list_jobs},
    {"GET", "/api/jobs/action", action_view},
    {"POST", "/api/jobs/action", action_decide},
    {"POST", "/api/jobs/import", import_job},
    {"GET", "/api/jobs/{id}", get_job},
    {"POST", "/api/jobs/{id}/candidates", add_candidate},
    {"GET", "/api/jobs/{id}/candidates", list_candidates},
    {"POST", "/api/jobs/{id}/match", match},
    {"POST", "/api/jobs/{id}/candidates/{cid}/invite-reviewer", invite_reviewer},
};
BASTION_ROUTES(routes);
