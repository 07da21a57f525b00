/* The SMS app's contact tags (contacts.h). */
#include <string.h>

#include <cjson/cJSON.h>

#include "bastion/contacts.h"

/* Code points of text validate.h accepted (well-formed UTF-8): the bytes
 * that do not continue a sequence. */
static size_t code_points(bastion_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += ((unsigned char)s.ptr[i] & 0xC0) != 0x80;
    return n;
}

/* see contacts.h */
const char *bastion_tags_add(bastion_tags *t, bastion_str tag)
{
    if (tag.len == 0)
        return NULL;
    if (code_points(tag) > BASTION_TAG_MAX)
        return "has a tag longer than 255 characters";
    for (size_t i = 0; i < t->n; i++)
        if (bastion_str_eq(t->items[i], tag))
            return NULL;
    if (t->n == BASTION_TAGS_MAX)
        return "has more than 250 tags";
    if (!t->items)
        t->items = bastion_alloc(BASTION_TAGS_MAX * sizeof *t->items);
    t->items[t->n++] = tag;
    return NULL;
}

/* see contacts.h */
bastion_str bastion_tags_json(const bastion_tags *t)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < t->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(bastion_str_dup(t->items[i])));
    return bastion_cstr(cJSON_PrintUnformatted(arr));
}

/* The contact's rows go first: one statement, whatever the tags. */
#define DELETE_TAGS                                                                                \
    "DELETE FROM contact_tags WHERE tenant = $1 AND contact_id IN "                                \
    "(SELECT id FROM contacts WHERE tenant = $1 AND phone = $2)"

/* One VALUES row per tag; VALUES names its column column1 on SQLite and
 * PostgreSQL alike. */
#define INSERT_HEAD                                                                                \
    "INSERT INTO contact_tags (tenant, tag, contact_id, created_at) "                              \
    "SELECT c.tenant, t.column1, c.id, c.created_at FROM contacts c, (VALUES "
#define INSERT_TAIL ") AS t WHERE c.tenant = $1 AND c.phone = $2"
#define VALUE_ROW   ", (CAST($%zu AS TEXT))"

/* see contacts.h */
size_t bastion_contact_tags_stmts(bastion_str tenant, bastion_str phone, const bastion_tags *t,
                                  bastion_sql_stmt out[2])
{
    bastion_sql_value *p = bastion_alloc((2 + t->n) * sizeof *p);
    p[0] = BASTION_SQL_STR(tenant);
    p[1] = BASTION_SQL_STR(phone);
    out[0] = (bastion_sql_stmt){.sql = DELETE_TAGS, .params = p, .n_params = 2};
    if (t->n == 0)
        return 1;
    /* each row at most ", (CAST($252 AS TEXT))" */
    size_t cap = sizeof INSERT_HEAD + sizeof INSERT_TAIL + t->n * 24, len;
    char *sql = bastion_alloc(cap);
    memcpy(sql, INSERT_HEAD, len = sizeof INSERT_HEAD - 1);
    for (size_t i = 0; i < t->n; i++) {
        p[2 + i] = BASTION_SQL_STR(t->items[i]);
        bastion_str row = bastion_sprintf(VALUE_ROW, i + 3);
        size_t skip = i == 0 ? 2 : 0; /* the first row has no ", " */
        memcpy(sql + len, row.ptr + skip, row.len - skip);
        len += row.len - skip;
    }
    memcpy(sql + len, INSERT_TAIL, sizeof INSERT_TAIL); /* with its NUL */
    out[1] = (bastion_sql_stmt){.sql = sql, .params = p, .n_params = 2 + t->n};
    return 2;
}
