-- shop: the SMS app's tenants (Shopify shops) and their contacts, written by
-- shopify-webhook; the campaigns function (a later issue) shares this
-- database and its contacts. What shopify-webhook.c checks, the database
-- enforces again (DATA1). Times are UTC epoch ms (DATA2) in BIGINT (64 bits
-- on PostgreSQL, INTEGER to SQLite).

-- The webhook event ledger (HOOK3), shared with every webhook function. Shopify rows have provider 'shopify'
-- and id '<shop domain>/<X-Shopify-Webhook-Id>'.
-- bastion:include ../../shared/schema/webhook_events.sql

-- One row per shop that installed the app (AUTH5: the tenant id is the shop
-- domain, as X-Shopify-Shop-Domain and the token's tenant claim spell it).
-- app/uninstalled keeps the row, uninstalled; an admin may install it again.
CREATE TABLE IF NOT EXISTS tenants (
    shop_domain    TEXT    NOT NULL PRIMARY KEY
                           CHECK (length(shop_domain) BETWEEN 15 AND 77
                                  AND shop_domain LIKE '%_.myshopify.com'
                                  AND shop_domain = lower(shop_domain)),
    status         TEXT    NOT NULL CHECK (status IN ('installed', 'uninstalled')),
    installed_at   BIGINT  NOT NULL,
    uninstalled_at BIGINT,
    updated_at     BIGINT  NOT NULL,
    CHECK ((status = 'uninstalled') = (uninstalled_at IS NOT NULL))
);

-- A tenant's contacts, one per phone (E.164). opted_in is explicit SMS
-- consent (REQUIREMENTS "Consent is explicit"); tags is a JSON array of
-- strings ('[]' for none). Every query names the tenant (AUTH5).
CREATE TABLE IF NOT EXISTS contacts (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant     TEXT    NOT NULL REFERENCES tenants (shop_domain),
    phone      TEXT    NOT NULL CHECK (length(phone) BETWEEN 9 AND 16 AND phone LIKE '+%'),
    email      TEXT             CHECK (email IS NULL OR (length(email) BETWEEN 3 AND 254
                                                         AND email = lower(email))),
    first_name TEXT             CHECK (first_name IS NULL OR length(first_name) BETWEEN 1 AND 255),
    opted_in   BIGINT  NOT NULL DEFAULT 0 CHECK (opted_in IN (0, 1)),
    tags       TEXT    NOT NULL DEFAULT '[]' CHECK (tags LIKE '[%]'),
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (tenant, phone)
);
-- Listing a tenant's contacts in pages (DATA4: a cursor on created_at, id);
-- the upsert goes by UNIQUE (tenant, phone).
CREATE INDEX IF NOT EXISTS contacts_tenant_created ON contacts (tenant, created_at, id);

-- A contact's tags one per row, beside the JSON array that contacts.tags
-- shows: a tag's contacts are found by index (GET /api/contacts?tag=, a
-- campaign's audience), never by parsing JSON. Whoever writes a contact's
-- tags replaces its rows here in the same transaction (core contacts.h).
-- created_at is the contact's, so a tag's list pages in the contacts' order.
CREATE TABLE IF NOT EXISTS contact_tags (
    tenant     TEXT    NOT NULL,
    tag        TEXT    NOT NULL CHECK (length(tag) BETWEEN 1 AND 255),
    contact_id TEXT    NOT NULL REFERENCES contacts (id),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX IF NOT EXISTS contact_tags_list ON contact_tags (tenant, tag, created_at, contact_id);
