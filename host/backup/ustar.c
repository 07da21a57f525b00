/*
 * The ustar archive of a backup (see ustar.h). Field offsets and encodings
 * are POSIX.1-2017, pax(1), "ustar Interchange Format".
 */
#include <bearssl.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "ustar.h"

#define COPY_CHUNK 65536

struct header {
    char name[100];
    char mode[8];
    char uid[8];
    char gid[8];
    char size[12];
    char mtime[12];
    char chksum[8];
    char typeflag;
    char linkname[100];
    char magic[6];
    char version[2];
    char uname[32];
    char gname[32];
    char devmajor[8];
    char devminor[8];
    char prefix[155];
    char pad[12];
};
_Static_assert(sizeof(struct header) == HOST_USTAR_BLOCK, "a ustar header is one block");

/* The largest value 11 octal digits hold: 8 GiB - 1. */
#define OCTAL_11_MAX 077777777777ull

static const char *const messages[] = {
    [HOST_USTAR_OK] = "no error",
    [HOST_USTAR_E_IO] = "read or write failed",
    [HOST_USTAR_E_TRUNCATED] = "the archive is truncated",
    [HOST_USTAR_E_HEADER] = "a header is damaged or not ustar (its checksum or magic is wrong)",
    [HOST_USTAR_E_TYPE] = "a member is not a regular file",
    [HOST_USTAR_E_SIZE] = "a member's size field is not a number",
    [HOST_USTAR_E_NAME] = "a member's name does not fit a ustar header",
    [HOST_USTAR_E_CHANGED] = "a file ended before the size it was added with (it changed)",
    [HOST_USTAR_E_TOO_BIG] = "a member is larger than expected",
};

/* see ustar.h */
const char *host_ustar_strerror(enum host_ustar_rc rc)
{
    if ((size_t)rc >= sizeof messages / sizeof *messages || !messages[rc])
        return "unknown error";
    return messages[rc];
}

/* The checksum is the unsigned sum of the header's bytes, its own field
 * counted as eight spaces. */
static unsigned long header_sum(const struct header *h)
{
    const unsigned char *p = (const unsigned char *)h;
    unsigned long sum = 0;
    for (size_t i = 0; i < sizeof *h; i++)
        sum += i >= offsetof(struct header, chksum) && i < offsetof(struct header, typeflag)
                   ? (unsigned char)' '
                   : p[i];
    return sum;
}

static void octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits and the NUL the field ends with */
    snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)v);
}

/* A size of 8 GiB or more: GNU's base-256, the high bit of the first byte
 * set and the value big-endian in the other eleven. */
static void base256(char field[12], uint64_t v)
{
    memset(field, 0, 12);
    field[0] = (char)0x80;
    for (int i = 11; i >= 4; i--, v >>= 8)
        field[i] = (char)(v & 0xff);
}

static enum host_ustar_rc write_all(FILE *out, const void *p, size_t n)
{
    return fwrite(p, 1, n, out) == n ? HOST_USTAR_OK : HOST_USTAR_E_IO;
}

static enum host_ustar_rc write_header(FILE *out, const char *name, uint64_t mtime, uint64_t size)
{
    struct header h;
    size_t len = strlen(name);
    if (len == 0 || len > sizeof h.name)
        return HOST_USTAR_E_NAME;
    memset(&h, 0, sizeof h);
    memcpy(h.name, name, len);
    octal(h.mode, sizeof h.mode, 0600);
    octal(h.uid, sizeof h.uid, 0);
    octal(h.gid, sizeof h.gid, 0);
    if (size <= OCTAL_11_MAX)
        octal(h.size, sizeof h.size, size);
    else
        base256(h.size, size);
    octal(h.mtime, sizeof h.mtime, mtime <= OCTAL_11_MAX ? mtime : OCTAL_11_MAX);
    h.typeflag = '0';
    memcpy(h.magic, "ustar", 6); /* with its NUL */
    memcpy(h.version, "00", 2);
    /* six digits, a NUL and a space */
    char sum[8];
    snprintf(sum, sizeof sum, "%06lo", header_sum(&h) & 0777777);
    memcpy(h.chksum, sum, 7);
    h.chksum[7] = ' ';
    return write_all(out, &h, sizeof h);
}

static enum host_ustar_rc pad(FILE *out, uint64_t size)
{
    static const char zeros[HOST_USTAR_BLOCK];
    size_t n = (HOST_USTAR_BLOCK - size % HOST_USTAR_BLOCK) % HOST_USTAR_BLOCK;
    return write_all(out, zeros, n);
}

