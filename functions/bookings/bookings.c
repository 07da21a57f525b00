/*
 * Bookings: a server-side catalogue (tier × package), creation that cannot
 * double-book, public availability, the public list of unavailable
 * intervals, and admin status transitions.
 *
 *   POST /api/bookings                  {"tier", "package", "start",
 *                                        "customer": {"name", "email", "phone"?},
 *                                        "price_cents"?}; Idempotency-Key optional
 *   GET  /api/availability              ?date=YYYY-MM-DD&tier=…&package=…
 *   GET  /api/bookings/unavailable      ?from=…&to=…
 *   POST /api/admin/bookings/{id}/status {"status"}                    (admin JWT)
 *
 * Query parameters are validated like body fields: anything wrong or missing
 * is a 422 whose errors[] pointers name the parameter ("/date", "/from").
 *
 * All time is UTC epoch ms (DATA2); responses use bastion_format_rfc3339's
 * "YYYY-MM-DDTHH:MM:SS.sssZ".
 */
#include <inttypes.h>
#include <string.h>

#include <bastion/bastion.h>

#define DB "bookings"
#define KV "bookings" /* idempotency records and the email breaker */

/* --- the catalogue: every number of the contract, here and nowhere else (CONC1, VAL2) --- */

#define MINUTE_MS          INT64_C(60000)
#define OPEN_MS            (9 * 60 * MINUTE_MS)  /* 09:00 UTC, first possible start */
#define CLOSE_MS           (18 * 60 * MINUTE_MS) /* 18:00 UTC, every booking ends by then */
#define SLOT_MS            (30 * MINUTE_MS)      /* starts on :00 or :30 */
#define GAP_MS             (30 * MINUTE_MS)      /* cleaning after every booking */
#define UNAVAILABLE_MAX_MS (31 * BASTION_MS_PER_DAY)

enum { N_TIERS = 2, N_PACKAGES = 3 };
static const char *const TIERS[N_TIERS + 1] = {"standard", "premium", NULL};
static const char *const PACKAGES[N_PACKAGES + 1] = {"basic", "extended", "deluxe", NULL};
#define BASIC_MS    (60 * MINUTE_MS)
#define EXTENDED_MS (120 * MINUTE_MS)
#define DELUXE_MS   (180 * MINUTE_MS)
static const int64_t DURATION_MS[N_PACKAGES] = {BASIC_MS, EXTENDED_MS, DELUXE_MS};
/* Price in cents of [tier][package]; 0 = not offered (deluxe is premium only). */
static const int64_t PRICE_CENTS[N_TIERS][N_PACKAGES] = {
    {6000, 11000, 0},
    {9000, 16000, 22000},
};
/* The longest package, bounding how far back an overlap scan looks. */
#define MAX_DURATION_MS DELUXE_MS

/*
 * The overlap rule, once (CONC1): each booking occupies [start, end + GAP),
 * and two bookings clash when those intervals intersect. CLASH_WHERE is the
 * same rule in SQL over the active rows, with $1 = the earliest end that
 * still clashes (exclusive), $2 = the latest start that still clashes
 * (exclusive) and $3 = $1 - MAX_DURATION_MS, a lower bound on start that
 * lets the (status, start_ms) index serve the scan. clash_bounds computes
 * them for a candidate booking.
 */
#define ACTIVE      "status IN ('pending', 'confirmed')"
#define CLASH_WHERE ACTIVE " AND end_ms > $1 AND start_ms < $2 AND start_ms > $3"
enum { N_CLASH = 3 }; /* CLASH_WHERE's parameters */

static bool clashes(int64_t start_a, int64_t end_a, int64_t start_b, int64_t end_b)
{
    return start_a < end_b + GAP_MS && start_b < end_a + GAP_MS;
}

static void clash_bounds(int64_t start, int64_t end, bastion_sql_value p[N_CLASH])
{
    p[0] = BASTION_SQL_INT(start - GAP_MS);
    p[1] = BASTION_SQL_INT(end + GAP_MS);
    p[2] = BASTION_SQL_INT(start - GAP_MS - MAX_DURATION_MS);
}

