/*
 * Appointments: a customer requests one, an admin may cancel it.
 *
 *   POST /api/appointments                        {"service", "preferred_start", "name",
 *                                                  "email", "phone"?, "notes"?}
 *   POST /api/admin/appointments/{id}/cancel      admin bearer token, no body
 *
 * REL4: the admin's notification and the customer's cancellation email are
 * awaited before the response; a failed send stays in email_failures and the
 * response says so. CONC5: every state change commits in one transaction with
 * its outbox row, so an appointment never exists (or is cancelled) without its
 * email being either sent or queued. CONC2: per-IP and per-email limits.
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
    if (in[F_START].integer <= now || in[F_START].integer > now + HORIZON_MS) {
        bastion_field_problem(cx, "/preferred_start",
                              "must be in the future and at most a year ahead");
        return;
    }
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

static void cancel(bastion_ctx *cx)
{
    /* AUTH1: the token before anything else; this route never reads a body. */
    bastion_jwt_claims admin;
    if (bastion_auth_admin_or_problem(cx, &admin))
        return;
    char id[37];
    if (!bastion_uuid_parse(bastion_param(cx, "id"), id)) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such appointment.");
        return;
    }
    bastion_sql_value key[] = {BASTION_SQL_STR(bastion_cstr(id))};
    bastion_rows found;
    if (bastion_sql_query_or_problem(
            cx, DB,
            "SELECT email, service, preferred_start, status FROM appointments WHERE id = $1", key,
            BASTION_COUNTOF(key), &found, "appointment lookup"))
        return;
    if (found.n_rows == 0) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such appointment.");
        return;
    }
    bastion_row row = bastion_row_at(&found, 0);
    bastion_str email = bastion_row_text(&row, 0);
    bastion_str service = bastion_row_text(&row, 1);
    int64_t preferred_start = bastion_row_int(&row, 2);
    bastion_str status = bastion_row_text(&row, 3);
    if (bastion_row_or_problem(cx, &row, "appointment lookup"))
        return;
    if (bastion_str_eq(status, BASTION_LIT("cancelled"))) {
        bastion_problem(cx, BASTION_E_CONFLICT, "The appointment is already cancelled.");
        return;
    }
    char start[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(preferred_start, start);
    bastion_email m = {
        .kind = "appointment-cancelled",
        .to = email,
        .subject = BASTION_LIT("Your appointment has been cancelled"),
        .text = bastion_sprintf("Your " BASTION_STR_FMT " appointment requested for %s has been "
                                "cancelled.\n\nReference: %s\n",
                                BASTION_STR_ARG(service), start, id),
    };

    /* CONC5: the guarded status change and the outbox row commit together.
     * The guard, not the SELECT above, decides a race between two admins:
     * the loser changes no row, the whole transaction rolls back, 409. */
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value upd[] = {
        key[0],
        BASTION_SQL_INT(now),
        BASTION_SQL_STR(admin.sub),
    };
    bastion_sql_stmt change = BASTION_SQL_CHANGE_ONE(
        "UPDATE appointments SET status = 'cancelled', updated_at = $2, cancelled_by = $3 "
        "WHERE id = $1 AND status IN ('requested', 'confirmed')",
        upd);
    bastion_email_result sent;
    if (bastion_email_with_change_or_problem(cx, &MAIL, &change, &m,
                                             "The appointment is already cancelled.", &sent))
        return;
    bastion_header f[] = {
        {BASTION_LIT("appointment"), bastion_cstr(id)},
        {BASTION_LIT("admin"), admin.sub},
        {BASTION_LIT("email_sent"), bastion_bool_str(sent.sent)},
    };
    bastion_log_safe(BASTION_LOG_INFO, "appointment cancelled", f, BASTION_COUNTOF(f));

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "cancelled");
    bastion_email_result_json(body, &sent);
    bastion_respond_json(cx, 200, body);
}

static const bastion_route routes[] = {
    {"POST", "/api/appointments", request_appointment},
    {"POST", "/api/admin/appointments/{id}/cancel", cancel},
};
BASTION_ROUTES(routes);
