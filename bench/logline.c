/*
 * bench/logline.c: the cost of one access line (host_log_line with the ten
 * fields server.c writes), 300,000 lines to /dev/null. Build against a
 * log_sink.c and run; callgrind counts its instructions, which the machine's
 * load does not move:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Ihost -Ihost/rt bench/logline.c host/log_sink.c -o L
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null ./L
 */
#include <stdio.h>
#include <time.h>
#include "host.h"
int main(void)
{
    FILE *f = fopen("/dev/null", "w");
    host_log_init(f);
    const char *kv[20] = {"type",         "access",
                          "method",       "GET",
                          "route",        "/api/waitlist/{product_id}/count",
                          "status",       "200",
                          "duration_us",  "123",
                          "instance_us",  "99",
                          "kv_calls",     "0",
                          "sql_calls",    "1",
                          "http_calls",   "0",
                          "memory_pages", "16"};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 300000; i++)
        host_log_line("info", "waitlist", "0123456789abcdef0123456789abcdef", "request", 7, kv,
                      NULL, 10);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f us/line\n",
           ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 300000 / 1000.0);
}
