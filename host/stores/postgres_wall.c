/*
 * The SAFE4 wall for the PostgreSQL backend. A pooled connection outlives
 * the call that used it and serves every database of its store on that
 * worker (the search_path and the role pick one), so a guest's statement
 * must not change the session, hold anything past its call, or move objects
 * between the schemas. The role is what keeps one database out of another's
 * schema (postgres_role.c), and the session's login role may SET ROLE to any
 * of them: keeping the session as the host set it is this wall's job.
 * PostgreSQL has no authorizer hook, so the statement is read
 * lexically, the way the server's own lexer splits it (comments, strings,
 * quoted identifiers, dollar quotes), and refused when it
 *   - is transaction control or session state (BEGIN … COMMIT, SAVEPOINT,
 *     SET/RESET, PREPARE, DECLARE, LISTEN/NOTIFY, COPY, DO, CALL, LOAD …);
 *   - creates, alters or drops what is not a database's own (schemas,
 *     roles, functions, which would hide statements in strings, extensions,
 *     casts …), or moves a table to another schema;
 *   - names TEMP objects (they would outlive the call on the connection),
 *     a function that changes the session (set_config, session advisory
 *     locks), runs SQL text the wall never sees (query_to_xml, ts_stat …)
 *     or reaches past the database (pg_terminate_backend, files), or
 *     pg_settings (an UPDATE of it is a set_config).
 * PQsendQueryParams itself refuses a second statement, and every call ends
 * with the session idle (postgres_sql.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "postgres.h"

static int word_start(unsigned char ch)
{
    return ch == '_' || isalpha(ch) || ch >= 0x80;
}

static int word_char(unsigned char ch)
{
    return word_start(ch) || isdigit(ch) || ch == '$';
}

static int in(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}
#define IN(w, list) in(w, list, sizeof list / sizeof *list)

/* Statements that are the session's or the transaction's, not data. */
static const char *const SESSION_STATEMENTS[] = {
    "begin",   "start",    "commit",   "end",        "rollback", "abort",      "savepoint",
    "release", "prepare",  "execute",  "deallocate", "set",      "reset",      "discard",
    "listen",  "unlisten", "notify",   "copy",       "declare",  "fetch",      "move",
    "close",   "do",       "call",     "load",       "vacuum",   "checkpoint", "grant",
    "revoke",  "reassign", "security", "import",     "cluster",  "reindex",
};

/* What CREATE / ALTER / DROP may not touch: objects outside the database's
 * schema, or code whose body the wall cannot read. Aggregates and operators
 * call functions their definition list may name as strings (SFUNC =
 * 'set_config'), which the wall does not read. */
static const char *const FOREIGN_OBJECTS[] = {
    "schema",   "database",  "role",        "user",         "group",      "extension",
    "function", "procedure", "routine",     "language",     "cast",       "event",
    "server",   "foreign",   "publication", "subscription", "tablespace", "transform",
    "system",   "default",   "owned",       "conversion",   "aggregate",  "operator",
};

/* Functions that change the session, run SQL text (a string the wall does
 * not read: query_to_xml('SELECT set_config(…)') would reset the role), or
 * reach past the database. Those with a name prefix are checked apart. */
static const char *const FUNCTIONS[] = {
    "set_config",
    "setseed", /* random()'s state is the session's: the next call's would be known */
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "ts_stat",
    "ts_rewrite",
    "connectby", /* tablefunc's, like crosstab */
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_notify",
    "lo_import",
    "lo_export",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_logical_emit_message",
};

/* Names whose prefix is enough: every dblink_* function runs SQL on another
 * connection, every crosstab* runs its text argument. */
static const char *const FUNCTION_PREFIXES[] = {"dblink", "crosstab"};

static int function_refused(const char *w)
{
    for (size_t i = 0; i < sizeof FUNCTION_PREFIXES / sizeof *FUNCTION_PREFIXES; i++)
        if (strncmp(w, FUNCTION_PREFIXES[i], strlen(FUNCTION_PREFIXES[i])) == 0)
            return 1;
    /* session locks outlive the call; xact ones do not */
    if ((strncmp(w, "pg_advisory_", 12) == 0 || strncmp(w, "pg_try_advisory_", 16) == 0) &&
        !strstr(w, "_xact_"))
        return 1;
    return IN(w, FUNCTIONS);
}

static void refuse(struct pg_scan *out, const char *fmt, const char *what)
{
    if (!out->refused[0])
        snprintf(out->refused, sizeof out->refused, fmt, what);
}

/* A name anywhere in the statement: a bare word (lower-cased, so keywords
 * too) or a quoted identifier (as written). */
static void check_name(const char *w, int quoted, struct pg_scan *out)
{
    if (strncmp(w, "pg_temp", 7) == 0 ||
        (!quoted && (!strcmp(w, "temp") || !strcmp(w, "temporary"))))
        refuse(out, "%s", "TEMP objects");
    else if (!quoted && strcmp(w, "schema") == 0)
        refuse(out, "%s", "SCHEMA");        /* ALTER TABLE … SET SCHEMA moves a table out */
    else if (strcmp(w, "pg_settings") == 0) /* its UPDATE rule calls set_config */
        refuse(out, "%s", "pg_settings");
    else if (function_refused(w))
        refuse(out, "function %s", w);
}

