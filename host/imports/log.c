/*
 * bastion:edge/log@0.1.0: write, one structured line on the host's log
 * (log_sink.c), within the request's guest log cap.
 */
#include "imports/imports.h"
#include "rt/rt.h"

/* see imports.h */
void host_import_log_write(struct host_call *c, uint32_t level, uint32_t mp, uint32_t ml,
                           uint32_t fp, uint32_t fl)
{
    if (level > ABI_LOG_ERROR)
        host_rt_trap(HOST_TRAP_ABI);
    const char *msg = guest_str(c, mp, ml);
    const uint8_t *f = GUEST_ARRAY(c, ((abi_list){fp, fl}), abi_pair);
    if (fl > 64)
        fl = 64; /* a log line is not a bulk channel */
    const char *kv[128];
    size_t lens[128];
    for (uint32_t i = 0; i < fl; i++) {
        abi_pair in;
        GUEST_ELEM(f, i, abi_pair, &in);
        kv[2 * i] = guest_str(c, in.name.ptr, in.name.len);
        lens[2 * i] = in.name.len;
        kv[2 * i + 1] = guest_str(c, in.value.ptr, in.value.len);
        lens[2 * i + 1] = in.value.len;
    }
    host_import_log_emit(c, level, msg, ml, kv, lens, fl);
}

/* see imports.h */
void host_import_log_emit(struct host_call *c, uint32_t level, const char *msg, size_t ml,
                          const char *const *kv, const size_t *lens, size_t n)
{
    static const char *const levels[] = {[ABI_LOG_DEBUG] = "debug",
                                         [ABI_LOG_INFO] = "info",
                                         [ABI_LOG_WARN] = "warn",
                                         [ABI_LOG_ERROR] = "error"};
    size_t bytes = ml;
    for (size_t i = 0; i < 2 * n; i++)
        bytes += lens[i];
    /* a structured line is kept whole or dropped whole */
    if (host_import_log_fits(c, HOST_LOG_FRAMING + 8 * n, bytes) < bytes)
        c->counters.log_dropped += bytes;
    else
        c->log_bytes +=
            host_log_line(levels[level], c->fn->name, c->req->request_id, msg, ml, kv, lens, n);
}