/* see ustar.h */
enum host_ustar_rc host_ustar_add_fd(FILE *out, const char *name, uint64_t mtime, int fd,
                                     uint64_t size, uint8_t sha256[HOST_USTAR_SHA256])
{
    enum host_ustar_rc rc = write_header(out, name, mtime, size);
    br_sha256_context sha;
    br_sha256_init(&sha);
    char buf[COPY_CHUNK];
    for (uint64_t left = size; rc == HOST_USTAR_OK && left > 0;) {
        ssize_t got = read(fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return HOST_USTAR_E_IO;
        if (got == 0)
            return HOST_USTAR_E_CHANGED;
        br_sha256_update(&sha, buf, (size_t)got);
        rc = write_all(out, buf, (size_t)got);
        left -= (uint64_t)got;
    }
    if (rc == HOST_USTAR_OK)
        rc = pad(out, size);
    br_sha256_out(&sha, sha256);
    return rc;
}

/* see ustar.h */
enum host_ustar_rc host_ustar_add_bytes(FILE *out, const char *name, uint64_t mtime,
                                        const void *data, size_t len)
{
    enum host_ustar_rc rc = write_header(out, name, mtime, len);
    if (rc == HOST_USTAR_OK)
        rc = write_all(out, data, len);
    return rc == HOST_USTAR_OK ? pad(out, len) : rc;
}

/* see ustar.h */
enum host_ustar_rc host_ustar_end(FILE *out)
{
    static const char zeros[2 * HOST_USTAR_BLOCK];
    return write_all(out, zeros, sizeof zeros);
}

static enum host_ustar_rc read_exact(FILE *in, void *p, size_t n)
{
    size_t got = fread(p, 1, n, in);
    if (got == n)
        return HOST_USTAR_OK;
    return ferror(in) ? HOST_USTAR_E_IO : HOST_USTAR_E_TRUNCATED;
}

/* An octal field: leading blanks, then digits up to a NUL, a blank or its
 * end. -1 when there is no digit, another character, or an overflow. */
static int parse_octal(const char *f, size_t width, uint64_t *out)
{
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v > (UINT64_MAX >> 3))
            return -1;
        v = v << 3 | (uint64_t)(f[i] - '0');
    }
    if (digits == 0 || (i < width && f[i] != 0 && f[i] != ' '))
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char f[12], uint64_t *out)
{
    if (!((unsigned char)f[0] & 0x80))
        return parse_octal(f, 12, out);
    if ((unsigned char)f[0] != 0x80) /* 0xff is negative; other high bits would not fit */
        return -1;
    uint64_t v = 0;
    for (int i = 1; i < 12; i++) {
        if (v > (UINT64_MAX >> 8))
            return -1;
        v = v << 8 | (unsigned char)f[i];
    }
    *out = v;
    return 0;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* see ustar.h */
enum host_ustar_rc host_ustar_next(FILE *in, struct host_ustar_member *m, int *more)
{
    struct header h;
    *more = 0;
    enum host_ustar_rc rc = read_exact(in, &h, sizeof h);
    if (rc != HOST_USTAR_OK)
        return rc;
    if (all_zero(&h, sizeof h))
        return HOST_USTAR_OK;
    uint64_t stored;
    if (parse_octal(h.chksum, sizeof h.chksum, &stored) != 0 || stored != header_sum(&h) ||
        memcmp(h.magic, "ustar", 5) != 0)
        return HOST_USTAR_E_HEADER;
    if (h.typeflag != '0' && h.typeflag != 0)
        return HOST_USTAR_E_TYPE;
    if (parse_size(h.size, &m->size) != 0)
        return HOST_USTAR_E_SIZE;
    size_t pl = strnlen(h.prefix, sizeof h.prefix), nl = strnlen(h.name, sizeof h.name);
    if (nl == 0)
        return HOST_USTAR_E_NAME;
    size_t o = 0;
    if (pl) {
        memcpy(m->name, h.prefix, pl);
        m->name[pl] = '/';
        o = pl + 1;
    }
    memcpy(m->name + o, h.name, nl);
    m->name[o + nl] = 0;
    *more = 1;
    return HOST_USTAR_OK;
}

static enum host_ustar_rc write_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return HOST_USTAR_E_IO;
        p += w;
        n -= (size_t)w;
    }
    return HOST_USTAR_OK;
}

/* see ustar.h */
enum host_ustar_rc host_ustar_read_data(FILE *in, uint64_t size, int fd, char *buf, size_t cap,
                                        uint8_t sha256[HOST_USTAR_SHA256])
{
    if (buf && size >= cap)
        return HOST_USTAR_E_TOO_BIG;
    br_sha256_context sha;
    br_sha256_init(&sha);
    char chunk[COPY_CHUNK];
    enum host_ustar_rc rc = HOST_USTAR_OK;
    for (uint64_t done = 0; rc == HOST_USTAR_OK && done < size;) {
        size_t n = size - done < sizeof chunk ? (size_t)(size - done) : sizeof chunk;
        rc = read_exact(in, chunk, n);
        if (rc != HOST_USTAR_OK)
            break;
        br_sha256_update(&sha, chunk, n);
        if (fd >= 0)
            rc = write_fd(fd, chunk, n);
        if (buf)
            memcpy(buf + done, chunk, n);
        done += n;
    }
    if (rc == HOST_USTAR_OK && buf)
        buf[size] = 0;
    size_t padding = (HOST_USTAR_BLOCK - size % HOST_USTAR_BLOCK) % HOST_USTAR_BLOCK;
    if (rc == HOST_USTAR_OK)
        rc = read_exact(in, chunk, padding);
    br_sha256_out(&sha, sha256);
    return rc;
}