/*
 * Every rule a start must meet apart from overlap, shared by creation and
 * availability: NULL when `start` is bookable for the package, else the
 * detail for "/start".
 */
static const char *start_error(int64_t start, int package, int64_t now)
{
    int64_t day = bastion_day_of_ms(start) * BASTION_MS_PER_DAY;
    int64_t time_of_day = start - day;
    if (start % SLOT_MS != 0)
        return "must be on the hour or half past (UTC), with zero seconds";
    if (time_of_day < OPEN_MS || time_of_day + DURATION_MS[package] > CLOSE_MS)
        return "must be within opening hours: start at 09:00 UTC or later and end by 18:00 UTC";
    if (start <= now)
        return "must be in the future";
    return NULL;
}

/* --- shared pieces --- */

#define BOOKING_COLS "id, tier, package, start_ms, end_ms, price_cents, status, email_sent"

static const char *const STATUSES[] = {"pending", "confirmed", "completed", "cancelled", NULL};

/* A booking as a response shows it: no customer data (DATA3). */
typedef struct {
    bastion_str id, tier, package, status;
    int64_t start, end, price;
    bool email_sent;
} booking;

static cJSON *booking_json(const booking *bk, bool with_email_sent)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", bastion_str_dup(bk->id));
    cJSON_AddStringToObject(b, "tier", bastion_str_dup(bk->tier));
    cJSON_AddStringToObject(b, "package", bastion_str_dup(bk->package));
    bastion_json_add_time(b, "start", bk->start);
    bastion_json_add_time(b, "end", bk->end);
    cJSON_AddNumberToObject(b, "price_cents", (double)bk->price);
    cJSON_AddStringToObject(b, "status", bastion_str_dup(bk->status));
    if (with_email_sent)
        cJSON_AddBoolToObject(b, "email_sent", bk->email_sent);
    return b;
}

/* A row selected as BOOKING_COLS. */
static bastion_rc booking_row_or_problem(bastion_ctx *cx, const bastion_rows *rows, booking *bk)
{
    bastion_row row = bastion_row_at(rows, 0);
    bk->id = bastion_row_text(&row, 0);
    bk->tier = bastion_row_text(&row, 1);
    bk->package = bastion_row_text(&row, 2);
    bk->start = bastion_row_int(&row, 3);
    bk->end = bastion_row_int(&row, 4);
    bk->price = bastion_row_int(&row, 5);
    bk->status = bastion_row_text(&row, 6);
    bk->email_sent = bastion_row_bool(&row, 7);
    return bastion_row_or_problem(cx, &row, "booking read");
}

/* An occupied span [start, end) of an active booking, its gap not added. */
typedef struct {
    int64_t start, end;
} span;

/* The spans of the active bookings matching CLASH_WHERE for the bounds p,
 * earliest first, into an arena array of *n. */
static bastion_rc active_spans_or_problem(bastion_ctx *cx, const bastion_sql_value p[N_CLASH],
                                          span **out, size_t *n)
{
    bastion_rows rows;
    bastion_rc rc = bastion_sql_query_or_problem(
        cx, DB, "SELECT start_ms, end_ms FROM bookings WHERE " CLASH_WHERE " ORDER BY start_ms", p,
        N_CLASH, &rows, "bookings scan");
    if (rc)
        return rc;
    *out = bastion_alloc(rows.n_rows * sizeof **out);
    *n = rows.n_rows;
    for (size_t r = 0; r < rows.n_rows; r++) {
        bastion_row row = bastion_row_at(&rows, r);
        (*out)[r] = (span){bastion_row_int(&row, 0), bastion_row_int(&row, 1)};
        if (bastion_row_or_problem(cx, &row, "bookings scan"))
            return BASTION_E_INTERNAL;
    }
    return BASTION_OK;
}

/* --- POST /api/bookings --- */

