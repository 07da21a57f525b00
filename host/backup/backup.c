/*
 * bastion backup --state DIR --out FILE [--manifest M] [--runtime-config R] [--force]
 *
 * Consistency. Each database is copied by SQLite's online backup API in one
 * sqlite3_backup_step(b, -1) inside a read transaction of the source, so the
 * copy is the database as of that transaction's snapshot: every transaction
 * committed before it whole, none after it at all, whatever serve commits
 * meanwhile. serve keeps its files in WAL mode (stores/sqlite.c), where a
 * reader takes no lock a writer waits for: serve writes on through the
 * backup. The price is that a checkpoint cannot pass the snapshot until that
 * copy is done, so the WAL grows meanwhile.
 *
 * Before the first page is copied, a read transaction is opened on every WAL
 * database, one after another: all snapshots fall within moments of each
 * other and after the command started, so every write acknowledged before
 * the backup began is in it. That is not one atomic snapshot across
 * databases, and cannot be: serve commits each database on its own (a
 * request that writes kv, then sql, commits twice), so such a request can
 * be in the copy of one and not of the other.
 *
 * A database not in WAL mode (no serve has opened it) is snapshotted when its
 * turn comes instead: its copy holds a read lock, and a writer would wait for
 * that one copy.
 *
 * Memory. Pages go from the live file into a staging database beside the
 * output (SQLite's page cache bounds what is held), which is then streamed
 * into the archive 64 KiB at a time (ustar.c) and removed; no file is read
 * whole. The copy is switched to rollback-journal mode, so each member is a
 * complete database in one file.
 *
 * The output. The archive is written to a temporary file in FILE's directory
 * (created 0600 and exclusively: it holds every row and maybe secrets),
 * synced, then given its name by renameat2(RENAME_NOREPLACE) (link(2) where
 * the file system has no such rename), or rename(2) under --force, and the
 * directory synced: FILE is a whole backup or absent. A failure removes the
 * temporary and staging files; a killed backup leaves them as dot files
 * (".FILE.tmp-…"), never under FILE's name.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "backup_internal.h"
#include "store.h"

/* How long a source may stay busy (WAL recovery by another connection, a
 * rollback-journal writer) before the backup gives up. */
#define BUSY_MS 10000

struct source {
    char member[80]; /* its name in the archive, e.g. sql/waitlist.sqlite */
    char path[PATH_MAX];
    sqlite3 *db;  /* read-only; NULL until opened */
    int snapshot; /* a read transaction is open: the copy will be this snapshot */
};

struct job {
    const struct host_backup_opts *o;
    FILE *log, *errs;
    struct source *src;
    size_t n_src;
    char dir[PATH_MAX];   /* FILE's directory: temporary and staging files go there */
    char tmp[PATH_MAX];   /* the archive being written; "" when there is none */
    char stage[PATH_MAX]; /* the copy of a database being made; "" when there is none */
    FILE *archive;
    uint64_t mtime;
    cJSON *index, *members, *skipped;
};

static int fail(struct job *j, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line on errs: "backup: PATH: problem". Returns -1. */
static int fail(struct job *j, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(j->errs, "backup: %s: ", path);
    vfprintf(j->errs, fmt, ap);
    fputc('\n', j->errs);
    va_end(ap);
    return -1;
}

/* --- what is on another backend ----------------------------------------- */

static int skipped_has(cJSON *skipped, const char *store)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, skipped)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s, "store")), store) == 0)
            return 1;
    }
    return 0;
}

/* One kv store or sql database of the manifest: on SQLite it is in the
 * state directory; on another backend it is listed as skipped, with how to
 * back it up, and never silently left out. */
