/*
 * `bastion backup` and `bastion restore`: a state directory's SQLite
 * databases in one file, taken while `serve` runs on it, and put back into
 * an empty directory only after every byte is verified. README's "Backups
 * and restore" is the operator's view; backup.c and restore.c say how.
 */
#ifndef HOST_BACKUP_BACKUP_H
#define HOST_BACKUP_BACKUP_H

#include <stdio.h>

/* What `bastion backup` was asked; every string is borrowed for the call. */
struct host_backup_opts {
    const char *state;          /* the state directory; MUST exist */
    const char *out;            /* the backup file to write */
    const char *manifest;       /* NULL: none; needed with runtime_config */
    const char *runtime_config; /* NULL: every store is on SQLite */
    int force;                  /* replace an existing `out` */
};

/* Writes the backup of o->state to o->out: each SQLite database (the kv
 * store, every sql database, their migration tables inside them) as one
 * consistent snapshot taken with SQLite's online backup API, the dev
 * secrets file when there is one, and BACKUP.json. `out` appears whole or
 * not at all. What it copied, and the stores it could not (Redis,
 * PostgreSQL), go to `out_log`, one line each; a failure is one line on
 * `errs` naming the file and the problem. 0 on success, -1 on failure. */
int host_backup(const struct host_backup_opts *o, FILE *out_log, FILE *errs);

/* Restores backup file `in` into state directory `state`, which MUST be
 * absent or empty (anything else is refused before a byte is written).
 * Every member is written into a new directory beside `state`, checked
 * against BACKUP.json (name, size, SHA-256) and each database against
 * `PRAGMA integrity_check`; only then is that directory renamed to `state`.
 * On failure nothing is left at `state`, nor beside it. 0 or -1, with the
 * same reporting as host_backup. */
int host_restore(const char *in, const char *state, FILE *out_log, FILE *errs);

#endif