static const bastion_field customer_fields[] = {
    {.name = "name", .type = BASTION_FIELD_STRING, .flags = BASTION_REQUIRED, .min = 1, .max = 100},
    {.name = "email", .type = BASTION_FIELD_EMAIL, .flags = BASTION_REQUIRED, .min = 3, .max = 254},
    {.name = "phone", .type = BASTION_FIELD_PHONE},
};
enum { C_NAME, C_EMAIL, C_PHONE };

static const bastion_field booking_fields[] = {
    {.name = "tier", .type = BASTION_FIELD_ENUM, .flags = BASTION_REQUIRED, .choices = TIERS},
    {.name = "package", .type = BASTION_FIELD_ENUM, .flags = BASTION_REQUIRED, .choices = PACKAGES},
    {.name = "start", .type = BASTION_FIELD_TIMESTAMP, .flags = BASTION_REQUIRED},
    {.name = "customer",
     .type = BASTION_FIELD_OBJECT,
     .flags = BASTION_REQUIRED,
     .fields = customer_fields,
     .n_fields = BASTION_COUNTOF(customer_fields)},
    {.name = "price_cents", .type = BASTION_FIELD_CENTS, .min = 1},
};
enum { F_TIER, F_PACKAGE, F_START, F_CUSTOMER, F_PRICE, N_BOOKING_FIELDS };

typedef struct {
    int tier, package;
    int64_t start, end, price;
    const bastion_field_value *customer; /* customer_fields' values */
} booking_request;

/*
 * The field rules (both levels, unknown members rejected) and then the
 * catalogue's, all into one errors[] so a client sees every problem at once.
 */
static bastion_rc booking_request_or_problem(bastion_ctx *cx, booking_request *req)
{
    bastion_field_value in[N_BOOKING_FIELDS];
    cJSON *errors = cJSON_CreateArray();
    bastion_rc rc =
        bastion_parse_json_collect_or_problem(cx, booking_fields, N_BOOKING_FIELDS, in, errors);
    if (rc)
        return rc;
    req->customer = in[F_CUSTOMER].object;
    int64_t now = (int64_t)bastion_now_ms();
    if (in[F_TIER].present && in[F_PACKAGE].present) {
        req->tier = (int)in[F_TIER].integer;
        req->package = (int)in[F_PACKAGE].integer;
        req->price = PRICE_CENTS[req->tier][req->package];
        if (req->price == 0) {
            bastion_error_add(errors, "/package", "is not offered for this tier");
        } else {
            if (in[F_START].present) {
                const char *why = start_error(in[F_START].integer, req->package, now);
                if (why)
                    bastion_error_add(errors, "/start", why);
                req->start = in[F_START].integer;
                req->end = req->start + DURATION_MS[req->package];
            }
            if (in[F_PRICE].present && in[F_PRICE].integer != req->price) {
                bastion_str detail =
                    bastion_sprintf("must equal the catalogue price, %" PRId64, req->price);
                bastion_error_add(errors, "/price_cents", bastion_str_dup(detail));
            }
        }
    }
    return bastion_errors_or_problem(cx, errors);
}

/* REL4: awaited; a failure lands in email_failures (by the core) and on the
 * row, and never changes the 201. */