static void classify(struct job *j, struct host_store *s, int sql, const char *name)
{
    const char *backend = sql ? s->sql->backend : s->kv->backend;
    char store[96];
    snprintf(store, sizeof store, "%s.%s", sql ? "sql" : "kv", name);
    if (strcmp(backend, "sqlite") == 0 || skipped_has(j->skipped, store))
        return;
    const char *how = sql ? "back up PostgreSQL with pg_dump"
                          : "back up Redis with its own persistence (RDB/AOF)";
    fprintf(j->log, "backup: skipped %s: on %s (%s); %s, see README \"Backups and restore\"\n",
            store, backend, s->source ? s->source : "runtime config", how);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "store", store);
    cJSON_AddStringToObject(e, "backend", backend);
    cJSON_AddStringToObject(e, "reason", how);
    cJSON_AddItemToArray(j->skipped, e);
}

/* With a runtime config, the stores it puts elsewhere than SQLite. */
static int find_skipped(struct job *j)
{
    const struct host_backup_opts *o = j->o;
    if (!o->runtime_config)
        return 0;
    struct host_manifest m;
    struct host_state st;
    if (!o->manifest)
        return fail(j, o->runtime_config, "--runtime-config needs the manifest (--manifest)");
    if (host_manifest_load(&m, o->manifest, NULL, j->errs) != 0) {
        host_manifest_free(&m);
        return fail(j, o->manifest, "cannot read the manifest");
    }
    if (host_state_open(&st, o->state, o->runtime_config, &m, j->errs) != 0) {
        host_manifest_free(&m);
        return fail(j, o->runtime_config, "the runtime config is not valid");
    }
    for (size_t i = 0; i < m.n_fns; i++) {
        const struct host_function *f = &m.fns[i];
        for (size_t k = 0; k < f->n_kv; k++)
            classify(j, host_kv_store(&st, f->kv[k]), 0, f->kv[k]);
        for (size_t k = 0; k < f->n_sql; k++)
            classify(j, host_sql_store(&st, f->sql[k]), 1, f->sql[k]);
    }
    host_state_close(&st);
    host_manifest_free(&m);
    return 0;
}

/* --- which files ------------------------------------------------------------ */

static int add_source(struct job *j, const char *member)
{
    if (j->n_src == HOST_BACKUP_MAX_MEMBERS)
        return fail(j, j->o->state, "more than %d databases", HOST_BACKUP_MAX_MEMBERS);
    struct source *grown = realloc(j->src, (j->n_src + 1) * sizeof *grown);
    if (!grown)
        return fail(j, j->o->state, "out of memory");
    j->src = grown;
    struct source *s = &j->src[j->n_src++];
    *s = (struct source){0};
    snprintf(s->member, sizeof s->member, "%s", member);
    if (snprintf(s->path, sizeof s->path, "%s/%s", j->o->state, member) >= (int)sizeof s->path)
        return fail(j, j->o->state, "path too long");
    return 0;
}

static int by_member(const void *a, const void *b)
{
    return strcmp(((const struct source *)a)->member, ((const struct source *)b)->member);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* kv.sqlite and sql/<db>.sqlite as they are on disk now. Files SQLite keeps
 * beside a database (-wal, -shm, -journal) are its own; anything else in
 * sql/ is named on the log as not copied. */
static int find_sources(struct job *j)
{
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", j->o->state, HOST_BACKUP_KV);
    int kv = stat(path, &sb) == 0;
    if (!kv && errno != ENOENT)
        return fail(j, path, "%s", strerror(errno));
    if (kv && add_source(j, HOST_BACKUP_KV) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/sql", j->o->state);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : fail(j, path, "%s", strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.' || has_suffix(e->d_name, "-wal") || has_suffix(e->d_name, "-shm") ||
            has_suffix(e->d_name, "-journal"))
            continue;
        char member[300];
        snprintf(member, sizeof member, "sql/%s", e->d_name);
        if (host_backup_member_kind(member) == HOST_MEMBER_SQL)
            rc = add_source(j, member);
        else
            fprintf(j->log, "backup: not copied %s/%s: not a database of this host\n", path,
                    e->d_name);
    }
    closedir(d);
    if (rc == 0 && j->n_src > 1)
        qsort(j->src, j->n_src, sizeof *j->src, by_member);
    /* a file left from before the database moved: copied (it is on disk and
     * may be wanted), but said to be no live state */
    for (size_t i = 0; rc == 0 && i < j->n_src; i++) {
        static const char dir[] = "sql/", ext[] = ".sqlite";
        const char *m = j->src[i].member;
        if (strncmp(m, dir, sizeof dir - 1) != 0)
            continue;
        char store[96];
        int db_len = (int)(strlen(m) - (sizeof dir - 1) - (sizeof ext - 1));
        snprintf(store, sizeof store, "sql.%.*s", db_len, m + sizeof dir - 1);
        if (skipped_has(j->skipped, store))
            fprintf(j->log,
                    "backup: note: %s is copied, but the runtime config puts %s elsewhere: "
                    "serve does not use this file\n",
                    m, store);
    }
    return rc;
}

