/* The host's error values (host.h: the WIT `error` variant). */
#include <stdarg.h>
#include <stdio.h>

#include "host.h"

int host_fail(struct host_err *err, host_err_kind kind, const char *fmt, ...)
{
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}
