/*
 * The SMS app's contacts (database "shop"), for the two functions that
 * write them: shopify-webhook (Shopify customers) and campaigns (POST
 * /api/contacts). A contact's tags are kept twice: contacts.tags, the JSON
 * array readers see, and contact_tags, one row per tag, where a campaign's
 * audience and the tag lists find a tag's contacts by index. Both change
 * together, in the writer's transaction: bastion_tags_json for the column,
 * bastion_contact_tags_stmts for the rows.
 *
 * A tag is 1..BASTION_TAG_MAX code points of text the field rules already
 * accepted (validate.h: valid UTF-8, no control characters, trimmed); a
 * contact has at most BASTION_TAGS_MAX distinct tags, kept in the order
 * first given, repeats dropped.
 */
#ifndef BASTION_CONTACTS_H
#define BASTION_CONTACTS_H

#include "core.h"
#include "host.h"

#define BASTION_TAG_MAX  255 /* code points per tag (Shopify's limit) */
#define BASTION_TAGS_MAX 250 /* tags per contact (Shopify's limit) */

/* A contact's tags; zero-initialise, then bastion_tags_add each. */
typedef struct {
    bastion_str *items; /* arena, BASTION_TAGS_MAX slots once the first tag is added */
    size_t n;
} bastion_tags;

/* Adds `tag` (borrowed: it must outlive `t`): an empty one or a repeat is
 * skipped. NULL, or why the tags cannot be kept ("has a tag longer than 255
 * characters", "has more than 250 tags"), `t` unchanged. */
const char *bastion_tags_add(bastion_tags *t, bastion_str tag);

/* The tags as the JSON array text contacts.tags stores ("[]" for none), in
 * the arena. */
bastion_str bastion_tags_json(const bastion_tags *t);

/*
 * The statements that make the tag rows of the contact (tenant, phone) be
 * `t`: its rows deleted, then one inserted per tag, taking the contact's id
 * and created_at from its row, so they run after the statement that wrote
 * the contact, in its transaction. Writes 1 or 2 statements to `out` and
 * returns how many; their SQL and parameters live in the arena.
 */
size_t bastion_contact_tags_stmts(bastion_str tenant, bastion_str phone, const bastion_tags *t,
                                  bastion_sql_stmt out[2]);

#endif