/* --- snapshots and copies --------------------------------------------------- */

static int db_fail(struct job *j, const char *path, sqlite3 *db, int rc)
{
    return fail(j, path, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Opens the source read-only (the backup never writes a live file) and, if
 * it is in WAL mode, its snapshot. */
static int open_source(struct job *j, struct source *s)
{
    int rc = host_backup_open_db(s->path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &s->db);
    if (rc != SQLITE_OK)
        return db_fail(j, s->path, s->db, rc);
    sqlite3_busy_timeout(s->db, BUSY_MS);
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    int wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return db_fail(j, s->path, s->db, rc);
    if (!wal)
        return 0;
    /* a deferred BEGIN and one read: the snapshot is fixed now, until COMMIT */
    rc = sqlite3_exec(s->db, "BEGIN; SELECT 1 FROM sqlite_schema LIMIT 1;", NULL, NULL, NULL);
    if (rc != SQLITE_OK || sqlite3_txn_state(s->db, "main") != SQLITE_TXN_READ)
        return db_fail(j, s->path, s->db, rc);
    s->snapshot = 1;
    return 0;
}

static void unlink_stage(struct job *j)
{
    if (!j->stage[0])
        return;
    static const char *const sidecars[] = {"", "-journal", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof sidecars / sizeof *sidecars; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s%s", j->stage, sidecars[i]);
        unlink(p);
    }
    j->stage[0] = 0;
}

static int temp_file(struct job *j, char *path, const char *what)
{
    char *base = strrchr(j->o->out, '/');
    base = base ? base + 1 : (char *)j->o->out;
    if (snprintf(path, PATH_MAX, "%s/.%s.%s-XXXXXX", j->dir, base, what) >= PATH_MAX)
        return fail(j, j->o->out, "path too long");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        fail(j, j->dir, "cannot create a temporary file there: %s", strerror(errno));
        path[0] = 0;
    }
    return fd;
}

/* The source as one complete database in j->stage. */
static int copy_to_stage(struct job *j, struct source *s)
{
    int fd = temp_file(j, j->stage, "stage");
    if (fd < 0)
        return -1;
    close(fd); /* an empty file is an empty database to SQLite */
    sqlite3 *dst = NULL;
    int rc = host_backup_open_db(j->stage, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, &dst);
    if (rc != SQLITE_OK) {
        db_fail(j, j->stage, dst, rc);
        sqlite3_close(dst);
        return -1;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
    if (!b) {
        db_fail(j, j->stage, dst, SQLITE_ERROR);
        sqlite3_close(dst);
        return -1;
    }
    /* -1: every page in this one step, so the copy is one snapshot even
     * without a read transaction of our own (a rollback-journal source) */
    for (int waited = 0;; waited += 20) {
        rc = sqlite3_backup_step(b, -1);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= BUSY_MS)
            break;
        sqlite3_sleep(20);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        fail(j, s->path, "sqlite3_backup_step: %s", sqlite3_errstr(rc));
        sqlite3_close(dst);
        return -1;
    }
    /* the copy carries the source's WAL flag; one file is the whole database */
    rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        db_fail(j, j->stage, dst, rc);
    if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_OK)
        rc = fail(j, j->stage, "cannot close the copy");
    return rc == SQLITE_OK ? 0 : -1;
}

