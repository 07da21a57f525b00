/*
 * A PostgreSQL role per Bastion database (SAFE4). All the databases of one
 * store live in one PostgreSQL database and connect as one login role, so
 * what keeps a statement of database A out of database B's schema is the
 * server's own privilege check: database `x` is schema "x", owned by role
 * "bastion_db_x" (NOLOGIN, NOINHERIT, a member of nothing), and every guest
 * call runs under SET ROLE to it (postgres.c). Such a role holds only what
 * PUBLIC holds, which reaches no other role's schema; naming one answers
 * 42501, the WIT's `denied`.
 *
 * The login role, which makes the roles here and runs migrations, must be a
 * superuser or have CREATEROLE; without it nothing is created and the reason
 * is the error, never a database without its wall. A CREATEROLE login is
 * made a member of each role, which SET ROLE needs. Since SET ROLE is checked
 * against that login, a guest that could run SET/RESET ROLE or set_config
 * would get it all back: the lexical wall (postgres_wall.c) refuses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres.h"

static void role_of(const char *db, char role[64])
{
    snprintf(role, 64, PG_ROLE_PREFIX "%s", db);
}

/* --- the role ------------------------------------------------------------ */

enum { ROLE_EXISTS = 1, ROLE_JOINED = 2, MAY_CREATE_ROLES = 4 };

/* What the login role has of `role`, as ROLE_* bits. */
static int role_state(struct pg_conn *c, const char *role, uint64_t deadline_ns, int *state,
                      struct host_err *err)
{
    static const char sql[] =
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1),"
        " COALESCE((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles"
        " WHERE rolname = $1), false),"
        " (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)";
    struct host_rows rows = {0};
    if (pg_run_texts(c, sql, &role, 1, deadline_ns, &rows, err) != 0)
        return -1;
    *state = 0;
    for (size_t i = 0; rows.n_rows == 1 && i < rows.n_cols; i++)
        if (rows.vals[i].type == 1 && rows.vals[i].i)
            *state |= 1 << i;
    host_rows_free(&rows);
    return 0;
}

/* A step that failed because another host took it at the same moment (the
 * role, or the membership, is there now): the next look decides. */
static int raced(const struct pg_conn *c)
{
    return c->pg && (strcmp(c->sqlstate, "42710") == 0 || strcmp(c->sqlstate, "23505") == 0);
}

/* see postgres.h. Each step is taken only when a fresh look says it is
 * missing, and then looked at again: create, then (not a superuser) join. */
int pg_db_role(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    char role[64], sql[128];
    role_of(db, role);
    for (int step = 0;; step++) {
        int st;
        if (role_state(c, role, deadline_ns, &st, err) != 0)
            return -1;
        if ((st & ROLE_EXISTS) && (st & ROLE_JOINED))
            return 0;
        if (!(st & MAY_CREATE_ROLES))
            return host_fail(err, HOST_E_INTERNAL,
                             "postgres: the login role needs the CREATEROLE privilege (or "
                             "superuser) to %s role %s",
                             st & ROLE_EXISTS ? "join" : "create", role);
        if (step == 2)
            return host_fail(err, HOST_E_INTERNAL, "postgres: cannot join role %s", role);
        snprintf(sql, sizeof sql,
                 st & ROLE_EXISTS ? "GRANT \"%s\" TO CURRENT_USER"
                                  : "CREATE ROLE \"%s\" NOLOGIN NOINHERIT",
                 role);
        if (pg_run(c, sql, NULL, deadline_ns, NULL, err) != 0 && !raced(c))
            return -1;
    }
}

/* --- the schema ---------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* An advisory lock key: `what` of database db ("" for the whole store). */
static long long lock_key(const char *what, const char *db)
{
    return (long long)fnv1a(fnv1a(1469598103934665603ull, what), db);
}

/* see postgres.h */
int pg_db_lock(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%lld)",
             lock_key("bastion-migrate:", db));
    return pg_run(c, sql, NULL, deadline_ns, NULL, err);
}

/* ALTER … OWNER for everything in schema $2 that role $1 does not own (a
 * schema made before roles were, or objects an operator made in it), NULL
 * when there is none. Indexes, a table's own sequences and row types follow
 * their table. The names are looked up, not cast: regnamespace would parse
 * them as SQL ("a-b" fails). */
static const char ADOPT[] =
    "WITH s AS (SELECT (SELECT oid FROM pg_namespace WHERE nspname = $2) AS ns,"
    " (SELECT oid FROM pg_roles WHERE rolname = $1) AS owner)"
    " SELECT string_agg(format('ALTER %s %s OWNER TO %I', kind, name, $1), '; ') FROM ("
    " SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'"
    "  WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,"
    "  c.oid::regclass::text, c.relowner FROM pg_class c, s"
    "  WHERE c.relnamespace = s.ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
    "  AND NOT EXISTS (SELECT FROM pg_depend d"
    "  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"
    "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))"
    " UNION ALL SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,"
    "  t.oid::regtype::text, t.typowner FROM pg_type t, s"
    "  WHERE t.typnamespace = s.ns AND (t.typtype IN ('e', 'd', 'r')"
    "  OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))"
    " UNION ALL SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END,"
    "  p.oid::regprocedure::text, p.proowner FROM pg_proc p, s WHERE p.pronamespace = s.ns"
    ") o (kind, name, owner), s WHERE o.owner <> s.owner";

