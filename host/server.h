#ifndef HOST_SERVER_H
#define HOST_SERVER_H
#include "host.h"
/* Serves until SIGINT/SIGTERM, then drains in-flight requests. 0 on a clean stop. */
int host_serve(struct host_env *env, const char *addr, uint16_t port, unsigned workers);
#endif
