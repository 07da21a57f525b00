/*
 * Internal to host/backup/: a POSIX ustar archive, written and read one
 * member at a time with a fixed 64 KiB buffer, and every member's SHA-256
 * computed on the way through (BearSSL's br_sha256). It knows nothing of
 * Bastion; layout.c says which members a backup holds.
 *
 * The format is POSIX.1-2017's "ustar Interchange Format" (pax(1)): a
 * 512-byte header per member (octal fields, a checksum over the header),
 * the data padded to a multiple of 512 bytes, two zero blocks at the end.
 * GNU tar, bsdtar and Python's tarfile read it. Only regular files are
 * written or accepted; a size of 8 GiB or more is written in the base-256
 * form GNU tar and Python's tarfile read (the octal field holds 11 digits).
 *
 * No function here allocates: the caller owns the FILE, the member record
 * and the digest buffers, and none is kept past the call (no release
 * function).
 */
#ifndef HOST_BACKUP_USTAR_H
#define HOST_BACKUP_USTAR_H

#include <stdint.h>
#include <stdio.h>

#define HOST_USTAR_BLOCK  512
#define HOST_USTAR_SHA256 32 /* bytes of a member's digest */
/* The longest name a header holds: its prefix (155), '/', its name (100). */
#define HOST_USTAR_NAME_MAX (155 + 1 + 100)

/* What went wrong, 0 = nothing. host_ustar_strerror() reads each one. */
enum host_ustar_rc {
    HOST_USTAR_OK = 0,
    HOST_USTAR_E_IO,        /* a read or write failed: errno says why */
    HOST_USTAR_E_TRUNCATED, /* the archive ends inside a header or a member */
    HOST_USTAR_E_HEADER,    /* a header's checksum or magic is wrong: not ustar, or damaged */
    HOST_USTAR_E_TYPE,      /* a member that is not a regular file (link, directory, pax) */
    HOST_USTAR_E_SIZE,      /* a size field that does not parse */
    HOST_USTAR_E_NAME,      /* a name that does not fit a header, or holds a NUL */
    HOST_USTAR_E_CHANGED,   /* a file being added ended before the size it was added with */
    HOST_USTAR_E_TOO_BIG,   /* a member larger than the caller's buffer */
};

/* A readable sentence for `rc` (static storage; never NULL). */
const char *host_ustar_strerror(enum host_ustar_rc rc);

/* One member as its header describes it. `name` is the header's prefix and
 * name joined with '/', NUL-terminated; nothing in it has been checked for
 * safety (layout.c does that). */
struct host_ustar_member {
    char name[HOST_USTAR_NAME_MAX + 1];
    uint64_t size;
};

/* Appends a regular-file member `name` (NUL-terminated, at most 100 bytes)
 * with mode 0600 and modification time `mtime` (epoch seconds), whose data
 * is exactly the next `size` bytes read from `fd`; its SHA-256 goes to
 * `sha256`. HOST_USTAR_E_CHANGED when fd ends early (the archive is then
 * unusable: the caller abandons it). */
enum host_ustar_rc host_ustar_add_fd(FILE *out, const char *name, uint64_t mtime, int fd,
                                     uint64_t size, uint8_t sha256[HOST_USTAR_SHA256]);

/* The same for `len` bytes at `data` (borrowed for the call). */
enum host_ustar_rc host_ustar_add_bytes(FILE *out, const char *name, uint64_t mtime,
                                        const void *data, size_t len);

/* The two zero blocks that end an archive. The caller flushes and syncs. */
enum host_ustar_rc host_ustar_end(FILE *out);

/* Reads the next header of `in` into *m. *more = 1: a regular-file member,
 * whose data the caller MUST read next with host_ustar_read_data; *more =
 * 0: the end-of-archive block. An archive that simply stops is
 * HOST_USTAR_E_TRUNCATED, so a cut copy is never taken for a whole one. */
enum host_ustar_rc host_ustar_next(FILE *in, struct host_ustar_member *m, int *more);

/* Reads the `size` bytes of the member whose header was just read, and its
 * padding. They are written to `fd` unless it is -1, and copied into `buf`
 * (NUL-terminated, so `cap` must exceed size; HOST_USTAR_E_TOO_BIG
 * otherwise) unless it is NULL. Their SHA-256 goes to `sha256`. */
enum host_ustar_rc host_ustar_read_data(FILE *in, uint64_t size, int fd, char *buf, size_t cap,
                                        uint8_t sha256[HOST_USTAR_SHA256]);

#endif