static void index_member(struct job *j, const char *name, uint64_t size,
                         const uint8_t sha[HOST_USTAR_SHA256])
{
    char hex[65];
    host_backup_hex(sha, hex);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddNumberToObject(e, "size", (double)size);
    cJSON_AddStringToObject(e, "sha256", hex);
    cJSON_AddItemToArray(j->members, e);
    fprintf(j->log, "backup: %s: %llu bytes, sha256 %s\n", name, (unsigned long long)size, hex);
}

/* Appends `size` bytes of fd as member `name`. */
static int archive_fd(struct job *j, const char *name, int fd, const char *path)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return fail(j, path, "%s", strerror(errno));
    uint8_t sha[HOST_USTAR_SHA256];
    enum host_ustar_rc rc =
        host_ustar_add_fd(j->archive, name, j->mtime, fd, (uint64_t)sb.st_size, sha);
    if (rc != HOST_USTAR_OK)
        return fail(j, rc == HOST_USTAR_E_CHANGED ? path : j->tmp, "%s%s%s",
                    host_ustar_strerror(rc), rc == HOST_USTAR_E_IO ? ": " : "",
                    rc == HOST_USTAR_E_IO ? strerror(errno) : "");
    index_member(j, name, (uint64_t)sb.st_size, sha);
    return 0;
}

/* One database: copied, its snapshot ended, streamed in, the copy removed. */
static int back_up_one(struct job *j, struct source *s)
{
    if (copy_to_stage(j, s) != 0)
        return -1;
    if (s->snapshot)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    s->snapshot = 0;
    sqlite3_close(s->db);
    s->db = NULL;
    int fd = open(j->stage, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(j, j->stage, "%s", strerror(errno));
    int rc = archive_fd(j, s->member, fd, j->stage);
    close(fd);
    unlink_stage(j);
    return rc;
}

/* dev-secrets.env, if the state has one, refused as manifest.c refuses it
 * when it is a link or not a regular file. */
static int back_up_secrets(struct job *j)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", j->o->state, HOST_BACKUP_SECRETS);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return fail(j, path, "%s", errno == ELOOP ? "refusing a symbolic link" : strerror(errno));
    struct stat sb;
    int rc = fstat(fd, &sb) != 0    ? fail(j, path, "%s", strerror(errno))
             : !S_ISREG(sb.st_mode) ? fail(j, path, "not a regular file")
                                    : archive_fd(j, HOST_BACKUP_SECRETS, fd, path);
    close(fd);
    return rc;
}

/* --- the output file -------------------------------------------------------- */

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* BACKUP.json, the end blocks, then the data on disk before the name. */
static int finish_archive(struct job *j, const char *created_at)
{
    cJSON_AddStringToObject(j->index, "format", HOST_BACKUP_FORMAT);
    cJSON_AddNumberToObject(j->index, "version", HOST_BACKUP_VERSION);
    cJSON_AddStringToObject(j->index, "created_at", created_at);
    cJSON_AddStringToObject(j->index, "sqlite_version", sqlite3_libversion());
    cJSON_AddItemToObject(j->index, "members", j->members);
    cJSON_AddItemToObject(j->index, "skipped", j->skipped);
    j->members = j->skipped = NULL; /* owned by the index now */
    char *text = cJSON_Print(j->index);
    if (!text)
        return fail(j, j->tmp, "out of memory");
    enum host_ustar_rc rc =
        host_ustar_add_bytes(j->archive, HOST_BACKUP_INDEX, j->mtime, text, strlen(text));
    free(text);
    if (rc == HOST_USTAR_OK)
        rc = host_ustar_end(j->archive);
    int ok = rc == HOST_USTAR_OK && fflush(j->archive) == 0 && fsync(fileno(j->archive)) == 0;
    ok = fclose(j->archive) == 0 && ok;
    j->archive = NULL;
    return ok ? 0 : fail(j, j->tmp, "%s", strerror(errno));
}

