/*
 * The WASI preview1 subset Bastion modules link (wasi-libc's clock, random,
 * stdout/stderr and exit): witx signatures, not the canonical ABI, but the
 * values in guest memory are abi_layout.h types all the same.
 */
#include <sys/random.h>
#include <time.h>

#include "imports/imports.h"
#include "rt/rt.h"

/* errno values from the WASI preview1 witx */
#define WASI_ESUCCESS 0
#define WASI_EBADF    8
#define WASI_EINVAL   28
#define WASI_ENOSYS   52

/* see imports.h */
uint32_t host_import_wasi_clock_time_get(struct host_call *c, uint32_t id, uint64_t precision,
                                         uint32_t out)
{
    (void)precision;
    uint64_t ns;
    switch (id) {
    case 0: ns = host_guest_wall_ns(); break; /* the modules' wall clock (rt.h) */
    case 1: ns = host_now_ns(); break;
    default: return WASI_EINVAL;
    }
    GUEST_STORE(c, out, uint64_t, &ns); /* timestamp: u64 */
    return WASI_ESUCCESS;
}

/* see imports.h */
uint32_t host_import_wasi_random_get(struct host_call *c, uint32_t buf, uint32_t len)
{
    uint8_t *p = guest_span(c, buf, len);
    if (host_rng_fill(&c->rng, p, len)) /* BASTION_TEST_RANDOM_SEED (rt.h) */
        return WASI_ESUCCESS;
    for (uint32_t got = 0; got < len;) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n <= 0)
            return WASI_EINVAL;
        got += (uint32_t)n;
    }
    return WASI_ESUCCESS;
}

/* fd 1 and 2 go to the structured log as one line per call; nothing else is
 * writable. */
uint32_t host_import_wasi_fd_write(struct host_call *c, uint32_t fd, uint32_t iovs, uint32_t n,
                                   uint32_t nwritten)
{
    if (fd != 1 && fd != 2)
        return WASI_EBADF;
    const uint8_t *iov = GUEST_ARRAY(c, ((abi_list){iovs, n}), abi_wasi_iovec);
    GUEST_CHECK(c, nwritten, uint32_t); /* size: u32 */
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        abi_wasi_iovec v;
        GUEST_ELEM(iov, i, abi_wasi_iovec, &v);
        uint32_t l = v.len;
        const char *s = (const char *)guest_span(c, v.buf, l);
        while (l && (s[l - 1] == '\n'))
            l--;
        if (l && host_utf8_valid((const uint8_t *)s, l)) {
            /* plain output may be cut, at a character boundary */
            size_t keep = host_import_log_fits(c, HOST_LOG_FRAMING, l);
            while (keep && keep < l && ((uint8_t)s[keep] & 0xC0) == 0x80)
                keep--;
            c->counters.log_dropped += l - keep;
            if (keep)
                c->log_bytes += host_log_line(fd == 1 ? "info" : "warn", c->fn->name,
                                              c->req->request_id, s, keep, NULL, NULL, 0);
        }
        total += v.len;
    }
    GUEST_STORE(c, nwritten, uint32_t, &total);
    return WASI_ESUCCESS;
}

/* wasi-libc's printf family links stderr's FILE, and with it close and seek;
 * no module can open a file, so both answer EBADF. */
uint32_t host_import_wasi_fd_close(struct host_call *c, uint32_t fd)
{
    (void)c;
    (void)fd;
    return WASI_EBADF;
}

/* see imports.h */
uint32_t host_import_wasi_fd_seek(struct host_call *c, uint32_t fd, uint64_t offset,
                                  uint32_t whence, uint32_t out)
{
    (void)c;
    (void)fd;
    (void)offset;
    (void)whence;
    (void)out;
    return WASI_EBADF;
}

/* see imports.h */
void host_import_wasi_proc_exit(struct host_call *c, uint32_t code)
{
    (void)c;
    (void)code;
    host_rt_trap(HOST_TRAP_EXIT);
}
