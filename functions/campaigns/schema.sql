-- shop, continued: the SMS app's campaigns, their recipients and the
-- tenants' credits, written by the campaigns function (and, for completed
-- credit purchases, by stripe-webhook; for app/uninstalled, by
-- shopify-webhook). The tenants, contacts and contact_tags tables are
-- shopify-webhook's schema. Migrations run in function-name order, this one
-- first, so nothing here is a foreign key to those tables: the module's
-- guarded statements keep them consistent (the tenant's row in every write).
-- What campaigns.c checks, the database enforces again (DATA1). Times are
-- UTC epoch ms (DATA2) in BIGINT. Every row names its tenant (AUTH5).

-- A campaign: draft until enqueued (one guarded transaction with its
-- recipients and its credit reservation, CONC5), then sending; the
-- campaign-sender job marks it sent once no recipient is queued (failed:
-- the reconcile job gave up on it); app/uninstalled cancels drafts and
-- sending ones. audience_tag NULL is every opted-in contact. progress_at is
-- the last time a recipient was marked (or the enqueue): what the reconcile
-- job reads as "stuck".
CREATE TABLE IF NOT EXISTS campaigns (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant       TEXT    NOT NULL CHECK (length(tenant) BETWEEN 15 AND 77),
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    message      TEXT    NOT NULL CHECK (length(message) BETWEEN 1 AND 640),
    audience_tag TEXT             CHECK (audience_tag IS NULL
                                         OR length(audience_tag) BETWEEN 1 AND 255),
    status       TEXT    NOT NULL CHECK (status IN ('draft', 'sending', 'sent', 'failed',
                                                        'cancelled')),
    recipients   BIGINT  NOT NULL DEFAULT 0 CHECK (recipients >= 0),
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    enqueued_at  BIGINT,
    cancelled_at BIGINT,
    progress_at  BIGINT,
    completed_at BIGINT,
    reconciled   BIGINT  NOT NULL DEFAULT 0 CHECK (reconciled >= 0),
    CHECK ((status = 'draft') = (enqueued_at IS NULL) OR status = 'cancelled'),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CHECK ((status IN ('sent', 'failed')) = (completed_at IS NOT NULL))
);
-- GET /api/campaigns (DATA4: keyset on created_at, id)
CREATE INDEX IF NOT EXISTS campaigns_tenant_created ON campaigns (tenant, created_at, id);
-- app/uninstalled: a tenant's campaigns still draft or sending
CREATE INDEX IF NOT EXISTS campaigns_tenant_status ON campaigns (tenant, status);
-- campaign-sender and reconcile: the campaigns sending, oldest first
CREATE INDEX IF NOT EXISTS campaigns_status_enqueued ON campaigns (status, enqueued_at, id);

-- One row per contact a campaign goes to, written by the enqueue's
-- INSERT ... SELECT (never through the module), the phone as it was then.
-- campaign-sender claims queued rows in batches (lease_id until lease_until:
-- a run that dies leaves them to expire) and marks each sent (provider_id)
-- or failed (error) in the transaction that debits its credit.
CREATE TABLE IF NOT EXISTS campaign_recipients (
    campaign_id TEXT    NOT NULL REFERENCES campaigns (id),
    contact_id  TEXT    NOT NULL CHECK (length(contact_id) = 36),
    tenant      TEXT    NOT NULL,
    phone       TEXT    NOT NULL CHECK (length(phone) BETWEEN 9 AND 16 AND phone LIKE '+%'),
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    error       TEXT             CHECK (error IS NULL OR length(error) BETWEEN 1 AND 500),
    lease_id    TEXT             CHECK (lease_id IS NULL OR length(lease_id) = 36),
    lease_until BIGINT,
    provider_id TEXT             CHECK (provider_id IS NULL
                                        OR length(provider_id) BETWEEN 1 AND 255),
    sent_at     BIGINT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (campaign_id, contact_id),
    CHECK ((lease_id IS NULL) = (lease_until IS NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- GET /api/campaigns/{id}/recipients[?status=] (DATA4: keyset on created_at, contact_id)
CREATE INDEX IF NOT EXISTS campaign_recipients_list
    ON campaign_recipients (campaign_id, created_at, contact_id);
CREATE INDEX IF NOT EXISTS campaign_recipients_status
    ON campaign_recipients (campaign_id, status, created_at, contact_id);

-- A tenant's credits: one SMS each. balance changes only by a completed
-- purchase (stripe-webhook) and by messages sent (the sender job).
CREATE TABLE IF NOT EXISTS credit_accounts (
    tenant     TEXT    NOT NULL PRIMARY KEY CHECK (length(tenant) BETWEEN 15 AND 77),
    balance    BIGINT  NOT NULL CHECK (balance >= 0),
    updated_at BIGINT  NOT NULL
);

-- Credits held for a campaign from its enqueue until it is sent (consumed)
-- or cancelled (released); an active one past expires_at (24 h) no longer
-- holds anything. One per campaign. The enqueue inserts it only when
-- balance - active reservations >= credits. `consumed` counts the messages
-- sent: each debits the balance and the reservation together, so an active
-- reservation holds credits - consumed.
CREATE TABLE IF NOT EXISTS credit_reservations (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant      TEXT    NOT NULL CHECK (length(tenant) BETWEEN 15 AND 77),
    campaign_id TEXT    NOT NULL UNIQUE REFERENCES campaigns (id),
    credits     BIGINT  NOT NULL CHECK (credits > 0),
    consumed    BIGINT  NOT NULL DEFAULT 0 CHECK (consumed BETWEEN 0 AND credits),
    status      TEXT    NOT NULL CHECK (status IN ('active', 'consumed', 'released')),
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
-- what a tenant holds: its active reservations
CREATE INDEX IF NOT EXISTS credit_reservations_tenant
    ON credit_reservations (tenant, status, expires_at);

-- A credit purchase: pending from POST /api/credits/purchase until Stripe's
-- checkout.session.completed (kind "credits") completes it together with
-- the balance (stripe-webhook, one transaction, once); failed when the
-- payment API refused or could not be reached (a later completed event
-- still completes it: the customer paid).
CREATE TABLE IF NOT EXISTS credit_purchases (
    id                  TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant              TEXT    NOT NULL CHECK (length(tenant) BETWEEN 15 AND 77),
    pack                TEXT    NOT NULL CHECK (length(pack) BETWEEN 1 AND 16),
    credits             BIGINT  NOT NULL CHECK (credits > 0),
    amount_cents        BIGINT  NOT NULL CHECK (amount_cents > 0),
    currency            TEXT    NOT NULL CHECK (length(currency) = 3),
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    checkout_session_id TEXT             CHECK (checkout_session_id IS NULL
                                                OR length(checkout_session_id) BETWEEN 4 AND 255),
    checkout_url        TEXT             CHECK (checkout_url IS NULL
                                                OR length(checkout_url) BETWEEN 8 AND 2048),
    error               TEXT             CHECK (error IS NULL OR length(error) BETWEEN 1 AND 500),
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    completed_at        BIGINT,
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS credit_purchases_tenant ON credit_purchases (tenant, created_at, id);