/* Words that only qualify the object a CREATE names (CREATE OR REPLACE
 * FUNCTION, CREATE TRUSTED PROCEDURAL LANGUAGE). */
static const char *const QUALIFIERS[] = {"or", "replace", "trusted", "procedural"};

static void upper_into(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = 0;
}

/* The statement's first words decide what kind it is. */
static void check_statement(char words[][32], size_t n, struct pg_scan *out)
{
    char verb[32], obj[32];
    upper_into(verb, sizeof verb, words[0]);
    if (IN(words[0], SESSION_STATEMENTS)) /* the kind of statement says most: it wins */
        snprintf(out->refused, sizeof out->refused, "%s", verb);
    if (strcmp(words[0], "create") != 0 && strcmp(words[0], "alter") != 0 &&
        strcmp(words[0], "drop") != 0)
        return;
    size_t i = 1;
    while (i < n && IN(words[i], QUALIFIERS))
        i++;
    if (i < n && IN(words[i], FOREIGN_OBJECTS)) {
        upper_into(obj, sizeof obj, words[i]);
        snprintf(out->refused, sizeof out->refused, "%s %s", verb, obj);
    }
}

/* Past a '…' string (E'…' with backslash escapes when `escapes`). */
static const char *skip_string(const char *p, const char *end, int escapes)
{
    for (p++; p < end; p++) {
        if (escapes && *p == '\\' && p + 1 < end)
            p++;
        else if (*p == '\'' && p + 1 < end && p[1] == '\'')
            p++;
        else if (*p == '\'')
            return p + 1;
    }
    return end;
}

/* Past a comment at p (nested block comments, as PostgreSQL has them). A
 * -- comment ends at a line feed or a carriage return: the server's lexer
 * ends it at either, and what follows a lone \r is a statement's text. */
static const char *skip_comment(const char *p, const char *end)
{
    if (p[0] == '-') {
        while (p < end && *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (end - p >= 2 && p[0] == '/' && p[1] == '*')
            depth++, p += 2;
        else if (end - p >= 2 && p[0] == '*' && p[1] == '/') {
            p += 2;
            if (--depth == 0)
                return p;
        } else
            p++;
    }
    return end;
}

/* At '$': a parameter $n, a dollar-quoted string $tag$…$tag$, or neither. */
static const char *skip_dollar(const char *p, const char *end, struct pg_scan *out)
{
    const char *q = p + 1;
    if (q < end && isdigit((unsigned char)*q)) {
        long n = 0;
        for (; q < end && isdigit((unsigned char)*q); q++)
            if (n < 100000) /* far past any count of values a guest can send */
                n = n * 10 + (*q - '0');
        if (n > out->max_param)
            out->max_param = (int)n;
        return q;
    }
    while (q < end && word_char((unsigned char)*q) && *q != '$')
        q++;
    if (q >= end || *q != '$')
        return p + 1;
    size_t tag = (size_t)(q + 1 - p);
    for (const char *s = q + 1; s + tag <= end; s++)
        if (*s == '$' && memcmp(s, p, tag) == 0)
            return s + tag;
    return end;
}

/* Past a "quoted identifier", its name (up to 31 bytes) into w. */
static const char *quoted_name(const char *p, const char *end, char w[32])
{
    size_t n = 0;
    for (p++; p < end; p++) {
        if (*p == '"' && !(p + 1 < end && p[1] == '"'))
            break;
        if (*p == '"')
            p++;
        if (n < 31)
            w[n++] = *p;
    }
    w[n] = 0;
    return p < end ? p + 1 : end;
}

/* see postgres.h */
void pg_scan(const char *sql, size_t len, struct pg_scan *out)
{
    const char *p = sql, *end = sql + len;
    char words[5][32] = {{0}}, w[32];
    size_t nwords = 0;
    memset(out, 0, sizeof *out);
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (isspace(ch)) {
            p++;
        } else if (end - p >= 2 && ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))) {
            p = skip_comment(p, end);
        } else if (ch == '\'') {
            p = skip_string(p, end, 0);
        } else if (ch == '"') {
            p = quoted_name(p, end, w);
            check_name(w, 1, out);
        } else if (ch == '$') {
            p = skip_dollar(p, end, out);
        } else if (word_start(ch)) {
            size_t n = 0;
            for (; p < end && word_char((unsigned char)*p); p++)
                if (n < 31)
                    w[n++] = (char)tolower((unsigned char)*p);
            w[n] = 0;
            if (p < end && *p == '\'' && !strcmp(w, "e"))
                p = skip_string(p, end, 1);
            else if (p + 1 < end && *p == '&' && p[1] == '"' && !strcmp(w, "u"))
                refuse(out, "%s", "Unicode-escaped identifiers"); /* they could spell any name */
            check_name(w, 0, out);
            if (nwords < 5)
                snprintf(words[nwords++], sizeof words[0], "%s", w);
        } else if (isdigit(ch)) {
            while (p < end && (isalnum((unsigned char)*p) || *p == '.' || *p == '_'))
                p++;
        } else {
            p++;
        }
    }
    check_statement(words, nwords, out);
}
