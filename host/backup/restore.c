/*
 * bastion restore --in FILE --state DIR
 *
 * DIR must be absent or an empty directory: a restore never mixes a backup
 * with state that is already there, and it refuses before writing anything.
 *
 * The members are written into a new directory beside DIR (mkdtemp's
 * "DIR.restore-XXXXXX", in DIR's parent so the last step is one rename),
 * each file created exclusively, 0600, its SHA-256 computed as it streams
 * in (ustar.c: 64 KiB at a time, whatever the size). Once the whole archive
 * has been read, it is checked: BACKUP.json must be a format this host
 * reads and list every member and nothing else, with the size and SHA-256
 * each was read with; then every database must answer
 * `PRAGMA integrity_check` with "ok" (opened immutable, so the check writes
 * nothing beside it). Only then are the files and directories synced and
 * the new directory renamed to DIR: rename(2) replaces an empty directory,
 * and fails if anything was written into DIR meanwhile. Any failure removes
 * the new directory, so DIR is untouched or complete; a killed restore
 * leaves DIR.restore-XXXXXX, never a part of a state at DIR.
 *
 * Names are checked before a byte of their member is written (layout.c):
 * an absolute name, or one with a "..", "." or empty part, is refused as
 * unsafe; so is a name of nothing a state directory holds, a member given
 * twice, and any link, directory or pax header (ustar.c).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "backup_internal.h"

/* One member as it was read. */
struct got {
    char name[HOST_USTAR_NAME_MAX + 1];
    enum host_backup_member kind;
    uint64_t size;
    uint8_t sha[HOST_USTAR_SHA256];
    int listed; /* BACKUP.json names it */
};

struct job {
    const char *in;
    char state[PATH_MAX];
    FILE *log, *errs;
    FILE *f;
    char tmp[PATH_MAX]; /* the new directory; "" when there is none */
    struct got *got;
    size_t n_got;
    char *index; /* BACKUP.json's text */
    cJSON *doc;
};

