/*
 * host_outbound_refusal (host/outbound_wall.c) from the command line, for
 * tests/host/test_safe4_outbound.py: each stdin line "ADDRESS [URL_HOST]"
 * (ADDRESS an IPv4 or IPv6 literal, or "unix" for an AF_UNIX address) gives
 * one line, "allowed" or "refused: <why>".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "host.h"

int main(void)
{
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char addr[256] = "", url_host[256] = "";
        if (sscanf(line, "%255s %255s", addr, url_host) < 1)
            continue;
        struct sockaddr_storage ss;
        size_t len;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
            in->sin_family = AF_INET;
            len = sizeof *in;
        } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            len = sizeof *in6;
        } else if (strcmp(addr, "unix") == 0) {
            ss.ss_family = AF_UNIX;
            len = sizeof(struct sockaddr_un);
        } else {
            printf("bad address %s\n", addr);
            continue;
        }
        const char *why =
            host_outbound_refusal((struct sockaddr *)&ss, len, *url_host ? url_host : NULL);
        if (why)
            printf("refused: %s\n", why);
        else
            printf("allowed\n");
    }
    return 0;
}