static void send_confirmation(bastion_ctx *cx, const booking_request *req, const char *id)
{
    char start[BASTION_RFC3339_BUF], end[BASTION_RFC3339_BUF];
    bastion_format_rfc3339(req->start, start);
    bastion_format_rfc3339(req->end, end);
    bastion_str text =
        bastion_sprintf("Hello " BASTION_STR_FMT ",\n\nwe received your booking request %s:\n"
                        "%s %s, %s to %s (UTC), price %" PRId64 ".%02" PRId64 ".\n"
                        "Status: pending. We will confirm it shortly.\n",
                        BASTION_STR_ARG(req->customer[C_NAME].str), id, TIERS[req->tier],
                        PACKAGES[req->package], start, end, req->price / 100, req->price % 100);
    static const bastion_email_sender sender = {DB, KV};
    bastion_email m = {"booking-confirmation", req->customer[C_EMAIL].str,
                       BASTION_LIT("Your booking request"), text};
    bastion_email_result res;
    bastion_email_send(cx, &sender, &m, &res);

    bastion_sql_value p[] = {
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_INT(res.sent ? 1 : 0),
        res.error ? BASTION_SQL_STR(bastion_cstr(res.error)) : BASTION_SQL_NULLV,
        BASTION_SQL_INT((int64_t)bastion_now_ms()),
    };
    bastion_rows rows;
    bastion_host_rc rc = bastion_sql_query(
        cx, DB,
        "UPDATE bookings SET email_sent = $2, email_error = $3, updated_at = $4 WHERE id = $1", p,
        BASTION_COUNTOF(p), &rows);
    if (rc != BASTION_HOST_OK) {
        bastion_header f[] = {{BASTION_LIT("id"), bastion_cstr(id)},
                              {BASTION_LIT("detail"), bastion_host_error_text()}};
        bastion_log_safe(BASTION_LOG_ERROR, "booking email_sent update failed", f,
                         BASTION_COUNTOF(f));
    }
}

static void create_booking(bastion_ctx *cx)
{
    booking_request req;
    memset(&req, 0, sizeof req);
    if (booking_request_or_problem(cx, &req))
        return;
    char id[37];
    if (bastion_uuid_v4(id) != 0) {
        bastion_problem(cx, BASTION_E_INTERNAL, "No booking id could be generated.");
        return;
    }
    const bastion_field_value *c = req.customer;
    int64_t now = (int64_t)bastion_now_ms();
    bastion_sql_value clash[N_CLASH];
    clash_bounds(req.start, req.end, clash);
    bastion_sql_value p[] = {
        clash[0],
        clash[1],
        clash[2], /* $1..$3: CLASH_WHERE */
        BASTION_SQL_STR(bastion_cstr(id)),
        BASTION_SQL_STR(bastion_cstr(TIERS[req.tier])),
        BASTION_SQL_STR(bastion_cstr(PACKAGES[req.package])),
        BASTION_SQL_INT(req.start),
        BASTION_SQL_INT(req.end),
        BASTION_SQL_INT(req.price),
        BASTION_SQL_STR(c[C_NAME].str),
        BASTION_SQL_STR(c[C_EMAIL].str),
        c[C_PHONE].present ? BASTION_SQL_STR(c[C_PHONE].str) : BASTION_SQL_NULLV,
        BASTION_SQL_INT(now),
    };
    /* CONC1: the overlap check and the insert are one statement in one
     * serialised transaction; a clash inserts nothing and expect_changes
     * turns that into a conflict. */
    bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE(
        "INSERT INTO bookings (id, tier, package, start_ms, end_ms, price_cents, status, "
        "customer_name, customer_email, customer_phone, email_sent, created_at, "
        "updated_at) "
        "SELECT $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, 0, $13, $13 "
        "WHERE NOT EXISTS (SELECT 1 FROM bookings WHERE " CLASH_WHERE ")",
        p);
    bastion_rows out;
    if (bastion_sql_change_or_problem(
            cx, DB, &st, &out, BASTION_E_CONFLICT,
            "The time overlaps another booking or its 30-minute cleaning gap.", "booking insert"))
        return;
    bastion_header f[] = {{BASTION_LIT("id"), bastion_cstr(id)},
                          {BASTION_LIT("tier"), bastion_cstr(TIERS[req.tier])},
                          {BASTION_LIT("package"), bastion_cstr(PACKAGES[req.package])}};
    bastion_log_safe(BASTION_LOG_INFO, "booking created", f, BASTION_COUNTOF(f));

    send_confirmation(cx, &req, id);

    booking created = {
        .id = bastion_cstr(id),
        .tier = bastion_cstr(TIERS[req.tier]),
        .package = bastion_cstr(PACKAGES[req.package]),
        .status = BASTION_LIT("pending"),
        .start = req.start,
        .end = req.end,
        .price = req.price,
    };
    cJSON *body = booking_json(&created, false);
    bastion_respond_json(cx, 201, body);
    cJSON_Delete(body);
}

