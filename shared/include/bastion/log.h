/*
 * Safe structured logging (OBS1).
 *
 * The host writes each line as one JSON object and adds "ts", "level", "fn"
 * and "request_id" itself (host/log_sink.c), so every line carries the request id
 * without the module passing it. What the module passes — the message and
 * name/value fields — goes through the rules below first. Modules MUST log
 * through bastion_log_safe, never bastion_log directly.
 *
 * Rules, applied in this order to the message and to every field value:
 *  1. Redaction by field name: a field whose name contains, ignoring ASCII
 *     case, any of
 *         secret token password passwd authorization api_key apikey api-key
 *         cookie signature session credential private_key jwt
 *     has its value replaced by "[redacted]" whatever it holds.
 *  2. Credentials in text: a JWT ("eyJ…" with two '.', RFC 7519 §3) becomes
 *     "[redacted]", and so does a credential of 8+ characters after
 *     "Bearer " (RFC 6750 §2.1) or, when it is base64, after "Basic "
 *     (RFC 7617 §2), either in any case.
 *  3. Emails: anything shaped local@domain.tld keeps the first character of
 *     the local part and the domain: "john@example.com" → "j***@example.com".
 *  4. Phone numbers: a run of 8 or more digits, optionally led by '+' and
 *     broken by ' ', '-', '.', '(' or ')', that does not sit inside a word
 *     or identifier (the character before it is the start, whitespace or
 *     one of " ' ( < [ { : = , ;  and no letter or digit follows it):
 *       - led by '+': the first 2 characters and the last 4 digits stay,
 *         everything between becomes '*' one for one:
 *         "+12025554567" → "+1******4567";
 *       - otherwise there is no country code to show, so only the last 4
 *         digits stay: "2025554567" → "******4567".
 *     Not phones: ISO dates (YYYY-MM-DD…), a run followed by ':' (clock
 *     times, host:port) and dotted IPv4 addresses. Other long numbers (epoch
 *     milliseconds, long ids) ARE masked: a false positive costs a little
 *     debugging, a false negative leaks personal data.
 * Field names are not rewritten: they MUST be constants chosen by the code,
 * never request data.
 *
 * Memory: masked copies are made in the request arena; nothing to release.
 */
#ifndef BASTION_LOG_H
#define BASTION_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"
#include "host.h"

#define BASTION_LOG_REDACTED "[redacted]"

/* Applies the rules above to msg (NUL-terminated; NULL is "") and to
 * fields[0..n), then writes the line through bastion_log. The caller's
 * fields are not modified. */
void bastion_log_safe(bastion_log_level level, const char *msg, const bastion_header *fields,
                      size_t n);

/* Rules 2-4 on `text`: a NUL-terminated arena copy (also when nothing
 * changed). For text that leaves the module other than through the log,
 * e.g. an error message stored in an outbox row. */
bastion_str bastion_log_mask(bastion_str text);

/* Rule 1: true when a field called `name` must never show its value. */
bool bastion_log_secret_name(bastion_str name);

#endif
