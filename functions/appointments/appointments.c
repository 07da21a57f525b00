/*
 * Appointments: a customer requests one, an admin confirms a time or
 * cancels it.
 *
 *   POST /api/appointments                        {"service", "preferred_start", "name",
 *                                                  "email", "phone"?, "notes"?}
 *   POST /api/admin/appointments/{id}/confirm     admin bearer token, {"start"}
 *   POST /api/admin/appointments/{id}/cancel      admin bearer token, no body
 *
 * A confirmed start is what the reminders job (functions/reminders, REL6)
 * reminds the customer of, 24 h and 1 h ahead.
 *
 * REL4: the admin's notification and the customer's confirmation and
 * cancellation emails are awaited before the response; a failed send stays in email_failures and
 * the response says so. CONC5: every state change commits in one transaction with its outbox row,
 * so an appointment never exists (or is cancelled) without its email being either sent or queued.
 * CONC2: per-IP and per-email limits.
 */
#include <bastion/bastion.h>

#define DB "appointments"
#define KV "appointments"

static const bastion_email_sender MAIL = {DB, KV};

/* CONC2: the IP limit runs before the body is read; the email limit after
 * validation, so it counts only well-formed requests for that address. */
static const bastion_rate_policy PER_IP = {"appointments-ip", KV, 5, 60};
static const bastion_rate_policy PER_EMAIL = {"appointments-email", KV, 3, 3600};

/* How far ahead a request may reach (DATA2: plain UTC milliseconds). */
#define HORIZON_MS (366 * BASTION_MS_PER_DAY)

/* Kept in step with the CHECK in schema.sql (DATA1). */
static const char *const SERVICES[] = {"consultation", "fitting", "repair", "pickup", NULL};

enum { F_SERVICE, F_START, F_NAME, F_EMAIL, F_PHONE, F_NOTES, N_FIELDS };
static const bastion_field request_fields[N_FIELDS] = {
    [F_SERVICE] = {.name = "service",
                   .type = BASTION_FIELD_ENUM,
                   .flags = BASTION_REQUIRED,
                   .choices = SERVICES},
    [F_START] = {.name = "preferred_start",
                 .type = BASTION_FIELD_TIMESTAMP,
                 .flags = BASTION_REQUIRED},
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
    [F_PHONE] = {.name = "phone", .type = BASTION_FIELD_PHONE},
    [F_NOTES] = {.name = "notes", .type = BASTION_FIELD_STRING, .max = 1000},
};

enum { C_START, N_CONFIRM_FIELDS };
static const bastion_field confirm_fields[N_CONFIRM_FIELDS] = {
    [C_START] = {.name = "start", .type = BASTION_FIELD_TIMESTAMP, .flags = BASTION_REQUIRED},
};

/* A start in the future and within the horizon, else the 422 on `pointer`. */
static bastion_rc start_or_problem(bastion_ctx *cx, int64_t start, int64_t now, const char *pointer)
{
    if (start > now && start <= now + HORIZON_MS)
        return BASTION_OK;
    return bastion_field_problem(cx, pointer, "must be in the future and at most a year ahead");
}

/* --- handlers --- */