static void create(bastion_ctx *cx)
{
    /* CONC4, optional here: scope by client, "public" when the host has none */
    bastion_str scope = cx->client_ip.len ? cx->client_ip : BASTION_LIT("public");
    bastion_idem idem;
    if (bastion_idempotency_begin_or_problem(cx, KV, scope, false, &idem))
        return;
    create_booking(cx);
    bastion_idempotency_finish(cx, &idem);
}

/* --- GET /api/availability --- */

static void availability(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        {.name = "date", .type = BASTION_FIELD_DATE, .flags = BASTION_REQUIRED},
        {.name = "tier", .type = BASTION_FIELD_ENUM, .flags = BASTION_REQUIRED, .choices = TIERS},
        {.name = "package",
         .type = BASTION_FIELD_ENUM,
         .flags = BASTION_REQUIRED,
         .choices = PACKAGES},
    };
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    int tier = (int)in[1].integer, package = (int)in[2].integer;
    if (PRICE_CENTS[tier][package] == 0) {
        bastion_field_problem(cx, "/package", "is not offered for this tier");
        return;
    }
    int64_t day = in[0].integer;
    int64_t now = (int64_t)bastion_now_ms();
    /* every booking that could clash with any start of the day */
    bastion_sql_value p[N_CLASH];
    clash_bounds(day, day + BASTION_MS_PER_DAY, p);
    span *busy;
    size_t n_busy;
    if (active_spans_or_problem(cx, p, &busy, &n_busy))
        return;

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "date", bastion_str_dup(in[0].str));
    cJSON *slots = cJSON_AddArrayToObject(body, "slots");
    /* every half hour of the day, through the same rules as creation */
    for (int64_t start = day; start < day + BASTION_MS_PER_DAY; start += SLOT_MS) {
        if (start_error(start, package, now))
            continue;
        int64_t end = start + DURATION_MS[package];
        bool open = true;
        for (size_t r = 0; r < n_busy && open; r++)
            open = !clashes(start, end, busy[r].start, busy[r].end);
        if (!open)
            continue;
        cJSON *slot = cJSON_CreateObject();
        bastion_json_add_time(slot, "start", start);
        bastion_json_add_time(slot, "end", end);
        cJSON_AddItemToArray(slots, slot);
    }
    bastion_respond_json(cx, 200, body);
    cJSON_Delete(body);
}

/* --- GET /api/bookings/unavailable --- */

static void unavailable(bastion_ctx *cx)
{
    /* a date or a date-time each; to=2030-01-31 includes the 31st */
    static const bastion_field fields[] = {
        {.name = "from", .type = BASTION_FIELD_INSTANT, .flags = BASTION_REQUIRED},
        {.name = "to", .type = BASTION_FIELD_INSTANT, .flags = BASTION_REQUIRED | BASTION_DAY_END},
    };
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_query_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    int64_t from = in[0].integer, to = in[1].integer;
    if (to <= from) {
        bastion_field_problem(cx, "/to", "must be after from");
        return;
    }
    if (to - from > UNAVAILABLE_MAX_MS) {
        bastion_field_problem(cx, "/to", "must be at most 31 days after from");
        return;
    }
    /* occupied intervals [start, end + GAP) that intersect [from, to) */
    bastion_sql_value p[N_CLASH] = {
        BASTION_SQL_INT(from - GAP_MS),
        BASTION_SQL_INT(to),
        BASTION_SQL_INT(from - GAP_MS - MAX_DURATION_MS),
    };
    span *busy;
    size_t n_busy;
    if (active_spans_or_problem(cx, p, &busy, &n_busy))
        return;
    /* DATA3: times only; nothing about who booked or what */
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "intervals");
    for (size_t r = 0; r < n_busy; r++) {
        cJSON *iv = cJSON_CreateObject();
        bastion_json_add_time(iv, "start", busy[r].start);
        bastion_json_add_time(iv, "end", busy[r].end + GAP_MS);
        cJSON_AddItemToArray(list, iv);
    }
    bastion_respond_json(cx, 200, body);
    cJSON_Delete(body);
}

