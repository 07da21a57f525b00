/*
 * Responses and the in-module router.
 */
#ifndef BASTION_HTTP_H
#define BASTION_HTTP_H

#include <cjson/cJSON.h>

#include "core.h"

typedef void (*bastion_handler_fn)(bastion_ctx *cx);

typedef struct {
    const char *method; /* "GET", "POST", … or BASTION_CRON_METHOD */
    const char *route;  /* the manifest pattern, e.g. "/api/waitlist/{product_id}/count",
                           or for a job its [[cron]] name */
    bastion_handler_fn fn;
} bastion_route;

/* The method of a [[cron]] job's entry: {BASTION_CRON_METHOD, "reminders", run}. */
#define BASTION_CRON_METHOD "CRON"

/*
 * Declares the module's routes; the core's handle export dispatches on the
 * request's route + method: an unknown route gets 404, a known route with
 * another method 405 with `Allow`. A run of a [[cron]] job (trigger cron)
 * goes to the BASTION_CRON_METHOD entry of its name, and only there; its
 * answer is a JSON object of counts ({"scanned", "sent", …}), which the
 * runner logs. Use once per module.
 */
#define BASTION_ROUTES(table)                                                                      \
    const bastion_route *const bastion_app_routes = (table);                                       \
    const size_t bastion_app_n_routes = BASTION_COUNTOF(table)

/* Adds a response header; name and value are copied into the arena. */
void bastion_set_header(bastion_ctx *cx, bastion_str name, bastion_str value);
/*
 * Responds with `body` serialised as application/json. `body` is borrowed
 * for the call only: it is neither consumed nor freed, and may be changed or
 * attached elsewhere afterwards (the response holds its own text). Like every
 * cJSON value it is arena memory (core.h): nobody cJSON_Deletes it.
 * `body` MUST NOT be NULL.
 */
void bastion_respond_json(bastion_ctx *cx, uint16_t status, const cJSON *body);
/* Responds with a copy of `body` (any bytes) and the given content type;
 * content_type.ptr NULL sends none (a 204 has no content). */
void bastion_respond(bastion_ctx *cx, uint16_t status, bastion_str content_type, bastion_str body);

/* Adds member `name` to `obj`: the instant epoch_ms (UTC epoch ms, DATA2)
 * as calendar.h's canonical "YYYY-MM-DDTHH:MM:SS.sssZ", or null when it is
 * outside the four-digit years. */
void bastion_json_add_time(cJSON *obj, const char *name, int64_t epoch_ms);

/* A [[cron]] job's answer is its counts: {name: value, …} in order. */
typedef struct {
    const char *name;
    uint64_t value;
} bastion_count;
void bastion_json_add_counts(cJSON *obj, const bastion_count *counts, size_t n);

/* A batch job's whole answer: its counts and "stopped" (why the run ended
 * early, or null when it finished), 200, or 503 when `failed` (a store
 * failure: the runner's error line). */
void bastion_job_respond(bastion_ctx *cx, const bastion_count *counts, size_t n,
                         const char *stopped, bool failed);

/* A batch job's check before each item: true, with *stopped = "deadline",
 * when no more than reserve_ms (one item and its commit) remain of the
 * run's deadline. */
bool bastion_job_out_of_time(const bastion_ctx *cx, uint32_t reserve_ms, const char **stopped);

#endif
