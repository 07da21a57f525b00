/*
 * A backup's members and the state directory's layout (backup_internal.h).
 */
#include <string.h>

#include "backup_internal.h"
#include "host.h"

/* see backup_internal.h */
enum host_backup_member host_backup_member_kind(const char *name)
{
    /* Safety first, apart from the list below: a name that could leave the
     * directory it is written into is refused as such, whatever follows. */
    if (name[0] == '/')
        return HOST_MEMBER_UNSAFE;
    for (const char *p = name;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return HOST_MEMBER_UNSAFE;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (strcmp(name, HOST_BACKUP_KV) == 0)
        return HOST_MEMBER_KV;
    if (strcmp(name, HOST_BACKUP_SECRETS) == 0)
        return HOST_MEMBER_SECRETS;
    if (strcmp(name, HOST_BACKUP_INDEX) == 0)
        return HOST_MEMBER_INDEX;
    static const char dir[] = "sql/", ext[] = ".sqlite";
    size_t len = strlen(name), dl = sizeof dir - 1, el = sizeof ext - 1;
    if (len > dl + el && memcmp(name, dir, dl) == 0 && strcmp(name + len - el, ext) == 0) {
        char db[72];
        size_t n = len - dl - el;
        if (n < sizeof db) {
            memcpy(db, name + dl, n);
            db[n] = 0;
            if (host_sqlite_db_name_ok(db))
                return HOST_MEMBER_SQL;
        }
    }
    return HOST_MEMBER_UNKNOWN;
}

/* see backup_internal.h */
int host_backup_open_db(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK)
        return rc;
    /* what a guest wrote may be in the schema: nothing in it runs here */
    static const int settings[][2] = {
        {SQLITE_DBCONFIG_DEFENSIVE, 1},
        {SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0},
        {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0},
    };
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof settings / sizeof *settings; i++)
        rc = sqlite3_db_config(*db, settings[i][0], settings[i][1], (int *)NULL);
    return rc;
}

/* see backup_internal.h */
void host_backup_hex(const uint8_t sha[HOST_USTAR_SHA256], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < HOST_USTAR_SHA256; i++) {
        hex[2 * i] = digits[sha[i] >> 4];
        hex[2 * i + 1] = digits[sha[i] & 15];
    }
    hex[64] = 0;
}
