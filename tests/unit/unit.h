/*
 * Helpers shared by the core's unit tests (tests/unit/<module>_test.c).
 *
 * Everything here is `static inline` so that a test file that uses only part
 * of it still builds under -Wall -Werror. Response memory comes from the
 * core's arena (bastion_alloc), and so does every cJSON value, the tests'
 * own included (fake_host.c installs the hooks, core.h): cJSON_Delete is a
 * no-op, kept in tests only where it reads naturally. run.sh runs
 * LeakSanitizer, which sees the arena as reachable.
 */
#ifndef BASTION_UNIT_H
#define BASTION_UNIT_H

/* cmocka needs these before its own header */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bastion/bastion.h"

#define UNIT_TYPE_BASE "https://bastion.dev/problems/"

/* Fails the test with a formatted message that cmocka reports on stdout
 * next to the test (its own fail_msg() writes to stderr instead, where
 * run.sh cannot tell which test it belongs to). */
#define unit_fail(...)                                                                             \
    do {                                                                                           \
        char unit_msg_[512];                                                                       \
        snprintf(unit_msg_, sizeof unit_msg_, __VA_ARGS__);                                        \
        _assert_true(0, unit_msg_, __FILE__, __LINE__);                                            \
    } while (0)

/* A request context as the handle export would build it, with the default
 * 15 s deadline (REL2). Response fields start empty. */
static inline void unit_ctx(bastion_ctx *cx)
{
    memset(cx, 0, sizeof *cx);
    cx->trigger = BASTION_TRIGGER_HTTP;
    cx->method = BASTION_LIT("POST");
    cx->path = BASTION_LIT("/api/test");
    cx->route = BASTION_LIT("/api/test");
    cx->client_ip = BASTION_LIT("203.0.113.7");
    cx->request_id = BASTION_LIT("req-1");
    cx->deadline_ms = bastion_now_ms() + 15000;
}

static inline bool unit_str_is(bastion_str s, const char *want)
{
    return s.ptr != NULL && bastion_str_eq(s, bastion_cstr(want));
}

/* The first response header called `name` (ASCII case-insensitive), or
 * BASTION_STR_NULL. */
static inline bastion_str unit_resp_header(const bastion_ctx *cx, const char *name)
{
    for (size_t i = 0; i < cx->n_resp_headers; i++)
        if (bastion_str_eq_ci(cx->resp_headers[i].name, bastion_cstr(name)))
            return cx->resp_headers[i].value;
    return BASTION_STR_NULL;
}

static inline size_t unit_resp_header_count(const bastion_ctx *cx, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < cx->n_resp_headers; i++)
        n += bastion_str_eq_ci(cx->resp_headers[i].name, bastion_cstr(name));
    return n;
}

/* `needle` occurs in the slice (both may hold any bytes but NUL in needle). */
static inline bool unit_contains(bastion_str hay, const char *needle)
{
    size_t n = strlen(needle);
    if (!hay.ptr || n > hay.len)
        return false;
    for (size_t i = 0; i + n <= hay.len; i++)
        if (memcmp(hay.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/* The response body parsed as JSON; the caller deletes it. */
static inline cJSON *unit_body_json(const bastion_ctx *cx)
{
    assert_non_null(cx->resp_body.ptr);
    cJSON *j = cJSON_ParseWithLength(cx->resp_body.ptr, cx->resp_body.len);
    assert_non_null(j);
    return j;
}

/*
 * ERR1: asserts that the response is an RFC 9457 problem with the given
 * status and type slug, carrying title, detail, class and retryable.
 * Returns the parsed body; the caller deletes it.
 */
static inline cJSON *unit_assert_problem(const bastion_ctx *cx, int status, const char *slug)
{
    assert_true(cx->responded);
    assert_int_equal(cx->status, status);
    assert_int_equal(unit_resp_header_count(cx, "content-type"), 1);
    assert_true(unit_str_is(unit_resp_header(cx, "content-type"), "application/problem+json"));
    cJSON *j = unit_body_json(cx);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    assert_true(cJSON_IsString(type));
    char want[160];
    snprintf(want, sizeof want, UNIT_TYPE_BASE "%s", slug);
    assert_string_equal(type->valuestring, want);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    assert_true(cJSON_IsNumber(st));
    assert_int_equal(st->valueint, status);
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, "title");
    assert_true(cJSON_IsString(title) && title->valuestring[0] != '\0');
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(j, "detail");
    assert_true(cJSON_IsString(detail) && detail->valuestring[0] != '\0');
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "class")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "retryable")));
    return j;
}

/* The `detail` of the errors[] entry whose pointer is `pointer`, or NULL. */
static inline const char *unit_error_for(const cJSON *errors, const char *pointer)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, errors)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "pointer");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "detail");
        if (cJSON_IsString(p) && strcmp(p->valuestring, pointer) == 0)
            return cJSON_IsString(d) ? d->valuestring : "";
    }
    return NULL;
}

/*
 * Runs fn(arg) in a forked child with its output discarded and returns its
 * exit status (128 + signal when killed). A sanitizer report ends the child
 * with status 1, so a memory error becomes an ordinary test failure instead
 * of ending the whole test binary.
 */
static inline int unit_run_isolated(void (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        fn(arg);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