static void request_appointment(bastion_ctx *cx)
{
    static const char *const NEEDED[] = {"admin_email"};
    if (bastion_config_require_or_problem(cx, NEEDED, BASTION_COUNTOF(NEEDED)))
        return;
    bastion_rate_result rl;
    if (bastion_rate_limit_or_problem(cx, &PER_IP, cx->client_ip, &rl))
        return;
    bastion_field_value in[N_FIELDS];
    if (bastion_parse_json_or_problem(cx, request_fields, N_FIELDS, in))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    if (start_or_problem(cx, in[F_START].integer, now, "/preferred_start"))
        return;
    if (bastion_rate_limit_or_problem(cx, &PER_EMAIL, in[F_EMAIL].str, &rl))
        return;

    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No identifier could be generated.");
        return;
    }
    bastion_str phone = in[F_PHONE].present ? in[F_PHONE].str : BASTION_LIT("-");
    bastion_str notes = in[F_NOTES].present ? in[F_NOTES].str : BASTION_LIT("-");
    bastion_email m = {
        .kind = "appointment-requested",
        .to = bastion_config("admin_email"),
        .subject =
            bastion_sprintf("Appointment request: " BASTION_STR_FMT " at " BASTION_STR_FMT,
                            BASTION_STR_ARG(in[F_SERVICE].str), BASTION_STR_ARG(in[F_START].str)),
        .text = bastion_sprintf(
            "A customer requested an appointment.\n\n"
            "Reference: %s\nService: " BASTION_STR_FMT "\nPreferred start: " BASTION_STR_FMT
            "\nName: " BASTION_STR_FMT "\nEmail: " BASTION_STR_FMT "\nPhone: " BASTION_STR_FMT
            "\nNotes: " BASTION_STR_FMT "\n",
            id, BASTION_STR_ARG(in[F_SERVICE].str), BASTION_STR_ARG(in[F_START].str),
            BASTION_STR_ARG(in[F_NAME].str), BASTION_STR_ARG(in[F_EMAIL].str),
            BASTION_STR_ARG(phone), BASTION_STR_ARG(notes)),
    };

    /* CONC5: the appointment and the admin's email commit together. */
    bastion_sql_value row[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(in[F_SERVICE].str),
        BASTION_SQL_INT(in[F_START].integer),
        BASTION_SQL_STR(in[F_NAME].str),
        BASTION_SQL_STR(in[F_EMAIL].str),
        in[F_PHONE].present ? BASTION_SQL_STR(in[F_PHONE].str) : BASTION_SQL_NULLV,
        in[F_NOTES].present ? BASTION_SQL_STR(in[F_NOTES].str) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO appointments (id, service, preferred_start, name, email, phone, notes, "
        "status, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $8)",
        row);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, NULL, &sent))
        return;
    bastion_header f[] = {
        {BASTION_LIT("appointment"), bastion_cstr(id)},
        {BASTION_LIT("email"), in[F_EMAIL].str}, /* masked by bastion_log_safe (OBS1) */
        {BASTION_LIT("admin_notified"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "appointment requested", f, BASTION_COUNTOF(f));

    bastion_email_respond_requested(cx, bastion_cstr(id), "requested", &sent);
}

/* The appointment an admin route names, as its handlers need it. */
typedef struct {
    char id[37];
    bastion_str email, service, status;
    int64_t start; /* the confirmed start, else the preferred one */
} appointment;

/* AUTH1: the admin's token before anything else, then the appointment in
 * the path; 401/403/404 written otherwise. */
static bastion_rc admin_lookup_or_problem(bastion_ctx *cx, bastion_jwt_claims *admin,
                                          appointment *a)
{
    bastion_rc rc = bastion_auth_admin_or_problem(cx, admin);
    if (rc)
        return rc;
    if (!bastion_uuid_parse(bastion_param(cx, "id"), a->id))
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such appointment.");
    bastion_sql_value key[] = {BASTION_SQL_STR(bastion_cstr(a->id))};
    bastion_rows found;
    rc = bastion_sql_query_or_problem(cx, DB,
                                      "SELECT email, service, COALESCE(confirmed_start, "
                                      "preferred_start), status FROM appointments WHERE id = $1",
                                      key, BASTION_COUNTOF(key), &found, "appointment lookup");
    if (rc)
        return rc;
    if (found.n_rows == 0)
        return bastion_problem(cx, BASTION_E_NOT_FOUND, "No such appointment.");
    bastion_row row = bastion_row_at(&found, 0);
    a->email = bastion_row_text(&row, 0);
    a->service = bastion_row_text(&row, 1);
    a->start = bastion_row_int(&row, 2);
    a->status = bastion_row_text(&row, 3);
    return bastion_row_or_problem(cx, &row, "appointment lookup");
}

/* The answer to an admin's change: {"status", "start", "email_sent", "email_error"}. */
static void respond_changed(bastion_ctx *cx, const char *status, int64_t start,
                            const bastion_email_result *sent)
{
    char at[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(start, at);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", status);
    cJSON_AddStringToObject(body, "start", at);
    bastion_email_result_json(body, sent);
    bastion_respond_json(cx, 200, body);
}

/* The customer's email about `a`: "Your <service> appointment <what>
 * <start> (UTC)." and the reference. */
static bastion_email customer_email(const char *kind, const char *subject, const appointment *a,
                                    const char *what, int64_t start)
{
    char at[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(start, at);
    return (bastion_email){
        .kind = kind,
        .to = a->email,
        .subject = bastion_cstr(subject),
        .text = bastion_sprintf("Your " BASTION_STR_FMT " appointment %s %s (UTC).\n\n"
                                "Reference: %s\n",
                                BASTION_STR_ARG(a->service), what, at, a->id),
    };
}

static void log_changed(const char *what, const appointment *a, bastion_str admin,
                        const bastion_email_result *sent)
{
    bastion_header f[] = {
        {BASTION_LIT("appointment"), bastion_cstr(a->id)},
        {BASTION_LIT("admin"), admin},
        {BASTION_LIT("email_sent"), bastion_bool_str(sent->sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, what, f, BASTION_COUNTOF(f));
}

static void confirm(bastion_ctx *cx)
{
    bastion_jwt_claims admin;
    appointment a;
    if (admin_lookup_or_problem(cx, &admin, &a))
        return;
    bastion_field_value in[N_CONFIRM_FIELDS];
    if (bastion_parse_json_or_problem(cx, confirm_fields, N_CONFIRM_FIELDS, in))
        return;
    int64_t now = (int64_t)bastion_now_ms();
    int64_t start = in[C_START].integer;
    if (start_or_problem(cx, start, now, "/start"))
        return;
    static const char *const NOT_REQUESTED = "The appointment is not awaiting confirmation.";
    if (!bastion_str_eq(a.status, BASTION_LIT("requested"))) {
        bastion_problem(cx, BASTION_E_CONFLICT, NOT_REQUESTED);
        return;
    }
    bastion_email m = customer_email("appointment-confirmed", "Your appointment is confirmed", &a,
                                     "is confirmed for", start);
    /* CONC5: the guarded change and the outbox row commit together; the
     * guard decides a race between two admins (the loser gets 409). */
    bastion_sql_value upd[] = {
        BASTION_SQL_STR(bastion_cstr(a.id)),
        BASTION_SQL_INT(start),
        BASTION_SQL_STR(admin.sub),
        BASTION_SQL_INT(now),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE appointments SET status = 'confirmed', confirmed_start = $2, confirmed_by = $3, "
        "updated_at = $4 WHERE id = $1 AND status = 'requested'",
        upd);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, NOT_REQUESTED, &sent))
        return;
    log_changed("appointment confirmed", &a, admin.sub, &sent);
    respond_changed(cx, "confirmed", start, &sent);
}

static void cancel(bastion_ctx *cx)
{
    /* this route never reads a body */
    bastion_jwt_claims admin;
    appointment a;
    if (admin_lookup_or_problem(cx, &admin, &a))
        return;
    static const char *const CANCELLED = "The appointment is already cancelled.";
    if (bastion_str_eq(a.status, BASTION_LIT("cancelled"))) {
        bastion_problem(cx, BASTION_E_CONFLICT, CANCELLED);
        return;
    }
    bastion_email m = customer_email("appointment-cancelled", "Your appointment has been cancelled",
                                     &a, "has been cancelled; it was for", a.start);

    /* CONC5: the guarded status change and the outbox row commit together.
     * The guard, not the SELECT above, decides a race between two admins:
     * the loser changes no row, the whole transaction rolls back, 409. */
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value upd[] = {
        BASTION_SQL_STR(bastion_cstr(a.id)),
        BASTION_SQL_INT(now),
        BASTION_SQL_STR(admin.sub),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE appointments SET status = 'cancelled', updated_at = $2, cancelled_by = $3 "
        "WHERE id = $1 AND status IN ('requested', 'confirmed')",
        upd);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m, CANCELLED, &sent))
        return;
    log_changed("appointment cancelled", &a, admin.sub, &sent);
    respond_changed(cx, "cancelled", a.start, &sent);
}

static const bastion_route routes[] = {
    {"POST", "/api/appointments", request_appointment},
    {"POST", "/api/admin/appointments/{id}/confirm", confirm},
    {"POST", "/api/admin/appointments/{id}/cancel", cancel},
};
BASTION_ROUTES(routes);