/* Gives role everything in schema db that is not its own yet. */
static int adopt(struct pg_conn *c, const char *db, const char *role, uint64_t deadline_ns,
                 struct host_err *err)
{
    const char *const args[] = {role, db};
    struct host_rows rows = {0};
    if (pg_run_texts(c, ADOPT, args, 2, deadline_ns, &rows, err) != 0)
        return -1;
    int some = rows.n_rows == 1 && rows.n_cols == 1 && rows.vals[0].type == 3;
    char *alter = some ? strndup(rows.vals[0].p, rows.vals[0].len) : NULL;
    host_rows_free(&rows);
    if (!some)
        return 0;
    int rc = alter ? pg_run(c, alter, NULL, deadline_ns, NULL, err)
                   : host_fail(err, HOST_E_INTERNAL, "out of memory");
    free(alter);
    return rc;
}

/* The schemas besides db that role may create in, comma-separated into out
 * ("" none). */
static int creatable(struct pg_conn *c, const char *db, const char *role, char *out, size_t cap,
                     uint64_t deadline_ns, struct host_err *err)
{
    static const char sql[] =
        "SELECT COALESCE(string_agg(nspname, ', ' ORDER BY nspname), '') FROM pg_namespace"
        " WHERE nspname <> $2 AND nspname !~ '^pg_(toast_)?temp_'"
        " AND has_schema_privilege($1, oid, 'CREATE')";
    const char *const args[] = {role, db};
    struct host_rows rows = {0};
    if (pg_run_texts(c, sql, args, 2, deadline_ns, &rows, err) != 0)
        return -1;
    int text = rows.n_rows == 1 && rows.n_cols == 1 && rows.vals[0].type == 3;
    snprintf(out, cap, "%.*s", text ? (int)rows.vals[0].len : 0, text ? rows.vals[0].p : "");
    host_rows_free(&rows);
    return 0;
}

/* Role db may create nothing outside its schema. PostgreSQL before 15 lets
 * PUBLIC create in schema public: that is revoked, once per store (the lock:
 * two revokes at once would fail "tuple concurrently updated"). Anything
 * else, or a revoke that did nothing (the login role does not own public),
 * is the operator's to undo, and said. */
static int create_only_in_own(struct pg_conn *c, const char *db, const char *role,
                              uint64_t deadline_ns, struct host_err *err)
{
    char others[256], revoke[160];
    snprintf(revoke, sizeof revoke,
             "SELECT pg_advisory_xact_lock(%lld); REVOKE CREATE ON SCHEMA public FROM PUBLIC",
             lock_key("bastion-public", ""));
    for (int revoked = 0;; revoked = 1) {
        if (creatable(c, db, role, others, sizeof others, deadline_ns, err) != 0)
            return -1;
        if (!others[0])
            return 0;
        if (revoked || strcmp(others, "public") != 0)
            return host_fail(err, HOST_E_INTERNAL,
                             "postgres: role %s could create objects in schema %s: revoke "
                             "CREATE there from PUBLIC",
                             role, others);
        if (pg_run(c, revoke, NULL, deadline_ns, NULL, err) != 0)
            return -1;
    }
}

/* see postgres.h */
int pg_db_schema(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    char role[64], sql[256];
    role_of(db, role);
    snprintf(sql, sizeof sql,
             "CREATE SCHEMA IF NOT EXISTS \"%s\" AUTHORIZATION \"%s\";"
             " ALTER SCHEMA \"%s\" OWNER TO \"%s\"",
             db, role, db, role);
    if (pg_run(c, sql, NULL, deadline_ns, NULL, err) != 0 ||
        adopt(c, db, role, deadline_ns, err) != 0)
        return -1;
    return create_only_in_own(c, db, role, deadline_ns, err);
}

/* see postgres.h */
int pg_db_create(struct pg_conn *c, const char *db, uint64_t deadline_ns, struct host_err *err)
{
    if (pg_conn_settle(c, NULL, deadline_ns, err) != 0 || pg_db_role(c, db, deadline_ns, err) != 0)
        return -1;
    if (pg_db_lock(c, db, deadline_ns, err) == 0 && pg_db_schema(c, db, deadline_ns, err) == 0 &&
        pg_run(c, "COMMIT", NULL, deadline_ns, NULL, err) == 0)
        return 0;
    pg_end(c, "ROLLBACK", deadline_ns);
    return -1;
}