static int fail(struct job *j, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line on errs: "restore: PATH: problem". Returns -1. */
static int fail(struct job *j, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(j->errs, "restore: %s: ", path);
    vfprintf(j->errs, fmt, ap);
    fputc('\n', j->errs);
    va_end(ap);
    return -1;
}

/* A member's name as it may be printed: an archive can hold any byte, and
 * a message is one line. */
static const char *shown(const char *name, char out[80])
{
    size_t o = 0;
    for (const char *p = name; *p && o + 4 < 80; p++)
        out[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    if (strlen(name) > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return out;
}

/* --- the target ----------------------------------------------------------- */

/* Absent, or an empty directory; nothing else. */
static int target_ok(struct job *j)
{
    struct stat sb;
    if (lstat(j->state, &sb) != 0)
        return errno == ENOENT ? 0 : fail(j, j->state, "%s", strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return fail(j, j->state, "exists and is not a directory; nothing was restored");
    DIR *d = opendir(j->state);
    if (!d)
        return fail(j, j->state, "%s", strerror(errno));
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return fail(j, j->state,
                    "is not empty; restore only into an empty or absent state directory "
                    "(nothing was written)");
    return 0;
}

/* Removes the new directory and what this restore put in it. */
static void remove_tmp(struct job *j)
{
    if (!j->tmp[0])
        return;
    static const char *const dirs[] = {"/sql", ""};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s%s", j->tmp, dirs[i]);
        DIR *d = opendir(dir);
        for (struct dirent *e; d && (e = readdir(d));) {
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                strcmp(e->d_name, "sql") != 0)
                unlink(p);
        }
        if (d)
            closedir(d);
        rmdir(dir);
    }
    j->tmp[0] = 0;
}

/* --- reading the archive --------------------------------------------------- */

static int read_member(struct job *j, const struct host_ustar_member *m)
{
    char pr[80];
    enum host_backup_member kind = host_backup_member_kind(m->name);
    if (kind == HOST_MEMBER_UNSAFE)
        return fail(j, j->in,
                    "member '%s': unsafe name (absolute, or a '..', '.' or empty part); refused",
                    shown(m->name, pr));
    if (kind == HOST_MEMBER_UNKNOWN)
        return fail(j, j->in, "member '%s': not a file a state directory holds; refused",
                    shown(m->name, pr));
    for (size_t i = 0; i < j->n_got; i++)
        if (strcmp(j->got[i].name, m->name) == 0)
            return fail(j, j->in, "member '%s' appears twice", shown(m->name, pr));
    if (j->n_got == HOST_BACKUP_MAX_MEMBERS)
        return fail(j, j->in, "more than %d members", HOST_BACKUP_MAX_MEMBERS);
    struct got *grown = realloc(j->got, (j->n_got + 1) * sizeof *grown);
    if (!grown)
        return fail(j, j->in, "out of memory");
    j->got = grown;
    struct got *g = &j->got[j->n_got++];
    *g = (struct got){.kind = kind, .size = m->size};
    snprintf(g->name, sizeof g->name, "%s", m->name);

    enum host_ustar_rc rc;
    if (kind == HOST_MEMBER_INDEX) {
        if (m->size > HOST_BACKUP_INDEX_MAX)
            return fail(j, j->in, "%s is larger than %u bytes", HOST_BACKUP_INDEX,
                        HOST_BACKUP_INDEX_MAX);
        if (!(j->index = malloc((size_t)m->size + 1)))
            return fail(j, j->in, "out of memory");
        rc = host_ustar_read_data(j->f, m->size, -1, j->index, (size_t)m->size + 1, g->sha);
        return rc == HOST_USTAR_OK ? 0 : fail(j, j->in, "%s", host_ustar_strerror(rc));
    }
    char path[PATH_MAX + 300];
    if (kind == HOST_MEMBER_SQL) {
        snprintf(path, sizeof path, "%s/sql", j->tmp);
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fail(j, path, "%s", strerror(errno));
    }
    snprintf(path, sizeof path, "%s/%s", j->tmp, m->name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(j, path, "%s", strerror(errno));
    rc = host_ustar_read_data(j->f, m->size, fd, NULL, 0, g->sha);
    int synced = rc == HOST_USTAR_OK && fsync(fd) == 0;
    synced = close(fd) == 0 && synced;
    if (rc != HOST_USTAR_OK)
        return fail(j, rc == HOST_USTAR_E_IO ? path : j->in, "member %s: %s%s%s", m->name,
                    host_ustar_strerror(rc), rc == HOST_USTAR_E_IO ? ": " : "",
                    rc == HOST_USTAR_E_IO ? strerror(errno) : "");
    return synced ? 0 : fail(j, path, "%s", strerror(errno));
}

static int read_archive(struct job *j)
{
    for (;;) {
        struct host_ustar_member m;
        int more;
        enum host_ustar_rc rc = host_ustar_next(j->f, &m, &more);
        if (rc != HOST_USTAR_OK)
            return fail(j, j->in, "%s%s%s", host_ustar_strerror(rc),
                        rc == HOST_USTAR_E_IO ? ": " : "",
                        rc == HOST_USTAR_E_IO ? strerror(errno) : "");
        if (!more)
            return 0;
        if (read_member(j, &m) != 0)
            return -1;
    }
}

/* --- checking it ------------------------------------------------------------ */

static struct got *find(struct job *j, const char *name)
{
    for (size_t i = 0; i < j->n_got; i++)
        if (strcmp(j->got[i].name, name) == 0)
            return &j->got[i];
    return NULL;
}

/* BACKUP.json against what was read: the format, then every member by
 * name, size and SHA-256, both ways. */
static int check_index(struct job *j)
{
    if (!j->index)
        return fail(j, j->in, "no %s: not a Bastion backup, or cut short", HOST_BACKUP_INDEX);
    j->doc = cJSON_Parse(j->index);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(j->doc, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(j->doc, "version");
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(j->doc, "members");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, HOST_BACKUP_FORMAT) != 0)
        return fail(j, j->in, "%s: \"format\" is not \"%s\"", HOST_BACKUP_INDEX,
                    HOST_BACKUP_FORMAT);
    if (!cJSON_IsNumber(version) || version->valuedouble != HOST_BACKUP_VERSION)
        return fail(j, j->in, "%s: format version %g; this host reads version %d",
                    HOST_BACKUP_INDEX, cJSON_IsNumber(version) ? version->valuedouble : 0.0,
                    HOST_BACKUP_VERSION);
    if (!cJSON_IsArray(members))
        return fail(j, j->in, "%s: \"members\" is not a list", HOST_BACKUP_INDEX);
    const cJSON *e;
    cJSON_ArrayForEach(e, members)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"));
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");
        if (!name || !sha || !cJSON_IsNumber(size))
            return fail(j, j->in, "%s: a member without name, size and sha256", HOST_BACKUP_INDEX);
        struct got *g = find(j, name);
        char pr[80];
        if (!g || g->kind == HOST_MEMBER_INDEX || g->listed)
            return fail(j, j->in, "%s lists %s %s", HOST_BACKUP_INDEX, shown(name, pr),
                        g && g->listed ? "twice" : "but the archive does not hold it");
        char hex[65];
        host_backup_hex(g->sha, hex);
        if (size->valuedouble != (double)g->size)
            return fail(j, j->in, "member %s: %llu bytes, %s says %.0f: the backup is corrupt",
                        name, (unsigned long long)g->size, HOST_BACKUP_INDEX, size->valuedouble);
        if (strcmp(sha, hex) != 0)
            return fail(j, j->in,
                        "member %s: SHA-256 %s does not match %s's %s: the backup is corrupt", name,
                        hex, HOST_BACKUP_INDEX, shown(sha, pr));
        g->listed = 1;
    }
    for (size_t i = 0; i < j->n_got; i++)
        if (j->got[i].kind != HOST_MEMBER_INDEX && !j->got[i].listed)
            return fail(j, j->in, "member %s is not listed in %s", j->got[i].name,
                        HOST_BACKUP_INDEX);
    return 0;
}

/* "file:" URI of `path` with immutable=1 (RFC 3986 §2.1 percent-encoding):
 * SQLite then reads the file without locks and creates nothing beside it. */
static void immutable_uri(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(out, cap, "file:%s", path[0] == '/' ? "//" : "");
    for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._~-", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    snprintf(out + o, cap - o, "?immutable=1");
}

/* PRAGMA integrity_check answers one row "ok", or the problems it found. */
static int check_db(struct job *j, const struct got *g)
{
    char path[PATH_MAX + 300], uri[3 * sizeof path + 32];
    snprintf(path, sizeof path, "%s/%s", j->tmp, g->name);
    immutable_uri(path, uri, sizeof uri);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = host_backup_open_db(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    /* the first problem, kept: the next step frees the row's text */
    char first[200] = "";
    const unsigned char *text = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    if (text)
        snprintf(first, sizeof first, "%s", (const char *)text);
    int ok = strcmp(first, "ok") == 0 && sqlite3_step(q) == SQLITE_DONE;
    if (!ok)
        fail(j, j->in, "member %s fails PRAGMA integrity_check: %s", g->name,
             first[0] ? first
             : db     ? sqlite3_errmsg(db)
                      : sqlite3_errstr(rc));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

/* --- putting it in place --------------------------------------------------- */

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int put_in_place(struct job *j)
{
    char sql[PATH_MAX + 8], parent[PATH_MAX];
    snprintf(sql, sizeof sql, "%s/sql", j->tmp);
    if ((access(sql, F_OK) == 0 && sync_dir(sql) != 0) || sync_dir(j->tmp) != 0)
        return fail(j, j->tmp, "fsync: %s", strerror(errno));
    if (rename(j->tmp, j->state) != 0)
        return fail(j, j->state, "%s",
                    errno == ENOTEMPTY || errno == EEXIST
                        ? "was written to while the restore ran; nothing was restored"
                        : strerror(errno));
    j->tmp[0] = 0;
    snprintf(parent, sizeof parent, "%s", j->state);
    char *slash = strrchr(parent, '/');
    if (slash)
        *(slash == parent ? slash + 1 : slash) = 0;
    if (sync_dir(slash ? parent : ".") != 0)
        return fail(j, slash ? parent : ".", "fsync: %s", strerror(errno));
    return 0;
}

static void notes(struct job *j)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j->doc, "skipped"))
    {
        const char *store = cJSON_GetStringValue(cJSON_GetObjectItem(e, "store"));
        const char *backend = cJSON_GetStringValue(cJSON_GetObjectItem(e, "backend"));
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason"));
        if (store && backend)
            fprintf(j->log, "restore: note: this backup does not hold %s (on %s): %s\n", store,
                    backend, reason ? reason : "");
    }
}