/* The finished temporary file takes FILE's name, never over another file
 * unless --force. */
static int publish(struct job *j)
{
    const char *out = j->o->out;
    int rc;
    if (j->o->force) {
        rc = rename(j->tmp, out);
    } else {
        rc = renameat2(AT_FDCWD, j->tmp, AT_FDCWD, out, RENAME_NOREPLACE);
        if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
            rc = link(j->tmp, out);
            if (rc == 0)
                unlink(j->tmp);
        }
    }
    if (rc != 0)
        return errno == EEXIST ? fail(j, out, "exists; refusing to overwrite it (use --force)")
                               : fail(j, out, "%s", strerror(errno));
    j->tmp[0] = 0;
    if (sync_dir(j->dir) != 0)
        return fail(j, j->dir, "fsync: %s", strerror(errno));
    return 0;
}

static void cleanup(struct job *j)
{
    for (size_t i = 0; i < j->n_src; i++)
        sqlite3_close(j->src[i].db); /* an open snapshot ends with it */
    free(j->src);
    unlink_stage(j);
    if (j->archive)
        fclose(j->archive);
    if (j->tmp[0])
        unlink(j->tmp);
    cJSON_Delete(j->index);
    cJSON_Delete(j->members);
    cJSON_Delete(j->skipped);
}

/* see backup.h */
int host_backup(const struct host_backup_opts *o, FILE *out_log, FILE *errs)
{
    struct job j = {.o = o, .log = out_log, .errs = errs};
    int rc = -1;
    struct stat sb;
    errno = 0;
    if (stat(o->state, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fail(&j, o->state, "%s", errno ? strerror(errno) : "not a directory");
    if (!o->force && lstat(o->out, &sb) == 0)
        return fail(&j, o->out, "exists; refusing to overwrite it (use --force)");
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", o->out);
    snprintf(j.dir, sizeof j.dir, "%s", dirname(copy));
    j.index = cJSON_CreateObject();
    j.members = cJSON_CreateArray();
    j.skipped = cJSON_CreateArray();
    if (!j.index || !j.members || !j.skipped) {
        fail(&j, o->out, "out of memory");
        goto out;
    }
    if (find_skipped(&j) != 0 || find_sources(&j) != 0)
        goto out;
    int fd = temp_file(&j, j.tmp, "tmp");
    if (fd < 0)
        goto out;
    if (!(j.archive = fdopen(fd, "wb"))) {
        close(fd);
        fail(&j, j.tmp, "%s", strerror(errno));
        goto out;
    }
    /* every WAL snapshot first, then the copies (see the top of the file) */
    time_t now = time(NULL);
    j.mtime = (uint64_t)now;
    char created_at[32];
    struct tm tm;
    strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    for (size_t i = 0; i < j.n_src; i++)
        if (open_source(&j, &j.src[i]) != 0)
            goto out;
    for (size_t i = 0; i < j.n_src; i++)
        if (back_up_one(&j, &j.src[i]) != 0)
            goto out;
    if (back_up_secrets(&j) != 0 || finish_archive(&j, created_at) != 0 || publish(&j) != 0)
        goto out;
    if (stat(o->out, &sb) == 0)
        fprintf(out_log, "backup: wrote %s: %d members, %lld bytes, snapshot of %s at %s\n", o->out,
                cJSON_GetArraySize(cJSON_GetObjectItem(j.index, "members")) + 1,
                (long long)sb.st_size, o->state, created_at);
    rc = 0;
out:
    cleanup(&j);
    return rc;
}
