/*
 * The request's front door (VAL1, VAL3): the JSON body, the query string and
 * route parameters, each refused or run through the field rules of
 * validate.h.
 *
 * Every function here is an _or_problem: on failure the problem (415, 400 or
 * 422 with errors[]) is already written and its code returned, so the caller
 * just returns. On failure `out` is all zero; on success its values live in
 * the request arena until the response (validate.h).
 *
 * No C string is made of request bytes before they are checked for NUL: a
 * "\u0000" in the body or a decoded %00 in the query or path is refused
 * first (VAL3), so no rule ever sees a value cut short.
 */
#ifndef BASTION_INPUT_H
#define BASTION_INPUT_H

#include <cjson/cJSON.h>

#include "core.h"
#include "problem.h"
#include "validate.h"

/*
 * The body checks of bastion_parse_json_or_problem without the field rules:
 * 415 / 400 (UTF-8, RFC 8259, depth 32, not an object) / 422 (a \u0000,
 * blamed on the member that holds it: "/customer/email"). On
 * BASTION_OK *root is the parsed object, for bodies with nested objects the
 * caller validates part by part; it is arena memory (core.h), valid until
 * the response, with nothing to release. On failure *root is NULL.
 */
bastion_rc bastion_json_body_or_problem(bastion_ctx *cx, cJSON **root);

/* Validates query parameters with the field rules (pointers name the
 * parameter; parameters not in `fields` are ignored); 422 on failure. A
 * decoded NUL (%00) is refused before any C string is made of it. */
bastion_rc bastion_query_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                    bastion_field_value *out);

/*
 * Validates the route parameter named rule->name with the same rule a body
 * field would get; on failure writes 422 (pointer "/<name>") and returns it.
 * A decoded NUL is refused before any C string is made of it.
 */
bastion_rc bastion_param_or_problem(bastion_ctx *cx, const bastion_field *rule,
                                    bastion_field_value *out);

/*
 * The whole front door for a JSON body: 415 unless Content-Type is
 * application/json; 400 for invalid UTF-8, a raw control character inside a
 * string (RFC 8259 §7), malformed JSON, nesting deeper than 32 or a
 * non-object; 422 with errors[] for failed rules, and a 422 naming the member
 * that holds an escaped U+0000 (json.h's bastion_json_check_at).
 */
bastion_rc bastion_parse_json_or_problem(bastion_ctx *cx, const bastion_field *fields, size_t n,
                                         bastion_field_value *out);

/*
 * For handlers with rules across fields (a price that must match a
 * catalogue, a package offered only for some tiers): the same front door,
 * but the field rules' errors are appended to `errors` (a cJSON array)
 * instead of answered, so the handler can add its own and then answer them
 * all in one 422 with bastion_errors_or_problem:
 *
 *     cJSON *errors = cJSON_CreateArray();
 *     if (bastion_parse_json_collect_or_problem(cx, rules, n, in, errors)) return;
 *     if (in[F_PRICE].present && in[F_PRICE].integer != price) bastion_error_add(…);
 *     if (bastion_errors_or_problem(cx, errors)) return;
 *
 * Writes a problem only for 415 / 400 / the NUL 422, as the front door
 * does; a value whose rule failed is left absent (present = false).
 */
bastion_rc bastion_parse_json_collect_or_problem(bastion_ctx *cx, const bastion_field *fields,
                                                 size_t n, bastion_field_value *out, cJSON *errors);

/*
 * For a batch whose items are accepted or rejected one by one (POST
 * /api/contacts): the strict rules of bastion_validate over one item `obj`
 * (unknown members are errors; not an object is one "must be an object"),
 * each error appended to `errors` under `pointer`, the item's RFC 6901
 * pointer in the body ("/contacts/3"). Fills out[0..n) and returns the
 * number of errors added.
 */
size_t bastion_item_fields(const cJSON *obj, const char *pointer, const bastion_field *fields,
                           size_t n, bastion_field_value *out, cJSON *errors);

/* BASTION_OK when `errors` (a cJSON array of {pointer, detail}) is empty;
 * otherwise the 422 problem carrying them (consumed) and its code. */
bastion_rc bastion_errors_or_problem(bastion_ctx *cx, cJSON *errors);

/*
 * --- provider events (HOOK4) ---
 *
 * A webhook's body is an event the provider built, not a form a user fills
 * in, and provider payloads are open: Stripe and Shopify add members
 * whenever they like (REQUIREMENTS.md, "Clarifications"). So an event's
 * rules check the members they name, with their types, and ignore every
 * other member at every level; a duplicate member is still refused. And a
 * malformed event is 400 (HOOK4), never 422: nobody will correct a field.
 * Call these after the signature is verified (webhook.h), never before.
 *
 *     cJSON *root, *errors = cJSON_CreateArray();
 *     if (bastion_event_body_or_problem(cx, &root)) return;
 *     bastion_event_fields(root, "", envelope, n, in, errors);
 *     if (bastion_event_errors_or_problem(cx, errors)) return;
 */

/* bastion_json_body_or_problem for an event: the same checks, and every
 * failure but the 415 is a 400 (a \u0000 too, with errors[] naming its
 * member). On BASTION_OK *root is the parsed object (arena memory). */
bastion_rc bastion_event_body_or_problem(bastion_ctx *cx, cJSON **root);

/*
 * Runs `fields` over `obj` (a member of the event tree; NULL or a value that
 * is not an object is one "must be an object" error at `pointer`) with
 * unnamed members ignored, and appends each error to `errors` under
 * `pointer`, the RFC 6901 pointer of `obj` in the event ("" for the event
 * itself, "/data/object" for Stripe's object). Fills out[0..n) as
 * bastion_validate does (validate.h) and returns the number of errors added.
 * `pointer` and `fields` are borrowed for the call.
 */
size_t bastion_event_fields(const cJSON *obj, const char *pointer, const bastion_field *fields,
                            size_t n, bastion_field_value *out, cJSON *errors);

/* BASTION_OK when `errors` is empty; otherwise the 400 problem "The event
 * is malformed." carrying them (consumed), and its code. */
bastion_rc bastion_event_errors_or_problem(bastion_ctx *cx, cJSON *errors);

#endif
