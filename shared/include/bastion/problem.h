/*
 * RFC 9457 problem responses (ERR1). One table maps each code to its status,
 * type, title, class and retryable flag; call sites add only `detail`.
 */
#ifndef BASTION_PROBLEM_H
#define BASTION_PROBLEM_H

#include <cjson/cJSON.h>

#include "core.h"

typedef enum {
    BASTION_OK = 0,
    BASTION_E_BAD_REQUEST,           /* 400 validation */
    BASTION_E_MALFORMED_JSON,        /* 400 validation */
    BASTION_E_UNAUTHORIZED,          /* 401 auth */
    BASTION_E_FORBIDDEN,             /* 403 auth */
    BASTION_E_NOT_FOUND,             /* 404 validation */
    BASTION_E_METHOD_NOT_ALLOWED,    /* 405 validation */
    BASTION_E_CONFLICT,              /* 409 conflict */
    BASTION_E_IN_PROGRESS,           /* 409 transient: the same request is still running */
    BASTION_E_GONE,                  /* 410 conflict */
    BASTION_E_PRECONDITION_FAILED,   /* 412 conflict */
    BASTION_E_TOO_LARGE,             /* 413 validation */
    BASTION_E_UNSUPPORTED_MEDIA,     /* 415 validation */
    BASTION_E_UNPROCESSABLE,         /* 422 validation */
    BASTION_E_PRECONDITION_REQUIRED, /* 428 validation */
    BASTION_E_RATE_LIMITED,          /* 429 transient */
    BASTION_E_INTERNAL,              /* 500 internal */
    BASTION_E_UNRESOLVED,            /* 500 transient: names something not known (yet); retry */
    BASTION_E_MISCONFIGURED,         /* 500 internal */
    BASTION_E_BAD_GATEWAY,           /* 502 infrastructure */
    BASTION_E_UPSTREAM_REFUSED,      /* 502 conflict: a provider refused (4xx); not retryable */
    BASTION_E_UNAVAILABLE,           /* 503 infrastructure */
    BASTION_E_TIMEOUT,               /* 504 transient */
    BASTION_E__COUNT,
    /* Not an error: a complete response has already been written (e.g. an
     * idempotent replay). Callers return, as after any `_or_problem` failure.
     * Never pass it to bastion_problem. */
    BASTION_ANSWERED = 100,
} bastion_rc;

typedef struct {
    uint16_t status;
    const char *slug; /* the `type` URI's last segment */
    const char *title;
    const char *cls; /* validation | auth | conflict | transient | infrastructure | internal */
    bool retryable;
} bastion_problem_info;

const bastion_problem_info *bastion_problem_lookup(bastion_rc rc);

/*
 * Writes a problem response. `detail` is shown to the client: it MUST NOT
 * carry SQL, secrets, stack traces or other users' data. `errors` (may be
 * NULL) is attached as the `errors` extension: it becomes part of the
 * problem, so the caller MUST NOT attach it anywhere else afterwards (like
 * every cJSON value it is arena memory, core.h: nothing to free). Retry-After is
 * added for 429 and 503 (retry_after_s, minimum 1).
 * Returns rc, so callers can `return bastion_problem(...)`.
 */
bastion_rc bastion_problem_ex(bastion_ctx *cx, bastion_rc rc, const char *detail, cJSON *errors,
                              uint32_t retry_after_s);
bastion_rc bastion_problem(bastion_ctx *cx, bastion_rc rc, const char *detail);

/*
 * bastion_problem_ex with extension members of the caller's choosing (RFC
 * 9457 §3.2), for a problem that must carry more than `errors` (e.g. the
 * per-dependency `checks` of a 503 from /health). Every member of
 * `extensions` (a cJSON object, may be NULL) is moved into the problem after
 * the table's, which leaves `extensions` empty. Members named type,
 * title, status, detail, class or retryable are dropped: those come from the
 * table only. Same `detail` and Retry-After rules as bastion_problem_ex.
 */
bastion_rc bastion_problem_with(bastion_ctx *cx, bastion_rc rc, const char *detail,
                                cJSON *extensions, uint32_t retry_after_s);

#endif
