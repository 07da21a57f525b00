/*
 * Typed configuration variables (REL8).
 *
 * Variables come from the host (bastion_config in host.h): only those the
 * manifest grants to the function, as text. The host already refuses to
 * start when a variable the manifest marks required is missing; a module
 * checks again, and checks types and ranges, before it serves, and refuses
 * with a 500 problem (BASTION_E_MISCONFIGURED) that names the variable.
 *
 * Values MUST NOT appear in problems or logs: a variable may be a secret,
 * and a malformed value is often a secret pasted into the wrong variable.
 * Every message here names variables only.
 *
 * Nothing allocates except the _or_problem functions (problem text and the
 * log line, in the request arena). Returned slices borrow the host's copy,
 * which lives as long as the instance.
 */
#ifndef BASTION_CONFIG_H
#define BASTION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "problem.h"

typedef enum {
    BASTION_CONFIG_OK = 0,       /* set and well-formed: *out is its value */
    BASTION_CONFIG_UNSET,        /* not set, not granted, or set to "": *out = the default */
    BASTION_CONFIG_MALFORMED,    /* set, but not of the type: *out = the default; MUST NOT serve */
    BASTION_CONFIG_OUT_OF_RANGE, /* an integer outside [min, max]: *out = the default; ditto */
} bastion_config_rc;

/*
 * Getters. Each reports exactly what it found and always writes *out, with
 * `dflt` unless the rc is BASTION_CONFIG_OK. For an optional variable treat
 * UNSET as success; for a required one, as an error (or check first with
 * bastion_config_require_or_problem).
 *
 * An empty value counts as unset: an empty secret or URL is never meant.
 */
/* Decimal, optional leading '-', ASCII digits only: no spaces, '+', "0x",
 * fractions or exponents. Overflowing int64 is OUT_OF_RANGE. */
bastion_config_rc bastion_config_int(const char *name, int64_t dflt, int64_t min, int64_t max,
                                     int64_t *out);
/* "true"/"false", "1"/"0", "yes"/"no", "on"/"off", ignoring ASCII case. */
bastion_config_rc bastion_config_bool(const char *name, bool dflt, bool *out);
bastion_config_rc bastion_config_str(const char *name, bastion_str dflt, bastion_str *out);

/*
 * The module-level check, first thing in a handler:
 *
 *     static const char *const NEEDED[] = {"jwt_secret", "base_url"};
 *     if (bastion_config_require_or_problem(cx, NEEDED, 2)) return;
 *
 * Every name in names[0..n) that is unset (or empty) is collected; if any,
 * logs them at error level and writes a 500 BASTION_E_MISCONFIGURED problem
 * with detail "Missing configuration: a, b", and returns that code.
 */
bastion_rc bastion_config_require_or_problem(bastion_ctx *cx, const char *const *names, size_t n);

/* An optional integer / bool with a default: UNSET gives the default and
 * BASTION_OK; MALFORMED or OUT_OF_RANGE logs, writes a 500
 * BASTION_E_MISCONFIGURED naming the variable and the expected form (never
 * the value) and returns that code. */
bastion_rc bastion_config_int_or_problem(bastion_ctx *cx, const char *name, int64_t dflt,
                                         int64_t min, int64_t max, int64_t *out);
bastion_rc bastion_config_bool_or_problem(bastion_ctx *cx, const char *name, bool dflt, bool *out);

#endif
