/*
 * Internal to host/backup/ (backup.c, restore.c, layout.c): which files of a
 * state directory a backup holds, the names they have in the archive, and
 * BACKUP.json. Not for other parts of the host, which call backup.h.
 *
 * A state directory holds (host/stores/sqlite.c, host/manifest.c):
 *   kv.sqlite            every kv store on SQLite (one table, keyed by store)
 *   sql/<db>.sqlite      each sql database on SQLite, its _bastion_migrations
 *                        table inside it
 *   *-wal, *-shm         SQLite's own: a snapshot through the backup API has
 *                        their committed content, so they are never copied
 *   dev-secrets.env      `serve --dev`'s generated secrets; kept, because rows
 *                        signed or sealed with them (tokens, links) are only
 *                        good with them
 * and nothing else the host reads. A member is named by its path inside the
 * state directory.
 */
#ifndef HOST_BACKUP_INTERNAL_H
#define HOST_BACKUP_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "ustar.h"

#define HOST_BACKUP_FORMAT      "bastion-backup" /* BACKUP.json "format" */
#define HOST_BACKUP_VERSION     1                /* BACKUP.json "version" */
#define HOST_BACKUP_INDEX       "BACKUP.json"
#define HOST_BACKUP_KV          "kv.sqlite"
#define HOST_BACKUP_SECRETS     "dev-secrets.env"
#define HOST_BACKUP_INDEX_MAX   (1u << 20) /* the most BACKUP.json a restore reads */
#define HOST_BACKUP_MAX_MEMBERS 4096

enum host_backup_member {
    HOST_MEMBER_UNSAFE = -1, /* absolute, or a part that is empty, "." or ".." */
    HOST_MEMBER_UNKNOWN = 0, /* a safe name, but of nothing a state directory holds */
    HOST_MEMBER_KV,          /* kv.sqlite */
    HOST_MEMBER_SQL,         /* sql/<db>.sqlite, <db> as host_sqlite_db_name_ok says */
    HOST_MEMBER_SECRETS,     /* dev-secrets.env */
    HOST_MEMBER_INDEX,       /* BACKUP.json */
};

/* What the archive member `name` (NUL-terminated) is. */
enum host_backup_member host_backup_member_kind(const char *name);

/* Opens the SQLite file at `path` with `flags` (sqlite3_open_v2's) for the
 * host's own use, hardened as the serving connections are: defensive mode,
 * an untrusted schema, no extensions. *db is set even when the open fails
 * (for sqlite3_errmsg); the caller closes it either way. An SQLite rc. */
int host_backup_open_db(const char *path, int flags, sqlite3 **db);

/* `sha` as 64 lower-case hex digits and a NUL. */
void host_backup_hex(const uint8_t sha[HOST_USTAR_SHA256], char hex[65]);

#endif