/* --- POST /api/admin/bookings/{id}/status --- */

/* DATA5: the only transitions; each is one guarded UPDATE. NULL: no state
 * leads there (a booking is pending only when created). */
#define TRANSITION(to, from)                                                                       \
    "UPDATE bookings SET status = '" to "', updated_at = $2 WHERE id = $1 AND status IN (" from    \
    ") RETURNING " BOOKING_COLS
static const char *const TRANSITIONS[] = {
    NULL,                                              /* pending */
    TRANSITION("confirmed", "'pending'"),              /* confirmed */
    TRANSITION("completed", "'confirmed'"),            /* completed */
    TRANSITION("cancelled", "'pending', 'confirmed'"), /* cancelled */
};

static void set_status(bastion_ctx *cx)
{
    static const bastion_field fields[] = {
        {.name = "status",
         .type = BASTION_FIELD_ENUM,
         .flags = BASTION_REQUIRED,
         .choices = STATUSES},
    };
    bastion_jwt_claims claims;
    if (bastion_auth_admin_or_problem(cx, &claims)) /* AUTH1: before the body */
        return;
    bastion_field_value in[BASTION_COUNTOF(fields)];
    if (bastion_parse_json_or_problem(cx, fields, BASTION_COUNTOF(fields), in))
        return;
    char id[37];
    if (!bastion_uuid_parse(bastion_param(cx, "id"), id)) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such booking.");
        return;
    }
    const char *target = STATUSES[in[0].integer];
    bastion_sql_value p[] = {BASTION_SQL_STR(bastion_cstr(id)),
                             BASTION_SQL_INT((int64_t)bastion_now_ms())};
    bastion_rows rows;
    bastion_host_rc rc = BASTION_HOST_GUARD; /* no transition to this status at all */
    if (TRANSITIONS[in[0].integer]) {
        bastion_sql_stmt st = BASTION_SQL_CHANGE_ONE(TRANSITIONS[in[0].integer], p);
        rc = bastion_sql_transaction(cx, DB, &st, 1, &rows);
    }
    if (rc == BASTION_HOST_OK) {
        booking changed;
        if (booking_row_or_problem(cx, &rows, &changed))
            return;
        cJSON *body = booking_json(&changed, true);
        bastion_respond_json(cx, 200, body);
        cJSON_Delete(body);
        return;
    }
    if (rc != BASTION_HOST_GUARD) {
        bastion_host_fail_or_problem(cx, rc, "booking status update");
        return;
    }
    /* Nothing changed: only now tell "no such booking" from "not allowed". */
    if (bastion_sql_query_or_problem(cx, DB, "SELECT status FROM bookings WHERE id = $1", p,
                                     1 /* $1 of p only */, &rows, "booking status read"))
        return;
    if (rows.n_rows == 0) {
        bastion_problem(cx, BASTION_E_NOT_FOUND, "No such booking.");
        return;
    }
    bastion_row row = bastion_row_at(&rows, 0);
    bastion_str now_status = bastion_row_text(&row, 0);
    if (bastion_row_or_problem(cx, &row, "booking status read"))
        return;
    bastion_str detail = bastion_sprintf("A " BASTION_STR_FMT " booking cannot become %s.",
                                         BASTION_STR_ARG(now_status), target);
    bastion_problem(cx, BASTION_E_CONFLICT, bastion_str_dup(detail));
}

static const bastion_route routes[] = {
    {"POST", "/api/bookings", create},
    {"GET", "/api/availability", availability},
    {"GET", "/api/bookings/unavailable", unavailable},
    {"POST", "/api/admin/bookings/{id}/status", set_status},
};
BASTION_ROUTES(routes);