/* see backup.h */
int host_restore(const char *in, const char *state, FILE *out_log, FILE *errs)
{
    struct job j = {.in = in, .log = out_log, .errs = errs};
    int rc = -1;
    size_t n = strlen(state);
    while (n > 1 && state[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof j.state)
        return fail(&j, state, "not a usable state directory path");
    memcpy(j.state, state, n);
    j.state[n] = 0;
    if (target_ok(&j) != 0)
        return -1;
    if (!(j.f = fopen(in, "rb")))
        return fail(&j, in, "%s", strerror(errno));
    if (snprintf(j.tmp, sizeof j.tmp, "%s.restore-XXXXXX", j.state) >= (int)sizeof j.tmp ||
        !mkdtemp(j.tmp)) {
        fail(&j, j.tmp, "%s", strerror(errno));
        j.tmp[0] = 0;
        goto out;
    }
    if (read_archive(&j) != 0 || check_index(&j) != 0)
        goto out;
    size_t dbs = 0;
    for (size_t i = 0; i < j.n_got; i++) {
        const struct got *g = &j.got[i];
        if (g->kind != HOST_MEMBER_KV && g->kind != HOST_MEMBER_SQL)
            continue;
        if (check_db(&j, g) != 0)
            goto out;
        fprintf(out_log, "restore: %s: %llu bytes, sha256 ok, integrity_check ok\n", g->name,
                (unsigned long long)g->size);
        dbs++;
    }
    if (put_in_place(&j) != 0)
        goto out;
    notes(&j);
    fprintf(out_log,
            "restore: restored %zu members (%zu databases) from %s into %s, each SHA-256 "
            "and integrity_check verified\n",
            j.n_got - 1, dbs, in, j.state);
    rc = 0;
out:
    remove_tmp(&j);
    fclose(j.f);
    free(j.got);
    free(j.index);
    cJSON_Delete(j.doc);
    return rc;
}
