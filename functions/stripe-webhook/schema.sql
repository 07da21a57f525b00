-- billing: what stripe-webhook records (the orders an event pays live in the
-- orders function's database, functions/orders/schema.sql). The CHECKs are
-- the rules stripe-webhook.c validates, enforced again here (DATA1). Times
-- are epoch ms UTC (DATA2) in BIGINT, except event_created, which is Stripe's
-- own `created` (epoch seconds) kept as sent, to order events by.

-- The webhook event ledger (HOOK3, HOOK5), as BASTION_WEBHOOK_EVENTS_SCHEMA
-- in shared/src/webhook_event.c.
CREATE TABLE IF NOT EXISTS webhook_events (
    provider     TEXT    NOT NULL CHECK (length(provider) BETWEEN 1 AND 32),
    id           TEXT    NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
    type         TEXT    NOT NULL CHECK (length(type) BETWEEN 1 AND 255),
    status       TEXT    NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
    attempts     BIGINT  NOT NULL CHECK (attempts >= 1),
    error        TEXT,
    received_at  BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    processed_at BIGINT,
    PRIMARY KEY (provider, id)
);
CREATE INDEX IF NOT EXISTS webhook_events_status ON webhook_events (status, updated_at);

-- Which tenant a Stripe customer is (POST /api/admin/billing/customers);
-- subscription events reach a tenant only through this table (HOOK5: a
-- customer not here is an unresolved reference, answered 5xx).
CREATE TABLE IF NOT EXISTS stripe_customers (
    stripe_customer_id TEXT    NOT NULL PRIMARY KEY
                               CHECK (length(stripe_customer_id) BETWEEN 5 AND 255
                                      AND substr(stripe_customer_id, 1, 4) = 'cus_'),
    tenant             TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 64),
    created_at         BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999)
);
-- a tenant's customers (the billing function's reads)
CREATE INDEX IF NOT EXISTS stripe_customers_tenant ON stripe_customers (tenant);

-- The latest state Stripe reported of each subscription. event_created
-- orders the writes: an event older than the row never overwrites it.
CREATE TABLE IF NOT EXISTS subscriptions (
    stripe_subscription_id TEXT    NOT NULL PRIMARY KEY
                                   CHECK (length(stripe_subscription_id) BETWEEN 5 AND 255
                                          AND substr(stripe_subscription_id, 1, 4) = 'sub_'),
    tenant                 TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 64),
    stripe_customer_id     TEXT    NOT NULL REFERENCES stripe_customers (stripe_customer_id),
    status                 TEXT    NOT NULL
                                   CHECK (status IN ('incomplete', 'incomplete_expired',
                                                     'trialing', 'active', 'past_due',
                                                     'canceled', 'unpaid', 'paused')),
    price_id               TEXT    NOT NULL CHECK (length(price_id) BETWEEN 1 AND 255),
    current_period_end     BIGINT  NOT NULL
                                   CHECK (current_period_end BETWEEN 0 AND 253402300799999),
    cancel_at_period_end   BIGINT  NOT NULL CHECK (cancel_at_period_end IN (0, 1)),
    event_created          BIGINT  NOT NULL CHECK (event_created BETWEEN 0 AND 253402300799),
    updated_at             BIGINT  NOT NULL CHECK (updated_at BETWEEN 0 AND 253402300799999)
);
-- a tenant's subscriptions by status (GET /api/billing/subscription), and a
-- customer's (the foreign key's lookups)
CREATE INDEX IF NOT EXISTS subscriptions_tenant ON subscriptions (tenant, status);
CREATE INDEX IF NOT EXISTS subscriptions_customer ON subscriptions (stripe_customer_id);
